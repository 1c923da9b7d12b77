// The door in front of PGlite's single backend: one holder at a time, two lanes, and time slices
// (ADR 0063). PGlite runs every statement synchronously on the main thread and hands its lock on
// in a microtask, so under a burst hundreds of queued statements used to run back to back without
// the event loop ever reaching I/O again: a side GetSession was not even read off its socket for
// seconds. Here a holder is granted the lock directly only while the current slice (time since the
// event loop last turned) is under `sliceMs`; past it the next grant waits for a `setImmediate`, so
// sockets are polled in between. Waiters of the `interactive` lane (short reads a unary caller is
// waiting for) are granted before any `bulk` waiter (turn work, snapshot catch-up, everything else),
// but never more than INTERACTIVE_RUN in a row while bulk work waits, so a flood of reads cannot
// stall turns.

import { performance } from 'node:perf_hooks';

export type Lane = 'interactive' | 'bulk';

/** Interactive grants in a row after which a waiting bulk statement goes first. */
export const INTERACTIVE_RUN = 8;

export interface LaneGateStats {
  /** Grants per lane, and how many of them waited for another holder or a slice end. */
  granted: Record<Lane, number>;
  queued: Record<Lane, number>;
  /** Grants deferred to the next event-loop turn because the slice was used up. */
  yields: number;
}

export class LaneGate {
  private held = false;
  private readonly waiting: Record<Lane, (() => void)[]> = { interactive: [], bulk: [] };
  /** When the current slice began; undefined once the event loop has turned since. */
  private sliceStart: number | undefined;
  private yieldScheduled = false;
  /** Interactive grants since the last bulk one. */
  private interactiveRun = 0;
  readonly stats: LaneGateStats = { granted: { interactive: 0, bulk: 0 }, queued: { interactive: 0, bulk: 0 }, yields: 0 };
  /** Told of every grant that had to wait, in grant order (metrics, tests). */
  onQueuedGrant: ((lane: Lane) => void) | undefined;

  constructor(
    private readonly sliceMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Waiters per lane right now (not counting the holder). */
  depth(lane: Lane): number {
    return this.waiting[lane].length;
  }

  async run<T>(lane: Lane, fn: () => Promise<T>): Promise<T> {
    await this.acquire(lane);
    try {
      return await fn();
    } finally {
      this.held = false;
      this.dispatch();
    }
  }

  private acquire(lane: Lane): Promise<void> {
    this.stats.granted[lane]++;
    if (!this.held && this.waiting.interactive.length === 0 && this.waiting.bulk.length === 0 && this.inSlice()) {
      this.held = true;
      return Promise.resolve();
    }
    this.stats.queued[lane]++;
    return new Promise((resolve) => {
      this.waiting[lane].push(() => {
        this.onQueuedGrant?.(lane);
        resolve();
      });
      this.dispatch();
    });
  }

  private dispatch(): void {
    if (this.held || (this.waiting.interactive.length === 0 && this.waiting.bulk.length === 0)) return;
    if (!this.inSlice()) {
      if (!this.yieldScheduled) {
        this.yieldScheduled = true;
        this.stats.yields++;
        setImmediate(() => {
          this.yieldScheduled = false;
          this.sliceStart = undefined;
          this.dispatch();
        });
      }
      return;
    }
    const bulkTurn = this.waiting.bulk.length > 0 && (this.waiting.interactive.length === 0 || this.interactiveRun >= INTERACTIVE_RUN);
    this.interactiveRun = bulkTurn ? 0 : this.interactiveRun + 1;
    const next = bulkTurn ? this.waiting.bulk.shift() : this.waiting.interactive.shift();
    this.held = true;
    next!();
  }

  /** Whether the current slice has time left; starts a slice (and its end marker) if none runs. */
  private inSlice(): boolean {
    const now = this.now();
    if (this.sliceStart === undefined) {
      this.sliceStart = now;
      // Runs once the event loop turns: whatever comes after that starts a fresh slice.
      setImmediate(() => {
        if (!this.yieldScheduled) this.sliceStart = undefined;
      });
      return true;
    }
    return now - this.sliceStart < this.sliceMs;
  }
}
