// Turn vocabulary: input, streamed events, outcomes and the settled result (DOMAIN.md §2).

import type { JsonValue, Message } from '../messages.js';
import type { ModelSpec, ReasoningEffort } from '../policy.js';
import type { PromptLayer } from '../prompt.js';
import type { Usage } from '../usage.js';

export type InputItem = { kind: 'text'; text: string } | { kind: 'image_ref'; id: string };

export interface ImageBlob {
  data: Uint8Array;
  mimeType: string;
}

export interface TurnInput {
  items: InputItem[];
  imageBlobs: Record<string, ImageBlob>;
  traceTurnId?: string;
}

export interface TurnOverrides {
  model?: Partial<ModelSpec>;
  providerId?: string;
  prompt?: PromptLayer;
}

export interface RlmTurnOptions {
  requireSubmit: boolean;
  submitSchema?: Record<string, JsonValue>;
  proseOrSubmit: boolean;
}

export interface TurnRequest {
  sessionId: string;
  turnId?: string;
  input: TurnInput;
  overrides: TurnOverrides;
  rlm?: RlmTurnOptions;
  /** W3C trace context of the caller (`traceparent` metadata): the turn's span joins that trace. */
  traceparent?: string;
}

export const STOP_REASONS = [
  'cancelled',
  'invalid_input',
  'incomplete',
  'provider_error',
  'max_turns',
  'tool_failure',
  'plugin_abort',
  'runtime_error',
  'submitted_error',
  'tool_error',
] as const;
export type StopReason = (typeof STOP_REASONS)[number];

export type TurnEventKind =
  | { kind: 'queued_work_started'; boundary: 'idle' | 'checkpoint'; batchIds: string[] }
  | { kind: 'model_request_started'; iteration: number; providerId?: string; modelId?: string; reasoningEffort?: ReasoningEffort; promptCache?: boolean }
  | { kind: 'assistant_prose_delta'; text: string }
  | { kind: 'reasoning_delta'; text: string }
  | { kind: 'code_block_started'; language: string; code: string }
  | { kind: 'code_block_completed'; language: string; output: string; error?: string; success: boolean; durationMs: number; toolCallIds: string[] }
  | { kind: 'tool_call_started'; callId: string; name: string; args: Record<string, JsonValue> }
  | { kind: 'tool_call_completed'; callId: string; name: string; args: Record<string, JsonValue>; output: JsonValue; isError: boolean; durationMs: number }
  | { kind: 'submitted_value'; value: JsonValue }
  | { kind: 'tool_value'; toolName: string; value: JsonValue }
  | { kind: 'usage'; iteration: number; usage: Usage; cumulative: Usage }
  | { kind: 'child_usage'; sessionId: string; source: string; model: string; usage: Usage; cumulative: Usage }
  | { kind: 'retry_status'; waitSeconds: number; attempt: number; maxAttempts: number; reason: string }
  | { kind: 'queued_input_accepted'; checkpoint: string; inputs: { id: string; message: Message }[] }
  | { kind: 'error'; message: string };

export interface TurnEvent {
  id: string;
  /** Ties the start, deltas and completion of one logical item together. */
  correlationId: string;
  /** 1-based order within the turn. */
  sequence: number;
  time: Date;
  event: TurnEventKind;
}

export type FinishedAnswer =
  { kind: 'assistant_message'; text: string } | { kind: 'submitted_value'; value: JsonValue } | { kind: 'tool_value'; toolName: string; value: JsonValue };

export type TurnOutcome =
  | { type: 'finished'; answer: FinishedAnswer }
  | { type: 'stopped'; reason: StopReason; value?: JsonValue; toolName?: string; message?: string }
  | { type: 'agent_frame_switch'; frameId: string; task: string };

export type AssistantOutputState = 'usable' | 'empty_output' | 'traceback_only' | 'recovered_from_error';

export interface ToolCallRecord {
  callId: string;
  tool: string;
  args: Record<string, JsonValue>;
  output: JsonValue;
  isError: boolean;
  durationMs: number;
}

export interface TurnIssue {
  kind: string;
  code?: string;
  terminalReason?: StopReason;
  message: string;
}

export interface TurnResult {
  sessionId: string;
  turnId: string;
  turnIndex: bigint;
  outcome: TurnOutcome;
  assistantOutput: { safeText: string; rawText: string; state: AssistantOutputState };
  usage: { parent: Usage; children: { source: string; model: string; usage: Usage }[]; total: Usage };
  toolCalls: ToolCallRecord[];
  hadToolCalls: boolean;
  hadCodeExecution: boolean;
  issues: TurnIssue[];
  headRevision: bigint;
}

/** JSON form of a result for the commit log (bigints as strings). */
export function resultToJson(r: TurnResult): JsonValue {
  // A direct copy: a stringify with a replacer (which leaves JSON.stringify's fast path) and a
  // parse cost a turn more than the rest of its commit's encoding. Anything the copy does not
  // mirror exactly takes the JSON round trip, which is the definition.
  try {
    return jsonCopy(r, '', 0) as JsonValue;
  } catch (err) {
    if (err !== UNUSUAL) throw err;
    return JSON.parse(JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))) as JsonValue;
  }
}

const UNUSUAL = Symbol('not a plain JSON copy');

/**
 * What `JSON.parse(JSON.stringify(v, bigints as "<n>n"))` gives for `v` (`undefined`: left out),
 * or throws UNUSUAL where that is not plain to mirror (boxed primitives, a `__proto__` key, deep
 * or cyclic values).
 */
function jsonCopy(v: unknown, key: string, depth: number): unknown {
  if (depth > 200) throw UNUSUAL;
  if ((typeof v === 'object' && v !== null) || typeof v === 'bigint') {
    const toJSON = (v as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') v = toJSON.call(v, key);
  }
  switch (typeof v) {
    case 'bigint':
      return `${v}n`;
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      // JSON writes -0 as 0, and non-finite numbers as null.
      return Number.isFinite(v) ? (v === 0 ? 0 : v) : null;
    case 'object': {
      if (v === null) return null;
      if (v instanceof Number || v instanceof String || v instanceof Boolean || v instanceof BigInt) throw UNUSUAL;
      if (Array.isArray(v)) {
        const out: unknown[] = new Array(v.length);
        for (let i = 0; i < v.length; i++) {
          const x = jsonCopy(v[i], String(i), depth + 1);
          out[i] = x === undefined ? null : x;
        }
        return out;
      }
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v)) {
        if (k === '__proto__') throw UNUSUAL;
        const x = jsonCopy((v as Record<string, unknown>)[k], k, depth + 1);
        if (x !== undefined) out[k] = x;
      }
      return out;
    }
    default:
      // undefined, functions and symbols are left out (null inside an array).
      return undefined;
  }
}

/**
 * Reads a stored result. Bigints are revived only where the result has them (turn index, head
 * revision, usage counters), so a tool output or answer that reads like "5n" stays a string.
 */
export function resultFromJson(json: unknown): TurnResult {
  const r = (typeof json === 'string' ? JSON.parse(json) : structuredClone(json)) as Record<string, unknown>;
  const big = (v: unknown) => (typeof v === 'string' ? BigInt(v.endsWith('n') ? v.slice(0, -1) : v) : typeof v === 'number' ? BigInt(v) : 0n);
  const usage = (u: unknown): Usage => {
    const x = (u ?? {}) as Record<string, unknown>;
    return {
      inputTokens: big(x.inputTokens),
      outputTokens: big(x.outputTokens),
      cachedInputTokens: big(x.cachedInputTokens),
      reasoningTokens: big(x.reasoningTokens),
      cacheWriteTokens: big(x.cacheWriteTokens),
    };
  };
  const u = (r.usage ?? {}) as { parent?: unknown; total?: unknown; children?: { source: string; model: string; usage: unknown }[] };
  return {
    ...(r as unknown as TurnResult),
    turnIndex: big(r.turnIndex),
    headRevision: big(r.headRevision),
    usage: { parent: usage(u.parent), total: usage(u.total), children: (u.children ?? []).map((c) => ({ ...c, usage: usage(c.usage) })) },
  };
}
