// Child sessions: own rows, a parent link, usage rolled up into the parent's report under the
// child's source. Started empty, from the parent's read view, or from a snapshot; duplicate ids
// are ALREADY_EXISTS.

import { DomainError, notFound } from '../errors.js';
import { requireId } from '../ids.js';
import type { PolicyPatch } from '../policy.js';
import type { RequestContext } from '../ports.js';
import type { FinalAnswerFormat, Residency, SessionHead, SessionMode } from '../session.js';
import { messageIds, type SessionService } from '../sessions.js';
import { activePath, frameMessages } from '../graph.js';
import type { Message } from '../messages.js';
import { currentFrame } from '../session.js';
import { parseState } from '../state.js';

export interface CreateChild {
  parentSessionId: string;
  childSessionId: string;
  mode?: SessionMode;
  policy: PolicyPatch;
  residency?: Residency;
  finalAnswerFormat?: FinalAnswerFormat;
  source?: string;
  metadata?: Record<string, string>;
  /** Seed of the conversation: empty, the parent's read view, or an exported state. */
  start?: { kind: 'empty' } | { kind: 'parent' } | { kind: 'snapshot'; document: unknown };
}

export class ChildSessions {
  constructor(private readonly sessions: SessionService) {}

  async create(ctx: RequestContext, req: CreateChild): Promise<SessionHead> {
    requireId('session_id', req.parentSessionId);
    requireId('child_session_id', req.childSessionId);
    const parent = await this.sessions.get(ctx, req.parentSessionId);
    if (req.source !== undefined && req.source !== '') requireId('source', req.source);
    const existing = await this.sessions.get(ctx, req.childSessionId).catch(() => undefined);
    if (existing) {
      throw new DomainError('CHILD_ID_TAKEN', `session "${req.childSessionId}" already exists; choose another child_session_id`, {
        session_id: req.parentSessionId,
        child_session_id: req.childSessionId,
      });
    }
    // Everything that can be refused is checked before the child exists.
    const seed = await this.seedMessages(ctx, req);
    const ids = messageIds(req.childSessionId, seed, new Set(), this.sessions.runtime.ids);
    const { head, created } = await this.sessions.open(ctx, {
      sessionId: req.childSessionId,
      parentSessionId: req.parentSessionId,
      openMode: 'resume',
      mode: req.mode,
      policy: req.policy,
      residency: req.residency,
      finalAnswerFormat: req.finalAnswerFormat,
      metadata: req.metadata,
      usageSource: req.source || 'child',
      // The seed lands with the row itself: no window where the child exists without it.
      seed: seed.map((m, i) => ({ ...m, id: ids[i]! })),
    });
    if (!created)
      throw new DomainError('CHILD_ID_TAKEN', `session "${req.childSessionId}" already exists; choose another child_session_id`, {
        session_id: req.parentSessionId,
        child_session_id: req.childSessionId,
      });
    this.sessions.announce(ctx, parent, 'child_created');
    return head;
  }

  private async seedMessages(ctx: RequestContext, req: CreateChild): Promise<Message[]> {
    if (req.start?.kind === 'parent') {
      const parent = await this.sessions.load(ctx, req.parentSessionId);
      return frameMessages(activePath(parent.graph), currentFrame(parent));
    }
    if (req.start?.kind === 'snapshot') {
      const state = parseState(req.start.document);
      return activePath({ nodes: state.nodes, leafNodeId: state.doc.leafNodeId }).flatMap((n) => (n.payload.type === 'message' ? [n.payload.message] : []));
    }
    return [];
  }

  list(ctx: RequestContext, parentSessionId: string, pageSize: number, pageToken: string) {
    requireId('session_id', parentSessionId);
    return this.sessions.get(ctx, parentSessionId).then(() => this.sessions.list(ctx, { parentSessionId, metadata: {} }, pageSize, pageToken));
  }

  async close(ctx: RequestContext, parentSessionId: string, childSessionId: string): Promise<void> {
    requireId('session_id', parentSessionId);
    requireId('child_session_id', childSessionId);
    const child = await this.sessions.get(ctx, childSessionId);
    if (child.parentSessionId !== parentSessionId) {
      throw notFound('CHILD_NOT_FOUND', `session "${childSessionId}" is not a child of "${parentSessionId}"`, {
        session_id: parentSessionId,
        child_session_id: childSessionId,
      });
    }
    await this.sessions.close(ctx, childSessionId);
    this.sessions.announce(ctx, await this.sessions.get(ctx, parentSessionId), 'child_closed');
  }
}
