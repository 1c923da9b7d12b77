// The model port: one streaming call per iteration. Adapters (src/providers) translate a
// provider library's stream into these parts; the turn loop stays ours.

import type { JsonValue } from '../messages.js';
import type { ModelSpec } from '../policy.js';
import type { Usage } from '../usage.js';

/**
 * What a provider attached to a reasoning block so it can check the block when it is sent back
 * (Anthropic's thinking signature, its redacted thinking data), keyed by provider package. Opaque
 * to us: stored with the block and handed back verbatim; another provider ignores it.
 */
export type ReasoningReplay = Record<string, Record<string, JsonValue>>;

export type ModelUserPart = { type: 'text'; text: string } | { type: 'image'; data: Uint8Array; mimeType: string };
export type ModelAssistantPart =
  | { type: 'text'; text: string }
  | { type: 'reasoning'; text: string; replay?: ReasoningReplay }
  | { type: 'tool_call'; callId: string; toolName: string; args: Record<string, JsonValue> };

export type ModelMessage =
  | { role: 'user'; parts: ModelUserPart[] }
  | { role: 'assistant'; parts: ModelAssistantPart[] }
  | { role: 'tool'; results: { callId: string; toolName: string; output: JsonValue; isError: boolean }[] }
  /** A system note inside the conversation (e.g. the turn-limit message). */
  | { role: 'system'; text: string };

export interface ModelToolSpec {
  name: string;
  description: string;
  inputSchema: Record<string, JsonValue>;
}

export interface ModelRequest {
  model: ModelSpec;
  system: string;
  messages: ModelMessage[];
  tools: ModelToolSpec[];
  signal: AbortSignal;
}

export type FinishReason = 'stop' | 'length' | 'content_filter' | 'tool_calls' | 'error' | 'other';

export type ModelStreamPart =
  | { type: 'text_delta'; text: string }
  | { type: 'reasoning_delta'; text: string }
  /** The reasoning block streamed so far is complete; `replay` is what must go back with it. */
  | { type: 'reasoning_end'; replay?: ReasoningReplay }
  | { type: 'tool_call'; callId: string; toolName: string; argsJson: string }
  | { type: 'finish'; usage: Usage; finishReason: FinishReason };

/** A failed model call. Retryable failures (rate limits, 5xx, timeouts) may be retried. */
export class ProviderError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly statusCode?: number,
    /** How long the provider asked us to wait before retrying (its retry-after), if it said. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}

export interface ModelProvider {
  /** Provider kind, e.g. echo, openai, openai-compatible, anthropic, google. */
  readonly id: string;
  stream(request: ModelRequest): AsyncIterable<ModelStreamPart>;
}

export interface RetryPolicy {
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
}
