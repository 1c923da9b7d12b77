// Compaction (DOMAIN.md §6): the session's model summarises the current agent frame and a new
// `compaction` frame seeded with the summary becomes current. Old content stays in the graph;
// the model usage is booked under the source `compaction`.

import type { Clock, Ids } from '../clock.js';
import { DomainError } from '../errors.js';
import { requireSession } from '../require-session.js';
import { activePath, chainMessages, frameMessages } from '../graph.js';
import { requireId, requireNoNul } from '../ids.js';
import type { Message } from '../messages.js';
import type { BlobStore, FeedSink, RequestContext, SessionStore } from '../ports.js';
import type { SessionService } from '../sessions.js';
import { currentFrame } from '../session.js';
import { zeroUsage } from '../usage.js';
import { toModelMessages } from './conversation.js';
import { ProviderError, type ModelProvider } from './model.js';
import { RunningTurn, type TurnRegistry } from './registry.js';

export interface CompactionDeps {
  sessions: Pick<SessionService, 'writers' | 'load' | 'requireProvider' | 'commit'>;
  store: Pick<SessionStore, 'getHead'>;
  providers: Map<string, ModelProvider>;
  blobs: BlobStore;
  feed: FeedSink;
  clock: Clock;
  ids: Ids;
}

const SUMMARY_INSTRUCTIONS =
  'Summarise the conversation so far for your own later use: keep facts, decisions, names, numbers and open tasks; drop pleasantries. Write the summary only.';

export async function compactSession(
  deps: CompactionDeps,
  registry: TurnRegistry,
  ctx: RequestContext,
  sessionId: string,
  instructions: string,
): Promise<{ compacted: boolean; frameId: string }> {
  requireId('session_id', sessionId);
  requireNoNul('instructions', instructions);
  await requireSession(deps.store, ctx.tenantId, sessionId);
  // Registered like a turn so the session reads as running and CancelRunningTurns reaches it.
  const turn = new RunningTurn(ctx.tenantId, sessionId, `compaction-${deps.ids.uuid()}`, 'compaction', deps.clock.now());
  registry.add(turn, 1_000);
  try {
    return await deps.sessions.writers.run(
      ctx.tenantId,
      sessionId,
      async (lease) => {
        const session = await deps.sessions.load(ctx, sessionId);
        const head = session.head;
        const messages = frameMessages(activePath(session.graph), currentFrame(session));
        if (messages.length === 0) return { compacted: false, frameId: head.currentFrameId };
        deps.sessions.requireProvider(sessionId, head.policy.providerId);
        const provider = deps.providers.get(head.policy.providerId)!;
        const system = [SUMMARY_INSTRUCTIONS, instructions].filter(Boolean).join('\n\n');
        const history = await toModelMessages(messages, (id) => deps.blobs.load(id));
        let summary = '';
        let usage = zeroUsage();
        const request = [...history, { role: 'user' as const, parts: [{ type: 'text' as const, text: 'Summarise the conversation above.' }] }];
        try {
          for await (const part of provider.stream({ model: head.policy.model, system, messages: request, tools: [], signal: turn.controller.signal })) {
            if (part.type === 'text_delta') summary += part.text;
            if (part.type === 'finish') usage = part.usage;
          }
        } catch (err) {
          // A model failure is the caller's to see and retry, not an internal error.
          if (!(err instanceof ProviderError)) throw err;
          throw new DomainError(
            'COMPACTION_PROVIDER_ERROR',
            `the model could not summarise session "${sessionId}": ${err.message}; nothing was changed${err.retryable ? ', retry later' : ''}`,
            { session_id: sessionId, provider_id: provider.id },
            !err.retryable,
          );
        }
        if (!summary.trim())
          throw new DomainError('COMPACTION_EMPTY', `the model returned no summary for session "${sessionId}"; nothing was changed, retry later`, {
            session_id: sessionId,
          });
        const frameId = deps.ids.uuid();
        const seed: Message = {
          id: deps.ids.uuid(),
          role: 'system',
          parts: [
            {
              kind: 'text',
              text: `Summary of the earlier conversation:
${summary}`,
            },
          ],
        };
        const old = currentFrame(session);
        const committed = await deps.sessions.commit(
          ctx,
          {
            expectedRevision: head.headRevision,
            kind: 'compaction',
            head: { ...head, currentFrameId: frameId, leafNodeId: seed.id },
            graph: { kind: 'append', nodes: chainMessages([seed], head.leafNodeId, frameId, deps.clock.now()) },
            frames: [
              ...(old ? [{ ...old, status: 'superseded' as const }] : []),
              { frameId, previousFrameId: old?.frameId, status: 'active', reason: 'compaction', createdAt: deps.clock.now() },
            ],
            usage: [{ source: 'compaction', model: head.policy.model.id, usage }],
          },
          lease,
        );
        deps.feed.append(ctx.tenantId, sessionId, committed.headRevision, { kind: 'agent_frame_switched', frameId });
        return { compacted: true, frameId };
      },
      { key: turn.turnId, signal: ctx.signal, onAbort: 'throw' },
    );
  } finally {
    turn.settle({});
  }
}
