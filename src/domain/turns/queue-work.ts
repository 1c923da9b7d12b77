// The queue side of a turn (drains and early injection): session commands applied at the head of
// the queue, batches claimed for a drain or at a checkpoint (and announced in the feed), claims
// reported done after the commit, and the turn input made of claimed batches. A running turn
// reads the queue at a checkpoint only when the bus announced an enqueue for its session since
// its admission read the queue (or that read found open batches): an idle queue costs nothing.

import type { Clock, Ids } from '../clock.js';
import type { Message } from '../messages.js';
import type { EventBus, FeedSink, QueueStore, RequestContext } from '../ports.js';
import { selectClaim } from '../queue/claim-rules.js';
import type { Claim, QueueBatch } from '../queue/types.js';
import type { LoadedSession } from '../session.js';
import type { SessionService } from '../sessions.js';
import type { Absorb } from './execution.js';
import { normaliseInput } from './input.js';
import type { RunningTurn } from './registry.js';
import type { TurnRequest } from './types.js';

export interface QueueWorkDeps {
  queue: QueueStore;
  feed: FeedSink;
  bus: EventBus;
  sessions: Pick<SessionService, 'commit' | 'load'>;
  replicaId: string;
  /** Lease of queue claims, renewed while the drain runs. */
  claimTtlMs: number;
  /** Most join batches claimed together. */
  joinLimit: number;
  clock: Clock;
  ids: Ids;
}

/** Whether an enqueue was announced for one session since the watch began. */
export interface EnqueueWatch {
  seen: boolean;
  stop(): void;
}

export class TurnQueueWork {
  constructor(private readonly deps: QueueWorkDeps) {}

  /** Starts watching the session's enqueue announcements (before the read it guards is sent). */
  watchEnqueues(tenantId: string, sessionId: string): EnqueueWatch {
    const watch: EnqueueWatch = { seen: false, stop: () => {} };
    watch.stop = this.deps.bus.subscribe('queue.enqueued', (p) => {
      if (p.tenantId === tenantId && p.sessionId === sessionId) watch.seen = true;
    });
    return watch;
  }

  /**
   * Early injection: earliest_safe_boundary batches join the running turn at its checkpoints.
   * `queueWasOpen`: the admission read found open batches (some may become claimable without a
   * new enqueue, e.g. a delayed one): then every checkpoint reads, as before.
   */
  absorber(ctx: RequestContext, req: TurnRequest, turn: RunningTurn, revision: bigint, claims: Claim[], watch: EnqueueWatch, queueWasOpen: boolean): Absorb {
    return async (checkpoint, emit): Promise<Message[]> => {
      if (!queueWasOpen && !watch.seen) return [];
      const batches = await this.claim(ctx, req.sessionId, turn, revision, 'checkpoint');
      claims.push(...batches.map((b) => ({ batchId: b.batchId, token: b.claim!.token })));
      const inputs = batches.map((b) => ({ id: b.batchId, message: normaliseInput({ ...req, input: mergeInputs([b]) }, this.deps.ids).message }));
      if (inputs.length) emit({ kind: 'queued_input_accepted', checkpoint, inputs });
      return inputs.map((i) => i.message);
    };
  }

  /**
   * Claims batches for this writer and announces it in the feed. `revision` is the head the turn
   * started from: it cannot move while the turn holds the writer.
   */
  async claim(ctx: RequestContext, sessionId: string, turn: RunningTurn, revision: bigint, boundary: 'idle' | 'checkpoint'): Promise<QueueBatch[]> {
    const batches = await this.deps.queue.claim(ctx.tenantId, sessionId, `${this.deps.replicaId}/${turn.turnId}`, this.deps.claimTtlMs, (pending) =>
      selectClaim(pending, { boundary, now: this.deps.clock.now(), joinLimit: this.deps.joinLimit }),
    );
    this.announceClaim(ctx, sessionId, revision, batches);
    return batches;
  }

  announceClaim(ctx: RequestContext, sessionId: string, revision: bigint, batches: QueueBatch[]): void {
    if (batches.length)
      this.deps.feed.append(ctx.tenantId, sessionId, revision, { kind: 'queue_changed', change: 'claimed', batchIds: batches.map((b) => b.batchId) });
  }

  async done(ctx: RequestContext, sessionId: string, revision: bigint, claims: Claim[]): Promise<void> {
    if (claims.length === 0) return;
    const batchIds = claims.map((c) => c.batchId);
    this.deps.feed.append(ctx.tenantId, sessionId, revision, { kind: 'queue_changed', change: 'done', batchIds });
    await this.deps.bus.publish('queue.changed', { tenantId: ctx.tenantId, sessionId, batchIds });
  }

  /**
   * Session commands at the head of the queue apply before the next turn or drain, each in its
   * own commit. With `inputs` (a drain), the read that finds no command at the head claims the
   * input batches `inputs` chooses, and returns them.
   */
  async applyHeadCommands(
    ctx: RequestContext,
    sessionId: string,
    turn: RunningTurn,
    session: LoadedSession,
    known: QueueBatch[],
    inputs?: (pending: QueueBatch[]) => QueueBatch[],
  ): Promise<{ session: LoadedSession; claimed: QueueBatch[] }> {
    // The first choice is made on the admission's read; after a command commits, read again.
    for (let read: QueueBatch[] | undefined = known; ; read = undefined) {
      const claimed = await this.deps.queue.claim(
        ctx.tenantId,
        sessionId,
        `${this.deps.replicaId}/${turn.turnId}`,
        this.deps.claimTtlMs,
        (pending) => {
          const head = pending.find((b) => b.availableAt <= this.deps.clock.now());
          if (head?.items.some((i) => i.payload.kind === 'command')) return [head];
          return inputs ? inputs(pending) : [];
        },
        read,
      );
      const batch = claimed.length === 1 ? claimed[0] : undefined;
      const command = batch?.items.find((i) => i.payload.kind === 'command')?.payload;
      if (!batch || command?.kind !== 'command') return { session, claimed };
      const claims = [{ batchId: batch.batchId, token: batch.claim!.token }];
      const h = session.head;
      if (command.command.kind === 'reset') {
        const frameId = this.deps.ids.uuid();
        await this.deps.sessions.commit(ctx, {
          expectedRevision: h.headRevision,
          kind: 'reset',
          head: { ...h, turnIndex: 0n, leafNodeId: undefined, currentFrameId: frameId, lastPromptUsage: undefined },
          graph: { kind: 'replace', nodes: [] },
          frames: [{ frameId, status: 'active', reason: 'initial', createdAt: this.deps.clock.now() }],
          claims,
        });
        this.deps.feed.append(ctx.tenantId, sessionId, h.headRevision + 1n, { kind: 'agent_frame_switched', frameId });
      } else {
        await this.deps.sessions.commit(ctx, {
          expectedRevision: h.headRevision,
          kind: 'refresh_tool_catalog',
          head: { ...h, toolState: { ...h.toolState, generation: h.toolState.generation + 1n } },
          graph: { kind: 'none' },
          frames: [],
          claims,
        });
      }
      await this.done(ctx, sessionId, h.headRevision + 1n, claims);
      session = await this.deps.sessions.load(ctx, sessionId);
    }
  }
}

/** One turn input from the items of several batches, in enqueue order. */
export function mergeInputs(batches: QueueBatch[]): TurnRequest['input'] {
  const items: TurnRequest['input']['items'] = [];
  const imageBlobs: TurnRequest['input']['imageBlobs'] = {};
  for (const b of batches) {
    for (const item of b.items) {
      if (item.payload.kind !== 'input') continue;
      items.push(...item.payload.input.items);
      Object.assign(imageBlobs, item.payload.input.imageBlobs);
    }
  }
  return { items, imageBlobs };
}
