// One observer of a session's feed: a snapshot (or the replay after a cursor), then live events,
// each exactly once and in order, with heartbeats when idle and an explicit gap for cursors
// outside the retained window. Deleting the session ends the observation with SESSION_DELETED.

import { systemClock, type Clock } from '../clock.js';
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
  /** Most events read from the store at once when the observer is behind. */
  replayPage: number;
}

/** Where an observation delivers, and how much it may hand over before the client takes some. */
export interface ObserverSink {
  send(m: FeedMessage): void;
  /** Ends the observation with an error (after what was sent). */
  fail(err: unknown): void;
  /** Whether the client has taken enough that more events may be sent. */
  hasRoom(): boolean;
  /** How many more events fit now. */
  room(): number;
  /** Resolves once `hasRoom` is true again (or the client is gone). */
  whenRoom(): Promise<void>;
}

export interface Observer {
  /** Stops delivery and releases the subscription. */
  close(): void;
  /** Settles once the start's own store reads are done (first catch-up, delete check). */
  started?: Promise<void>;
}

/** How an observation ends when its session is deleted: the subject is gone (NOT_FOUND). */
export const sessionDeleted = (sessionId: string) =>
  new DomainError('SESSION_DELETED', `session "${sessionId}" was deleted while observed; its feed is gone`, { session_id: sessionId });

export class FeedObservations {
  constructor(
    private readonly sessions: SessionService,
    private readonly store: FeedStore,
    private readonly hub: FeedHub,
    private readonly options: ObserveOptions,
    private readonly clock: Clock = systemClock,
  ) {}

  /**
   * Starts observing. Validation errors reject before anything is sent; later failures go to
   * `sink.fail`. Live events are handed over while the client keeps up; when it has not taken
   * enough (`sink.hasRoom()` false), or a live batch does not follow on, the observer falls
   * behind: it drops live batches and reads from the store at the client's pace until it has
   * caught up. So no burst is held in memory per observer, and none cuts off a client that reads.
   */
  async observe(ctx: RequestContext, sessionId: string, rawCursor: string | undefined, sink: ObserverSink): Promise<Observer> {
    requireId('session_id', sessionId);
    const cursor = rawCursor ? decodeCursor(rawCursor, sessionId) : undefined;
    const session = await this.sessions.get(ctx, sessionId); // NOT_FOUND for unknown sessions
    const epoch = session.createdAt.getTime();
    const head = await this.store.head(ctx.tenantId, sessionId);
    let delivered: bigint;
    let revision = 0n;
    const cursorAt = (seq: bigint) => encodeCursor({ sessionId, epoch, seq, revision });

    let closed = false;
    /** Live: broadcasts are delivered as they come. Behind: the catch-up loop reads the store. */
    let live = false;
    let catching = false;
    let lastSent = this.clock.monotonicMs();
    const emit = (m: FeedMessage) => {
      if (closed) return;
      lastSent = this.clock.monotonicMs();
      sink.send(m);
    };
    /** Emits the records that follow on while there is room: all of them, or where it stopped. */
    const emitWhileRoom = (records: FeedRecord[]): 'all' | 'full' | 'hole' => {
      for (const r of records) {
        if (r.seq <= delivered) continue;
        if (r.seq !== delivered + 1n) return 'hole';
        if (!sink.hasRoom()) return 'full';
        delivered = r.seq;
        revision = r.revision;
        emit({ kind: 'event', cursor: cursorAt(r.seq), record: r, epoch });
      }
      return 'all';
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

    const stop = () => {
      closed = true;
      heartbeat.cancel();
      unsubscribe();
    };
    const failWith = (err: unknown) => {
      if (closed) return;
      stop();
      sink.fail(err);
    };

    // Reads the store from `delivered` at the client's pace until two reads in a row find
    // nothing left; the second one covers anything announced while the first was in flight.
    let caughtUp!: () => void;
    const firstCatchUp = new Promise<void>((resolve) => (caughtUp = resolve));
    const catchUp = () => {
      if (catching || closed) return;
      catching = true;
      void (async () => {
        try {
          for (;;) {
            await sink.whenRoom();
            if (closed) return;
            const limit = Math.max(1, Math.min(this.options.replayPage, sink.room()));
            const before = delivered;
            const page = await this.store.read(ctx.tenantId, sessionId, delivered, limit);
            if (closed) return;
            const outcome = emitWhileRoom(page);
            // The store's events are gap-free; a hole here means they were trimmed under us.
            if (outcome === 'hole') throw new Error(`feed hole: expected ${delivered + 1n}, got ${page.find((r) => r.seq > delivered)!.seq}`);
            // A full page that moved us on may have more behind it.
            if (outcome === 'full' || (page.length >= limit && delivered > before)) live = false;
            else if (live)
              break; // caught up, and nothing fell in between
            else live = true;
          }
          catching = false;
        } catch (err) {
          catching = false;
          failWith(err);
        } finally {
          caughtUp();
        }
      })();
    };

    // Subscribe before catching up, so nothing appended meanwhile is missed.
    const unsubscribe = this.hub.subscribe(
      ctx.tenantId,
      sessionId,
      delivered,
      (records) => {
        if (closed || !live) return; // behind: the catch-up loop reads these from the store
        if (emitWhileRoom(records) !== 'all') {
          live = false;
          catchUp();
        }
      },
      (deletedEpoch) => {
        if (deletedEpoch === epoch) failWith(sessionDeleted(sessionId));
      },
    );
    const heartbeat = this.clock.every(Math.max(50, Math.floor(this.options.heartbeatMs / 4)), () => {
      if (live && !catching && this.clock.monotonicMs() - lastSent >= this.options.heartbeatMs)
        emit({ kind: 'heartbeat', cursor: cursorAt(delivered), seq: delivered });
    });

    // A delete that landed between the first read and the subscription sent its notice to nobody.
    const checked = this.sessions.get(ctx, sessionId).then(
      (now) => void (now.createdAt.getTime() !== epoch && failWith(sessionDeleted(sessionId))),
      (err: unknown) => failWith(err instanceof DomainError && err.reason === 'SESSION_NOT_FOUND' ? sessionDeleted(sessionId) : err),
    );
    catchUp();
    return { close: stop, started: Promise.all([checked, firstCatchUp]).then(() => {}) };
  }

  private async snapshot(ctx: RequestContext, sessionId: string, seq: bigint) {
    const session = await this.sessions.load(ctx, sessionId);
    const all = frameMessages(activePath(session.graph), currentFrame(session));
    const messages = all.slice(-this.options.snapshotMessages);
    return { kind: 'snapshot' as const, seq, head: await this.sessions.describe(ctx, sessionId), messages, truncated: messages.length < all.length };
  }
}
