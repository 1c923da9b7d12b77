// Session tools for processes: `start_process` starts a background process in the calling
// session's scope and, by default, asks for a wake when it finishes. The handle is granted to the
// whole session (seen in every later turn) or, with grant "frame", to the agent frame the turn runs
// in (seen while that frame is current; a compaction or reset opens a new one), as lash's session
// and frame scopes do. `list_processes` shows the handles visible now, or with `all` every handle
// the session holds. In rlm mode both are functions of the program, like every tool.

import { createHash } from 'node:crypto';
import { DomainError } from '../errors.js';
import type { JsonValue } from '../messages.js';
import type { ToolDefinition, ToolOutcome } from '../tools/types.js';
import { processSessionId } from './executors.js';
import type { ProcessService } from './service.js';
import type { ProcessRecord } from './types.js';

export const START_PROCESS_TOOL = 'start_process';
export const LIST_PROCESSES_TOOL = 'list_processes';

const base = { availability: 'callable', activation: 'always', retry: { maxAttempts: 1, initialBackoffMs: 0 } } as const;

export function handleOf(p: ProcessRecord): Record<string, JsonValue> {
  const h: Record<string, JsonValue> = { process_id: p.processId, kind: p.kind, status: p.status };
  if (p.kind === 'session_turn') h.session_id = processSessionId(p);
  if (p.input.task !== undefined) h.task = p.input.task;
  if (p.output !== undefined) h.output = p.output;
  if (p.error !== undefined) h.error = p.error;
  h.grant = p.scopeFrameId ? 'frame' : 'session';
  return h;
}

export function processTools(processes: () => ProcessService): ToolDefinition[] {
  return [
    {
      ...base,
      name: START_PROCESS_TOOL,
      description:
        'Starts a background process that outlives this turn and returns its handle at once. kind "session_turn": a sub-agent runs `task` as one turn in a session of its own. kind "external": a job done elsewhere; it finishes when its result arrives. kind "rlm_program": `task` is a program run once in the sandbox (print, submit, submit_error; no tools). With wake (default true) this session is woken with the result when the process finishes. grant "session" (default): later turns see the handle; grant "frame": only turns in the current agent frame do (not after a compaction or reset).',
      inputSchema: {
        type: 'object',
        properties: {
          kind: { enum: ['session_turn', 'external', 'rlm_program'] },
          task: { type: 'string', minLength: 1 },
          wake: { type: 'boolean' },
          grant: { enum: ['session', 'frame'] },
        },
        required: ['kind', 'task'],
        additionalProperties: false,
      },
      scheduling: 'parallel',
      execute: async (args, ctx): Promise<ToolOutcome> => {
        // One process per tool call: a retried call (same turn and call id) gets the same handle.
        const key = `tool:${createHash('sha256').update(`${ctx.sessionId}\u0000${ctx.turnId}\u0000${ctx.callId}`).digest('hex')}`;
        try {
          const rc = { tenantId: ctx.tenantId };
          // The turn holds the session's writer: the frame cannot change under it.
          const scopeFrameId = args.grant === 'frame' ? await processes().currentFrame(rc, ctx.sessionId) : undefined;
          const { process } = await processes().start(rc, {
            kind: args.kind as 'session_turn' | 'external' | 'rlm_program',
            input: { task: String(args.task) },
            scopeSessionId: ctx.sessionId,
            scopeFrameId,
            wakeSessionId: args.wake === false ? undefined : ctx.sessionId,
            idempotencyKey: key,
            startedBy: 'session',
          });
          return { kind: 'ok', output: handleOf(process) };
        } catch (err) {
          if (err instanceof DomainError) return { kind: 'error', message: err.message };
          throw err;
        }
      },
    },
    {
      ...base,
      name: LIST_PROCESSES_TOOL,
      description:
        'Lists the background processes this session started (its handles) that are visible in the current agent frame, newest last, with status and, once finished, output or error. With all: true, also the handles granted to earlier frames.',
      inputSchema: {
        type: 'object',
        properties: { status: { enum: ['pending', 'running', 'completed', 'failed', 'cancelled'] }, all: { type: 'boolean' } },
        additionalProperties: false,
      },
      scheduling: 'parallel',
      execute: async (args, ctx): Promise<ToolOutcome> => {
        const rc = { tenantId: ctx.tenantId };
        const visibleInFrameId = args.all === true ? undefined : await processes().currentFrame(rc, ctx.sessionId);
        const { processes: page } = await processes().list(
          rc,
          { scopeSessionId: ctx.sessionId, visibleInFrameId, status: args.status as ProcessRecord['status'] | undefined },
          100,
          '',
        );
        return { kind: 'ok', output: { processes: page.map(handleOf) } };
      },
    },
  ];
}
