// One observer of a session's feed: a snapshot (or the replay after a cursor), then live events,
// each exactly once and in order, with heartbeats when idle and an explicit gap for cursors
// outside the retained window. Deleting the session ends the observation with SESSION_DELETED.

import { activePath, frameMessages } from '../graph.js';
import { DomainError } from '../errors.js';
import { requireId } from '../ids.js';
import type { FeedStore, RequestContext } from '../ports.js';
import { currentFrame } from '../session.js';
import type { SessionService } from '../sessions.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import type { FeedHub } from './hub.js';
import type { FeedMessage, FeedRecord } from './types.js';

export interface ObserveOptions {
  heartbeatMs: number;
  /** Messages of the current frame a snapshot carries (the newest ones). */
  snapshotMessages: number;
  /** Events read per page when replaying a backlog (below the observer buffer limit). */
  replayPage: number;
}

export interface Observer {
  /** Stops delivery and releases the subscription. */
  close(): void;
}

/** How an observation ends when its session is deleted: the subject is gone (NOT_FOUND). */
export const sessionDeleted = (sessionId: string) =>
  new DomainError('NOT_FOUND', 'SESSION_DELETED', `session "${sessionId}" was deleted while observed; its feed is gone`, { session_id: sessionId });

export class FeedObservations {
  constructor(
    private readonly sessions: SessionService,
    private readonly store: FeedStore,
    private readonly hub: FeedHub,
    private readonly options: ObserveOptions,
  ) {}

  /**
   * Starts observing; `send` receives messages in order. Validation errors reject before anything
   * is sent; later failures go to `fail`. `pace` resolves when the client has taken what was sent
   * (the backlog replay waits for it between pages).
   */
  async observe(ctx: RequestContext, sessionId: string, rawCursor: string | undefined, send: (m: FeedMessage) => void, fail: (err: unknown) => void, pace: () => Promise<void> = async () => {}): Promise<Observer> {
    requireId('session_id', sessionId);
    const cursor = rawCursor ? decodeCursor(rawCursor, sessionId) : undefined;
    const session = await this.sessions.get(ctx, sessionId); // NOT_FOUND for unknown sessions
    const epoch = session.createdAt.getTime();
    const head = await this.store.head(ctx.tenantId, sessionId);
    let delivered: bigint;
    let revision = 0n;
    const cursorAt = (seq: bigint) => encodeCursor({ sessionId, epoch, seq, revision });

    let closed = false;
    let catchingUp = true;
    const parked: FeedRecord[] = [];
    let lastSent = Date.now();
    const emit = (m: FeedMessage) => {
      if (closed) return;
      lastSent = Date.now();
      send(m);
    };
    const emitRecords = (records: FeedRecord[]) => {
      for (const r of records) {
        if (r.seq <= delivered) continue;
        if (r.seq !== delivered + 1n) throw new Error(`feed hole: expected ${delivered + 1n}, got ${r.seq}`);
        delivered = r.seq;
        revision = r.revision;
        emit({ kind: 'event', cursor: cursorAt(r.seq), record: r, epoch });
      }
    };

    // A cursor of an earlier incarnation of this id (deleted, then re-created) is unavailable.
    if (cursor && cursor.epoch === epoch && cursor.seq <= head.lastSeq && cursor.seq >= head.trimmedThrough) {
      delivered = cursor.seq;
      revision = cursor.revision;
    } else {
      delivered = head.lastSeq;
      if (cursor) {
        const reason = cursor.epoch !== epoch || cursor.seq > head.lastSeq ? 'unavailable' : 'trimmed';
        const latestRevision = (await this.sessions.get(ctx, sessionId)).headRevision;
        revision = latestRevision;
        emit({ kind: 'gap', cursor: cursorAt(delivered), seq: delivered, requestedCursor: rawCursor!, reason, latestRevision });
      }
      const snapshot = await this.snapshot(ctx, sessionId, delivered);
      revision = snapshot.head.headRevision;
      emit({ ...snapshot, cursor: cursorAt(delivered) });
    }

    // Subscribe before catching up, so nothing appended meanwhile is missed.
    const unsubscribe = this.hub.subscribe(ctx.tenantId, sessionId, delivered, (records) => {
      if (closed) return;
      if (catchingUp) parked.push(...records);
      else {
        try {
          emitRecords(records);
        } catch (err) {
          stop();
          fail(err);
        }
      }
    }, (deletedEpoch) => {
      if (closed || deletedEpoch !== epoch) return;
      stop();
      fail(sessionDeleted(sessionId));
    });
    const heartbeat = setInterval(() => {
      if (!catchingUp && Date.now() - lastSent >= this.options.heartbeatMs) emit({ kind: 'heartbeat', cursor: cursorAt(delivered), seq: delivered });
    }, Math.max(50, Math.floor(this.options.heartbeatMs / 4)));
    heartbeat.unref();
    const stop = () => {
      closed = true;
      clearInterval(heartbeat);
      unsubscribe();
    };

    void (async () => {
      try {
        for (;;) {
          const page = await this.store.read(ctx.tenantId, sessionId, delivered, this.options.replayPage);
          if (closed) return;
          emitRecords(page);
          if (page.length < this.options.replayPage) break;
          // Replay at the pace the client reads: the observer buffer limit is for live events.
          await pace();
        }
        catchingUp = false;
        emitRecords(parked.splice(0));
        // Anything stored after our read but announced before we subscribed is fetched now.
        const tail = await this.store.read(ctx.tenantId, sessionId, delivered, 1000);
        emitRecords(tail);
      } catch (err) {
        stop();
        fail(err);
      }
    })();
    return { close: stop };
  }

  private async snapshot(ctx: RequestContext, sessionId: string, seq: bigint) {
    const session = await this.sessions.load(ctx, sessionId);
    const all = frameMessages(activePath(session.graph), currentFrame(session));
    const messages = all.slice(-this.options.snapshotMessages);
    return { kind: 'snapshot' as const, seq, head: await this.sessions.describe(ctx, sessionId), messages, truncated: messages.length < all.length };
  }
}
