// The domain's view of time and of fresh identifiers, as ports: `Clock` (the wall clock and
// timers) and `Ids` (random identifiers). Domain code asks these instead of calling Date.now,
// setTimeout or randomUUID itself, so a unit test can run it on a clock it moves by hand and
// with ids it can predict. The composition root (src/app.ts) wires the system implementations
// below; services default to them so that a caller that does not care need not pass them.

import { randomBytes, randomUUID } from 'node:crypto';

/** A scheduled callback; `cancel` is idempotent. */
export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** The current time. */
  now(): Date;
  /** The current time in epoch milliseconds (cheaper when only a number is needed). */
  nowMs(): number;
  /**
   * Milliseconds on a clock that never goes back, for durations and rates only (its zero is
   * arbitrary; the wall clock may be set back, this one is not).
   */
  monotonicMs(): number;
  /** Runs `fn` once after `ms`; a timer never keeps the process alive on its own. */
  after(ms: number, fn: () => void): Timer;
  /** Runs `fn` every `ms` until cancelled; never keeps the process alive on its own. */
  every(ms: number, fn: () => void): Timer;
  /**
   * Runs `fn` on the next turn of the event loop, after the I/O already waiting: a yield, not a
   * wait (no time passes), so work arriving in the same turn can be gathered first.
   */
  soon(fn: () => void): Timer;
}

export interface Ids {
  /** A random UUID (v4). */
  uuid(): string;
  /** `bytes` random bytes as lowercase hex. */
  hex(bytes: number): string;
}

/** Resolves after `n` turns of the event loop (`Clock.soon` one after another): a yield, no time. */
export function loopTurns(clock: Clock, n: number): Promise<void> {
  return new Promise((resolve) => {
    const next = (left: number) => (left <= 0 ? resolve() : clock.soon(() => next(left - 1)));
    next(n);
  });
}

/** The process's clock and timers. */
export const systemClock: Clock = {
  now: () => new Date(),
  nowMs: () => Date.now(),
  monotonicMs: () => performance.now(),
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
  every(ms, fn) {
    const t = setInterval(fn, ms);
    t.unref();
    return { cancel: () => clearInterval(t) };
  },
  soon(fn) {
    const t = setImmediate(fn);
    return { cancel: () => clearImmediate(t) };
  },
};

/** Cryptographically random identifiers. */
export const systemIds: Ids = {
  uuid: () => randomUUID(),
  hex: (bytes) => randomBytes(bytes).toString('hex'),
};

/**
 * A clock that moves only when told (unit tests): `advance` fires the timers that fall due, in
 * order of their due time, each seeing the clock at its own due time. `soon` is the one real
 * yield: it takes no time, so it runs on the next event-loop turn as on the system clock (a test
 * awaits it like any I/O), while the clock stands still.
 */
export class ManualClock implements Clock {
  private ms: number;
  private seq = 0;
  private readonly timers = new Map<number, { due: number; fn: () => void; every?: number }>();

  constructor(start: Date | number = Date.UTC(2026, 0, 1)) {
    this.ms = typeof start === 'number' ? start : start.getTime();
  }

  now(): Date {
    return new Date(this.ms);
  }

  nowMs(): number {
    return this.ms;
  }

  monotonicMs(): number {
    return this.ms;
  }

  after(ms: number, fn: () => void): Timer {
    return this.schedule(ms, fn);
  }

  every(ms: number, fn: () => void): Timer {
    return this.schedule(ms, fn, Math.max(1, ms));
  }

  soon(fn: () => void): Timer {
    return systemClock.soon(fn);
  }

  /** Moves the clock forward by `ms`, firing every timer due on the way. */
  advance(ms: number): void {
    const end = this.ms + ms;
    for (;;) {
      let next: [number, { due: number; fn: () => void; every?: number }] | undefined;
      for (const entry of this.timers) if (entry[1].due <= end && (!next || entry[1].due < next[1].due)) next = entry;
      if (!next) break;
      const [id, timer] = next;
      this.ms = Math.max(this.ms, timer.due);
      if (timer.every !== undefined) timer.due += timer.every;
      else this.timers.delete(id);
      timer.fn();
    }
    this.ms = end;
  }

  /** Timers still scheduled. */
  get pending(): number {
    return this.timers.size;
  }

  private schedule(ms: number, fn: () => void, every?: number): Timer {
    const id = ++this.seq;
    this.timers.set(id, { due: this.ms + Math.max(0, ms), fn, every });
    return { cancel: () => void this.timers.delete(id) };
  }
}

/** Ids that count up (`<prefix>-1`, `<prefix>-2`, …), for tests that want to predict them. */
export class CountingIds implements Ids {
  private n = 0;

  constructor(private readonly prefix = 'id') {}

  uuid(): string {
    return `${this.prefix}-${++this.n}`;
  }

  hex(bytes: number): string {
    return (++this.n).toString(16).padStart(bytes * 2, '0');
  }
}

/** Time and ids together, as the services take them. */
export interface Runtime {
  clock: Clock;
  ids: Ids;
}

export const systemRuntime: Runtime = { clock: systemClock, ids: systemIds };
