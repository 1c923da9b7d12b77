// Following a process's event log: pages after a sequence number, then each new event as it is
// written (woken by the bus on any replica, with a slow poll as a safety net), until the
// finishing event has been sent. Resuming is asking again after the last sequence seen.

import { systemClock, type Clock } from '../clock.js';
import type { EventBus, RequestContext } from '../ports.js';
import type { ProcessStore } from './ports.js';
import { PROCESS_CHANGED_TOPIC } from './service.js';
import { isTerminal, type ProcessEvent } from './types.js';

const PAGE = 200;

export interface FollowSink {
  /** Sends events; resolves when the client has room for more. */
  send(events: ProcessEvent[]): Promise<void>;
  closed(): boolean;
}

export async function followProcess(
  deps: { store: ProcessStore; bus: EventBus; pollMs: number; clock?: Clock },
  ctx: RequestContext,
  processId: string,
  afterSeq: bigint,
  sink: FollowSink,
  signal: AbortSignal,
): Promise<void> {
  let seq = afterSeq;
  let poke: () => void = () => {};
  const off = deps.bus.subscribe(PROCESS_CHANGED_TOPIC, (m) => m.tenantId === ctx.tenantId && m.processId === processId && poke());
  try {
    while (!signal.aborted && !sink.closed()) {
      // Read the status before the events: a terminal status read first means its finishing event is already stored.
      const p = await deps.store.get(ctx.tenantId, processId);
      const events = await deps.store.events(ctx.tenantId, processId, seq, PAGE);
      if (events.length) {
        seq = events[events.length - 1]!.seq;
        await sink.send(events);
        continue;
      }
      if (!p || isTerminal(p.status)) return;
      await new Promise<void>((resolve) => {
        const t = (deps.clock ?? systemClock).after(deps.pollMs, done);
        function done() {
          t.cancel();
          signal.removeEventListener('abort', done);
          resolve();
        }
        poke = done;
        signal.addEventListener('abort', done, { once: true });
      });
    }
  } finally {
    off();
  }
}
