// ProcessStore and TriggerStore in memory: process rows with claims and fencing tokens, the
// per-process event log (gap-free, idempotent per key), overdue failing, wake delivery and
// detaching a deleted session; subscriptions, and due schedules taken once each. The same
// rules as src/store/process-store.ts and src/store/trigger-store.ts.

import type { Clock } from '../../domain/clock.js';
import type { JsonValue } from '../../domain/messages.js';
import type { ProcessStore, TriggerStore } from '../../domain/processes/ports.js';
import type { Subscription } from '../../domain/processes/trigger-types.js';
import type { Finish, NewProcess, ProcessEvent, ProcessFilter, ProcessRecord } from '../../domain/processes/types.js';
import { copy } from './tables.js';

const isActive = (p: ProcessRecord) => p.status === 'pending' || p.status === 'running';
const byId = (a: { processId: string }, b: { processId: string }) => (a.processId < b.processId ? -1 : a.processId > b.processId ? 1 : 0);

export class MemoryProcessStore implements ProcessStore {
  private readonly rows = new Map<string, { p: ProcessRecord; token: bigint; events: ProcessEvent[] }>();

  constructor(private readonly clock: Clock) {}

  async create(n: NewProcess) {
    const existing =
      n.idempotencyKey === undefined ? undefined : [...this.rows.values()].find((r) => r.p.tenantId === n.tenantId && r.p.idempotencyKey === n.idempotencyKey);
    if (existing) return { process: copy(existing.p), deduplicated: true };
    if (this.rows.has(this.key(n.tenantId, n.processId))) throw new Error(`process id ${n.processId} collided`);
    const now = this.clock.now();
    const p: ProcessRecord = {
      tenantId: n.tenantId,
      processId: n.processId,
      kind: n.kind,
      input: copy(n.input),
      status: n.status,
      scopeSessionId: n.scopeSessionId,
      scopeFrameId: n.scopeFrameId,
      startedBy: n.startedBy,
      wakeSessionId: n.wakeSessionId,
      wakeState: 'none',
      idempotencyKey: n.idempotencyKey,
      attempts: 0,
      deadlineAt: n.deadlineAt,
      eventSeq: 1n,
      createdAt: now,
      updatedAt: now,
    };
    const created: ProcessEvent = {
      processId: n.processId,
      seq: 1n,
      kind: 'created',
      idempotencyKey: 'created',
      payload: { kind: n.kind, started_by: n.startedBy },
      createdAt: now,
    };
    this.rows.set(this.key(n.tenantId, n.processId), { p, token: 0n, events: [created] });
    return { process: copy(p), deduplicated: false };
  }

  async get(tenantId: string, processId: string) {
    const row = this.rows.get(this.key(tenantId, processId));
    return row && copy(row.p);
  }

  async getByKey(tenantId: string, key: string) {
    const row = [...this.rows.values()].find((r) => r.p.tenantId === tenantId && r.p.idempotencyKey === key);
    return row && copy(row.p);
  }

  async list(tenantId: string, f: ProcessFilter, after: string | undefined, limit: number) {
    return [...this.rows.values()]
      .map((r) => r.p)
      .filter(
        (p) =>
          p.tenantId === tenantId &&
          (f.status === undefined || p.status === f.status) &&
          (f.scopeSessionId === undefined || p.scopeSessionId === f.scopeSessionId),
      )
      .filter(
        (p) =>
          (f.sessionId === undefined || p.scopeSessionId === f.sessionId || p.wakeSessionId === f.sessionId) && (after === undefined || p.processId > after),
      )
      .sort(byId)
      .slice(0, limit)
      .map(copy);
  }

  async countActive(tenantId: string, scopeSessionId: string | undefined) {
    const active = [...this.rows.values()].map((r) => r.p).filter((p) => p.tenantId === tenantId && isActive(p));
    return { scope: active.filter((p) => scopeSessionId !== undefined && p.scopeSessionId === scopeSessionId).length, tenant: active.length };
  }

  async claimNext(owner: string, ttlMs: number, kinds: string[]) {
    const now = this.clock.nowMs();
    const row = [...this.rows.values()]
      .filter(
        ({ p }) =>
          kinds.includes(p.kind) &&
          (p.status === 'pending' || (p.status === 'running' && p.claim !== undefined && p.claim.expiresAt.getTime() <= now)) &&
          p.deadlineAt.getTime() > now,
      )
      .sort((a, b) => a.p.createdAt.getTime() - b.p.createdAt.getTime())[0];
    if (!row) return undefined;
    row.token += 1n;
    // A running row whose claim expired lost its runner: taken over with a new token.
    row.p = {
      ...row.p,
      status: 'running',
      claim: { owner, token: row.token, expiresAt: new Date(now + ttlMs) },
      attempts: row.p.attempts + 1,
      updatedAt: new Date(now),
    };
    return copy(row.p);
  }

  async renew(tenantId: string, processId: string, token: bigint, ttlMs: number) {
    const row = this.rows.get(this.key(tenantId, processId));
    if (!row || row.token !== token || row.p.status !== 'running' || !row.p.claim) return false;
    row.p.claim = { ...row.p.claim, expiresAt: new Date(this.clock.nowMs() + ttlMs) };
    return true;
  }

  async finish(tenantId: string, processId: string, f: Finish, token: bigint | undefined) {
    const row = this.rows.get(this.key(tenantId, processId));
    if (!row || !isActive(row.p) || (token !== undefined && row.token !== token)) return undefined;
    return this.finishRow(row, f);
  }

  async appendEvent(tenantId: string, processId: string, kind: string, idempotencyKey: string, payload: JsonValue) {
    const row = this.rows.get(this.key(tenantId, processId));
    if (!row) return undefined;
    const known = row.events.find((e) => e.idempotencyKey === idempotencyKey);
    if (known) return copy(known);
    return copy(this.addEvent(row, kind, idempotencyKey, payload));
  }

  async events(tenantId: string, processId: string, afterSeq: bigint, limit: number) {
    return (this.rows.get(this.key(tenantId, processId))?.events ?? [])
      .filter((e) => e.seq > afterSeq)
      .slice(0, limit)
      .map(copy);
  }

  async eventByKey(tenantId: string, processId: string, key: string) {
    const e = this.rows.get(this.key(tenantId, processId))?.events.find((x) => x.idempotencyKey === key);
    return e && copy(e);
  }

  async failOverdue(limit: number) {
    const now = this.clock.nowMs();
    const error = 'the process ran past its run-time limit';
    return [...this.rows.values()]
      .filter((r) => isActive(r.p) && r.p.deadlineAt.getTime() <= now)
      .sort((a, b) => a.p.deadlineAt.getTime() - b.p.deadlineAt.getTime())
      .slice(0, limit)
      .map((r) => this.finishRow(r, { status: 'failed', error }));
  }

  async pendingWakes(limit: number) {
    return [...this.rows.values()]
      .map((r) => r.p)
      .filter((p) => p.wakeState === 'pending')
      .sort((a, b) => (a.finishedAt?.getTime() ?? 0) - (b.finishedAt?.getTime() ?? 0))
      .slice(0, limit)
      .map(copy);
  }

  async setWakeState(tenantId: string, processId: string, state: 'delivered' | 'revoked') {
    const row = this.rows.get(this.key(tenantId, processId));
    if (row?.p.wakeState === 'pending') row.p.wakeState = state;
  }

  async detachSession(tenantId: string, sessionId: string) {
    const orphaned: string[] = [];
    const kept: string[] = [];
    for (const { p } of this.rows.values()) {
      if (p.tenantId !== tenantId) continue;
      if (p.wakeSessionId === sessionId && (p.wakeState === 'none' || p.wakeState === 'pending')) p.wakeState = 'revoked';
      // The session's grants go with it: the handles are no longer in any session's scope.
      if (p.scopeSessionId === sessionId) {
        p.scopeSessionId = undefined;
        p.scopeFrameId = undefined;
        p.updatedAt = this.clock.now();
        (isActive(p) ? orphaned : kept).push(p.processId);
      }
    }
    return { orphaned: orphaned.sort(), kept: kept.sort() };
  }

  async purgeFinished(finishedBefore: Date, limit: number) {
    const gone = [...this.rows.entries()]
      .filter(([, r]) => r.p.finishedAt !== undefined && r.p.finishedAt < finishedBefore && r.p.wakeState !== 'pending')
      .sort((a, b) => a[1].p.finishedAt!.getTime() - b[1].p.finishedAt!.getTime())
      .slice(0, limit);
    for (const [key] of gone) this.rows.delete(key);
    return gone.length;
  }

  async runningIn(tenantId: string, sessionId: string) {
    return [...this.rows.values()]
      .map((r) => r.p)
      .filter((p) => p.tenantId === tenantId && p.kind === 'session_turn' && isActive(p) && (p.input.sessionId ?? `process-${p.processId}`) === sessionId)
      .sort(byId)
      .map((p) => p.processId);
  }

  private finishRow(row: { p: ProcessRecord; events: ProcessEvent[] }, f: Finish): ProcessRecord {
    const now = this.clock.now();
    const p = row.p;
    row.p = {
      ...p,
      status: f.status,
      output: f.output === undefined ? undefined : copy(f.output),
      error: f.error,
      finishedAt: now,
      updatedAt: now,
      claim: undefined,
      wakeState: p.wakeSessionId !== undefined && p.wakeState === 'none' ? 'pending' : p.wakeState,
    };
    this.addEvent(row, f.status, 'finished', { status: f.status, output: f.output ?? null, error: f.error ?? null });
    return copy(row.p);
  }

  private addEvent(row: { p: ProcessRecord; events: ProcessEvent[] }, kind: string, idempotencyKey: string, payload: JsonValue): ProcessEvent {
    row.p.eventSeq += 1n;
    row.p.updatedAt = this.clock.now();
    const e: ProcessEvent = { processId: row.p.processId, seq: row.p.eventSeq, kind, idempotencyKey, payload: copy(payload), createdAt: this.clock.now() };
    row.events.push(e);
    return e;
  }

  private key(tenantId: string, processId: string): string {
    return `${tenantId}\u0000${processId}`;
  }
}

export class MemoryTriggerStore implements TriggerStore {
  private readonly rows = new Map<string, Subscription>();

  constructor(private readonly clock: Clock) {}

  async put(s: Subscription) {
    const key = `${s.tenantId}\u0000${s.subscriptionId}`;
    const stored = { ...copy(s), createdAt: this.rows.get(key)?.createdAt ?? this.clock.now() };
    this.rows.set(key, stored);
    return copy(stored);
  }

  async get(tenantId: string, subscriptionId: string) {
    const s = this.rows.get(`${tenantId}\u0000${subscriptionId}`);
    return s && copy(s);
  }

  async delete(tenantId: string, subscriptionId: string) {
    return this.rows.delete(`${tenantId}\u0000${subscriptionId}`);
  }

  async list(tenantId: string, sourceType: string | undefined, after: string | undefined, limit: number) {
    return this.sorted(tenantId)
      .filter((s) => (sourceType === undefined || s.sourceType === sourceType) && (after === undefined || s.subscriptionId > after))
      .slice(0, limit);
  }

  async count(tenantId: string) {
    return this.sorted(tenantId).length;
  }

  async bySource(tenantId: string, sourceType: string) {
    return this.sorted(tenantId).filter((s) => s.sourceType === sourceType);
  }

  async takeDue(limit: number, next: (s: Subscription, dueAt: Date, now: Date) => Date | undefined) {
    // The next due time is the domain's (interval or cron), as on the database.
    const now = this.clock.now();
    const due = [...this.rows.values()]
      .filter((s) => s.nextDueAt !== undefined && s.nextDueAt <= now)
      .sort((a, b) => a.nextDueAt!.getTime() - b.nextDueAt!.getTime())
      .slice(0, limit);
    return due.map((s) => {
      const dueAt = s.nextDueAt!;
      s.nextDueAt = next(copy(s), dueAt, now);
      return { subscription: copy(s), dueAt };
    });
  }

  private sorted(tenantId: string): Subscription[] {
    return [...this.rows.values()]
      .filter((s) => s.tenantId === tenantId)
      .sort((a, b) => (a.subscriptionId < b.subscriptionId ? -1 : a.subscriptionId > b.subscriptionId ? 1 : 0))
      .map(copy);
  }
}
