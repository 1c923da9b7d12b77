// How many hot-path statements this process has at the PostgreSQL server at once (ADR 0083).
// Statements beyond the database's cores do not finish sooner: its backends only share the CPU
// (and, when the database runs on this machine, take it from this server's event loop), every
// result that comes back lands in the same turn of the event loop, and a short read on the
// interactive lane waits behind all of them for a core. Held here instead, in order, they leave
// as soon as one of the `limit` in flight answers. A transaction counts as one for its whole
// length. A statement in flight for `overdueMs` stops counting: it waits for something other than
// a core (a lock another transaction holds, the disk), and holding the line for it would stall
// every other session's statements behind one slow one. Nothing is refused: the waiting is
// bounded by what feeds it (turn slots, drains, observers' catch-up), as the pool's own queue was.

import { systemClock, type Clock, type Timer } from '../domain/clock.js';

export interface InFlightGateStats {
  /**
   * Statements (or transactions) counted against the limit: those holding a slot (one may still be
   * waiting for a pool connection); overdue ones still at the database are not among them.
   */
  inFlight: number;
  /** Waiting for one of those to finish. */
  waiting: number;
  /** Since start: how many had to wait. */
  waited: number;
  /** Since start: how many stopped counting after `overdueMs` in flight. */
  overdue: number;
}

interface Ticket {
  start: number;
  counted: boolean;
}

export class InFlightGate {
  private counted = 0;
  private readonly queue: (() => void)[] = [];
  /** Counted tickets, oldest first (a Set keeps insertion order). */
  private readonly young = new Set<Ticket>();
  private timer: Timer | undefined;
  private waited = 0;
  private overdue = 0;

  constructor(
    readonly limit: number,
    readonly overdueMs = 100,
    private readonly clock: Clock = systemClock,
  ) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`in-flight limit must be a positive integer, got ${limit}`);
    if (!Number.isFinite(overdueMs) || overdueMs <= 0) throw new RangeError(`overdue time must be a positive number of milliseconds, got ${overdueMs}`);
  }

  get stats(): InFlightGateStats {
    return { inFlight: this.counted, waiting: this.queue.length, waited: this.waited, overdue: this.overdue };
  }

  /** Runs `fn` once fewer than `limit` others count (at once, without waiting, when there is room). */
  run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.counted < this.limit) {
      this.counted++;
      return this.hold(fn);
    }
    this.waited++;
    const turn = new Promise<void>((resolve) => this.queue.push(resolve));
    this.arm();
    return turn.then(() => this.hold(fn));
  }

  /** Runs `fn` on a slot already counted for it. */
  private async hold<T>(fn: () => Promise<T>): Promise<T> {
    const ticket: Ticket = { start: this.clock.monotonicMs(), counted: true };
    this.young.add(ticket);
    if (this.queue.length > 0) this.arm();
    try {
      return await fn();
    } finally {
      this.young.delete(ticket);
      // An overdue statement gave its slot away when it became overdue.
      if (ticket.counted) this.release();
    }
  }

  /** A slot frees: straight to the next in line (so a newcomer cannot overtake it), else uncounted. */
  private release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.counted--;
    this.arm();
  }

  /** While statements wait, a timer for when the oldest counted one becomes overdue. */
  private arm(): void {
    if (this.queue.length === 0) {
      this.timer?.cancel();
      this.timer = undefined;
      return;
    }
    if (this.timer) return;
    const oldest = this.young.values().next().value as Ticket | undefined;
    if (!oldest) return; // every counted slot is being handed on: the holds that take them arm it
    const dueIn = Math.max(0, oldest.start + this.overdueMs - this.clock.monotonicMs());
    this.timer = this.clock.after(dueIn, () => {
      this.timer = undefined;
      this.expire();
    });
  }

  private expire(): void {
    const now = this.clock.monotonicMs();
    for (const ticket of this.young) {
      if (now - ticket.start < this.overdueMs || this.queue.length === 0) break;
      this.young.delete(ticket);
      ticket.counted = false;
      this.overdue++;
      this.release();
    }
    this.arm();
  }
}
