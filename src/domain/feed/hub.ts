// Live fan-out of one session's feed to the observers in this process: one tail per session,
// fed by local appends and by notifications from other replicas, read from the store once and
// handed to every observer in sequence order. A deleted session's observers are told so.

import type { FeedStore } from '../ports.js';
import type { FeedRecord } from './types.js';

type Listener = (records: FeedRecord[]) => void;
/** Called when a session is deleted, with the creation time of the incarnation that is gone. */
type DeletedListener = (epoch: number) => void;

interface Tail {
  lastSeq: bigint;
  listeners: Set<Listener>;
  onDeleted: Map<Listener, DeletedListener>;
  chain: Promise<void>;
}

export class FeedHub {
  private readonly tails = new Map<string, Tail>();

  constructor(private readonly store: FeedStore) {}

  /** Listeners connected in this process, over all sessions. */
  /** Sessions with at least one live listener here (each holds a tail). */
  get tailCount(): number {
    return this.tails.size;
  }

  get listenerCount(): number {
    let n = 0;
    for (const tail of this.tails.values()) n += tail.listeners.size;
    return n;
  }

  private static key(tenantId: string, sessionId: string) {
    return `${tenantId}\u0000${sessionId}`;
  }

  /** Listens for records after `fromSeq`; the caller catches up on older ones itself. */
  subscribe(tenantId: string, sessionId: string, fromSeq: bigint, listener: Listener, onDeleted?: DeletedListener): () => void {
    const key = FeedHub.key(tenantId, sessionId);
    let tail = this.tails.get(key);
    if (!tail) this.tails.set(key, (tail = { lastSeq: fromSeq, listeners: new Set(), onDeleted: new Map(), chain: Promise.resolve() }));
    tail.listeners.add(listener);
    if (onDeleted) tail.onDeleted.set(listener, onDeleted);
    return () => {
      tail.listeners.delete(listener);
      tail.onDeleted.delete(listener);
      if (tail.listeners.size === 0 && this.tails.get(key) === tail) this.tails.delete(key);
    };
  }

  /** The session was deleted (here or on another replica): its observers end. */
  deleted(tenantId: string, sessionId: string, epoch: number): void {
    const tail = this.tails.get(FeedHub.key(tenantId, sessionId));
    if (!tail) return;
    // Each observer compares the epoch with its own: one of a re-created session stays.
    for (const fn of [...tail.onDeleted.values()]) fn(epoch);
  }

  /** Records this process just appended (contiguous ones go out without a read). */
  deliver(tenantId: string, sessionId: string, records: FeedRecord[]): void {
    const tail = this.tails.get(FeedHub.key(tenantId, sessionId));
    if (!tail || records.length === 0) return;
    this.enqueue(tail, tenantId, sessionId, async () => {
      if (records[0]!.seq === tail.lastSeq + 1n) this.broadcast(tail, records);
      else await this.catchUp(tail, tenantId, sessionId, records[records.length - 1]!.seq);
    });
  }

  /** Another replica appended up to `upTo`. */
  notify(tenantId: string, sessionId: string, upTo: bigint): void {
    const tail = this.tails.get(FeedHub.key(tenantId, sessionId));
    if (!tail) return;
    this.enqueue(tail, tenantId, sessionId, () => this.catchUp(tail, tenantId, sessionId, upTo));
  }

  private enqueue(tail: Tail, _tenantId: string, _sessionId: string, step: () => Promise<void>): void {
    tail.chain = tail.chain.then(step).catch(() => {
      // A failed read is retried by the next notification; observers also resume by cursor.
    });
  }

  private async catchUp(tail: Tail, tenantId: string, sessionId: string, upTo: bigint): Promise<void> {
    while (tail.lastSeq < upTo && tail.listeners.size > 0) {
      const records = await this.store.read(tenantId, sessionId, tail.lastSeq, 1000);
      if (records.length === 0) return;
      this.broadcast(tail, records);
    }
  }

  private broadcast(tail: Tail, records: FeedRecord[]): void {
    const fresh = records.filter((r) => r.seq > tail.lastSeq);
    if (fresh.length === 0) return;
    tail.lastSeq = fresh[fresh.length - 1]!.seq;
    for (const l of tail.listeners) l(fresh);
  }
}
