// The `run_child` tool: a turn delegates a task to a child session. It runs one turn of the
// child (creating it on first use, with the parent's mode and model) and returns the child's
// answer. The child's model usage streams into the parent turn as `child_usage` events and lands
// in the parent's result; the child keeps its own conversation, feed and usage ledger.

import { createHash } from 'node:crypto';
import type { ChildSessions } from '../admin/children.js';
import { DomainError } from '../errors.js';
import type { JsonValue } from '../messages.js';
import type { SessionHead } from '../session.js';
import type { SessionService } from '../sessions.js';
import type { TurnService } from '../turns/runner.js';
import type { TurnResult } from '../turns/types.js';
import type { ToolContext, ToolDefinition, ToolOutcome } from './types.js';

export const RUN_CHILD_TOOL = 'run_child';

/** Deepest nesting run_child builds (a root's child is depth 1): delegation cannot recurse without end. */
export const MAX_CHILD_DEPTH = 8;

export interface RunChildDeps {
  sessions: SessionService;
  children: ChildSessions;
  /** Late-bound: the turn service is built after the tool sources it is given. */
  turns(): TurnService;
}

export function runChildTool(deps: RunChildDeps): ToolDefinition {
  return {
    name: RUN_CHILD_TOOL,
    description: 'Delegates a task to a child session: runs one turn of the child with `task` as its input and returns its answer. The child keeps its conversation between calls; it is created (empty, with this session\'s model) the first time `child_session_id` is used.',
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
    execute: (args, ctx) => runChild(deps, String(args.child_session_id), String(args.task), ctx),
  };
}

async function runChild(deps: RunChildDeps, childId: string, task: string, ctx: ToolContext): Promise<ToolOutcome> {
  const req = { tenantId: ctx.tenantId, signal: ctx.signal };
  let child: SessionHead;
  try {
    child = await childSession(deps, req, ctx.sessionId, childId);
  } catch (err) {
    if (err instanceof DomainError) return { kind: 'error', message: err.message };
    throw err;
  }
  const source = child.usageSource ?? 'child';
  // One child turn per parent tool call: a repeated call id attaches instead of running twice.
  const turnId = `child-${createHash('sha256').update(`${ctx.turnId}\u0000${ctx.callId}`).digest('hex').slice(0, 32)}`;
  // The child's turn span hangs under this tool call's span: one trace for the whole delegation.
  const result = await deps.turns().run(req, { sessionId: childId, turnId, input: { items: [{ kind: 'text', text: task }], imageBlobs: {} }, overrides: {}, traceparent: ctx.traceparent }, {
    signal: ctx.signal,
    onEvent: ({ event }) => {
      if (event.kind === 'usage') ctx.reportChildUsage({ sessionId: childId, source, model: child.policy.model.id, usage: event.usage });
      // Grandchildren's usage passes through under their own ids and sources.
      if (event.kind === 'child_usage') ctx.reportChildUsage({ sessionId: event.sessionId, source: event.source, model: event.model, usage: event.usage });
    },
  });
  return outcomeOf(childId, result);
}

/** The child if it is ours, else a new one; a session of that id with another parent is refused. */
async function childSession(deps: RunChildDeps, req: { tenantId: string }, parentId: string, childId: string): Promise<SessionHead> {
  const existing = await deps.sessions.get(req, childId).catch((err: unknown) => {
    if (err instanceof DomainError && err.reason === 'SESSION_NOT_FOUND') return undefined;
    throw err;
  });
  if (existing) {
    if (existing.parentSessionId !== parentId) throw new DomainError('FAILED_PRECONDITION', 'NOT_A_CHILD', `session "${childId}" exists and is not a child of this session; choose another child_session_id`);
    return existing;
  }
  const parent = await deps.sessions.get(req, parentId);
  let depth = 1;
  for (let up = parent.parentSessionId; up && depth <= MAX_CHILD_DEPTH; depth++) up = (await deps.sessions.get(req, up)).parentSessionId;
  if (depth > MAX_CHILD_DEPTH) throw new DomainError('FAILED_PRECONDITION', 'CHILD_DEPTH_EXCEEDED', `a new child here would be ${depth} levels below its root session; run_child nests at most ${MAX_CHILD_DEPTH} levels, so do this work yourself`);
  return deps.children.create(req, { parentSessionId: parentId, childSessionId: childId, mode: parent.mode, policy: { model: parent.policy.model, providerId: parent.policy.providerId } }).catch(async (err: unknown) => {
    // Two calls raced to create the same child: use the one that won.
    if (err instanceof DomainError && err.reason === 'CHILD_ID_TAKEN') return childSession(deps, req, parentId, childId);
    throw err;
  });
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
