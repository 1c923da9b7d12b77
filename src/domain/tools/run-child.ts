// The `run_child` tool: a turn delegates a task to a child session. It runs one turn of the
// child (creating it on first use, with the parent's mode and model) and returns the child's
// answer. The child's model usage streams into the parent turn as `child_usage` events and lands
// in the parent's result; the child keeps its own conversation, feed and usage ledger.
// Fan-out is bounded: children created per turn and sessions per root tree are limited, and the
// parent turn holds the child turn, so it never commits before the child has.

import { createHash } from 'node:crypto';
import type { ChildSessions } from '../admin/children.js';
import { DomainError } from '../errors.js';
import { KeyedMutex } from '../keyed-mutex.js';
import type { JsonValue } from '../messages.js';
import type { SessionHead } from '../session.js';
import type { SessionService } from '../sessions.js';
import type { TurnService } from '../turns/runner.js';
import type { TurnResult } from '../turns/types.js';
import type { ToolContext, ToolDefinition, ToolOutcome } from './types.js';

export const RUN_CHILD_TOOL = 'run_child';

/** Deepest nesting run_child builds (a root's child is depth 1): delegation cannot recurse without end. */
export const MAX_CHILD_DEPTH = 8;

export interface ChildLimits {
  /** Child sessions one turn may create. */
  perTurn: number;
  /** Sessions below one root session (all levels) that run_child may grow the tree to. */
  perRoot: number;
}

export const DEFAULT_CHILD_LIMITS: ChildLimits = { perTurn: 16, perRoot: 100 };

export interface RunChildDeps {
  sessions: SessionService;
  children: ChildSessions;
  /** Late-bound: the turn service is built after the tool sources it is given. */
  turns(): TurnService;
  limits?: ChildLimits;
  /** Told each time a limit refuses a child (for metrics). */
  onRejected?(limit: 'children_per_turn' | 'children_per_root'): void;
  /** Counts child turns in flight in this process (for metrics). */
  inFlight?: ChildTurnsInFlight;
}

/** Child turns started by run_child that have not settled yet, in this process. */
export class ChildTurnsInFlight {
  running = 0;
  started = 0;

  track(turn: Promise<unknown>): void {
    this.running++;
    this.started++;
    void turn
      .then(
        () => {},
        () => {},
      )
      .finally(() => this.running--);
  }
}

const CREATED = 'run_child.created';

export function runChildTool(deps: RunChildDeps): ToolDefinition {
  // Counting a root's tree and creating the child are one step per root within this process.
  const roots = new KeyedMutex();
  const tool = { ...deps, limits: deps.limits ?? DEFAULT_CHILD_LIMITS, roots };
  return {
    name: RUN_CHILD_TOOL,
    description:
      "Delegates a task to a child session: runs one turn of the child with `task` as its input and returns its answer. The child keeps its conversation between calls; it is created (empty, with this session's model) the first time `child_session_id` is used.",
    inputSchema: {
      type: 'object',
      properties: { child_session_id: { type: 'string', minLength: 1, maxLength: 200 }, task: { type: 'string', minLength: 1 } },
      required: ['child_session_id', 'task'],
      additionalProperties: false,
    },
    // Different children run side by side; calls to one child queue on its writer.
    scheduling: 'parallel',
    availability: 'callable',
    activation: 'always',
    retry: { maxAttempts: 1, initialBackoffMs: 0 },
    execute: (args, ctx) => runChild(tool, String(args.child_session_id), String(args.task), ctx),
  };
}

type Tool = RunChildDeps & { limits: ChildLimits; roots: KeyedMutex };

async function runChild(deps: Tool, childId: string, task: string, ctx: ToolContext): Promise<ToolOutcome> {
  const req = { tenantId: ctx.tenantId, signal: ctx.signal };
  if (ctx.signal.aborted) return { kind: 'error', message: 'cancelled before the child turn started' };
  let child: SessionHead;
  try {
    child = await childSession(deps, req, ctx, childId);
  } catch (err) {
    if (err instanceof DomainError) return { kind: 'error', message: err.message };
    throw err;
  }
  const source = child.usageSource ?? 'child';
  // One child turn per parent tool call: a repeated call id attaches instead of running twice.
  const turnId = `child-${createHash('sha256').update(`${ctx.turnId}\u0000${ctx.callId}`).digest('hex').slice(0, 32)}`;
  // The child's turn span hangs under this tool call's span: one trace for the whole delegation.
  const running = deps.turns().run(
    req,
    { sessionId: childId, turnId, input: { items: [{ kind: 'text', text: task }], imageBlobs: {} }, overrides: {}, traceparent: ctx.traceparent },
    {
      signal: ctx.signal,
      onEvent: ({ event }) => {
        if (event.kind === 'usage') ctx.reportChildUsage({ sessionId: childId, source, model: child.policy.model.id, usage: event.usage });
        // Grandchildren's usage passes through under their own ids and sources.
        if (event.kind === 'child_usage') ctx.reportChildUsage({ sessionId: event.sessionId, source: event.source, model: event.model, usage: event.usage });
      },
    },
  );
  // Even when this call is abandoned (cancel grace over), the parent commits after the child.
  ctx.scope.hold(running);
  deps.inFlight?.track(running);
  return outcomeOf(childId, await running);
}

/** The child if it is ours, else a new one within the limits; a session of that id with another parent is refused. */
async function childSession(deps: Tool, req: { tenantId: string }, ctx: ToolContext, childId: string): Promise<SessionHead> {
  const parentId = ctx.sessionId;
  const existing = await deps.sessions.get(req, childId).catch((err: unknown) => {
    if (err instanceof DomainError && err.reason === 'SESSION_NOT_FOUND') return undefined;
    throw err;
  });
  if (existing) {
    if (existing.parentSessionId !== parentId)
      throw new DomainError('NOT_A_CHILD', `session "${childId}" exists and is not a child of this session; choose another child_session_id`);
    return existing;
  }
  const parent = await deps.sessions.get(req, parentId);
  let depth = 1;
  let root = parent;
  for (let up = parent.parentSessionId; up && depth <= MAX_CHILD_DEPTH; depth++) {
    root = await deps.sessions.get(req, up);
    up = root.parentSessionId;
  }
  if (depth > MAX_CHILD_DEPTH)
    throw new DomainError(
      'CHILD_DEPTH_EXCEEDED',
      `a new child here would be ${depth} levels below its root session; run_child nests at most ${MAX_CHILD_DEPTH} levels, so do this work yourself`,
    );
  // Reserved before anything is created, so parallel calls of one turn cannot overshoot.
  if (!ctx.scope.take(CREATED, deps.limits.perTurn)) {
    deps.onRejected?.('children_per_turn');
    throw new DomainError(
      'CHILD_LIMIT_PER_TURN',
      `this turn already created ${deps.limits.perTurn} child sessions, the most one turn may create; reuse one of them (same child_session_id) or do the work yourself`,
    );
  }
  try {
    return await deps.roots.run(`${req.tenantId}\u0000${root.sessionId}`, async () => {
      const below = await countBelow(deps.sessions, req, root.sessionId, deps.limits.perRoot);
      if (below >= deps.limits.perRoot) {
        deps.onRejected?.('children_per_root');
        throw new DomainError(
          'CHILD_LIMIT_PER_ROOT',
          `root session "${root.sessionId}" already has ${deps.limits.perRoot} sessions below it, the most run_child may create in one tree; reuse an existing child or do the work yourself`,
        );
      }
      return deps.children.create(req, {
        parentSessionId: parentId,
        childSessionId: childId,
        mode: parent.mode,
        policy: { model: parent.policy.model, providerId: parent.policy.providerId },
      });
    });
  } catch (err) {
    ctx.scope.giveBack(CREATED);
    // Two calls raced to create the same child: use the one that won.
    if (err instanceof DomainError && err.reason === 'CHILD_ID_TAKEN') return childSession(deps, req, ctx, childId);
    throw err;
  }
}

/** Sessions below `rootId` at every level, counted up to `cap` (enough to decide). */
async function countBelow(sessions: SessionService, req: { tenantId: string }, rootId: string, cap: number): Promise<number> {
  let count = 0;
  const pending = [rootId];
  while (pending.length && count < cap) {
    const parentSessionId = pending.pop()!;
    let pageToken = '';
    do {
      const page = await sessions.list(req, { parentSessionId, metadata: {} }, 500, pageToken);
      count += page.sessions.length;
      pending.push(...page.sessions.map((s) => s.sessionId));
      pageToken = page.nextPageToken;
    } while (pageToken && count < cap);
  }
  return count;
}

function outcomeOf(childId: string, r: TurnResult): ToolOutcome {
  const base = { child_session_id: childId, turn_id: r.turnId };
  const o = r.outcome;
  if (o.type === 'finished') {
    if (o.answer.kind === 'assistant_message') return { kind: 'ok', output: { ...base, answer: o.answer.text } };
    if (o.answer.kind === 'submitted_value') return { kind: 'ok', output: { ...base, value: o.answer.value } };
    return { kind: 'ok', output: { ...base, tool_name: o.answer.toolName, value: o.answer.value } };
  }
  if (o.type === 'stopped') {
    const detail = o.message ?? (o.value !== undefined ? JSON.stringify(o.value as JsonValue) : '');
    return { kind: 'error', message: `child session "${childId}" stopped: ${o.reason}${detail ? ` (${detail})` : ''}` };
  }
  return { kind: 'ok', output: { ...base, answer: r.assistantOutput.safeText } };
}
