// The queue side of a turn: session commands applied at the head of the queue, batches claimed
// for a drain or at a checkpoint (and announced in the feed), claims reported done after the
// commit, and the turn input made of claimed batches.

import { randomUUID } from 'node:crypto';
import type { RequestContext } from '../ports.js';
import { selectClaim } from '../queue/claim-rules.js';
import type { Claim, QueueBatch } from '../queue/types.js';
import type { LoadedSession } from '../session.js';
import type { RunningTurn } from './registry.js';
import type { TurnDeps } from './runner.js';
import type { TurnRequest } from './types.js';

export class TurnQueueWork {
  constructor(private readonly deps: TurnDeps) {}

  /**
   * Claims batches for this writer and announces it in the feed. `revision` is the head the turn
   * started from: it cannot move while the turn holds the writer.
   */
  async claim(ctx: RequestContext, sessionId: string, turn: RunningTurn, revision: bigint, boundary: 'idle' | 'checkpoint'): Promise<QueueBatch[]> {
    const batches = await this.deps.queue.claim(ctx.tenantId, sessionId, `${this.deps.replicaId}/${turn.turnId}`, this.deps.claimTtlMs, (pending) =>
      selectClaim(pending, { boundary, now: new Date(), joinLimit: this.deps.joinLimit }),
    );
    this.announceClaim(ctx, sessionId, revision, batches);
    return batches;
  }

  announceClaim(ctx: RequestContext, sessionId: string, revision: bigint, batches: QueueBatch[]): void {
    if (batches.length) this.deps.feed.append(ctx.tenantId, sessionId, revision, { kind: 'queue_changed', change: 'claimed', batchIds: batches.map((b) => b.batchId) });
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
  async applyHeadCommands(ctx: RequestContext, sessionId: string, turn: RunningTurn, session: LoadedSession, inputs?: (pending: QueueBatch[]) => QueueBatch[]): Promise<{ session: LoadedSession; claimed: QueueBatch[] }> {
    for (;;) {
      const claimed = await this.deps.queue.claim(ctx.tenantId, sessionId, `${this.deps.replicaId}/${turn.turnId}`, this.deps.claimTtlMs, (pending) => {
        const head = pending.find((b) => b.availableAt <= new Date());
        if (head?.items.some((i) => i.payload.kind === 'command')) return [head];
        return inputs ? inputs(pending) : [];
      });
      const batch = claimed.length === 1 ? claimed[0] : undefined;
      const command = batch?.items.find((i) => i.payload.kind === 'command')?.payload;
      if (!batch || command?.kind !== 'command') return { session, claimed };
      const claims = [{ batchId: batch.batchId, token: batch.claim!.token }];
      const h = session.head;
      if (command.command.kind === 'reset') {
        const frameId = randomUUID();
        await this.deps.sessions.commit(ctx, { expectedRevision: h.headRevision, kind: 'reset', head: { ...h, turnIndex: 0n, leafNodeId: undefined, currentFrameId: frameId, lastPromptUsage: undefined }, graph: { kind: 'replace', nodes: [] }, frames: [{ frameId, status: 'active', reason: 'initial', createdAt: new Date() }], claims });
        this.deps.feed.append(ctx.tenantId, sessionId, h.headRevision + 1n, { kind: 'agent_frame_switched', frameId });
      } else {
        await this.deps.sessions.commit(ctx, { expectedRevision: h.headRevision, kind: 'refresh_tool_catalog', head: { ...h, toolState: { ...h.toolState, generation: h.toolState.generation + 1n } }, graph: { kind: 'none' }, frames: [], claims });
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
