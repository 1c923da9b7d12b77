// Slots for client-started turns (RunTurn, StartTurn): at most `maxRunning` run at once in
// this process; the next ones wait in a bounded queue for a bounded time, and past that the call
// is refused with RESOURCE_EXHAUSTED (reason TOO_MANY_TURNS) and a retry hint. Child turns
// (run_child) and queue drains take no slot: they are bounded by their parent turn and
// by LASH_QUEUE_WORKERS, and making a child wait for a slot its own parent holds could deadlock.

import { systemClock, type Clock } from '../clock.js';
import { DomainError } from '../errors.js';
import type { RequestContext } from '../ports.js';
import type { RunOptions, TurnService } from './runner.js';
import type { TurnRequest, TurnResult } from './types.js';

export interface TurnSlotLimits {
  maxRunning: number;
  maxWaiting: number;
  waitMs: number;
}

export interface TurnSlotStats {
  running: number;
  waiting: number;
  rejected: number;
}

/** What a refused caller is told to wait before retrying. */
const RETRY_AFTER_MS = 1_000;

export class TurnSlots {
  private running = 0;
  private rejected = 0;
  private readonly queue: (() => void)[] = [];

  constructor(
    private readonly limits: TurnSlotLimits,
    private readonly clock: Clock = systemClock,
  ) {}

  stats(): TurnSlotStats {
    return { running: this.running, waiting: this.queue.length, rejected: this.rejected };
  }

  /** A slot for one turn (call the returned function once the turn is over), or a refusal. */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const next = this.queue.shift();
      // The slot passes straight to the next waiter: `running` stays the same.
      if (next) next();
      else this.running--;
    };
    if (this.running < this.limits.maxRunning) {
      this.running++;
      return release;
    }
    if (this.queue.length >= this.limits.maxWaiting)
      throw this.refuse(`${this.limits.maxRunning} turns are running in this process and ${this.limits.maxWaiting} are waiting to start`);
    return new Promise((resolve, reject) => {
      const leave = () => {
        timer.cancel();
        signal?.removeEventListener('abort', onAbort);
        const i = this.queue.indexOf(admit);
        if (i >= 0) this.queue.splice(i, 1);
      };
      const admit = () => {
        leave();
        resolve(release);
      };
      const onAbort = () => {
        leave();
        reject(new DomainError('CALL_CANCELLED', 'the call was cancelled while its turn waited to start'));
      };
      const timer = this.clock.after(this.limits.waitMs, () => {
        leave();
        reject(this.refuse(`${this.limits.maxRunning} turns are running in this process and none finished within ${this.limits.waitMs} ms`));
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(admit);
    });
  }

  private refuse(why: string): DomainError {
    this.rejected++;
    return new DomainError('TOO_MANY_TURNS', `the server is busy: ${why}; retry after ${RETRY_AFTER_MS} ms`, {
      retry_after_ms: String(RETRY_AFTER_MS),
      max_running_turns: String(this.limits.maxRunning),
    });
  }
}

/** RunTurn and StartTurn, each holding a slot while its turn runs. */
/**
 * Starts a detached turn with `start` while holding something (a slot, a tenant's place) that
 * `release` gives back: when the turn settles, or at once if it never started.
 */
export async function startHolding(
  turns: Pick<TurnService, 'registry'>,
  ctx: RequestContext,
  req: TurnRequest,
  release: () => void,
  start: () => Promise<string>,
): Promise<string> {
  try {
    const turnId = await start();
    const running = turns.registry.get(ctx.tenantId, req.sessionId, turnId);
    if (running) void running.done.finally(release);
    else release();
    return turnId;
  } catch (err) {
    release();
    throw err;
  }
}

export class LimitedTurns {
  constructor(
    private readonly turns: TurnService,
    readonly slots: TurnSlots,
  ) {}

  async run(ctx: RequestContext, req: TurnRequest, options: RunOptions = {}): Promise<TurnResult> {
    const release = await this.slots.acquire(ctx.signal);
    try {
      return await this.turns.run(ctx, req, options);
    } finally {
      release();
    }
  }

  /** The slot is held until the detached turn settles, not just until it is accepted. */
  async start(ctx: RequestContext, req: TurnRequest): Promise<string> {
    return startHolding(this.turns, ctx, req, await this.slots.acquire(ctx.signal), () => this.turns.start(ctx, req));
  }
}
