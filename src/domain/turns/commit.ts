// A turn's one commit: its user message and the loop's messages appended to the active path, the
// head advanced, usage booked, the queue claims it drained completed and the writer lease ended,
// all by one atomic store statement guarded by the head revision and the claims' fencing tokens.

import { DomainError } from '../errors.js';
import { chainMessages } from '../graph.js';
import type { Message } from '../messages.js';
import type { SessionPolicy } from '../policy.js';
import type { RequestContext } from '../ports.js';
import type { Claim } from '../queue/types.js';
import type { LoadedSession, SessionHead } from '../session.js';
import type { SessionService } from '../sessions.js';
import type { WriterLease } from '../session-writers.js';
import { addUsage } from '../usage.js';
import type { ChildUsageEntry } from './child-usage.js';
import type { LoopResult } from './loop.js';
import type { RunningTurn } from './registry.js';
import { withinResultBudget } from './result-budget.js';
import { resultToJson, type TurnResult } from './types.js';

/** What a turn settles besides the loop's own result. */
export interface TurnExtras {
  sandbox: SessionHead['sandbox'];
  hadCodeExecution: boolean;
  /** Usage of child sessions run by this turn's tools, per source and model. */
  children: ChildUsageEntry[];
}

export interface TurnOutput {
  policy: SessionPolicy;
  userMessage: Message;
  blobs: { hash: string; mimeType: string; data: Uint8Array }[];
  loop: LoopResult;
  extras: TurnExtras;
}

export async function commitTurn(
  sessions: Pick<SessionService, 'commit' | 'load' | 'runtime'>,
  ctx: RequestContext,
  turn: RunningTurn,
  session: LoadedSession,
  out: TurnOutput,
  claims: Claim[],
  lease: WriterLease,
  /** Awaited once the feed's waiting events are in hand, before the commit statement is sent. */
  beforeWrite?: () => Promise<void>,
): Promise<TurnResult> {
  const { loop, extras } = out;
  for (let attempt = 1; ; attempt++) {
    // On a revision conflict (an admin change landed meanwhile) the turn's nodes are appended
    // on top of the newer head instead of being lost.
    const head = attempt === 1 ? session.head : (await sessions.load(ctx, turn.sessionId)).head;
    const nodes = chainMessages([out.userMessage, ...loop.newMessages], head.leafNodeId, head.currentFrameId, sessions.runtime.clock.now());
    const revision = head.headRevision + 1n;
    const turnIndex = head.turnIndex + 1n;
    const result = buildResult(turn.sessionId, turn.turnId, turnIndex, revision, loop, extras);
    try {
      await sessions.commit(
        ctx,
        {
          expectedRevision: head.headRevision,
          kind: 'turn',
          head: {
            ...head,
            turnIndex,
            leafNodeId: nodes.length ? nodes[nodes.length - 1]!.nodeId : head.leafNodeId,
            lastPromptUsage: loop.lastUsage ?? head.lastPromptUsage,
            sandbox: extras.sandbox ?? head.sandbox,
          },
          graph: { kind: 'append', nodes },
          frames: [],
          usage: loop.usage.inputTokens + loop.usage.outputTokens > 0n ? [{ source: 'turn', model: out.policy.model.id, usage: loop.usage }] : [],
          turnId: turn.turnId,
          contentHash: turn.contentHash,
          result: resultToJson(result),
          blobs: out.blobs,
          claims,
        },
        lease,
        attempt === 1 ? beforeWrite : undefined,
      );
      return result;
    } catch (err) {
      if (!(err instanceof DomainError && err.reason === 'REVISION_CONFLICT') || attempt >= 3) throw err;
    }
  }
}

function buildResult(sessionId: string, turnId: string, turnIndex: bigint, headRevision: bigint, loop: LoopResult, extra: TurnExtras): TurnResult {
  const safeText = loop.outcome.type === 'finished' && loop.outcome.answer.kind === 'assistant_message' ? loop.outcome.answer.text : loop.rawText;
  return withinResultBudget({
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
  });
}
