// Executing an admitted turn: the prompt and history assembled from the loaded session, then the
// standard or rlm loop run with its events streamed to the turn's callers and the feed. Produces
// what the commit writes; touches no store except blob reads for image history.

import { loopTurns, type Clock, type Ids } from '../clock.js';
import type { JsonValue, Message } from '../messages.js';
import { applyPolicyPatch, type SessionPolicy } from '../policy.js';
import type { BlobStore, FeedSink, RequestContext } from '../ports.js';
import { renderPrompt, stackPromptLayers, type PromptLayer } from '../prompt.js';
import type { LoadedSession } from '../session.js';
import type { SessionService } from '../sessions.js';
import { sleep } from '../sleep.js';
import { catalogFor } from '../tools/catalog.js';
import type { CompletionStore, ToolSource } from '../tools/types.js';
import type { Span } from '../tracing.js';
import { zeroUsage } from '../usage.js';
import { ChildUsageLedger } from './child-usage.js';
import { DeltaCoalescer } from './delta-coalescer.js';
import type { CodeRunner, SandboxLimits } from './code-runner.js';
import type { TurnOutput } from './commit.js';
import { toModelMessages } from './conversation.js';
import { frameHistory } from './history.js';
import { normaliseInput } from './input.js';
import { runStandardLoop, type LoopResult } from './loop.js';
import type { ModelProvider, RetryPolicy } from './model.js';
import type { RunningTurn } from './registry.js';
import { rlmInstructions, runRlmLoop } from './rlm-loop.js';
import type { TurnEventKind, TurnRequest } from './types.js';

export interface ExecutionDeps {
  sessions: Pick<SessionService, 'requireProvider'>;
  providers: Map<string, ModelProvider>;
  toolSources: ToolSource[];
  serverPrompt?: PromptLayer;
  blobs: BlobStore;
  completions: CompletionStore;
  feed: FeedSink;
  retry: RetryPolicy;
  cancelGraceMs: number;
  maxIterations: number;
  codeRunner: CodeRunner;
  sandboxLimits: SandboxLimits;
  clock: Clock;
  ids: Ids;
}

/** Early injection: queued input that joins the turn at a checkpoint (already claimed). */
export type Absorb = (checkpoint: string, emit: (event: TurnEventKind) => void) => Promise<Message[]>;

export class TurnExecution {
  constructor(
    private readonly deps: ExecutionDeps,
    /** Whether this turn is the only one running in this process. */
    private readonly alone: () => boolean = () => false,
  ) {}

  async run(
    ctx: RequestContext,
    req: TurnRequest,
    turn: RunningTurn,
    session: LoadedSession,
    span: Span,
    absorb: Absorb,
    drainedBatchIds?: string[],
  ): Promise<TurnOutput> {
    const head = session.head;
    const policy = effectivePolicy(head.policy, req);
    this.deps.sessions.requireProvider(req.sessionId, policy.providerId);
    const provider = this.deps.providers.get(policy.providerId)!;
    let sequence = 0;
    // One event per coalesced delta, shared by the turn's stream and the feed.
    const coalescer = new DeltaCoalescer((event: TurnEventKind, correlationId?: string) => {
      const id = this.deps.ids.uuid();
      const e = { id, correlationId: correlationId ?? id, sequence: ++sequence, time: this.deps.clock.now(), event };
      turn.push(e);
      this.deps.feed.append(ctx.tenantId, req.sessionId, head.headRevision, { kind: 'turn_activity', turnId: turn.turnId, event: e });
    }, this.deps.clock);
    const emit = coalescer.emit;
    // Back-pressure (ADR 0078): while the session's feed lane is full the turn waits at its next
    // step; text still being coalesced counts as the event it becomes, and goes out before the wait.
    // A lone turn's first text of a run is let go before the model is read further (ADR 0084);
    // asked at the step right after it, so a back-pressure wait does not carry it to a later step.
    const pace = () => {
      const firstText = coalescer.takeFirstOut();
      const wait = this.deps.feed.room?.(ctx.tenantId, req.sessionId, turn.controller.signal, coalescer.holding ? 1 : 0);
      if (wait) {
        coalescer.flush();
        return wait;
      }
      if (firstText && this.alone()) return firstTextPass(this.deps.clock, this.deps.feed.pause?.(ctx.tenantId, req.sessionId));
      return undefined;
    };
    try {
      const out = await this.runWith(ctx, req, turn, session, span, absorb, emit, policy, provider, drainedBatchIds, pace);
      coalescer.flush();
      // Room for the commit's own events (its `committed` marker) before it runs.
      await pace();
      return out;
    } finally {
      coalescer.flush();
    }
  }

  private async runWith(
    ctx: RequestContext,
    req: TurnRequest,
    turn: RunningTurn,
    session: LoadedSession,
    span: Span,
    absorb: Absorb,
    emit: (event: TurnEventKind, correlationId?: string) => void,
    policy: SessionPolicy,
    provider: ModelProvider,
    drainedBatchIds: string[] | undefined,
    pace: () => Promise<void> | undefined,
  ): Promise<TurnOutput> {
    const head = session.head;
    if (drainedBatchIds) emit({ kind: 'queued_work_started', boundary: 'idle', batchIds: drainedBatchIds });
    const children = new ChildUsageLedger(emit);
    const input = normaliseInput(req, this.deps.ids);
    let loop: LoopResult;
    let sandbox = head.sandbox;
    let hadCodeExecution = false;
    if (input.problem) {
      emit({ kind: 'error', message: input.problem });
      loop = {
        outcome: { type: 'stopped', reason: 'invalid_input', message: input.problem },
        rawText: '',
        newMessages: [],
        toolCalls: [],
        usage: zeroUsage(),
        issues: [{ kind: 'input', terminalReason: 'invalid_input', message: input.problem }],
      };
    } else if (turn.controller.signal.aborted) {
      loop = {
        outcome: { type: 'stopped', reason: 'cancelled', message: 'cancelled before the turn started' },
        rawText: '',
        newMessages: [],
        toolCalls: [],
        usage: zeroUsage(),
        issues: [],
      };
    } else {
      const tools = catalogFor(this.deps.toolSources, ctx.tenantId, req.sessionId, head.toolState.overrides, head.policy.remoteTools);
      let system = renderPrompt(stackPromptLayers([this.deps.serverPrompt, head.policy.prompt, req.overrides.prompt]), (name) =>
        tools.some((t) => t.name === name),
      );
      // Incremental: only what the previous turn appended is walked and converted.
      const { messages: frameMessagesNow, model: history } = await frameHistory(session, (id) => this.deps.blobs.load(id));
      const userMessage = (await toModelMessages([input.message], async (id) => input.blobs.find((b) => b.hash === id)))[0] ?? {
        role: 'user' as const,
        parts: [],
      };
      const loopEnv = {
        tenantId: ctx.tenantId,
        sessionId: req.sessionId,
        turnId: turn.turnId,
        provider,
        model: policy.model,
        system,
        tools,
        maxTurns: policy.maxTurns ?? this.deps.maxIterations,
        retry: this.deps.retry,
        signal: turn.controller.signal,
        completions: this.deps.completions,
        cancelGraceMs: this.deps.cancelGraceMs,
        clock: this.deps.clock,
        ids: this.deps.ids,
        emit,
        pace,
        reportChildUsage: children.report.bind(children),
        span,
        sleep: (ms: number, signal: AbortSignal) => sleep(ms, signal, this.deps.clock),
        absorb: (checkpoint: string) => absorb(checkpoint, emit),
      };
      if (head.mode === 'rlm') {
        const options = req.rlm ?? { requireSubmit: false, proseOrSubmit: false };
        system = [system, rlmInstructions(tools, head.finalAnswerFormat, options)].filter(Boolean).join('\n\n');
        const globals = head.sandbox?.frameId === head.currentFrameId ? head.sandbox.globals : {};
        const historyJson = frameMessagesNow.map((m) => ({
          role: m.role,
          text: m.parts.map((p) => ('text' in p ? p.text : p.kind === 'code' ? p.code : '')).join(''),
        })) as JsonValue;
        const rlm = await runRlmLoop(
          { ...loopEnv, system, runner: this.deps.codeRunner, limits: this.deps.sandboxLimits, options, globals, history: historyJson },
          history,
          userMessage,
        );
        sandbox = { frameId: head.currentFrameId, globals: rlm.globals };
        hadCodeExecution = rlm.hadCodeExecution;
        loop = rlm;
      } else {
        loop = await runStandardLoop(loopEnv, history, userMessage);
      }
    }
    return { policy, userMessage: input.message, blobs: input.blobs, loop, extras: { sandbox, hadCodeExecution, children: children.entries() } };
  }
}

/**
 * A turn alone in this process lets its first text reach the socket (HTTP/2 writes in the
 * event loop's check phase) and a caller in this process read it (the next turn's poll phase)
 * before it reads the model further. The feed's lane is paused meanwhile, so its waiting events
 * still go with the next write or the commit rather than in a statement of their own.
 */
function firstTextPass(clock: Clock, resume: (() => void) | undefined): Promise<void> {
  return loopTurns(clock, 2).then(resume);
}

/** Per-turn overrides: a new model id starts from defaults; a provider-only override keeps the model. */
function effectivePolicy(policy: SessionPolicy, req: TurnRequest): SessionPolicy {
  return applyPolicyPatch(policy, { model: req.overrides.model, providerId: req.overrides.providerId });
}
