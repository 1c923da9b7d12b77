// Waiting for a durable condition: re-check whenever the bus says something relevant changed
// (on any replica), with a slow poll as a safety net, until it holds or the caller gives up.

import { systemClock, type Clock } from './clock.js';
import type { EventBus } from './ports.js';

export interface WakeOptions<T> {
  bus: EventBus;
  topic: string;
  /** Which bus messages are worth a re-check. */
  relevant(payload: Record<string, unknown>): boolean;
  /** Further bus topics worth a re-check (e.g. the subject was deleted). */
  also?: { topic: string; relevant(payload: Record<string, unknown>): boolean }[];
  /** Reads the condition; a value ends the wait. */
  check(): Promise<T | undefined>;
  pollMs: number;
  /** Paces the poll (default: the system clock). */
  clock?: Clock;
  signal: AbortSignal;
  /** What to do when the signal fires first: a value to resolve with, or an error to throw. */
  onAbort(): { value: T } | { error: Error };
}

export function waitForCondition<T>(o: WakeOptions<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const finish = (outcome: { value: T } | { error: unknown }) => {
      if (done) return;
      done = true;
      off();
      poll.cancel();
      o.signal.removeEventListener('abort', onAbort);
      if ('value' in outcome) resolve(outcome.value);
      else reject(outcome.error instanceof Error ? outcome.error : new Error(String(outcome.error)));
    };
    const poke = () =>
      void o.check().then(
        (v) => v !== undefined && finish({ value: v }),
        (error: unknown) => finish({ error }),
      );
    const offs = [
      o.bus.subscribe(o.topic, (p) => o.relevant(p) && poke()),
      ...(o.also ?? []).map((a) => o.bus.subscribe(a.topic, (p) => a.relevant(p) && poke())),
    ];
    const off = () => offs.forEach((f) => f());
    const poll = (o.clock ?? systemClock).every(o.pollMs, poke);
    const onAbort = () => finish(o.onAbort());
    if (o.signal.aborted) return onAbort();
    o.signal.addEventListener('abort', onAbort, { once: true });
    poke();
  });
}
