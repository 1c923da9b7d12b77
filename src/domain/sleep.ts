// Waiting a while on a clock, cut short by an abort signal (resolves either way; callers check
// the signal).

import { systemClock, type Clock } from './clock.js';

export function sleep(ms: number, signal?: AbortSignal, clock: Clock = systemClock): Promise<void> {
  return new Promise<void>((resolve) => {
    const t = clock.after(ms, done);
    function done() {
      t.cancel();
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
