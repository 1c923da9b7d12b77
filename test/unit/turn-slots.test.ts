// Turn slots: a bounded number of running turns, a bounded queue, a bounded wait, and a
// waiter whose caller leaves gives its place up.

import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/clock.js';
import { DomainError } from '../../src/domain/errors.js';
import { TurnSlots } from '../../src/domain/turns/turn-slots.js';

describe('turn slots', () => {
  it('a turn that waits longer than the wait limit is refused as TOO_MANY_TURNS; a released slot goes to the next waiter', async () => {
    const slots = new TurnSlots({ maxRunning: 1, maxWaiting: 5, waitMs: 20 });
    const first = await slots.acquire();
    const refused = await slots.acquire().catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(DomainError);
    expect(refused).toMatchObject({ errorClass: 'RESOURCE_EXHAUSTED', reason: 'TOO_MANY_TURNS', metadata: { retry_after_ms: '1000' } });
    const next = slots.acquire();
    expect(slots.stats()).toEqual({ running: 1, waiting: 1, rejected: 1 });
    first();
    first(); // releasing twice frees one slot only
    const second = await next;
    expect(slots.stats()).toEqual({ running: 1, waiting: 0, rejected: 1 });
    second();
    expect(slots.stats().running).toBe(0);
  });

  it('a caller that goes away leaves the queue without taking a slot', async () => {
    const slots = new TurnSlots({ maxRunning: 1, maxWaiting: 5, waitMs: 60_000 });
    const held = await slots.acquire();
    const ac = new AbortController();
    const waiting = slots.acquire(ac.signal);
    ac.abort();
    await expect(waiting).rejects.toMatchObject({ errorClass: 'CANCELLED' });
    expect(slots.stats()).toEqual({ running: 1, waiting: 0, rejected: 0 });
    held();
    expect(slots.stats().running).toBe(0);
  });

  it('on a manual clock a waiter is refused exactly when the wait limit passes', async () => {
    const clock = new ManualClock();
    const slots = new TurnSlots({ maxRunning: 1, maxWaiting: 5, waitMs: 500 }, clock);
    await slots.acquire();
    let outcome: unknown;
    void slots.acquire().then(
      () => (outcome = 'admitted'),
      (err: unknown) => (outcome = err),
    );
    clock.advance(499);
    await new Promise((r) => setImmediate(r));
    expect(outcome).toBeUndefined();
    expect(slots.stats().waiting).toBe(1);
    clock.advance(1);
    await new Promise((r) => setImmediate(r));
    expect(outcome).toMatchObject({ reason: 'TOO_MANY_TURNS' });
    expect(slots.stats()).toEqual({ running: 1, waiting: 0, rejected: 1 });
    expect(clock.pending).toBe(0);
  });
});
