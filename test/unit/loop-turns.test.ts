// `loopTurns(clock, n)` resolves after exactly n turns of the event loop: what the lone turn's
// waits (ADRs 0082, 0084) count on to let a socket write and an in-process read come first.

import { describe, expect, it } from 'vitest';
import { loopTurns, systemClock } from '../../src/domain/clock.js';

describe('loopTurns', () => {
  it('resolves after n event-loop turns, not before; 0 resolves without a turn', async () => {
    for (const n of [0, 1, 2, 3]) {
      let turns = 0;
      let done = false;
      const counting = () =>
        setImmediate(() => {
          if (done) return;
          turns++;
          counting();
        });
      counting();
      await loopTurns(systemClock, n);
      done = true;
      // The counter's immediate and the wait's run in the same turns; the counter was queued first.
      expect(turns).toBe(n);
    }
  });
});
