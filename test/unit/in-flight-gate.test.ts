// The hold on hot-path statements at the database at once (in-flight-gate.ts, ADR 0083): never
// more than the limit count, the rest go in arrival order as slots free up, a failure frees its
// slot, a statement in flight too long stops counting, and the stats say what runs and waits.
// A manual clock: nothing becomes overdue unless a test moves it.

import { describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../src/domain/clock.js';
import { InFlightGate } from '../../src/store/in-flight-gate.js';

/** A statement the test ends by hand. */
function held(log: string[], name: string) {
  let finish!: (v: string) => void;
  let fail!: (e: Error) => void;
  const fn = () => {
    log.push(`start ${name}`);
    return new Promise<string>((resolve, reject) => {
      finish = resolve;
      fail = reject;
    });
  };
  return { fn, finish: () => finish(name), fail: (e: Error) => fail(e) };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('InFlightGate', () => {
  it('runs at most `limit` at once and lets the rest go in arrival order', async () => {
    const gate = new InFlightGate(2, 100, new ManualClock());
    const log: string[] = [];
    const s = ['a', 'b', 'c', 'd', 'e'].map((n) => held(log, n));
    const results = s.map((x) => gate.run(x.fn));
    await settle();
    expect(log).toEqual(['start a', 'start b']);
    expect(gate.stats).toEqual({ inFlight: 2, waiting: 3, waited: 3, overdue: 0 });

    s[1]!.finish();
    await settle();
    expect(log).toEqual(['start a', 'start b', 'start c']);
    expect(gate.stats).toMatchObject({ inFlight: 2, waiting: 2 });

    s[0]!.finish();
    s[2]!.finish();
    await settle();
    expect(log).toEqual(['start a', 'start b', 'start c', 'start d', 'start e']);
    s[3]!.finish();
    s[4]!.finish();
    expect(await Promise.all(results)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(gate.stats).toEqual({ inFlight: 0, waiting: 0, waited: 3, overdue: 0 });
  });

  it('frees the slot of a statement that fails, and passes its error on', async () => {
    const gate = new InFlightGate(1, 100, new ManualClock());
    const log: string[] = [];
    const a = held(log, 'a');
    const b = held(log, 'b');
    const ra = gate.run(a.fn);
    const rb = gate.run(b.fn);
    await settle();
    a.fail(new Error('boom'));
    await expect(ra).rejects.toThrow('boom');
    await settle();
    expect(log).toEqual(['start a', 'start b']);
    b.finish();
    expect(await rb).toBe('b');
    expect(gate.stats).toEqual({ inFlight: 0, waiting: 0, waited: 1, overdue: 0 });
  });

  it('frees the slot of a statement that throws before returning a promise', async () => {
    const gate = new InFlightGate(1, 100, new ManualClock());
    await expect(
      gate.run(() => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    expect(await gate.run(async () => 'next')).toBe('next');
    expect(gate.stats.inFlight).toBe(0);
  });

  it('stops counting a statement in flight for overdueMs, so one slow statement does not hold the line', async () => {
    const clock = new ManualClock();
    const gate = new InFlightGate(1, 100, clock);
    const log: string[] = [];
    const [a, b, c] = ['a', 'b', 'c'].map((n) => held(log, n));
    const ra = gate.run(a!.fn);
    await settle();
    clock.advance(60);
    const rb = gate.run(b!.fn);
    const rc = gate.run(c!.fn);
    await settle();
    clock.advance(39);
    await settle();
    expect(log).toEqual(['start a']);
    // a has been at the database for 100 ms: b gets its slot; c still waits (b counts).
    clock.advance(1);
    await settle();
    expect(log).toEqual(['start a', 'start b']);
    expect(gate.stats).toEqual({ inFlight: 1, waiting: 1, waited: 2, overdue: 1 });
    // a finishing gives nothing back: its slot was already b's.
    a!.finish();
    await ra;
    await settle();
    expect(log).toEqual(['start a', 'start b']);
    // b, too, becomes overdue 100 ms after it started, not after a did.
    clock.advance(99);
    await settle();
    expect(log).toEqual(['start a', 'start b']);
    clock.advance(1);
    await settle();
    expect(log).toEqual(['start a', 'start b', 'start c']);
    b!.finish();
    c!.finish();
    expect([await rb, await rc]).toEqual(['b', 'c']);
    expect(gate.stats).toEqual({ inFlight: 0, waiting: 0, waited: 2, overdue: 2 });
  });

  it('sets no timer while nothing waits', async () => {
    const clock = new ManualClock();
    const after = vi.spyOn(clock, 'after');
    const gate = new InFlightGate(2, 100, clock);
    await Promise.all([gate.run(async () => 1), gate.run(async () => 2)]);
    expect(after).not.toHaveBeenCalled();
  });

  it('refuses a limit that is not a positive integer, and an overdue time that is not positive', () => {
    expect(() => new InFlightGate(0)).toThrow(RangeError);
    expect(() => new InFlightGate(1.5)).toThrow(RangeError);
    expect(() => new InFlightGate(2, 0)).toThrow(RangeError);
    expect(() => new InFlightGate(2, Number.NaN)).toThrow(RangeError);
  });
});
