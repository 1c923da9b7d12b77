// Turn admission: a bounded number of running turns, a bounded queue, a bounded wait, and a
// waiter whose caller leaves gives its place up.

import { describe, expect, it } from 'vitest';
import { DomainError } from '../../src/domain/errors.js';
import { TurnAdmission } from '../../src/domain/turns/admission.js';

describe('turn admission', () => {
  it('a turn that waits longer than the wait limit is refused as TOO_MANY_TURNS; a released slot goes to the next waiter', async () => {
    const admission = new TurnAdmission({ maxRunning: 1, maxWaiting: 5, waitMs: 20 });
    const first = await admission.acquire();
    const refused = await admission.acquire().catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(DomainError);
    expect(refused).toMatchObject({ errorClass: 'RESOURCE_EXHAUSTED', reason: 'TOO_MANY_TURNS', metadata: { retry_after_ms: '1000' } });
    const next = admission.acquire();
    expect(admission.stats()).toEqual({ running: 1, waiting: 1, rejected: 1 });
    first();
    first(); // releasing twice frees one slot only
    const second = await next;
    expect(admission.stats()).toEqual({ running: 1, waiting: 0, rejected: 1 });
    second();
    expect(admission.stats().running).toBe(0);
  });

  it('a caller that goes away leaves the queue without taking a slot', async () => {
    const admission = new TurnAdmission({ maxRunning: 1, maxWaiting: 5, waitMs: 60_000 });
    const held = await admission.acquire();
    const ac = new AbortController();
    const waiting = admission.acquire(ac.signal);
    ac.abort();
    await expect(waiting).rejects.toMatchObject({ errorClass: 'CANCELLED' });
    expect(admission.stats()).toEqual({ running: 1, waiting: 0, rejected: 0 });
    held();
    expect(admission.stats().running).toBe(0);
  });
});
