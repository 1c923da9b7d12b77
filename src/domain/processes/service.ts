// Process use cases: start (limits, idempotency), get, list, await, cancel (one / a scope),
// signal (resolving an external process's wait), the event log, and detaching a deleted session.
// Every state change is announced on the bus (runners and waiters on every replica) and as
// `process_changed` in the feeds of the sessions involved.

import { systemRuntime, type Runtime } from '../clock.js';
import { DomainError, invalid, notFound, precondition } from '../errors.js';
import { requireSession } from '../require-session.js';
import { isId, optionalId, requireId, requireNoNul } from '../ids.js';
import { jsonBytes, requireWithin, utf8Bytes } from '../limits.js';
import { portableJson } from '../json-values.js';
import type { JsonValue } from '../messages.js';
import { decodePageToken, encodePageToken, pageSizeOf } from '../paging.js';
import type { EventBus, FeedSink, RequestContext, SessionStore } from '../ports.js';
import { waitForCondition } from '../wake.js';
import { MAX_PAYLOAD_BYTES, MAX_TASK_BYTES, type ProcessLimits } from './limits.js';
import type { ProcessStore } from './ports.js';
import {
  isTerminal,
  PROCESS_KINDS,
  type ProcessEvent,
  type ProcessFilter,
  type ProcessInput,
  type ProcessKind,
  type ProcessRecord,
  type StartedBy,
} from './types.js';

/** Bus topic of process state changes (every replica's runners and waiters listen). */
export const PROCESS_CHANGED_TOPIC = 'process.changed';
/** Bus topic that wakes runners when a process is started. */
export const PROCESS_STARTED_TOPIC = 'process.started';

export interface StartRequest {
  kind: ProcessKind;
  input: ProcessInput;
  /** The session whose scope holds the handle. */
  scopeSessionId?: string;
  /** Grant the handle to this agent frame of the scope session only (it must be the current one). */
  scopeFrameId?: string;
  wakeSessionId?: string;
  idempotencyKey?: string;
  /** Run-time limit; 0 or absent: the default. */
  maxRunMs?: number;
  startedBy: StartedBy;
}

export interface ProcessDeps {
  store: ProcessStore;
  sessions: Pick<SessionStore, 'getHead'>;
  feed: FeedSink;
  bus: EventBus;
  limits: ProcessLimits;
  pollMs: number;
  /** Deadlines, waits and process ids (default: the system clock and random ids). */
  runtime?: Runtime;
}

const DEFAULT_SIGNAL = 'result';

/** Process ids sort by start time (page order), then random. */
export const newProcessId = (runtime: Runtime) => `p-${runtime.clock.nowMs().toString(36).padStart(10, '0')}-${runtime.ids.hex(6)}`;

export class ProcessService {
  readonly runtime: Runtime;

  constructor(readonly deps: ProcessDeps) {
    this.runtime = deps.runtime ?? systemRuntime;
  }

  async start(ctx: RequestContext, req: StartRequest): Promise<{ process: ProcessRecord; deduplicated: boolean }> {
    if (!PROCESS_KINDS.includes(req.kind)) throw invalid('PROCESS_KIND_INVALID', `kind must be one of ${PROCESS_KINDS.join(', ')}`, { field: 'kind' });
    const scope = optionalId('scope_session_id', req.scopeSessionId);
    const frame = optionalId('scope_frame_id', req.scopeFrameId);
    if (frame && !scope)
      throw invalid('SCOPE_SESSION_REQUIRED', 'scope_frame_id names a frame of scope_session_id; set scope_session_id too', { field: 'scope_session_id' });
    const wake = optionalId('wake_session_id', req.wakeSessionId);
    const key = optionalId('idempotency_key', req.idempotencyKey);
    // Non-finite numbers are spelled once, here, so the answer, the store and every read agree.
    const input = req.input.payload === undefined ? req.input : { ...req.input, payload: portableJson(req.input.payload) };
    this.checkInput(req.kind, input);
    const l = this.deps.limits;
    const runMs = req.maxRunMs || l.defaultRunMs;
    if (!Number.isInteger(runMs) || runMs < 0 || runMs > l.maxRunMs)
      throw invalid('MAX_RUN_TIME_INVALID', `max_run_ms must be between 1 and ${l.maxRunMs} (0 means the default ${l.defaultRunMs})`, { field: 'max_run_ms' });
    for (const id of [scope, wake, req.input.sessionId]) if (id) await requireSession(this.deps.sessions, ctx.tenantId, id);
    if (frame) {
      // Grants go to the frame the session is in: a handle granted to a past frame would be seen by no turn.
      const current = (await this.deps.sessions.getHead(ctx.tenantId, scope!))?.currentFrameId;
      if (current !== frame)
        throw precondition(
          'FRAME_NOT_CURRENT',
          `scope_frame_id "${frame}" is not the current agent frame of session "${scope}"${current ? ` ("${current}")` : ''}; grant to the current frame or to the whole session`,
          { field: 'scope_frame_id', session_id: scope! },
        );
    }
    if (key) {
      // A retry returns what the first call started, even when the limits are now reached.
      const again = await this.findByKey(ctx, key);
      if (again) return { process: again, deduplicated: true };
    }
    const active = await this.deps.store.countActive(ctx.tenantId, scope);
    if (scope && active.scope >= l.perSession)
      throw new DomainError(
        'PROCESS_LIMIT_PER_SESSION',
        `session "${scope}" already has ${l.perSession} active processes, the most one session may have; wait for one to finish or cancel one`,
        { session_id: scope },
      );
    if (active.tenant >= l.perTenant)
      throw new DomainError('PROCESS_LIMIT_PER_TENANT', `this tenant already has ${l.perTenant} active processes; wait for some to finish or cancel some`);
    const r = await this.deps.store.create({
      tenantId: ctx.tenantId,
      processId: newProcessId(this.runtime),
      kind: req.kind,
      input,
      scopeSessionId: scope,
      scopeFrameId: frame,
      startedBy: req.startedBy,
      wakeSessionId: wake,
      idempotencyKey: key,
      deadlineAt: new Date(this.runtime.clock.nowMs() + runMs),
      status: req.kind === 'external' ? 'running' : 'pending',
    });
    if (!r.deduplicated) {
      await this.changed(r.process);
      await this.deps.bus.publish(PROCESS_STARTED_TOPIC, { tenantId: ctx.tenantId, processId: r.process.processId });
    }
    return r;
  }

  private checkInput(kind: ProcessKind, input: ProcessInput): void {
    optionalId('input.session_id', input.sessionId);
    optionalId('input.await_signal', input.awaitSignal);
    if (input.task !== undefined) requireWithin('TASK_TOO_LARGE', 'input.task', utf8Bytes(input.task), MAX_TASK_BYTES);
    if (input.payload !== undefined) requireWithin('PAYLOAD_TOO_LARGE', 'input.payload', jsonBytes(input.payload), MAX_PAYLOAD_BYTES);
    if (kind === 'session_turn' && !input.task?.trim())
      throw invalid('TASK_REQUIRED', 'a session_turn process needs input.task: the text its turn starts with', { field: 'input.task' });
    if (kind === 'rlm_program' && !input.task?.trim())
      throw invalid('PROGRAM_REQUIRED', 'an rlm_program process needs input.task: the program it runs', { field: 'input.task' });
  }

  private findByKey(ctx: RequestContext, key: string): Promise<ProcessRecord | undefined> {
    return this.deps.store.getByKey(ctx.tenantId, key);
  }

  async get(ctx: RequestContext, processId: string): Promise<ProcessRecord> {
    requireId('process_id', processId);
    const p = await this.deps.store.get(ctx.tenantId, processId);
    if (!p) throw notFound('PROCESS_NOT_FOUND', `process "${processId}" does not exist; list processes with ListProcesses`, { process_id: processId });
    return p;
  }

  async list(ctx: RequestContext, filter: ProcessFilter, pageSize: number, pageToken: string): Promise<{ processes: ProcessRecord[]; nextPageToken: string }> {
    optionalId('scope_session_id', filter.scopeSessionId);
    optionalId('visible_in_frame_id', filter.visibleInFrameId);
    if (filter.visibleInFrameId && !filter.scopeSessionId)
      throw invalid('SCOPE_SESSION_REQUIRED', 'visible_in_frame_id names a frame of scope_session_id; set scope_session_id too', { field: 'scope_session_id' });
    optionalId('session_id', filter.sessionId);
    const size = pageSizeOf(pageSize);
    const after = decodePageToken(pageToken, 'processes', (a) => a.startsWith('p-') && isId(a));
    const rows = await this.deps.store.list(ctx.tenantId, filter, after, size + 1);
    const page = rows.slice(0, size);
    return { processes: page, nextPageToken: rows.length > size ? encodePageToken('processes', page[page.length - 1]!.processId) : '' };
  }

  /** Waits until the process is finished or `waitMs` passed; answers the process as it then is. */
  async await(ctx: RequestContext, processId: string, waitMs: number, signal: AbortSignal): Promise<{ process: ProcessRecord; finished: boolean }> {
    if (!Number.isInteger(waitMs) || waitMs < 0 || waitMs > 3_600_000)
      throw invalid('WAIT_INVALID', 'wait_ms must be between 0 and 3600000 (one hour); 0 answers at once', { field: 'wait_ms' });
    let p = await this.get(ctx, processId);
    if (isTerminal(p.status) || waitMs === 0) return { process: p, finished: isTerminal(p.status) };
    const timer = new AbortController();
    const t = this.runtime.clock.after(waitMs, () => timer.abort());
    const both = AbortSignal.any([signal, timer.signal]);
    try {
      p = await waitForCondition<ProcessRecord>({
        bus: this.deps.bus,
        topic: PROCESS_CHANGED_TOPIC,
        relevant: (m) => m.tenantId === ctx.tenantId && m.processId === processId,
        check: async () => {
          const now = await this.get(ctx, processId);
          return isTerminal(now.status) ? now : undefined;
        },
        pollMs: this.deps.pollMs,
        signal: both,
        onAbort: () =>
          signal.aborted
            ? {
                error: new DomainError('AWAIT_ABANDONED', `the caller stopped waiting for process "${processId}"; the process is unaffected`, {
                  process_id: processId,
                }),
              }
            : { value: p },
      });
    } finally {
      t.cancel();
    }
    if (!isTerminal(p.status)) p = await this.get(ctx, processId);
    return { process: p, finished: isTerminal(p.status) };
  }

  /** Cancels an active process (its runner stops on every replica); a finished one answers as it is. */
  async cancel(ctx: RequestContext, processId: string, reason: string): Promise<{ process: ProcessRecord; cancelled: boolean }> {
    requireNoNul('reason', reason);
    const p = await this.get(ctx, processId);
    if (isTerminal(p.status)) return { process: p, cancelled: false };
    const done = await this.deps.store.finish(ctx.tenantId, processId, { status: 'cancelled', error: reason || 'cancelled by request' }, undefined);
    if (!done) return { process: await this.get(ctx, processId), cancelled: false };
    await this.changed(done);
    return { process: done, cancelled: true };
  }

  /** Cancels every active process in a session's scope. */
  async cancelScope(ctx: RequestContext, sessionId: string, reason: string): Promise<string[]> {
    requireId('scope_session_id', sessionId);
    requireNoNul('reason', reason);
    const cancelled: string[] = [];
    for (let after: string | undefined; ;) {
      const page = await this.deps.store.list(ctx.tenantId, { scopeSessionId: sessionId }, after, 200);
      for (const p of page) if (!isTerminal(p.status) && (await this.cancel(ctx, p.processId, reason)).cancelled) cancelled.push(p.processId);
      if (page.length < 200) return cancelled;
      after = page[page.length - 1]!.processId;
    }
  }

  /**
   * Delivers a named signal. An external process waiting for that name completes with the
   * payload as its output; the signal is logged once per idempotency key.
   */
  async signal(
    ctx: RequestContext,
    processId: string,
    name: string,
    given: JsonValue | undefined,
    idempotencyKey: string,
  ): Promise<{ process: ProcessRecord; event: ProcessEvent }> {
    requireId('name', name);
    const payload = given === undefined ? undefined : portableJson(given);
    requireId('idempotency_key', idempotencyKey);
    if (payload !== undefined) requireWithin('PAYLOAD_TOO_LARGE', 'payload', jsonBytes(payload), MAX_PAYLOAD_BYTES);
    const p = await this.get(ctx, processId);
    const awaited = p.kind === 'external' ? (p.input.awaitSignal ?? DEFAULT_SIGNAL) : undefined;
    const key = `signal:${idempotencyKey}`;
    const known = await this.deps.store.eventByKey(ctx.tenantId, processId, key);
    if (known) return { process: p, event: known };
    if (isTerminal(p.status))
      throw precondition('PROCESS_FINISHED', `process "${processId}" is already ${p.status}; signals reach active processes only`, { process_id: processId });
    if (awaited !== name)
      throw precondition(
        'SIGNAL_NOT_AWAITED',
        `process "${processId}" does not wait for a signal named "${name}"${awaited ? `; it waits for "${awaited}"` : ''}`,
        { process_id: processId, signal: name },
      );
    const event = await this.deps.store.appendEvent(ctx.tenantId, processId, 'signal', key, { name, payload: payload ?? null });
    const done = await this.deps.store.finish(ctx.tenantId, processId, { status: 'completed', output: payload ?? null }, undefined);
    if (done) await this.changed(done);
    return { process: done ?? (await this.get(ctx, processId)), event: event! };
  }

  async events(ctx: RequestContext, processId: string, afterSeq: bigint, limit: number): Promise<ProcessEvent[]> {
    requireSeq(afterSeq);
    await this.get(ctx, processId);
    return this.deps.store.events(ctx.tenantId, processId, afterSeq, limit);
  }

  /**
   * A session is being deleted. Processes whose turn runs in it cannot go on: they fail, saying
   * why (their runner stops on the change). Wakes aimed at it are revoked and its handles leave
   * its scope; those processes are reported, never cancelled.
   */
  async detachSession(ctx: RequestContext, sessionId: string): Promise<{ orphaned: string[]; kept: string[]; failed: string[] }> {
    const failed: string[] = [];
    for (const id of await this.deps.store.runningIn(ctx.tenantId, sessionId)) {
      const done = await this.deps.store.finish(
        ctx.tenantId,
        id,
        { status: 'failed', error: `session "${sessionId}", where the process ran its turn, was deleted` },
        undefined,
      );
      if (!done) continue;
      failed.push(id);
      await this.changed(done);
    }
    const r = await this.deps.store.detachSession(ctx.tenantId, sessionId);
    for (const id of r.orphaned) await this.deps.store.appendEvent(ctx.tenantId, id, 'orphaned', `orphaned:${sessionId}`, { session_id: sessionId });
    return { ...r, kept: r.kept.filter((id) => !failed.includes(id)), failed };
  }

  /** The agent frame a session is in (frame grants go to it). */
  async currentFrame(ctx: RequestContext, sessionId: string): Promise<string> {
    return (await requireSession(this.deps.sessions, ctx.tenantId, sessionId)).currentFrameId;
  }

  /** Announces a state change: bus (all replicas) and the feeds of the sessions involved. */
  async changed(p: ProcessRecord): Promise<void> {
    await this.deps.bus.publish(PROCESS_CHANGED_TOPIC, { tenantId: p.tenantId, processId: p.processId, status: p.status });
    for (const sessionId of new Set([p.scopeSessionId, p.wakeSessionId].filter((s): s is string => s !== undefined))) {
      const head = await this.deps.sessions.getHead(p.tenantId, sessionId);
      if (head) this.deps.feed.append(p.tenantId, sessionId, head.headRevision, { kind: 'process_changed', processId: p.processId, state: p.status });
    }
  }
}

/** Largest sequence the store can hold (bigint). */
const MAX_SEQ = 2n ** 63n - 1n;

export function requireSeq(afterSeq: bigint): void {
  if (afterSeq < 0n || afterSeq > MAX_SEQ) throw invalid('AFTER_SEQ_INVALID', `after_seq must be between 0 and ${MAX_SEQ}`, { field: 'after_seq' });
}
