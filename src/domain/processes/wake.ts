// Waking a session when a process it waits on finishes: one queued batch per finished process
// (idempotency id `process-wake:{process}:{event}`), so a wake delivered twice (two replicas, a
// retry after a crash) is queued once, and the session's next drain tells the model the result.

import { DomainError } from '../errors.js';
import type { RequestContext } from '../ports.js';
import type { QueueService } from '../queue/service.js';
import type { ProcessStore } from './ports.js';
import type { ProcessRecord } from './types.js';

/** Most characters of a process's output repeated in the wake message. */
const MAX_WAKE_OUTPUT_CHARS = 16_000;

export function wakeText(p: ProcessRecord): string {
  const head = `[process ${p.processId} (${p.kind}) ${p.status}]`;
  const what = p.input.task ? `\ntask: ${p.input.task}` : '';
  const body = p.status === 'completed' ? `\noutput: ${JSON.stringify(p.output ?? null)}` : `\nerror: ${p.error ?? p.status}`;
  const text = `${head}${what}${body}`;
  return text.length > MAX_WAKE_OUTPUT_CHARS ? `${text.slice(0, MAX_WAKE_OUTPUT_CHARS)}… (truncated; GetProcess has the whole output)` : text;
}

export const wakeId = (p: ProcessRecord) => `process-wake:${p.processId}:${p.eventSeq}`;

export class ProcessWakes {
  constructor(private readonly deps: { store: ProcessStore; queue: Pick<QueueService, 'enqueue'> }) {}

  /** Delivers the wake of a finished process (idempotent); a session that is gone revokes it. */
  async deliver(p: ProcessRecord): Promise<void> {
    if (p.wakeState !== 'pending' || !p.wakeSessionId) return;
    const ctx: RequestContext = { tenantId: p.tenantId };
    try {
      await this.deps.queue.enqueue(ctx, {
        sessionId: p.wakeSessionId,
        id: wakeId(p),
        deliveryPolicy: 'after_current_turn_commit',
        slotPolicy: 'join',
        input: { items: [{ kind: 'text', text: wakeText(p) }], imageBlobs: {} },
      });
    } catch (err) {
      if (err instanceof DomainError && err.reason === 'SESSION_NOT_FOUND') return this.deps.store.setWakeState(p.tenantId, p.processId, 'revoked');
      throw err;
    }
    await this.deps.store.setWakeState(p.tenantId, p.processId, 'delivered');
  }
}
