// Limits on ObserveSession subscriptions of this process: at most `maxConcurrent` open at once,
// and new ones admitted at `ratePerSecond` with bursts of up to `burst` (a token bucket). Past
// either the call is refused before any work (no session read, no snapshot) with
// RESOURCE_EXHAUSTED, a reason and a retry hint, so a storm of subscribers cannot starve other
// calls or hold unbounded memory. Per process by design; per-tenant limits are a separate layer.

import { systemClock, type Clock } from '../clock.js';
import { DomainError } from '../errors.js';
import type { RequestContext } from '../ports.js';
import type { Observer, ObserverSink } from './observation.js';

export interface SubscriptionLimitSettings {
  maxConcurrent: number;
  ratePerSecond: number;
  burst: number;
}

export interface SubscriptionStats {
  inUse: number;
  rejectedConcurrent: number;
  rejectedRate: number;
}

/** What a refused subscriber is told to wait when the process is full (one may end any time). */
const FULL_RETRY_AFTER_MS = 1_000;

export class SubscriptionLimits {
  private inUse = 0;
  private rejectedConcurrent = 0;
  private rejectedRate = 0;
  private tokens: number;
  private refilledAt: number;

  constructor(
    private readonly settings: SubscriptionLimitSettings,
    private readonly clock: Clock = systemClock,
  ) {
    this.tokens = settings.burst;
    this.refilledAt = clock.monotonicMs();
  }

  stats(): SubscriptionStats {
    return { inUse: this.inUse, rejectedConcurrent: this.rejectedConcurrent, rejectedRate: this.rejectedRate };
  }

  /** Admits one subscription (call the returned function once, when it ends) or refuses it. */
  admit(): () => void {
    const { maxConcurrent, ratePerSecond, burst } = this.settings;
    const t = this.clock.monotonicMs();
    this.tokens = Math.min(burst, this.tokens + ((t - this.refilledAt) / 1000) * ratePerSecond);
    this.refilledAt = t;
    // The rate is checked first and a token is only spent on an admitted subscription.
    if (this.tokens < 1) {
      this.rejectedRate++;
      const waitMs = Math.ceil(((1 - this.tokens) / ratePerSecond) * 1000);
      throw refuse(
        'OBSERVE_RATE_EXCEEDED',
        `this process admits ${ratePerSecond} new observers per second (bursts of ${burst}; LASH_OBSERVE_RATE, LASH_OBSERVE_BURST)`,
        waitMs,
        { observe_rate: String(ratePerSecond) },
      );
    }
    if (this.inUse >= maxConcurrent) {
      this.rejectedConcurrent++;
      throw refuse(
        'TOO_MANY_OBSERVERS',
        `${maxConcurrent} observers are connected to this process, the most it serves (LASH_MAX_OBSERVERS)`,
        FULL_RETRY_AFTER_MS,
        { max_observers: String(maxConcurrent) },
      );
    }
    this.tokens -= 1;
    this.inUse++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inUse--;
    };
  }
}

function refuse(reason: 'OBSERVE_RATE_EXCEEDED' | 'TOO_MANY_OBSERVERS', why: string, retryAfterMs: number, metadata: Record<string, string>): DomainError {
  return new DomainError(reason, `the server is busy: ${why}; retry after ${retryAfterMs} ms`, { retry_after_ms: String(retryAfterMs), ...metadata });
}

/** Subscriptions starting at once (reading their session and snapshot) in this process. */
const MAX_STARTING = 8;
/** Longest a started subscription keeps its start place while its first catch-up waits. */
const START_HOLD_MS = 1_000;

/** A counting gate: at most `size` inside, the rest wait in arrival order. */
class StartGate {
  private inside = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly size: number) {}

  async enter(): Promise<void> {
    if (this.inside < this.size) {
      this.inside++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  leave(): void {
    const next = this.waiting.shift();
    // The place passes straight to the next in line.
    if (next) next();
    else this.inside--;
  }
}

type Observe = (ctx: RequestContext, sessionId: string, cursor: string | undefined, sink: ObserverSink) => Promise<Observer>;

/**
 * `observe` behind the limits: the subscription holds its place until the observer is closed or
 * fails, and gives it back at once when the observation is refused.
 */
export function limitedObserve(limits: SubscriptionLimits, observe: Observe, maxStarting = MAX_STARTING, clock: Clock = systemClock): Observe {
  const starting = new StartGate(maxStarting);
  return async (ctx, sessionId, cursor, sink) => {
    const release = limits.admit();
    // Starts (session read, snapshot or replay) run a few at a time: a burst of subscribers then
    // queues here, not in the store's connection queue ahead of every other call (ADR 0054).
    await starting.enter();
    if (ctx.signal?.aborted) {
      starting.leave();
      release();
      throw new DomainError('CALL_CANCELLED', 'the call was cancelled while its subscription waited to start');
    }
    const ending: ObserverSink = {
      send: (m) => sink.send(m),
      fail: (err) => {
        release();
        sink.fail(err);
      },
      hasRoom: () => sink.hasRoom(),
      room: () => sink.room(),
      whenRoom: () => sink.whenRoom(),
    };
    try {
      const observer = await observe(ctx, sessionId, cursor, ending).catch((err: unknown) => {
        starting.leave();
        throw err;
      });
      // The place is held through the start's own store reads after the snapshot, but not for a
      // client that does not read (its catch-up waits for room): at most START_HOLD_MS.
      let left = false;
      const leave = () => {
        if (left) return;
        left = true;
        timer.cancel();
        starting.leave();
      };
      const timer = clock.after(START_HOLD_MS, leave);
      void (observer.started ?? Promise.resolve()).then(leave, leave);
      return {
        close: () => {
          release();
          observer.close();
        },
      };
    } catch (err) {
      release();
      throw err;
    }
  };
}
