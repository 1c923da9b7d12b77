// Queue use cases: enqueue (idempotent by id), list, cancel, await until done, session commands,
// and the explicit drain (RunQueuedTurn) which runs through the turn service as the writer.

import { systemRuntime, type Runtime } from '../clock.js';
import { DomainError, invalid } from '../errors.js';
import { requireSession } from '../require-session.js';
import { optionalId, requireId, requireNoNul } from '../ids.js';
import type { EventBus, FeedSink, QueueStore, RequestContext, SessionStore } from '../ports.js';
import { SESSION_DELETED_TOPIC } from '../sessions.js';
import { validateTurnRequest } from '../turns/input.js';
import { waitForCondition } from '../wake.js';
import type { TurnInput } from '../turns/types.js';
import type { DeliveryPolicy, QueueBatch, SessionCommand, SlotPolicy } from './types.js';

export interface EnqueueRequest {
  sessionId: string;
  input: TurnInput;
  id?: string;
  deliveryPolicy: DeliveryPolicy;
  slotPolicy: SlotPolicy;
  mergeKey?: string;
  availableAt?: Date;
}

export type AwaitResult = { status: 'done'; turnId?: string } | { status: 'cancelled' } | { status: 'unknown' };

const EARLIEST_AVAILABLE_AT = Date.parse('0001-01-01T00:00:00Z');
const LATEST_AVAILABLE_AT = Date.parse('9999-12-31T23:59:59.999Z');

export class QueueService {
  private readonly runtime: Runtime;

  constructor(private readonly deps: { store: QueueStore; sessions: SessionStore; feed: FeedSink; bus: EventBus; pollMs: number; runtime?: Runtime }) {
    this.runtime = deps.runtime ?? systemRuntime;
  }

  async enqueue(ctx: RequestContext, req: EnqueueRequest): Promise<{ batch: QueueBatch; deduplicated: boolean }> {
    requireId('session_id', req.sessionId);
    const id = optionalId('id', req.id);
    if (req.mergeKey !== undefined && Buffer.byteLength(req.mergeKey) > 256) throw invalid('MERGE_KEY_TOO_LONG', 'merge_key must be at most 256 bytes');
    optionalId('merge_key', req.mergeKey);
    // The store keeps timestamps of years 1 to 9999; anything else (or no date at all) is refused here.
    const at = req.availableAt?.getTime();
    if (at !== undefined && !(at >= EARLIEST_AVAILABLE_AT && at <= LATEST_AVAILABLE_AT)) {
      throw invalid('AVAILABLE_AT_INVALID', 'available_at must be a time between the years 1 and 9999 (omit it to mean now)', { field: 'available_at' });
    }
    validateTurnRequest({ sessionId: req.sessionId, input: req.input, overrides: {} });
    return this.insert(ctx, req.sessionId, {
      id,
      deliveryPolicy: req.deliveryPolicy,
      slotPolicy: req.slotPolicy,
      mergeKey: req.mergeKey || undefined,
      availableAt: req.availableAt,
      items: [{ itemId: this.runtime.ids.uuid(), payload: { kind: 'input', input: req.input } }],
    });
  }

  /** Session commands ride the queue as exclusive after-commit work keyed `command:{kind}:{key}`. */
  async enqueueCommand(ctx: RequestContext, sessionId: string, command: SessionCommand, key: string): Promise<{ batch: QueueBatch; deduplicated: boolean }> {
    requireId('session_id', sessionId);
    if (!key) throw invalid('IDEMPOTENCY_KEY_REQUIRED', 'idempotency_key must not be empty: a retried command with the same key is applied once');
    requireId('idempotency_key', key);
    requireNoNul('reason', command.reason);
    const sourceKey = `command:${command.kind}:${key}`;
    return this.insert(ctx, sessionId, {
      id: sourceKey,
      sourceKey,
      deliveryPolicy: 'after_current_turn_commit',
      slotPolicy: 'exclusive',
      items: [{ itemId: this.runtime.ids.uuid(), payload: { kind: 'command', command } }],
    });
  }

  private async insert(
    ctx: RequestContext,
    sessionId: string,
    b: Pick<QueueBatch, 'id' | 'deliveryPolicy' | 'slotPolicy' | 'mergeKey' | 'items'> & { sourceKey?: string; availableAt?: Date },
  ) {
    const head = await requireSession(this.deps.sessions, ctx.tenantId, sessionId);
    const now = this.runtime.clock.now();
    const result = await this.deps.store.enqueue({
      ...b,
      batchId: this.runtime.ids.uuid(),
      tenantId: ctx.tenantId,
      sessionId,
      enqueueSeq: 0n,
      enqueuedAt: now,
      availableAt: b.availableAt ?? now,
      state: 'pending',
    });
    if (!result.deduplicated) {
      this.deps.feed.append(ctx.tenantId, sessionId, head.headRevision, { kind: 'queue_changed', change: 'enqueued', batchIds: [result.batch.batchId] });
      await this.deps.bus.publish('queue.enqueued', { tenantId: ctx.tenantId, sessionId });
    }
    return result;
  }

  async list(ctx: RequestContext, sessionId: string): Promise<QueueBatch[]> {
    requireId('session_id', sessionId);
    await requireSession(this.deps.sessions, ctx.tenantId, sessionId);
    return this.deps.store.listPending(ctx.tenantId, sessionId);
  }

  async cancel(ctx: RequestContext, sessionId: string, batchId: string) {
    requireId('session_id', sessionId);
    requireId('batch_id', batchId);
    const head = await requireSession(this.deps.sessions, ctx.tenantId, sessionId);
    const r = await this.deps.store.cancel(ctx.tenantId, sessionId, batchId);
    if (r.outcome === 'cancelled') {
      this.deps.feed.append(ctx.tenantId, sessionId, head.headRevision, { kind: 'queue_changed', change: 'cancelled', batchIds: [batchId] });
      await this.deps.bus.publish('queue.changed', { tenantId: ctx.tenantId, sessionId, batchIds: [batchId] });
    }
    return r;
  }

  /** Waits until the batch is done (its drain committed) or cancelled; unknown ids answer at once. */
  async await(ctx: RequestContext, sessionId: string, batchId: string, signal: AbortSignal): Promise<AwaitResult> {
    requireId('session_id', sessionId);
    requireId('batch_id', batchId);
    const check = async (): Promise<AwaitResult | undefined> => {
      const b = await this.deps.store.get(ctx.tenantId, sessionId, batchId);
      if (!b) return { status: 'unknown' };
      if (b.state === 'done') return { status: 'done', turnId: b.turnId };
      if (b.state === 'cancelled') return { status: 'cancelled' };
      return undefined;
    };
    // Woken by commits and cancels on any replica; the slow poll is only a safety net.
    return waitForCondition<AwaitResult>({
      bus: this.deps.bus,
      topic: 'queue.changed',
      relevant: (p) => p.tenantId === ctx.tenantId && p.sessionId === sessionId && Array.isArray(p.batchIds) && p.batchIds.includes(batchId),
      // Deleting the session deletes its queue: the re-check then answers unknown at once.
      also: [{ topic: SESSION_DELETED_TOPIC, relevant: (p) => p.tenantId === ctx.tenantId && p.sessionId === sessionId }],
      check,
      pollMs: this.deps.pollMs,
      signal,
      onAbort: () => ({
        error: new DomainError('AWAIT_ABANDONED', `the caller stopped waiting for batch "${batchId}" (deadline or cancel); the batch itself is unaffected`, {
          session_id: sessionId,
          batch_id: batchId,
        }),
      }),
    });
  }
}
