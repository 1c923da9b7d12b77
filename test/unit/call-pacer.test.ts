// Start pacing of heavy calls (ADR 0075): within a slice starts go at once; past it they wait, in
// order, for a later turn of the event loop; cancelled waiters are skipped; a full queue gives way
// instead of holding more. The clock is injected, so nothing here depends on real timing.

import { describe, expect, it } from 'vitest';
import { CallPacer } from '../../src/grpc/call-pacer.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('CallPacer', () => {
  it('starts calls at once while the slice has time, then defers the rest past an event-loop turn', async () => {
    let clock = 0;
    const pacer = new CallPacer(5, 100, () => clock);
    const started: number[] = [];
    let loopTurned = false;
    setImmediate(() => (loopTurned = true));
    for (let i = 0; i < 6; i++) {
      pacer.start(
        () => {
          started.push(i);
          // Each start's own work counts against the slice.
          clock += 2;
        },
        () => false,
      );
    }
    // 0 at t=0, 1 at t=2, 2 at t=4; the 4th comes at t=6, past the 5 ms slice.
    expect(started).toEqual([0, 1, 2]);
    expect(loopTurned).toBe(false);
    expect(pacer.waiting).toBe(3);
    await tick();
    await tick();
    expect(loopTurned).toBe(true);
    // A new slice: 3 (t=6..8), 4 (..10), 5 (..12) each within 5 ms of the slice start at 6.
    expect(started).toEqual([0, 1, 2, 3, 4, 5]);
    expect(pacer.stats.deferred).toBe(3);
  });

  it('keeps arrival order: a start that comes while others wait queues behind them', async () => {
    let clock = 0;
    const pacer = new CallPacer(5, 100, () => clock);
    const started: string[] = [];
    pacer.start(
      () => void ((clock += 10), started.push('a')),
      () => false,
    );
    pacer.start(
      () => void started.push('b'),
      () => false,
    );
    clock = 0; // even with slice time apparently left, 'c' may not overtake 'b'
    pacer.start(
      () => void started.push('c'),
      () => false,
    );
    expect(started).toEqual(['a']);
    await tick();
    await tick();
    expect(started).toEqual(['a', 'b', 'c']);
  });

  it('skips a waiting start whose call was cancelled meanwhile', async () => {
    let clock = 0;
    const pacer = new CallPacer(5, 100, () => clock);
    const started: string[] = [];
    let cancelled = false;
    pacer.start(
      () => void ((clock += 10), started.push('a')),
      () => false,
    );
    pacer.start(
      () => void started.push('b'),
      () => cancelled,
    );
    pacer.start(
      () => void started.push('c'),
      () => false,
    );
    cancelled = true;
    await tick();
    await tick();
    expect(started).toEqual(['a', 'c']);
  });

  it('gives way at its queue limit: the start goes at once and is counted', () => {
    let clock = 0;
    const pacer = new CallPacer(5, 2, () => clock);
    const started: string[] = [];
    pacer.start(
      () => void ((clock += 10), started.push('a')),
      () => false,
    );
    pacer.start(
      () => void started.push('b'),
      () => false,
    );
    pacer.start(
      () => void started.push('c'),
      () => false,
    );
    pacer.start(
      () => void started.push('d'),
      () => false,
    );
    expect(started).toEqual(['a', 'd']);
    expect(pacer.waiting).toBe(2);
    expect(pacer.stats.overflow).toBe(1);
  });

  it('does not pace with a slice of 0', () => {
    let clock = 0;
    const pacer = new CallPacer(0, 100, () => clock);
    const started: number[] = [];
    for (let i = 0; i < 5; i++)
      pacer.start(
        () => void ((clock += 100), started.push(i)),
        () => false,
      );
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(pacer.stats.deferred).toBe(0);
  });
});
