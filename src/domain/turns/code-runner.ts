// The port through which rlm turns run model-written code: an isolated sandbox with only the
// functions we inject (tools, print, submit, submit_error, history).

import type { JsonValue } from '../messages.js';

export interface SandboxLimits {
  memoryBytes: number;
  /** Wall time per code block, including time spent waiting for tools. */
  timeMs: number;
  outputBytes: number;
  toolCalls: number;
  /** Size of the globals snapshot (JSON, UTF-8) a block may leave for the session: a larger one fails the block and keeps the previous snapshot. */
  globalsBytes: number;
}

export interface CodeRunRequest {
  code: string;
  /** Globals carried over from earlier blocks of this agent frame. */
  globals: Record<string, JsonValue>;
  history: JsonValue;
  toolNames: string[];
  callTool(name: string, args: Record<string, JsonValue>): Promise<{ output: JsonValue; isError: boolean; callId: string }>;
  limits: SandboxLimits;
  signal: AbortSignal;
}

export interface CodeRunResult {
  output: string;
  error?: string;
  success: boolean;
  submitted?: { value: JsonValue };
  submittedError?: { value: JsonValue };
  /** JSON-serialisable globals after the block (the new snapshot). */
  globals: Record<string, JsonValue>;
  /** Globals that could not be kept (functions, cyclic values…): reported to the model. */
  dropped: string[];
  /** The block left more globals than `limits.globalsBytes`: it failed and `globals` is the previous snapshot. */
  globalsOverLimit?: boolean;
  toolCallIds: string[];
  durationMs: number;
}

export interface CodeRunner {
  run(request: CodeRunRequest): Promise<CodeRunResult>;
}
