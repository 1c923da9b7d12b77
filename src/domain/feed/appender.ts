// Appends feed events per session in order, in small batches: the first event after a quiet
// spell is written at once; token deltas that follow are coalesced for up to `lingerMs`, so a
// streaming turn costs a few transactions, not one per token. After each write the events go to
// local observers and a wake-up goes to other replicas.

import type { EventBus, FeedStore } from '../ports.js';
import type { FeedHub } from './hub.js';
import type { FeedPayload, FeedRecord } from './types.js';

interface Pending {
  revision: bigint;
  payload: FeedPayload;
}

interface Lane {
  queue: Pending[];
  running: boolean;
  timer?: NodeJS.Timeout;
  lastFlushAt: number;
  idle: (() => void)[];
}

export interface AppenderOptions {
  lingerMs: number;
  maxBatch: number;
  onError(err: unknown): void;
}

const isDelta = (p: FeedPayload) => p.kind === 'turn_activity' && (p.event.event.kind === 'assistant_prose_delta' || p.event.event.kind === 'reasoning_delta');

export class FeedAppender {
  private readonly lanes = new Map<string, Lane>();

  constructor(
    private readonly store: FeedStore,
    private readonly bus: EventBus,
    private readonly hub: FeedHub,
    private readonly options: AppenderOptions,
  ) {}

  append(tenantId: string, sessionId: string, revision: bigint, payload: FeedPayload): void {
    const key = `${tenantId}\u0000${sessionId}`;
    let lane = this.lanes.get(key);
    if (!lane) this.lanes.set(key, (lane = { queue: [], running: false, lastFlushAt: 0, idle: [] }));
    lane.queue.push({ revision, payload });
    this.schedule(key, lane, tenantId, sessionId, isDelta(payload));
  }

  /** Resolves when everything appended so far for the session is stored. */
  flushed(tenantId: string, sessionId: string): Promise<void> {
    const lane = this.lanes.get(`${tenantId}\u0000${sessionId}`);
    if (!lane || (!lane.running && lane.queue.length === 0)) return Promise.resolve();
    if (lane.timer) {
      clearTimeout(lane.timer);
      lane.timer = undefined;
      this.schedule(`${tenantId}\u0000${sessionId}`, lane, tenantId, sessionId, false);
    }
    return new Promise((resolve) => lane.idle.push(resolve));
  }

  /** Waits for every lane (shutdown). */
  async drain(): Promise<void> {
    await Promise.all([...this.lanes.keys()].map((k) => {
      const [t, s] = k.split('\u0000') as [string, string];
      return this.flushed(t, s);
    }));
  }

  private schedule(key: string, lane: Lane, tenantId: string, sessionId: string, delta: boolean): void {
    if (lane.running || lane.timer) return;
    const wait = delta ? Math.max(0, this.options.lingerMs - (Date.now() - lane.lastFlushAt)) : 0;
    const go = () => {
      lane.timer = undefined;
      void this.flush(key, lane, tenantId, sessionId);
    };
    if (wait > 0) lane.timer = setTimeout(go, wait);
    else setImmediate(go);
  }

  private async flush(key: string, lane: Lane, tenantId: string, sessionId: string): Promise<void> {
    if (lane.running || lane.queue.length === 0) return;
    lane.running = true;
    const batch = lane.queue.splice(0, this.options.maxBatch);
    let records: FeedRecord[] | undefined;
    for (let attempt = 0; !records; attempt++) {
      try {
        // One revision per batch: the newest, since events of a batch are consecutive.
        records = await this.store.append(tenantId, sessionId, batch[batch.length - 1]!.revision, batch.map((b) => b.payload));
      } catch (err) {
        this.options.onError(err);
        if (attempt >= 5) break; // give up on this batch after retries; observers see a gap-free feed of what was stored
        await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
      }
    }
    lane.lastFlushAt = Date.now();
    lane.running = false;
    if (records?.length) {
      this.hub.deliver(tenantId, sessionId, records);
      if (!this.store.wakesReplicas) void this.bus.publish('feed', { tenantId, sessionId, upTo: records[records.length - 1]!.seq.toString() }).catch((err: unknown) => this.options.onError(err));
    }
    if (lane.queue.length > 0) this.schedule(key, lane, tenantId, sessionId, lane.queue.every((p) => isDelta(p.payload)));
    else {
      lane.idle.splice(0).forEach((r) => r());
      if (!lane.timer) this.lanes.delete(key);
    }
  }
}
