// Paces the start of heavy calls (turns, subscriptions, other streams) so that a burst of them
// cannot hold the event loop (issue 18, ADR 0075). Hundreds of calls that arrive together reach
// the server in one socket read, and grpc-js hands every one of them to its handler in that same
// turn of the event loop: each handler's first steps (auth, decode, turn slot, admission, a
// subscription's registration) then ran back to back for hundreds of milliseconds while an
// unrelated GetSession waited to be read. Here a heavy call starts at once only while the current
// slice — the time since the first start in this turn of the event loop — is under `sliceMs`;
// later starts wait in a FIFO and are let go a slice at a time, one event-loop turn apart, so
// sockets are polled in between. Unary reads are not paced: they are what must keep answering.

import { performance } from 'node:perf_hooks';

export interface CallPacerStats {
  /** Starts that had to wait for a later turn of the event loop. */
  deferred: number;
  /** Starts let go at once because the queue was full (pacing gave way, nothing was refused). */
  overflow: number;
}

export class CallPacer {
  private readonly queue: { go(): void; cancelled(): boolean }[] = [];
  private sliceStart: number | undefined;
  private drainScheduled = false;
  readonly stats: CallPacerStats = { deferred: 0, overflow: 0 };

  /**
   * `sliceMs` 0 turns pacing off. `maxQueued` bounds the waiting starts: past it a start goes at
   * once, as it did before pacing, so the queue never holds more than that many closures.
   */
  constructor(
    private readonly sliceMs: number,
    private readonly maxQueued: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Starts waiting for a later turn of the event loop right now. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Runs `go` now or in a later turn of the event loop; skips it if the call was cancelled meanwhile. */
  start(go: () => void, cancelled: () => boolean): void {
    if (this.sliceMs === 0 || (this.queue.length === 0 && this.inSlice())) return go();
    if (this.queue.length >= this.maxQueued) {
      this.stats.overflow++;
      return go();
    }
    this.stats.deferred++;
    this.queue.push({ go, cancelled });
    this.scheduleDrain();
  }

  private scheduleDrain(): void {
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    setImmediate(() => {
      this.drainScheduled = false;
      this.sliceStart = undefined;
      this.release();
    });
  }

  /**
   * Lets one waiting start go, then the next from a later microtask, so the time a start's first
   * synchronous steps take counts against the slice before the next is let go.
   */
  private release(): void {
    if (this.queue.length === 0) return;
    if (!this.inSlice()) return this.scheduleDrain();
    const next = this.queue.shift()!;
    if (!next.cancelled()) next.go();
    queueMicrotask(() => this.release());
  }

  /** Whether the current slice has time left; starts a slice (ended by the next event-loop turn) if none runs. */
  private inSlice(): boolean {
    const now = this.now();
    if (this.sliceStart === undefined) {
      this.sliceStart = now;
      setImmediate(() => {
        if (!this.drainScheduled) this.sliceStart = undefined;
      });
      return true;
    }
    return now - this.sliceStart < this.sliceMs;
  }
}
