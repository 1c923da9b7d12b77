// Trigger use cases: subscriptions (put, get, list, delete), emitted occurrences matched against
// them, and schedules. Each delivery (one occurrence × one matching subscription) starts one
// process whose idempotency key is derived from the occurrence's key and the subscription: a
// retried emission, or two replicas taking the same due time, starts nothing twice.

import { createHash } from 'node:crypto';
import { DomainError, invalid, notFound } from '../errors.js';
import { isId, optionalId, requireId } from '../ids.js';
import { portableJson } from '../json-values.js';
import { jsonBytes, requireWithin, utf8Bytes } from '../limits.js';
import { decodePageToken, encodePageToken, pageSizeOf } from '../paging.js';
import type { RequestContext } from '../ports.js';
import { MAX_INTERVAL_MS, MAX_PAYLOAD_BYTES, MAX_TASK_BYTES, MIN_INTERVAL_MS } from './limits.js';
import type { TriggerStore } from './ports.js';
import type { ProcessService } from './service.js';
import { firstCronDue, nextDue } from './schedule.js';
import { keyMatches, type Occurrence, type ProcessTemplate, type Subscription } from './trigger-types.js';
import { PROCESS_KINDS, type ProcessRecord, type StartedBy } from './types.js';

export interface Delivery {
  subscriptionId: string;
  process?: ProcessRecord;
  /** The process was started by an earlier emission of the same occurrence. */
  deduplicated: boolean;
  /** Why nothing was started for this subscription (its target session is gone, a limit). */
  error?: { reason: string; message: string };
}

export interface SubscribeRequest {
  subscriptionId: string;
  sourceType: string;
  sourceKey: string;
  template: ProcessTemplate;
  /** Schedule: an occurrence every interval, the first at `firstDueAt` (default: now + interval). */
  intervalMs?: number;
  firstDueAt?: Date;
  /** Schedule: at the times of a cron expression (instead of an interval), in `timeZone` (default UTC). */
  cron?: string;
  timeZone?: string;
}

const keyOf = (...parts: string[]) => `trigger:${createHash('sha256').update(parts.join('\u0000')).digest('hex')}`;
/** Source type of schedule occurrences. */
export const SCHEDULE_SOURCE = 'schedule';

export class TriggerService {
  constructor(private readonly deps: { store: TriggerStore; processes: ProcessService; maxSubscriptions: number; onError(err: unknown): void }) {}

  async subscribe(ctx: RequestContext, req: SubscribeRequest): Promise<Subscription> {
    requireId('subscription_id', req.subscriptionId);
    requireId('source_type', req.sourceType);
    requireId('source_key', req.sourceKey);
    const t = req.template;
    if (!PROCESS_KINDS.includes(t.kind))
      throw invalid('PROCESS_KIND_INVALID', `template.kind must be one of ${PROCESS_KINDS.join(', ')}`, { field: 'template.kind' });
    optionalId('template.session_id', t.sessionId);
    optionalId('template.wake_session_id', t.wakeSessionId);
    optionalId('template.await_signal', t.awaitSignal);
    if (t.task !== undefined) requireWithin('TASK_TOO_LARGE', 'template.task', utf8Bytes(t.task), MAX_TASK_BYTES);
    if (t.kind === 'session_turn' && !t.task?.trim())
      throw invalid('TASK_REQUIRED', 'a session_turn template needs template.task (it may use {{payload}} and {{key}})', { field: 'template.task' });
    if (req.cron !== undefined && req.intervalMs !== undefined)
      throw invalid('SCHEDULE_CONFLICT', 'a schedule is interval_ms or cron, not both; clear one', { field: 'subscription.cron' });
    if (req.timeZone !== undefined && req.cron === undefined)
      throw invalid('SCHEDULE_CRON_REQUIRED', 'time_zone applies to a cron schedule; set cron or clear time_zone', { field: 'subscription.time_zone' });
    let cronFirst: Date | undefined;
    if (req.cron !== undefined) {
      cronFirst = firstCronDue(req.cron, req.timeZone, this.deps.processes.runtime.clock.now());
      if (req.sourceType !== SCHEDULE_SOURCE)
        throw invalid('SCHEDULE_SOURCE_REQUIRED', `a subscription with cron must have source_type "${SCHEDULE_SOURCE}"`, { field: 'source_type' });
      if (req.firstDueAt)
        throw invalid('FIRST_DUE_TIME_WITH_CRON', 'first_due_time goes with interval_ms; a cron schedule is first due at its next time', {
          field: 'first_due_time',
        });
    }
    if (req.intervalMs !== undefined) {
      if (!Number.isInteger(req.intervalMs) || req.intervalMs < MIN_INTERVAL_MS || req.intervalMs > MAX_INTERVAL_MS)
        throw invalid('INTERVAL_INVALID', `interval_ms must be between ${MIN_INTERVAL_MS} and ${MAX_INTERVAL_MS} (366 days)`, { field: 'interval_ms' });
      if (req.sourceType !== SCHEDULE_SOURCE)
        throw invalid('SCHEDULE_SOURCE_REQUIRED', `a subscription with interval_ms must have source_type "${SCHEDULE_SOURCE}"`, { field: 'source_type' });
    }
    const first = req.firstDueAt?.getTime();
    if (
      first !== undefined &&
      !(first >= this.deps.processes.runtime.clock.nowMs() - MAX_INTERVAL_MS && first <= this.deps.processes.runtime.clock.nowMs() + MAX_INTERVAL_MS)
    )
      throw invalid('FIRST_DUE_TIME_INVALID', 'first_due_time must be within 366 days of now (omit it to mean now + interval_ms)', { field: 'first_due_time' });
    if (first !== undefined && req.intervalMs === undefined)
      throw invalid('SCHEDULE_INTERVAL_REQUIRED', 'first_due_time needs interval_ms', { field: 'first_due_time' });
    const existing = await this.deps.store.get(ctx.tenantId, req.subscriptionId);
    if (!existing && (await this.deps.store.count(ctx.tenantId)) >= this.deps.maxSubscriptions) {
      throw new DomainError('SUBSCRIPTION_LIMIT', `this tenant already has ${this.deps.maxSubscriptions} trigger subscriptions; delete one first`);
    }
    const nextDueAt =
      cronFirst ?? (req.intervalMs === undefined ? undefined : (req.firstDueAt ?? new Date(this.deps.processes.runtime.clock.nowMs() + req.intervalMs)));
    return this.deps.store.put({
      tenantId: ctx.tenantId,
      subscriptionId: req.subscriptionId,
      sourceType: req.sourceType,
      sourceKey: req.sourceKey,
      template: t,
      intervalMs: req.intervalMs,
      cron: req.cron,
      timeZone: req.timeZone,
      nextDueAt,
      createdAt: this.deps.processes.runtime.clock.now(),
    });
  }

  async get(ctx: RequestContext, subscriptionId: string): Promise<Subscription> {
    requireId('subscription_id', subscriptionId);
    const s = await this.deps.store.get(ctx.tenantId, subscriptionId);
    if (!s)
      throw notFound('SUBSCRIPTION_NOT_FOUND', `trigger subscription "${subscriptionId}" does not exist; list them with ListTriggerSubscriptions`, {
        subscription_id: subscriptionId,
      });
    return s;
  }

  async delete(ctx: RequestContext, subscriptionId: string): Promise<boolean> {
    requireId('subscription_id', subscriptionId);
    return this.deps.store.delete(ctx.tenantId, subscriptionId);
  }

  async list(
    ctx: RequestContext,
    sourceType: string | undefined,
    pageSize: number,
    pageToken: string,
  ): Promise<{ subscriptions: Subscription[]; nextPageToken: string }> {
    optionalId('source_type', sourceType);
    const size = pageSizeOf(pageSize);
    const after = decodePageToken(pageToken, 'subscriptions', isId);
    const rows = await this.deps.store.list(ctx.tenantId, sourceType || undefined, after, size + 1);
    const page = rows.slice(0, size);
    return { subscriptions: page, nextPageToken: rows.length > size ? encodePageToken('subscriptions', page[page.length - 1]!.subscriptionId) : '' };
  }

  /** Starts one process per matching subscription; a retry with the same idempotency key starts nothing new. */
  async emit(ctx: RequestContext, given: Occurrence): Promise<Delivery[]> {
    // Spelled before the task template renders {{payload}}: the task text, the stored input and the
    // model's view agree (JSON.stringify would write a non-finite number as null).
    const o = given.payload === undefined ? given : { ...given, payload: portableJson(given.payload) };
    requireId('source_type', o.sourceType);
    requireId('source_key', o.sourceKey);
    if (!o.idempotencyKey)
      throw invalid('IDEMPOTENCY_KEY_REQUIRED', 'idempotency_key must not be empty: a retried emission with the same key starts nothing twice', {
        field: 'idempotency_key',
      });
    requireId('idempotency_key', o.idempotencyKey);
    if (o.payload !== undefined) requireWithin('PAYLOAD_TOO_LARGE', 'payload', jsonBytes(o.payload), MAX_PAYLOAD_BYTES);
    const subs = (await this.deps.store.bySource(ctx.tenantId, o.sourceType)).filter((s) => keyMatches(s.sourceKey, o.sourceKey));
    const out: Delivery[] = [];
    for (const s of subs) out.push(await this.deliver(ctx, s, o, keyOf('emit', o.sourceType, o.idempotencyKey, s.subscriptionId), 'trigger'));
    return out;
  }

  /** Fires due schedules (every replica calls it; each due time is taken by one). */
  async tick(): Promise<number> {
    const due = await this.deps.store.takeDue(20, nextDue);
    for (const { subscription: s, dueAt } of due) {
      const at = dueAt.toISOString();
      const d = await this.deliver(
        { tenantId: s.tenantId },
        s,
        { sourceType: s.sourceType, sourceKey: s.sourceKey, payload: { due_at: at }, idempotencyKey: at },
        keyOf('schedule', s.subscriptionId, at),
        'schedule',
      );
      if (d.error) this.deps.onError(new Error(`schedule ${s.subscriptionId} at ${at}: ${d.error.message}`));
    }
    return due.length;
  }

  private async deliver(ctx: RequestContext, s: Subscription, o: Occurrence, key: string, startedBy: StartedBy): Promise<Delivery> {
    const t = s.template;
    const payload = JSON.stringify(o.payload ?? null);
    const task = t.task?.replaceAll('{{payload}}', payload).replaceAll('{{key}}', o.sourceKey);
    try {
      const r = await this.deps.processes.start(ctx, {
        kind: t.kind,
        input: { task, sessionId: t.sessionId, awaitSignal: t.awaitSignal, payload: o.payload },
        wakeSessionId: t.wakeSessionId,
        idempotencyKey: key,
        startedBy,
      });
      return { subscriptionId: s.subscriptionId, process: r.process, deduplicated: r.deduplicated };
    } catch (err) {
      if (err instanceof DomainError) return { subscriptionId: s.subscriptionId, deduplicated: false, error: { reason: err.reason, message: err.message } };
      throw err;
    }
  }
}
