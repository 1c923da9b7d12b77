// The turn service: runs, starts, follows, finds and cancels turns and drains queued work. It
// wires the parts that each do one job — admission (idempotency, writer, start reads),
// execution (the loops), commit, the queue work of drains and checkpoints, and control (status
// and cancels) — and gives each only the dependencies it uses (each part declares its own slice
// of the bag). A RunTurn on an idle queue sends two statements besides its feed appends: the
// admission, which takes the writer and reads the start, and the commit, which also ends it.

import { loopTurns, systemClock, systemIds, type Clock, type Ids } from '../clock.js';
import { DomainError } from '../errors.js';
import { requireId } from '../ids.js';
import type {
  AdmissionStore,
  BlobStore,
  CancelStore,
  EventBus,
  FeedSink,
  LeaseStore,
  QueueStore,
  RenewalFailed,
  RequestContext,
  SessionStore,
} from '../ports.js';
import type { PromptLayer } from '../prompt.js';
import { selectClaim } from '../queue/claim-rules.js';
import type { Claim, QueueBatch } from '../queue/types.js';
import type { LoadedSession } from '../session.js';
import type { SessionService } from '../sessions.js';
import type { WriterLease } from '../session-writers.js';
import type { CompletionStore, ToolSource } from '../tools/types.js';
import { noTracer, type Tracer } from '../tracing.js';
import { TurnAdmission } from './admission.js';
import type { CodeRunner, SandboxLimits } from './code-runner.js';
import { commitTurn } from './commit.js';
import { TurnControl, type TurnStatus } from './control.js';
import { compactSession } from './compaction.js';
import { TurnExecution } from './execution.js';
import type { ModelProvider, RetryPolicy } from './model.js';
import { mergeInputs, TurnQueueWork } from './queue-work.js';
import { RunningTurn, TurnRegistry } from './registry.js';
import type { TurnEvent, TurnRequest, TurnResult } from './types.js';

export interface TurnDeps {
  sessions: SessionService;
  store: SessionStore;
  leases: LeaseStore;
  /** The statement that takes a writer lease with a turn's start reads. */
  admissions: AdmissionStore;
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
  /** Told when renewing a drain's claims failed (logged by the composition root). */
  onRenewFailed?: RenewalFailed;
  /** Most join batches claimed together. */
  joinLimit: number;
  /** Whether the feed shows this turn as left unfinished by a crash (see interrupted.ts). */
  wasInterrupted?(tenantId: string, sessionId: string, turnId: string): Promise<boolean>;
  /** The turn the session's feed shows open (FeedStore.openTurn): a turn running under an idle lease elsewhere (ADR 0079). */
  openTurn?(tenantId: string, sessionId: string): Promise<string | undefined>;
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
  /** The clock of every timestamp, timer and lease renewal of a turn (default: the system's). */
  clock?: Clock;
  /** Where turn, message, event and frame ids come from (default: random UUIDs). */
  ids?: Ids;
}

/** The bag with the clock and the id source settled. */
type ResolvedDeps = TurnDeps & { clock: Clock; ids: Ids };

export interface RunOptions {
  /** Called for every event, in order (also for events buffered before an attach). */
  onEvent?(event: TurnEvent): void;
  /** Aborts the turn (client disconnect with on_disconnect=cancel). */
  signal?: AbortSignal;
  /** Aborts only the waiting of this caller (its deadline), never the turn. */
  waitSignal?: AbortSignal;
}

export type { TurnStatus } from './control.js';

export class TurnService {
  readonly registry: TurnRegistry;
  private readonly deps: ResolvedDeps;
  private readonly admission: TurnAdmission;
  private readonly execution: TurnExecution;
  private readonly queueWork: TurnQueueWork;
  private readonly control: TurnControl;
  private readonly unsubscribe: (() => void)[] = [];
  /** Turns and drains of this process between their launch and their end. */
  private running = 0;

  constructor(given: TurnDeps) {
    const deps = (this.deps = { ...given, clock: given.clock ?? systemClock, ids: given.ids ?? systemIds });
    this.registry = new TurnRegistry(deps.clock);
    this.admission = new TurnAdmission(deps);
    this.execution = new TurnExecution(deps, () => this.running === 1);
    this.queueWork = new TurnQueueWork(deps);
    this.control = new TurnControl(deps, this.registry);
    // Cancels published by any replica reach the turns running here.
    this.unsubscribe.push(
      // An announced enqueue makes the next turn of the session read its queue (ADR 0082).
      deps.bus.subscribe('queue.enqueued', (p) => deps.sessions.writers.enqueueAnnounced(String(p.tenantId), String(p.sessionId))),
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
    // The caller waits for the turn anyway: when nothing of the session runs here, the admission
    // (taken at once) does the start read too, and its refusals reach the caller the same way.
    const begun = await this.begin(ctx, req, this.registry.active(ctx.tenantId, req.sessionId).length === 0);
    if ('result' in begun) return begun.result;
    return (await this.follow(begun.turn, options))!;
  }

  /** Starts a detached turn and returns its id once it is accepted. */
  async start(ctx: RequestContext, req: TurnRequest): Promise<string> {
    const begun = await this.begin(ctx, req);
    return 'result' in begun ? begun.result.turnId : begun.turn.turnId;
  }

  /** Running here, committed, interrupted (its process died), or running elsewhere (its writer lease says so). */
  get(ctx: RequestContext, sessionId: string, turnId: string): Promise<TurnStatus> {
    return this.control.get(ctx, sessionId, turnId);
  }

  /** Cancels one turn wherever it runs, also before it starts. False if it already committed. */
  cancel(ctx: RequestContext, sessionId: string, turnId: string): Promise<boolean> {
    return this.control.cancel(ctx, sessionId, turnId);
  }

  /** The stop button: cancels every running or waiting turn of the session. */
  cancelRunning(ctx: RequestContext, sessionId: string): Promise<number> {
    return this.control.cancelRunning(ctx, sessionId);
  }

  /**
   * Drains queued work as the next turn: applies session commands at the head, claims input
   * batches (or exactly `exactIds`, which must be the head), runs them as one turn and completes
   * the claims in its commit. Resolves undefined when there was nothing to claim.
   */
  async drain(
    ctx: RequestContext,
    sessionId: string,
    options: RunOptions & { exactIds?: string[]; drainId?: string; skipIfBusy?: boolean } = {},
  ): Promise<TurnResult | undefined> {
    // Workers move on instead of queueing behind a busy session.
    if (options.skipIfBusy && this.registry.active(ctx.tenantId, sessionId).length > 0) return undefined;
    const turnId = options.drainId || this.deps.ids.uuid();
    if (options.drainId) {
      requireId('session_id', sessionId);
      const running = this.registry.get(ctx.tenantId, sessionId, turnId);
      if (running && !running.settled) return this.follow(running, options);
    }
    const committed = await this.admission.checkDrain(ctx, sessionId, options.drainId, options.exactIds, options.skipIfBusy ?? false);
    if (committed) return committed;
    const turn = new RunningTurn(ctx.tenantId, sessionId, turnId, `drain:${(options.exactIds ?? []).join(',')}`, this.deps.clock.now());
    turn.serverGeneratedId = !options.drainId;
    this.launch(ctx, { sessionId, turnId, input: { items: [], imageBlobs: {} }, overrides: {} }, turn, {
      exactIds: options.exactIds,
      skipIfBusy: options.skipIfBusy,
    });
    return this.follow(turn, options);
  }

  private async begin(ctx: RequestContext, req: TurnRequest, deferReads = false): Promise<{ result: TurnResult } | { turn: RunningTurn }> {
    const checked = await this.admission.check(ctx, req, this.registry, deferReads);
    if ('result' in checked) return checked;
    if ('running' in checked) return { turn: checked.running };
    const turn = new RunningTurn(ctx.tenantId, req.sessionId, checked.turnId, checked.contentHash, this.deps.clock.now());
    turn.serverGeneratedId = !checked.clientChosenId;
    this.launch(ctx, req, turn, undefined, deferReads);
    return { turn };
  }

  /** Registers the turn and runs it detached; its callers follow it through the registry. */
  private launch(ctx: RequestContext, req: TurnRequest, turn: RunningTurn, drain?: Drain, admissionChecks = false): void {
    this.registry.add(turn, 60_000);
    this.running++;
    void this.execute(ctx, req, turn, drain, admissionChecks).then(
      (result) => {
        this.running--;
        if (result) this.deps.onCommitted?.(result, (this.deps.clock.nowMs() - turn.registeredAt.getTime()) / 1000);
        turn.settle({ result });
      },
      (error: unknown) => {
        this.running--;
        this.deps.onError?.(error, { sessionId: req.sessionId, turnId: turn.turnId, ...(drain ? { drain: true } : {}) });
        turn.settle({ error });
      },
    );
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
      if (!turn.settled)
        throw new DomainError('TURN_STILL_RUNNING', `turn "${turn.turnId}" is still running; fetch its result later with GetTurn`, {
          session_id: turn.sessionId,
          turn_id: turn.turnId,
        });
      if (turn.settled.error !== undefined) throw turn.settled.error;
      return turn.settled.result;
    } finally {
      if (options.onEvent) turn.listeners.delete(options.onEvent);
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Admission → head commands (and a drain's claim) → execution → commit → claims reported done. */
  private async execute(ctx: RequestContext, req: TurnRequest, turn: RunningTurn, drain?: Drain, admissionChecks = false): Promise<TurnResult | undefined> {
    // Subscribed before the admission reads the queue: an enqueue after that read is announced.
    const watch = this.queueWork.watchEnqueues(ctx.tenantId, req.sessionId);
    try {
      const providerId = admissionChecks ? (req.overrides.providerId ?? '') : undefined;
      const options = { skipIfBusy: drain?.skipIfBusy, providerId, mayStartKnown: !drain };
      return await this.admission.underWriter(ctx, turn, options, async ({ session: loaded, lease, queue }) => {
        // A drain's input batches are chosen by the same queue read that looks for head commands.
        const inputs = drain
          ? (pending: QueueBatch[]) =>
              selectClaim(pending, { boundary: 'idle', now: this.deps.clock.now(), exactIds: drain.exactIds, joinLimit: this.deps.joinLimit })
          : undefined;
        const applied = await this.queueWork.applyHeadCommands(ctx, req.sessionId, turn, loaded, queue, inputs);
        const session = applied.session;
        const claims: Claim[] = [];
        const renew = this.deps.clock.every(
          Math.max(250, Math.floor(this.deps.claimTtlMs / 3)),
          () =>
            void this.deps.queue
              .renew(claims, this.deps.claimTtlMs)
              .catch((err: unknown) => this.deps.onRenewFailed?.({ what: 'queue claims', tenantId: ctx.tenantId, sessionId: req.sessionId, err })),
        );
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
          const taken = new Set(claims.map((c) => c.batchId));
          const queueWasOpen = applied.session !== loaded || queue.some((b) => !taken.has(b.batchId));
          const absorb = this.queueWork.absorber(ctx, req, turn, session.head.headRevision, claims, watch, queueWasOpen);
          const result = await this.runLoaded(ctx, req, turn, session, claims, lease, absorb, drain ? claims.map((c) => c.batchId) : undefined);
          await this.queueWork.done(ctx, req.sessionId, session.head.headRevision, claims);
          // The next turn here may start from this commit's head without reading (ADR 0082).
          lease.queueQuiet = !drain && !queueWasOpen && claims.length === 0 && !watch.seen;
          return result;
        } catch (err) {
          await this.deps.queue.release(claims).catch(() => {});
          throw err;
        } finally {
          renew.cancel();
        }
      });
    } finally {
      watch.stop();
    }
  }

  /** Runs and commits a loaded turn inside its `lash.turn` span. */
  private async runLoaded(
    ctx: RequestContext,
    req: TurnRequest,
    turn: RunningTurn,
    session: LoadedSession,
    claims: Claim[],
    lease: WriterLease,
    absorb: Parameters<TurnExecution['run']>[5],
    drainedBatchIds?: string[],
  ): Promise<TurnResult> {
    const span = (this.deps.tracer ?? noTracer).start(
      'lash.turn',
      { 'lash.session_id': req.sessionId, 'lash.turn_id': turn.turnId, 'lash.mode': session.head.mode, 'lash.drain': drainedBatchIds !== undefined },
      req.traceparent,
    );
    try {
      const out = await this.execution.run(ctx, req, turn, session, span, absorb, drainedBatchIds);
      // Alone in this process: what the turn streamed leaves before its commit is written.
      const clock = this.deps.clock;
      const result = await commitTurn(this.deps.sessions, ctx, turn, session, out, claims, lease, this.running === 1 ? () => streamedFirst(clock) : undefined);
      const o = result.outcome;
      span.set({
        'lash.outcome': o.type,
        'lash.turn_index': Number(result.turnIndex),
        'gen_ai.usage.input_tokens': Number(result.usage.total.inputTokens),
        'gen_ai.usage.output_tokens': Number(result.usage.total.outputTokens),
      });
      if (o.type === 'stopped') span.fail(`stopped: ${o.reason}${o.message ? ` (${o.message})` : ''}`);
      return result;
    } catch (err) {
      span.fail((err as Error).message);
      throw err;
    } finally {
      span.end();
    }
  }
}

/**
 * A turn alone in this process lets what it streamed reach its callers before its commit is
 * written (ADR 0082): its stream's writer sends on the next turn of the event loop, and a caller
 * in this process reads on the one after. A turn that ran without waiting (a model with no I/O,
 * the last batch of deltas) would otherwise have its deltas leave only after the commit
 * statement went out — and writing that statement to the database on a busy machine can hand
 * the CPU away for a millisecond. With other turns running the loop turns anyway and the wait
 * would only cost throughput, so it is skipped.
 */
function streamedFirst(clock: Clock): Promise<void> {
  return loopTurns(clock, 3);
}

/** How a drain differs from a turn: its input is claimed from the queue. */
interface Drain {
  exactIds?: string[];
  skipIfBusy?: boolean;
}
