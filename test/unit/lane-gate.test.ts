// The gate in front of PGlite's backend: one holder at a time, interactive waiters before bulk
// ones, and a slice past which the next grant waits for the event loop to turn (ADR 0063).

import { describe, expect, it } from 'vitest';
import { INTERACTIVE_RUN, LaneGate } from '../../src/store/lane-gate.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('LaneGate', () => {
  it('runs one holder at a time', async () => {
    const gate = new LaneGate(1_000);
    let inside = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        gate.run(i % 3 === 0 ? 'interactive' : 'bulk', async () => {
          inside++;
          most = Math.max(most, inside);
          await Promise.resolve();
          inside--;
        }),
      ),
    );
    expect(most).toBe(1);
  });

  it('grants a queued interactive read before every queued bulk statement', async () => {
    const gate = new LaneGate(1_000);
    const order: string[] = [];
    let open: (() => void) | undefined;
    const holder = gate.run('bulk', () => new Promise<void>((r) => (open = r)));
    const writes = Array.from({ length: 5 }, (_, i) => gate.run('bulk', async () => void order.push(`write-${i}`)));
    const read = gate.run('interactive', async () => void order.push('read'));
    while (!open) await Promise.resolve();
    expect(gate.depth('bulk')).toBe(5);
    expect(gate.depth('interactive')).toBe(1);
    open!();
    await Promise.all([holder, read, ...writes]);
    expect(order).toEqual(['read', 'write-0', 'write-1', 'write-2', 'write-3', 'write-4']);
  });

  it('lets a waiting bulk statement go after INTERACTIVE_RUN interactive grants in a row', async () => {
    const gate = new LaneGate(1_000);
    const order: string[] = [];
    let open: (() => void) | undefined;
    const holder = gate.run('bulk', () => new Promise<void>((r) => (open = r)));
    while (!open) await Promise.resolve();
    const bulk = gate.run('bulk', async () => void order.push('bulk'));
    const reads = Array.from({ length: INTERACTIVE_RUN + 2 }, () => gate.run('interactive', async () => void order.push('read')));
    open();
    await Promise.all([holder, bulk, ...reads]);
    expect(order.indexOf('bulk')).toBe(INTERACTIVE_RUN);
  });

  it('lets the event loop turn once a slice is used up, and not before', async () => {
    let clock = 0;
    const gate = new LaneGate(10, () => clock);
    const seen: string[] = [];
    let loopTurned = false;
    setImmediate(() => (loopTurned = true));
    // Each statement "takes" 4 ms of the clock: the third one would run past the 10 ms slice.
    const statements = Array.from({ length: 4 }, (_, i) =>
      gate.run('bulk', async () => {
        seen.push(`s${i}:${loopTurned ? 'after' : 'before'}`);
        clock += 4;
      }),
    );
    await Promise.all(statements);
    expect(seen).toEqual(['s0:before', 's1:before', 's2:before', 's3:after']);
    expect(gate.stats.yields).toBe(1);
  });

  it('starts a fresh slice after the loop turned on its own', async () => {
    let clock = 0;
    const gate = new LaneGate(10, () => clock);
    await gate.run('bulk', async () => void (clock += 9));
    await tick();
    clock += 100;
    await gate.run('bulk', async () => void (clock += 1));
    expect(gate.stats.yields).toBe(0);
  });
});
