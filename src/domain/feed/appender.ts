// Appends feed events per session in order, in small batches: the first event after a quiet
// spell (no write of the session for `lingerMs`) is written at once; token deltas that follow are
// coalesced for up to `lingerMs`, so a streaming turn costs a few transactions, not one per token
// — also when each write ends before the next token arrives (the lane goes idle in between, so
// the time of its last write outlives the lane, in `recentFlushes`). After each write the events go to
// local observers and a wake-up goes to other replicas. Nothing accepted is ever dropped: a failed
// write is retried (with a capped back-off) until the store takes it, and the events wait in
// their lane meanwhile, in order. Only a shutdown past its deadline gives up, and says so.
// A commit may hold a lane: it takes the events still waiting and stores them (with its
// `committed` marker) in its own statement, so a short turn's feed costs no write of its own.
// Back-pressure: a session's lane holds at most about `pendingMax` unstored events; the turn
// producing them asks `room` at each step and waits while the lane is full (ADR 0078).

import { systemClock, type Clock, type Timer } from '../clock.js';
import type { EventBus, FeedStore, HeldFeed } from '../ports.js';
import type { FeedHub } from './hub.js';
import type { FeedPayload, FeedRecord } from './types.js';

interface Lane {
  // Two parallel arrays rather than an object per event: deltas are most of the traffic.
  queue: FeedPayload[];
  revisions: bigint[];
  running: boolean;
  /** A commit took the lane's events and will store them itself: write nothing until it settles. */
  held: boolean;
  /** The write in flight has failed at least once (the lane is retrying). */
  failing: boolean;
  timer?: Timer;
  lastFlushAt: number;
  idle: (() => void)[];
  /** Waiting for the write in flight to end (a commit about to hold the lane). */
  turnover: (() => void)[];
}

export interface AppenderOptions {
  lingerMs: number;
  maxBatch: number;
  onError(err: unknown): void;
  /** Longest wait between retries of a failed write. */
  maxRetryDelayMs?: number;
  /** Events a commit stored for the feed (they never pass through `store.append`), e.g. for metrics. */
  onCarried?(payloads: FeedPayload[], records: FeedRecord[]): void;
  /** Unstored events a session's lane may hold before `room` makes its turn wait (default 1000). */
  pendingMax?: number;
}

/** Size of `recentFlushes` past which entries older than a linger are swept. */
const RECENT_SWEEP_AT = 1_024;

const isDelta = (p: FeedPayload) => p.kind === 'turn_activity' && (p.event.event.kind === 'assistant_prose_delta' || p.event.event.kind === 'reasoning_delta');

export class FeedAppender {
  private readonly lanes = new Map<string, Lane>();
  /** Events accepted and not yet stored, over all sessions (a gauge). */
  pendingEvents = 0;
  /** Lanes whose last write failed and that are waiting to retry (a gauge; > 0 means the store refuses). */
  failingLanes = 0;
  private givingUp = false;
  /** Per lane key: events accepted and not yet stored (the lane's share of `pendingEvents`). */
  private readonly unstoredByLane = new Map<string, number>();
  /** Per lane key: turns waiting in `room` for the lane to drain below `pendingMax`. */
  private readonly roomWaiters = new Map<string, (() => void)[]>();
  /** Turns waiting for their session's feed lane to drain (a gauge). */
  pacedTurns = 0;
  /**
   * Per lane key: when an idle lane last wrote, kept past the lane so that a token arriving a
   * moment after a write still lingers (else a model streaming slower than a write takes would cost
   * one write per token). Entries older than `lingerMs` mean nothing and are swept once the map
   * passes `RECENT_SWEEP_AT` entries, so it holds about the sessions that wrote within a linger.
   */
  private readonly recentFlushes = new Map<string, number>();
  private lastSweepAt = -Infinity;

  constructor(
    private readonly store: FeedStore,
    private readonly bus: EventBus,
    private readonly hub: FeedHub,
    private readonly options: AppenderOptions,
    private readonly clock: Clock = systemClock,
  ) {}

  private lane(key: string): Lane {
    let lane = this.lanes.get(key);
    if (!lane) {
      const lastFlushAt = this.recentFlushes.get(key) ?? -Infinity;
      this.recentFlushes.delete(key);
      this.lanes.set(key, (lane = { queue: [], revisions: [], running: false, held: false, failing: false, lastFlushAt, idle: [], turnover: [] }));
    }
    return lane;
  }

  /** An idle lane goes; the time of its last write stays while it can still matter. */
  private retire(key: string, lane: Lane): void {
    this.lanes.delete(key);
    const now = this.clock.monotonicMs();
    if (now - lane.lastFlushAt >= this.options.lingerMs) return;
    this.recentFlushes.set(key, lane.lastFlushAt);
    // At most one sweep per linger: a sweep then finds every entry of the linger before expired.
    if (this.recentFlushes.size > RECENT_SWEEP_AT && now - this.lastSweepAt >= this.options.lingerMs) {
      this.lastSweepAt = now;
      for (const [k, at] of this.recentFlushes) if (now - at >= this.options.lingerMs) this.recentFlushes.delete(k);
    }
  }

  /** Sessions with events on their way to the store (a lane each; dropped once idle). */
  get laneCount(): number {
    return this.lanes.size;
  }

  append(tenantId: string, sessionId: string, revision: bigint, payload: FeedPayload): void {
    const key = `${tenantId}\u0000${sessionId}`;
    const lane = this.lane(key);
    lane.queue.push(payload);
    lane.revisions.push(revision);
    this.pendingEvents++;
    this.unstoredByLane.set(key, (this.unstoredByLane.get(key) ?? 0) + 1);
    this.schedule(key, lane, tenantId, sessionId, isDelta(payload));
  }

  /** Resolves when everything appended so far for the session is stored. */
  flushed(tenantId: string, sessionId: string): Promise<void> {
    const lane = this.lanes.get(`${tenantId}\u0000${sessionId}`);
    if (!lane || (!lane.running && !lane.held && lane.queue.length === 0)) return Promise.resolve();
    if (lane.timer) {
      lane.timer.cancel();
      lane.timer = undefined;
      this.schedule(`${tenantId}\u0000${sessionId}`, lane, tenantId, sessionId, false);
    }
    return new Promise((resolve) => lane.idle.push(resolve));
  }

  /**
   * Waits for every lane (shutdown). Past `deadlineMs` a lane that still cannot write stops
   * retrying: its events are reported through `onError` as lost, since the process is ending.
   */
  async drain(deadlineMs = 10_000): Promise<void> {
    const all = Promise.all(
      [...this.lanes.keys()].map((k) => {
        const [t, s] = k.split('\u0000') as [string, string];
        return this.flushed(t, s);
      }),
    );
    let timer: Timer | undefined;
    const late = new Promise<void>((resolve) => (timer = this.clock.after(deadlineMs, resolve)));
    await Promise.race([all, late]);
    timer?.cancel();
    if (this.pendingEvents > 0) {
      this.givingUp = true;
      for (const waiters of [...this.roomWaiters.values()]) for (const wake of [...waiters]) wake();
      await all;
    }
  }

  /**
   * Hands the lane's waiting events to a commit that stores them in its own statement (see
   * `FeedSink.hold`). A write in flight is waited for (order); a lane that is retrying a failed
   * write is not held, since the commit would wait on the store's trouble.
   */
  async hold(tenantId: string, sessionId: string): Promise<HeldFeed | undefined> {
    const key = `${tenantId}\u0000${sessionId}`;
    let lane = this.lane(key);
    while (lane.running || lane.held) {
      if (lane.failing || this.givingUp) return undefined;
      await new Promise<void>((resolve) => lane.turnover.push(resolve));
      lane = this.lane(key);
    }
    if (lane.timer) {
      lane.timer.cancel();
      lane.timer = undefined;
    }
    lane.held = true;
    const payloads = lane.queue.splice(0);
    const revisions = lane.revisions.splice(0);
    let settled = false;
    const settle = () => {
      if (settled) throw new Error('a held feed lane was settled twice');
      settled = true;
      lane.held = false;
      lane.turnover.splice(0).forEach((r) => r());
    };
    return {
      payloads,
      stored: (records) => {
        settle();
        this.pendingEvents -= payloads.length;
        this.settledEvents(key, payloads.length);
        lane.lastFlushAt = this.clock.monotonicMs();
        this.options.onCarried?.(payloads, records);
        this.delivered(tenantId, sessionId, records);
        this.next(key, lane, tenantId, sessionId);
      },
      release: () => {
        settle();
        lane.queue.unshift(...payloads);
        lane.revisions.unshift(...revisions);
        this.next(key, lane, tenantId, sessionId);
      },
    };
  }

  /** See `FeedSink.pause`: the lane counts as held (no write starts) until `resume`. */
  pause(tenantId: string, sessionId: string): (() => void) | undefined {
    const key = `${tenantId}\u0000${sessionId}`;
    const lane = this.lane(key);
    if (lane.running || lane.held) return undefined;
    lane.held = true;
    let resumed = false;
    return () => {
      if (resumed) return;
      resumed = true;
      lane.held = false;
      lane.turnover.splice(0).forEach((r) => r());
      this.next(key, lane, tenantId, sessionId);
    };
  }

  /** Events of the session accepted and not yet stored (queued, in a write, or held by a commit). */
  unstored(tenantId: string, sessionId: string): number {
    return this.unstoredByLane.get(`${tenantId}\u0000${sessionId}`) ?? 0;
  }

  /**
   * Back-pressure for the turn producing the session's events: undefined while the lane holds
   * fewer than `pendingMax` unstored events (the hot path awaits nothing), else a promise that
   * resolves once it does, or once `signal` aborts (a cancelled turn stops waiting at once).
   * `reserve`: events the caller holds that will join the lane (text it is still coalescing).
   */
  room(tenantId: string, sessionId: string, signal?: AbortSignal, reserve = 0): Promise<void> | undefined {
    const key = `${tenantId}\u0000${sessionId}`;
    if (this.unstored(tenantId, sessionId) + reserve < this.pendingMax || signal?.aborted || this.givingUp) return undefined;
    return new Promise<void>((resolve) => {
      this.pacedTurns++;
      const done = () => {
        signal?.removeEventListener('abort', done);
        const waiters = this.roomWaiters.get(key);
        const at = waiters?.indexOf(done) ?? -1;
        if (at >= 0) waiters!.splice(at, 1);
        if (waiters?.length === 0) this.roomWaiters.delete(key);
        this.pacedTurns--;
        resolve();
      };
      signal?.addEventListener('abort', done, { once: true });
      const waiters = this.roomWaiters.get(key);
      if (waiters) waiters.push(done);
      else this.roomWaiters.set(key, [done]);
    });
  }

  private get pendingMax(): number {
    return this.options.pendingMax ?? 1_000;
  }

  /** `n` events of the lane were stored (or given up): wake its waiting turn once there is room. */
  private settledEvents(key: string, n: number): void {
    const left = (this.unstoredByLane.get(key) ?? 0) - n;
    if (left > 0) this.unstoredByLane.set(key, left);
    else this.unstoredByLane.delete(key);
    if (left < this.pendingMax || this.givingUp) for (const wake of [...(this.roomWaiters.get(key) ?? [])]) wake();
  }

  private delivered(tenantId: string, sessionId: string, records: FeedRecord[]): void {
    if (records.length === 0) return;
    this.hub.deliver(tenantId, sessionId, records);
    if (!this.store.wakesReplicas)
      void this.bus
        .publish('feed', { tenantId, sessionId, upTo: records[records.length - 1]!.seq.toString() })
        .catch((err: unknown) => this.options.onError(err));
  }

  /** After a write or a hold ends: schedule what queued meanwhile, or let the lane go. */
  private next(key: string, lane: Lane, tenantId: string, sessionId: string): void {
    if (lane.queue.length > 0) this.schedule(key, lane, tenantId, sessionId, lane.queue.every(isDelta));
    else if (!lane.running && !lane.held) {
      lane.idle.splice(0).forEach((r) => r());
      if (!lane.timer && this.lanes.get(key) === lane) this.retire(key, lane);
    }
  }

  private schedule(key: string, lane: Lane, tenantId: string, sessionId: string, delta: boolean): void {
    if (lane.running || lane.held || lane.timer) return;
    const wait = delta ? Math.max(0, this.options.lingerMs - (this.clock.monotonicMs() - lane.lastFlushAt)) : 0;
    const go = () => {
      lane.timer = undefined;
      void this.flush(key, lane, tenantId, sessionId);
    };
    // A zero wait still yields one event-loop turn, so events appended in the same turn go together.
    if (wait > 0) lane.timer = this.clock.after(wait, go);
    else this.clock.soon(go);
  }

  private async flush(key: string, lane: Lane, tenantId: string, sessionId: string): Promise<void> {
    if (lane.running || lane.held || lane.queue.length === 0) return;
    lane.running = true;
    const batch = lane.queue.splice(0, this.options.maxBatch);
    // One revision per batch: the newest, since events of a batch are consecutive.
    const revision = lane.revisions.splice(0, batch.length)[batch.length - 1]!;
    let records: FeedRecord[] | undefined;
    for (let attempt = 0; !records; attempt++) {
      try {
        records = await this.store.append(tenantId, sessionId, revision, batch);
      } catch (err) {
        this.options.onError(err);
        if (this.givingUp) {
          this.options.onError(new Error(`shutting down: ${batch.length} feed events of session ${sessionId} were not stored`));
          if (attempt > 0) this.failingLanes--;
          break;
        }
        // The store is unreachable or refusing: keep the batch (and everything behind it) and
        // try again; observers resume by cursor, so order matters more than latency here.
        if (attempt === 0) this.failingLanes++;
        lane.failing = true;
        const delay = Math.min(this.options.maxRetryDelayMs ?? 2_000, 50 * 2 ** Math.min(attempt, 10));
        await new Promise<void>((r) => this.clock.after(delay, r));
      }
      if (records && attempt > 0) this.failingLanes--;
    }
    this.pendingEvents -= batch.length;
    this.settledEvents(key, batch.length);
    lane.lastFlushAt = this.clock.monotonicMs();
    lane.running = false;
    lane.failing = false;
    if (records) this.delivered(tenantId, sessionId, records);
    // A commit waiting to hold the lane wakes first (a microtask, before any scheduled write) and
    // takes what queued meanwhile.
    lane.turnover.splice(0).forEach((r) => r());
    this.next(key, lane, tenantId, sessionId);
  }
}
