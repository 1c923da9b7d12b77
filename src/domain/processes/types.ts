// Background processes (issue 19): durable units of work that outlive a turn, with an
// append-only event log each, run by workers on any replica under claims.

import type { JsonValue } from '../messages.js';

export const PROCESS_KINDS = ['session_turn', 'external', 'notify', 'rlm_program'] as const;
/**
 * - session_turn: a sub-agent run: one turn in a session of its own (or in a named session).
 * - external: a job done outside the server; it waits for a signal that carries its result.
 * - notify: completes at once with its payload (a timer or event that only wakes a session).
 * - rlm_program: an rlm program (input.task) run once in the sandbox (see program.ts).
 */
export type ProcessKind = (typeof PROCESS_KINDS)[number];

export const PROCESS_STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'] as const;
export type ProcessStatus = (typeof PROCESS_STATUSES)[number];
export const isTerminal = (s: ProcessStatus) => s === 'completed' || s === 'failed' || s === 'cancelled';

export interface ProcessInput {
  /** session_turn: the task given to the sub-agent as its turn input; notify: the message; rlm_program: the program. */
  task?: string;
  /** session_turn: run in this existing session instead of a new one of its own. */
  sessionId?: string;
  /** external: the signal name that completes it (default `result`). */
  awaitSignal?: string;
  /** Free-form data (a trigger's payload, a notify body). */
  payload?: JsonValue;
}

/** Who started the process: a host (a client) or a session (through a tool), or a trigger. */
export type StartedBy = 'host' | 'session' | 'trigger' | 'schedule';

export interface ProcessRecord {
  tenantId: string;
  processId: string;
  kind: ProcessKind;
  input: ProcessInput;
  status: ProcessStatus;
  output?: JsonValue;
  error?: string;
  /** The session whose scope holds the handle (it may see and control the process). */
  scopeSessionId?: string;
  /**
   * Granted to this agent frame of the scope session only: the session's turns see the handle
   * while that frame is current (a compaction or reset opens a new frame). None: the whole session.
   */
  scopeFrameId?: string;
  startedBy: StartedBy;
  /** The session woken (through its queue) when the process finishes. */
  wakeSessionId?: string;
  /** none: no wake; pending: to deliver; delivered; revoked (the session was deleted). */
  wakeState: 'none' | 'pending' | 'delivered' | 'revoked';
  idempotencyKey?: string;
  attempts: number;
  claim?: { owner: string; token: bigint; expiresAt: Date };
  deadlineAt: Date;
  eventSeq: bigint;
  createdAt: Date;
  updatedAt: Date;
  finishedAt?: Date;
}

export interface ProcessEvent {
  processId: string;
  seq: bigint;
  /** created, claimed, taken_over, signal, completed, failed, cancelled, turn_finished, … */
  kind: string;
  idempotencyKey: string;
  payload: JsonValue;
  createdAt: Date;
}

export interface ProcessFilter {
  status?: ProcessStatus;
  scopeSessionId?: string;
  /** With scopeSessionId: only handles visible in this frame (granted to the session or to this frame). */
  visibleInFrameId?: string;
  /** Processes that involve this session: scope, wake target or the session a turn runs in. */
  sessionId?: string;
}

export interface NewProcess {
  tenantId: string;
  processId: string;
  kind: ProcessKind;
  input: ProcessInput;
  scopeSessionId?: string;
  scopeFrameId?: string;
  startedBy: StartedBy;
  wakeSessionId?: string;
  idempotencyKey?: string;
  deadlineAt: Date;
  /** notify processes are created finished. */
  status: ProcessStatus;
  output?: JsonValue;
}

export interface Finish {
  status: 'completed' | 'failed' | 'cancelled';
  output?: JsonValue;
  error?: string;
}
