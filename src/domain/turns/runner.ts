// Running turns: idempotency by turn id, one writer per session (in-process mutex + a lease
// across replicas), cancellation from anywhere, and exactly one atomic commit per turn.

import { randomUUID } from 'node:crypto';
import { DomainError, notFound, sessionNotFound } from '../errors.js';
import { activePath, chainMessages, frameMessages } from '../graph.js';
import { optionalId, requireId } from '../ids.js';
import type { Message } from '../messages.js';
import { applyPolicyPatch, type SessionPolicy } from '../policy.js';
import type { BlobStore, CancelStore, EventBus, FeedSink, LeaseStore, QueueStore, RequestContext, SessionStore } from '../ports.js';
import { selectClaim } from '../queue/claim-rules.js';
import type { Claim, QueueBatch } from '../queue/types.js';
import { renderPrompt, stackPromptLayers, type PromptLayer } from '../prompt.js';
import { currentFrame, type LoadedSession, type SessionHead } from '../session.js';
import type { SessionService } from '../sessions.js';
import { SessionWriters } from '../session-writers.js';
import { catalogFor } from '../tools/catalog.js';
import type { CompletionStore, ToolSource } from '../tools/types.js';
import { addUsage, zeroUsage } from '../usage.js';
import { ChildUsageLedger, type ChildUsageEntry } from './child-usage.js';
import { toModelMessages } from './conversation.js';
import { runStandardLoop, type LoopResult } from './loop.js';
import { rlmInstructions, runRlmLoop } from './rlm-loop.js';
import type { CodeRunner, SandboxLimits } from './code-runner.js';
import type { JsonValue } from '../messages.js';
import type { ModelProvider, RetryPolicy } from './model.js';
import { compactSession } from './compaction.js';
import { mergeInputs, TurnQueueWork } from './queue-work.js';
import { contentHashOf, normaliseInput, turnIdOf, validateTurnRequest } from './input.js';
import { RunningTurn, TurnRegistry } from './registry.js';
import { resultFromJson, resultToJson, type TurnEvent, type TurnEventKind, type TurnRequest, type TurnResult } from './types.js';
import { sleep } from '../sleep.js';
import { noTracer, type Span, type Tracer } from '../tracing.js';

export interface TurnDeps {
  sessions: SessionService;
  store: SessionStore;
  leases: LeaseStore;
  cancels: CancelStore;
  blobs: BlobStore;
  completions: CompletionStore;
  bus: EventBus;
  providers: Map<string, ModelProvider>;
  toolSources: ToolSource[];
  serverPrompt?: PromptLayer;
  replicaId: string;
  /** Turn events are published here for observers. */
  feed: FeedSink;
  queue: QueueStore;
  /** Lease of queue claims, renewed while the drain runs. */
  claimTtlMs: number;
  /** Most join batches claimed together. */
  joinLimit: number;
  /** Finds a turn left unfinished by a crash, to report it as interrupted. */
  openTurn(tenantId: string, sessionId: string): Promise<string | undefined>;
  /** Whether the feed shows this turn as left unfinished by a crash (see interrupted.ts). */
  wasInterrupted?(tenantId: string, sessionId: string, turnId: string): Promise<boolean>;
  retry: RetryPolicy;
  /** How long in-flight tools get after a cancel before the turn commits without them. */
  cancelGraceMs: number;
  /** Cap on model calls per turn when the session sets no max_turns. */
  maxIterations: number;
  /** Sandbox for rlm sessions. */
  codeRunner: CodeRunner;
  sandboxLimits: SandboxLimits;
  onError?(err: unknown, context: Record<string, unknown>): void;
  /** Spans of turns, model calls and tool calls; none when unset. */
  tracer?: Tracer;
  /** Called once per committed turn or drain, with the seconds since it was accepted. */
  onCommitted?(result: TurnResult, seconds: number): void;
}

export interface RunOptions {
  /** Called for every event, in order (also for events buffered before an attach). */
  onEvent?(event: TurnEvent): void;
  /** Aborts the turn (client disconnect with on_disconnect=cancel). */
  signal?: AbortSignal;
  /** Aborts only the waiting of this caller (its deadline), never the turn. */
  waitSignal?: AbortSignal;
}

export type TurnStatus = { status: 'running' } | { status: 'committed'; result: TurnResult } | { status: 'interrupted' };

export class TurnService {
  readonly registry = new TurnRegistry();
  private readonly queueWork: TurnQueueWork;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(private readonly deps: TurnDeps) {
    this.queueWork = new TurnQueueWork(deps);
    // Cancels published by any replica reach the turns running here.
    this.unsubscribe.push(
      deps.bus.subscribe('turn.cancel', (p) => {
        const tenantId = String(p.tenantId);
        const sessionId = String(p.sessionId);
        if (p.turnId === '*') for (const t of this.registry.active(tenantId, sessionId)) t.cancel();
        else this.registry.get(tenantId, sessionId, String(p.turnId))?.cancel();
      }),
    );
  }

  /** Compacts the current agent frame into a new `compaction` frame (see compaction.ts). */
  compact(ctx: RequestContext, sessionId: string, instructions: string): Promise<{ compacted: boolean; frameId: string }> {
    return compactSession(this.deps, this.registry, ctx, sessionId, instructions);
  }

  close(): void {
    this.unsubscribe.forEach((u) => u());
  }

  /** Runs a turn (or attaches to / returns the same turn id) and resolves with its result. */
  async run(ctx: RequestContext, req: TurnRequest, options: RunOptions = {}): Promise<TurnResult> {
    const begun = await this.begin(ctx, req);
    if ('result' in begun) return begun.result;
    return (await this.follow(begun.turn, options))!;
  }

  /** Starts a detached turn and returns its id once it is accepted. */
  async start(ctx: RequestContext, req: TurnRequest): Promise<string> {
    const begun = await this.begin(ctx, req);
    return 'result' in begun ? begun.result.turnId : begun.turn.turnId;
  }

  async get(ctx: RequestContext, sessionId: string, turnId: string): Promise<TurnStatus> {
    requireId('session_id', sessionId);
    requireId('turn_id', turnId);
    const local = this.registry.get(ctx.tenantId, sessionId, turnId);
    if (local && !local.settled) return { status: 'running' };
    const stamp = await this.deps.store.findTurn(ctx.tenantId, sessionId, turnId);
    if (stamp) return { status: 'committed', result: resultFromJson(stamp.result) };
    if (local?.settled?.error) throw local.settled.error;
    const holder = await this.deps.leases.holder(ctx.tenantId, sessionId);
    if (holder && holder.owner.endsWith(`/${turnId}`)) return { status: 'running' };
    if (!(await this.deps.store.getHead(ctx.tenantId, sessionId))) throw sessionNotFound(sessionId);
    // No process runs it and no commit holds it: if its events reached the feed, it died. The
    // stamp is read again because a commit clears the feed's open-turn mark only a linger later.
    if (!local && (await this.deps.wasInterrupted?.(ctx.tenantId, sessionId, turnId))) {
      const late = await this.deps.store.findTurn(ctx.tenantId, sessionId, turnId);
      return late ? { status: 'committed', result: resultFromJson(late.result) } : { status: 'interrupted' };
    }
    throw notFound('TURN_NOT_FOUND', `turn "${turnId}" of session "${sessionId}" is neither running nor committed`, { session_id: sessionId, turn_id: turnId });
  }

  /** Cancels one turn wherever it runs, also before it starts. False if it already committed. */
  async cancel(ctx: RequestContext, sessionId: string, turnId: string): Promise<boolean> {
    requireId('session_id', sessionId);
    requireId('turn_id', turnId);
    const local = this.registry.get(ctx.tenantId, sessionId, turnId);
    if (local && !local.settled) return local.cancel() || local.cancelRequested;
    if (await this.deps.store.findTurn(ctx.tenantId, sessionId, turnId)) return false;
    if (!(await this.deps.store.getHead(ctx.tenantId, sessionId))) throw sessionNotFound(sessionId);
    await this.deps.cancels.request(ctx.tenantId, sessionId, turnId);
    await this.deps.bus.publish('turn.cancel', { tenantId: ctx.tenantId, sessionId, turnId });
    return true;
  }

  /** The stop button: cancels every running or waiting turn of the session. */
  async cancelRunning(ctx: RequestContext, sessionId: string): Promise<number> {
    requireId('session_id', sessionId);
    if (!(await this.deps.store.getHead(ctx.tenantId, sessionId))) throw sessionNotFound(sessionId);
    let count = 0;
    for (const t of this.registry.active(ctx.tenantId, sessionId)) if (t.cancel()) count++;
    const holder = await this.deps.leases.holder(ctx.tenantId, sessionId);
    // An admin write holding the writer elsewhere is not a turn to stop.
    const remote = holder !== undefined && !holder.owner.startsWith(`${this.deps.replicaId}/`) && !SessionWriters.isAdminOwner(holder.owner);
    if (remote) {
      // A turn of another replica holds the writer: signal it (and its waiters) over the bus.
      await this.deps.cancels.request(ctx.tenantId, sessionId, '*');
      await this.deps.bus.publish('turn.cancel', { tenantId: ctx.tenantId, sessionId, turnId: '*' });
      count++;
    }
    return count;
  }

  /**
   * Drains queued work as the next turn: applies session commands at the head, claims input
   * batches (or exactly `exactIds`, which must be the head), runs them as one turn and completes
   * the claims in its commit. Resolves undefined when there was nothing to claim.
   */
  async drain(ctx: RequestContext, sessionId: string, options: RunOptions & { exactIds?: string[]; drainId?: string; skipIfBusy?: boolean } = {}): Promise<TurnResult | undefined> {
    // Workers move on instead of queueing behind a busy session.
    if (options.skipIfBusy && this.registry.active(ctx.tenantId, sessionId).length > 0) return undefined;
    requireId('session_id', sessionId);
    optionalId('drain_id', options.drainId);
    options.exactIds?.forEach((id, i) => requireId(`batch_ids[${i}]`, id));
    const turnId = options.drainId || randomUUID();
    const hash = `drain:${(options.exactIds ?? []).join(',')}`;
    const running = this.registry.get(ctx.tenantId, sessionId, turnId);
    if (running && !running.settled) return this.follow(running, options);
    const stamp = options.drainId ? await this.deps.store.findTurn(ctx.tenantId, sessionId, turnId) : undefined;
    if (stamp) return resultFromJson(stamp.result);
    // A caller hears about a missing session at once; a queue worker found it with ready work, and
    // should it vanish meanwhile, loading it under the writer reports that.
    if (!options.skipIfBusy && !(await this.deps.store.getHead(ctx.tenantId, sessionId))) throw sessionNotFound(sessionId);
    const turn = new RunningTurn(ctx.tenantId, sessionId, turnId, hash);
    turn.serverGeneratedId = !options.drainId;
    this.registry.add(turn, 60_000);
    void this.execute(ctx, { sessionId, turnId, input: { items: [], imageBlobs: {} }, overrides: {} }, turn, { exactIds: options.exactIds, skipIfBusy: options.skipIfBusy }).then(
      (result) => this.settled(turn, result),
      (error: unknown) => {
        this.deps.onError?.(error, { sessionId, turnId, drain: true });
        turn.settle({ error });
      },
    );
    return this.follow(turn, options);
  }

  private async begin(ctx: RequestContext, req: TurnRequest): Promise<{ result: TurnResult } | { turn: RunningTurn }> {
    requireId('session_id', req.sessionId);
    optionalId('turn_id', req.turnId);
    validateTurnRequest(req);
    const turnId = turnIdOf(req);
    const hash = contentHashOf(req);
    const running = this.registry.get(ctx.tenantId, req.sessionId, turnId);
    if (running && (!running.settled || running.settled.error === undefined)) {
      if (running.contentHash !== hash) throw turnIdReused(req.sessionId, turnId);
      if (!running.settled) return { turn: running };
    }
    const clientChosenId = Boolean(req.turnId || req.input.traceTurnId);
    // Only an id the client chose can have been committed before (a retry after a lost response).
    const stamp = clientChosenId ? await this.deps.store.findTurn(ctx.tenantId, req.sessionId, turnId) : undefined;
    if (stamp) {
      if (stamp.contentHash !== hash) throw turnIdReused(req.sessionId, turnId);
      return { result: resultFromJson(stamp.result) };
    }
    const head = await this.deps.store.getHead(ctx.tenantId, req.sessionId);
    if (!head) throw sessionNotFound(req.sessionId);
    // Fail before any model call when the provider is not here (config errors are RPC errors).
    this.deps.sessions.requireProvider(req.sessionId, req.overrides.providerId || head.policy.providerId);
    const turn = new RunningTurn(ctx.tenantId, req.sessionId, turnId, hash);
    turn.serverGeneratedId = !clientChosenId;
    this.registry.add(turn, 60_000);
    void this.execute(ctx, req, turn).then(
      (result) => this.settled(turn, result),
      (error: unknown) => {
        this.deps.onError?.(error, { sessionId: req.sessionId, turnId });
        turn.settle({ error });
      },
    );
    return { turn };
  }

  private settled(turn: RunningTurn, result: TurnResult | undefined): void {
    if (result) this.deps.onCommitted?.(result, (Date.now() - turn.registeredAt.getTime()) / 1000);
    turn.settle({ result });
  }

  private async follow(turn: RunningTurn, options: RunOptions): Promise<TurnResult>;
  private async follow(turn: RunningTurn, options: RunOptions): Promise<TurnResult | undefined>;
  private async follow(turn: RunningTurn, options: RunOptions): Promise<TurnResult | undefined> {
    if (options.onEvent) {
      for (const e of turn.events) options.onEvent(e);
      turn.listeners.add(options.onEvent);
    }
    const onAbort = () => turn.cancel();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await Promise.race([turn.done, new Promise<void>((resolve) => options.waitSignal?.addEventListener('abort', () => resolve(), { once: true }))]);
      if (!turn.settled) throw new DomainError('DEADLINE_EXCEEDED', 'TURN_STILL_RUNNING', `turn "${turn.turnId}" is still running; fetch its result later with GetTurn`, { session_id: turn.sessionId, turn_id: turn.turnId });
      if (turn.settled.error !== undefined) throw turn.settled.error;
      return turn.settled.result;
    } finally {
      if (options.onEvent) turn.listeners.delete(options.onEvent);
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  private async execute(ctx: RequestContext, req: TurnRequest, turn: RunningTurn, drain?: { exactIds?: string[]; skipIfBusy?: boolean }): Promise<TurnResult | undefined> {
    const { sessions } = this.deps;
    // A cancel while waiting for the writer still commits the turn (as cancelled).
    return sessions.writers.run(ctx.tenantId, req.sessionId, async () => {
      // Another replica may have committed the same client-chosen turn id while we waited.
      const stamp = turn.serverGeneratedId ? undefined : await this.deps.store.findTurn(ctx.tenantId, req.sessionId, turn.turnId);
      if (stamp) return resultFromJson(stamp.result);
      // Three independent reads, side by side: one round trip of latency instead of three.
      const [cancelled, loaded, open] = await Promise.all([
        this.deps.cancels.isCancelled(ctx.tenantId, req.sessionId, turn.turnId, turn.registeredAt),
        sessions.load(ctx, req.sessionId),
        // A turn whose events reached the feed but which never committed died with its process.
        this.deps.openTurn(ctx.tenantId, req.sessionId),
      ]);
      if (cancelled) turn.cancel();
      let session = loaded;
      if (open && open !== turn.turnId) this.deps.feed.append(ctx.tenantId, req.sessionId, session.head.headRevision, { kind: 'turn_interrupted', turnId: open });
      // A drain's input batches are chosen by the same queue read that looks for head commands.
      const inputs = drain ? (pending: QueueBatch[]) => selectClaim(pending, { boundary: 'idle', now: new Date(), exactIds: drain.exactIds, joinLimit: this.deps.joinLimit }) : undefined;
      const applied = await this.queueWork.applyHeadCommands(ctx, req.sessionId, turn, session, inputs);
      session = applied.session;
      const claims: Claim[] = [];
      const renew = setInterval(() => void this.deps.queue.renew(claims, this.deps.claimTtlMs).catch(() => {}), Math.max(250, Math.floor(this.deps.claimTtlMs / 3)));
      renew.unref();
      try {
        if (drain) {
          const batches = applied.claimed;
          this.queueWork.announceClaim(ctx, req.sessionId, session.head.headRevision, batches);
          claims.push(...batches.map((b) => ({ batchId: b.batchId, token: b.claim!.token })));
          if (!batches.some((b) => b.items.some((i) => i.payload.kind === 'input'))) {
            // Only a command arrived since the head was applied: give it back for the next start.
            await this.deps.queue.release(claims.splice(0));
            return undefined;
          }
          req = { ...req, input: mergeInputs(batches) };
        }
        const result = await this.runLoaded(ctx, req, turn, session, claims, drain ? claims.map((c) => c.batchId) : undefined);
        await this.queueWork.done(ctx, req.sessionId, session.head.headRevision, claims);
        return result;
      } catch (err) {
        await this.deps.queue.release(claims).catch(() => {});
        throw err;
      } finally {
        clearInterval(renew);
      }
    }, { key: turn.turnId, skipIfBusy: drain?.skipIfBusy ?? false, signal: turn.controller.signal, onAbort: 'proceed' });
  }

  /** Runs and commits a loaded turn inside its `lash.turn` span. */
  private async runLoaded(ctx: RequestContext, req: TurnRequest, turn: RunningTurn, session: LoadedSession, claims: Claim[], drainedBatchIds?: string[]): Promise<TurnResult> {
    const span = (this.deps.tracer ?? noTracer).start('lash.turn', { 'lash.session_id': req.sessionId, 'lash.turn_id': turn.turnId, 'lash.mode': session.head.mode, 'lash.drain': drainedBatchIds !== undefined }, req.traceparent);
    try {
      const result = await this.runTraced(ctx, req, turn, session, claims, span, drainedBatchIds);
      const o = result.outcome;
      span.set({ 'lash.outcome': o.type, 'lash.turn_index': Number(result.turnIndex), 'gen_ai.usage.input_tokens': Number(result.usage.total.inputTokens), 'gen_ai.usage.output_tokens': Number(result.usage.total.outputTokens) });
      if (o.type === 'stopped') span.fail(`stopped: ${o.reason}${o.message ? ` (${o.message})` : ''}`);
      return result;
    } catch (err) {
      span.fail((err as Error).message);
      throw err;
    } finally {
      span.end();
    }
  }

  private async runTraced(ctx: RequestContext, req: TurnRequest, turn: RunningTurn, session: LoadedSession, claims: Claim[], span: Span, drainedBatchIds?: string[]): Promise<TurnResult> {
    const head = session.head;
    const policy = effectivePolicy(head.policy, req);
    this.deps.sessions.requireProvider(req.sessionId, policy.providerId);
    const provider = this.deps.providers.get(policy.providerId)!;
    let sequence = 0;
    const emit = (event: TurnEventKind, correlationId?: string) => {
      const id = randomUUID();
      const e = { id, correlationId: correlationId ?? id, sequence: ++sequence, time: new Date(), event };
      turn.push(e);
      this.deps.feed.append(ctx.tenantId, req.sessionId, head.headRevision, { kind: 'turn_activity', turnId: turn.turnId, event: e });
    };
    if (drainedBatchIds) emit({ kind: 'queued_work_started', boundary: 'idle', batchIds: drainedBatchIds });
    const children = new ChildUsageLedger(emit);
    // Early injection: earliest_safe_boundary batches join the running turn at its checkpoints.
    const absorb = async (checkpoint: string) => {
      const batches = await this.queueWork.claim(ctx, req.sessionId, turn, head.headRevision, 'checkpoint');
      claims.push(...batches.map((b) => ({ batchId: b.batchId, token: b.claim!.token })));
      const inputs = batches.map((b) => ({ id: b.batchId, message: normaliseInput({ ...req, input: mergeInputs([b]) }).message }));
      if (inputs.length) emit({ kind: 'queued_input_accepted', checkpoint, inputs });
      return inputs.map((i) => i.message);
    };
    const input = normaliseInput(req);
    let loop: LoopResult;
    let sandbox = head.sandbox;
    let hadCodeExecution = false;
    if (input.problem) {
      emit({ kind: 'error', message: input.problem });
      loop = { outcome: { type: 'stopped', reason: 'invalid_input', message: input.problem }, rawText: '', newMessages: [], toolCalls: [], usage: zeroUsage(), issues: [{ kind: 'input', terminalReason: 'invalid_input', message: input.problem }] };
    } else if (turn.controller.signal.aborted) {
      loop = { outcome: { type: 'stopped', reason: 'cancelled', message: 'cancelled before the turn started' }, rawText: '', newMessages: [], toolCalls: [], usage: zeroUsage(), issues: [] };
    } else {
      const tools = catalogFor(this.deps.toolSources, ctx.tenantId, req.sessionId, head.toolState.overrides);
      let system = renderPrompt(stackPromptLayers([this.deps.serverPrompt, head.policy.prompt, req.overrides.prompt]), (name) => tools.some((t) => t.name === name));
      const frameMessagesNow = frameMessages(activePath(session.graph), currentFrame(session));
      const history = await toModelMessages(frameMessagesNow, (id) => this.deps.blobs.load(id));
      const userMessage = (await toModelMessages([input.message], async (id) => input.blobs.find((b) => b.hash === id)))[0] ?? { role: 'user' as const, parts: [] };
      const loopEnv = { tenantId: ctx.tenantId, sessionId: req.sessionId, turnId: turn.turnId, provider, model: policy.model, system, tools, maxTurns: policy.maxTurns ?? this.deps.maxIterations, retry: this.deps.retry, signal: turn.controller.signal, completions: this.deps.completions, cancelGraceMs: this.deps.cancelGraceMs, emit, reportChildUsage: children.report.bind(children), span, sleep, absorb };
      if (head.mode === 'rlm') {
        const options = req.rlm ?? { requireSubmit: false, proseOrSubmit: false };
        system = [system, rlmInstructions(tools, head.finalAnswerFormat, options)].filter(Boolean).join('\n\n');
        const globals = head.sandbox?.frameId === head.currentFrameId ? head.sandbox.globals : {};
        const historyJson = frameMessagesNow.map((m) => ({ role: m.role, text: m.parts.map((p) => ('text' in p ? p.text : p.kind === 'code' ? p.code : '')).join('') })) as JsonValue;
        const rlm = await runRlmLoop({ ...loopEnv, system, runner: this.deps.codeRunner, limits: this.deps.sandboxLimits, options, globals, history: historyJson }, history, userMessage);
        sandbox = { frameId: head.currentFrameId, globals: rlm.globals };
        hadCodeExecution = rlm.hadCodeExecution;
        loop = rlm;
      } else {
        loop = await runStandardLoop(loopEnv, history, userMessage);
      }
    }
    return this.commitTurn(ctx, req, turn, session, policy, input.message, input.blobs, loop, claims, { sandbox, hadCodeExecution, children: children.entries() });
  }

  private async commitTurn(ctx: RequestContext, req: TurnRequest, turn: RunningTurn, session: LoadedSession, policy: SessionPolicy, userMessage: Message, blobs: { hash: string; mimeType: string; data: Uint8Array }[], loop: LoopResult, claims: Claim[], extra: TurnExtras): Promise<TurnResult> {
    for (let attempt = 1; ; attempt++) {
      // On a revision conflict (an admin change landed meanwhile) the turn's nodes are appended
      // on top of the newer head instead of being lost.
      const head = attempt === 1 ? session.head : (await this.deps.sessions.load(ctx, req.sessionId)).head;
      const nodes = chainMessages([userMessage, ...loop.newMessages], head.leafNodeId, head.currentFrameId);
      const revision = head.headRevision + 1n;
      const turnIndex = head.turnIndex + 1n;
      const result = buildResult(req.sessionId, turn.turnId, turnIndex, revision, loop, extra);
      try {
        await this.deps.sessions.commit(ctx, {
          expectedRevision: head.headRevision,
          kind: 'turn',
          head: { ...head, turnIndex, leafNodeId: nodes.length ? nodes[nodes.length - 1]!.nodeId : head.leafNodeId, lastPromptUsage: loop.lastUsage ?? head.lastPromptUsage, sandbox: extra.sandbox ?? head.sandbox },
          graph: { kind: 'append', nodes },
          frames: [],
          usage: loop.usage.inputTokens + loop.usage.outputTokens > 0n ? [{ source: 'turn', model: policy.model.id, usage: loop.usage }] : [],
          turnId: turn.turnId,
          contentHash: turn.contentHash,
          result: resultToJson(result),
          blobs,
          claims,
        });
        return result;
      } catch (err) {
        if (!(err instanceof DomainError && err.reason === 'REVISION_CONFLICT') || attempt >= 3) throw err;
      }
    }
  }
}

function turnIdReused(sessionId: string, turnId: string) {
  return new DomainError('ALREADY_EXISTS', 'TURN_ID_REUSED', `turn "${turnId}" of session "${sessionId}" already exists with different input; use a new turn_id`, { session_id: sessionId, turn_id: turnId });
}

/** Per-turn overrides: a new model id starts from defaults; a provider-only override keeps the model. */
function effectivePolicy(policy: SessionPolicy, req: TurnRequest): SessionPolicy {
  return applyPolicyPatch(policy, { model: req.overrides.model, providerId: req.overrides.providerId });
}

/** What a turn settles besides the loop's own result. */
interface TurnExtras {
  sandbox: SessionHead['sandbox'];
  hadCodeExecution: boolean;
  /** Usage of child sessions run by this turn's tools, per source and model. */
  children: ChildUsageEntry[];
}

function buildResult(sessionId: string, turnId: string, turnIndex: bigint, headRevision: bigint, loop: LoopResult, extra: TurnExtras): TurnResult {
  const safeText = loop.outcome.type === 'finished' && loop.outcome.answer.kind === 'assistant_message' ? loop.outcome.answer.text : loop.rawText;
  return {
    sessionId,
    turnId,
    turnIndex,
    outcome: loop.outcome,
    assistantOutput: { safeText, rawText: loop.rawText, state: loop.rawText ? 'usable' : 'empty_output' },
    usage: { parent: loop.usage, children: extra.children, total: extra.children.reduce((sum, c) => addUsage(sum, c.usage), loop.usage) },
    toolCalls: loop.toolCalls,
    hadToolCalls: loop.toolCalls.length > 0,
    hadCodeExecution: extra.hadCodeExecution,
    issues: loop.issues,
    headRevision,
  };
}
