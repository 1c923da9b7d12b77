// Subscription limits on a clock the test moves: the token bucket admits a burst, refills at the
// configured rate (the retry hint says how long until the next token), never holds more than the
// burst, and the concurrency cap is separate from the rate. The start gate gives a subscription's
// place back after its hold time when its first catch-up does not finish.

import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/clock.js';
import { DomainError } from '../../src/domain/errors.js';
import type { Observer, ObserverSink } from '../../src/domain/feed/observation.js';
import { limitedObserve, SubscriptionLimits } from '../../src/domain/feed/subscription-limits.js';

const refusal = (fn: () => unknown): DomainError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof DomainError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
};

describe('subscription limits on a manual clock', () => {
  it('admits a burst, then one per 1/rate seconds, with a retry hint that is the wait for the next token', () => {
    const clock = new ManualClock();
    const limits = new SubscriptionLimits({ maxConcurrent: 100, ratePerSecond: 4, burst: 3 }, clock);
    for (let i = 0; i < 3; i++) limits.admit();
    const refused = refusal(() => limits.admit());
    expect(refused).toMatchObject({
      reason: 'OBSERVE_RATE_EXCEEDED',
      errorClass: 'RESOURCE_EXHAUSTED',
      metadata: { retry_after_ms: '250', observe_rate: '4' },
    });
    clock.advance(100); // 0.4 of a token
    expect(refusal(() => limits.admit()).metadata).toMatchObject({ retry_after_ms: '150' });
    clock.advance(150);
    limits.admit();
    expect(() => limits.admit()).toThrow(DomainError);
    expect(limits.stats()).toEqual({ inUse: 4, rejectedConcurrent: 0, rejectedRate: 3 });
  });

  it('a long quiet spell refills the bucket only up to the burst', () => {
    const clock = new ManualClock();
    const limits = new SubscriptionLimits({ maxConcurrent: 100, ratePerSecond: 10, burst: 2 }, clock);
    limits.admit();
    limits.admit();
    clock.advance(3_600_000);
    limits.admit();
    limits.admit();
    expect(refusal(() => limits.admit()).reason).toBe('OBSERVE_RATE_EXCEEDED');
  });

  it('past the concurrency cap a subscription is refused without spending a token; a release makes room', () => {
    const clock = new ManualClock();
    const limits = new SubscriptionLimits({ maxConcurrent: 1, ratePerSecond: 1, burst: 2 }, clock);
    const release = limits.admit();
    expect(refusal(() => limits.admit())).toMatchObject({ reason: 'TOO_MANY_OBSERVERS', metadata: { retry_after_ms: '1000', max_observers: '1' } });
    release();
    release(); // twice frees one place only
    limits.admit(); // the second token was not spent by the refusal
    expect(limits.stats()).toEqual({ inUse: 1, rejectedConcurrent: 1, rejectedRate: 0 });
  });

  it('a started subscription whose first catch-up never ends gives its start place back after the hold time', async () => {
    const clock = new ManualClock();
    const limits = new SubscriptionLimits({ maxConcurrent: 10, ratePerSecond: 100, burst: 10 }, clock);
    const observerThatNeverCatchesUp: Observer = { close: () => {}, started: new Promise<void>(() => {}) };
    let starts = 0;
    const observe = limitedObserve(
      limits,
      async () => {
        starts++;
        return observerThatNeverCatchesUp;
      },
      1,
      clock,
    );
    const sink = {} as ObserverSink;
    await observe({ tenantId: 't' }, 's', undefined, sink);
    const second = observe({ tenantId: 't' }, 's', undefined, sink);
    await new Promise((r) => setImmediate(r));
    expect(starts).toBe(1); // waiting for the single start place
    clock.advance(999);
    await new Promise((r) => setImmediate(r));
    expect(starts).toBe(1);
    clock.advance(1);
    await second;
    expect(starts).toBe(2);
  });
});
