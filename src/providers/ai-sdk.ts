// Adapter from the AI SDK provider packages (LanguageModelV4 streaming) to our model port.
// The provider libraries handle the wire protocols; we translate prompts, parts and errors,
// bound each call by the request timeout, and redact secrets out of every error we pass on.

import { APICallError, type LanguageModelV4, type LanguageModelV4Prompt, type LanguageModelV4StreamPart, type LanguageModelV4Usage } from '@ai-sdk/provider';
import type { JsonValue } from '../domain/messages.js';
import {
  ProviderError,
  type FinishReason,
  type ModelMessage,
  type ModelProvider,
  type ModelRequest,
  type ModelStreamPart,
  type ReasoningReplay,
} from '../domain/turns/model.js';
import type { Usage } from '../domain/usage.js';
import { redact } from './redact.js';
import { providerRetryAfterMs } from './retry-after.js';
import { LoneSurrogateError, SurrogateJoiner } from './surrogates.js';

export interface AiSdkOptions {
  /** Configured keys and header values, removed verbatim from error text. */
  secrets: string[];
  /** One call, stream included, is aborted after this long (a retryable failure). */
  timeoutMs: number;
  /** The provider takes explicit prompt-cache breakpoints (Anthropic cache_control). */
  cacheBreakpoints?: boolean;
}

export class AiSdkProvider implements ModelProvider {
  constructor(
    readonly id: string,
    private readonly modelFor: (modelId: string) => LanguageModelV4,
    private readonly options: AiSdkOptions,
  ) {}

  async *stream(request: ModelRequest): AsyncIterable<ModelStreamPart> {
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    const fail = (err: unknown) =>
      timeout.aborted && !request.signal.aborted
        ? new ProviderError(`${this.id} call timed out after ${this.options.timeoutMs} ms`, true)
        : toProviderError(this.id, err, this.options.secrets);
    const model = this.modelFor(request.model.id);
    const cache = Boolean(request.model.promptCache && this.options.cacheBreakpoints);
    let stream: ReadableStream<LanguageModelV4StreamPart>;
    try {
      ({ stream } = await model.doStream({
        prompt: toPrompt(request, cache),
        tools: request.tools.length
          ? request.tools.map((t) => ({ type: 'function' as const, name: t.name, description: t.description, inputSchema: t.inputSchema as never }))
          : undefined,
        maxOutputTokens: request.model.maxOutputTokens,
        reasoning: request.model.reasoningEffort,
        abortSignal: AbortSignal.any([request.signal, timeout]),
      }));
    } catch (err) {
      throw fail(err);
    }
    const reader = stream.getReader();
    // Text and reasoning are separate character streams: each keeps its own pending half.
    const text = new SurrogateJoiner();
    const reasoning = new SurrogateJoiner();
    // Provider metadata of the open reasoning block (a signature arrives as its last delta).
    let replay: ReasoningReplay | undefined;
    try {
      for (;;) {
        let next: ReadableStreamReadResult<LanguageModelV4StreamPart>;
        try {
          next = await reader.read();
        } catch (err) {
          throw fail(err);
        }
        if (next.done) {
          text.end();
          reasoning.end();
          return;
        }
        const part = next.value;
        switch (part.type) {
          case 'text-delta': {
            const whole = text.push(part.delta);
            if (whole) yield { type: 'text_delta', text: whole };
            break;
          }
          case 'reasoning-start':
            replay = mergeReplay(undefined, part.providerMetadata);
            break;
          case 'reasoning-delta': {
            replay = mergeReplay(replay, part.providerMetadata);
            const whole = reasoning.push(part.delta);
            if (whole) yield { type: 'reasoning_delta', text: whole };
            break;
          }
          case 'reasoning-end': {
            // A block ends whole: a half character still held is the provider's error.
            reasoning.end();
            replay = mergeReplay(replay, part.providerMetadata);
            yield replay ? { type: 'reasoning_end', replay } : { type: 'reasoning_end' };
            replay = undefined;
            break;
          }
          case 'tool-call':
            yield { type: 'tool_call', callId: part.toolCallId, toolName: part.toolName, argsJson: part.input };
            break;
          case 'finish':
            text.end();
            reasoning.end();
            yield { type: 'finish', usage: toUsage(part.usage), finishReason: toFinishReason(part.finishReason.unified) };
            break;
          case 'error':
            throw fail(part.error);
          default:
            break;
        }
      }
    } catch (err) {
      throw fail(err);
    } finally {
      reader.releaseLock();
    }
  }
}

/** Anthropic's ephemeral cache breakpoint, as the SDK takes it. */
const BREAKPOINT = { anthropic: { cacheControl: { type: 'ephemeral' } } };

/**
 * With `cache`, two breakpoints mark the stable prefix: the system prompt (tools come before it,
 * so they are cached with it) and the last message before the newest one (the conversation so
 * far, unchanged since the previous call).
 */
function toPrompt(request: ModelRequest, cache: boolean): LanguageModelV4Prompt {
  const prompt: LanguageModelV4Prompt = [];
  if (request.system) prompt.push({ role: 'system', content: request.system, ...(cache ? { providerOptions: BREAKPOINT } : {}) });
  request.messages.forEach((m, i) => {
    const message = toMessage(m);
    prompt.push(cache && i === request.messages.length - 2 ? { ...message, providerOptions: BREAKPOINT } : message);
  });
  return prompt;
}

function toMessage(m: ModelMessage): LanguageModelV4Prompt[number] {
  switch (m.role) {
    case 'system':
      return { role: 'system', content: m.text };
    case 'user':
      return {
        role: 'user',
        content: m.parts.map((p) =>
          p.type === 'text'
            ? { type: 'text' as const, text: p.text }
            : { type: 'file' as const, data: { type: 'data' as const, data: p.data }, mediaType: p.mimeType },
        ) as never,
      };
    case 'assistant':
      return {
        role: 'assistant',
        content: m.parts.map((p) =>
          p.type === 'text'
            ? { type: 'text' as const, text: p.text }
            : p.type === 'reasoning'
              ? { type: 'reasoning' as const, text: p.text, ...(p.replay ? { providerOptions: p.replay } : {}) }
              : { type: 'tool-call' as const, toolCallId: p.callId, toolName: p.toolName, input: p.args },
        ) as never,
      };
    case 'tool':
      return {
        role: 'tool',
        content: m.results.map((r) => ({
          type: 'tool-result' as const,
          toolCallId: r.callId,
          toolName: r.toolName,
          output: r.isError ? { type: 'error-json' as const, value: r.output as never } : { type: 'json' as const, value: r.output as never },
        })) as never,
      };
  }
}

/** Adds a part's provider metadata to the block's (later keys win: a signature comes last). */
function mergeReplay(into: ReasoningReplay | undefined, metadata: Record<string, Record<string, unknown>> | undefined): ReasoningReplay | undefined {
  if (!metadata) return into;
  const out: ReasoningReplay = { ...into };
  for (const [provider, values] of Object.entries(metadata)) out[provider] = { ...out[provider], ...(values as Record<string, JsonValue>) };
  return Object.keys(out).length ? out : undefined;
}

function toUsage(u: LanguageModelV4Usage): Usage {
  const n = (v: number | undefined) => BigInt(v ?? 0);
  return {
    inputTokens: n(u.inputTokens.total),
    outputTokens: n(u.outputTokens.total),
    cachedInputTokens: n(u.inputTokens.cacheRead),
    reasoningTokens: n(u.outputTokens.reasoning),
    cacheWriteTokens: n(u.inputTokens.cacheWrite),
  };
}

function toFinishReason(r: string): FinishReason {
  switch (r) {
    case 'stop':
      return 'stop';
    case 'length':
      return 'length';
    case 'content-filter':
      return 'content_filter';
    case 'tool-calls':
      return 'tool_calls';
    case 'error':
      return 'error';
    default:
      return 'other';
  }
}

/** Our error for any failure of a call; its text is redacted here, the one place errors enter. */
function toProviderError(providerId: string, err: unknown, secrets: string[]): ProviderError {
  if (err instanceof ProviderError) return err;
  // Broken text from the provider: a retry may well stream it whole.
  if (err instanceof LoneSurrogateError) return new ProviderError(`${providerId} stream: ${err.message}`, true);
  if (APICallError.isInstance(err)) {
    const detail = providerMessage(err.responseBody) ?? err.message;
    return new ProviderError(
      redact(`${providerId} returned ${err.statusCode ?? 'an error'}: ${detail}`, secrets),
      err.isRetryable,
      err.statusCode,
      providerRetryAfterMs(err.responseHeaders, err.responseBody),
    );
  }
  const e = err as { name?: string; message?: string; cause?: { code?: string } };
  // Network-level failures (connection refused/reset, timeouts) are worth a retry.
  const network = e?.name === 'TypeError' || ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'UND_ERR_SOCKET'].includes(e?.cause?.code ?? '');
  return new ProviderError(redact(`${providerId} call failed: ${e?.message ?? String(err)}`, secrets), network);
}

function providerMessage(body: string | undefined): string | undefined {
  if (!body) return undefined;
  try {
    const parsed = JSON.parse(body) as { error?: { message?: JsonValue } | string; message?: string };
    if (typeof parsed.error === 'string') return parsed.error;
    if (parsed.error && typeof parsed.error.message === 'string') return parsed.error.message;
    return parsed.message;
  } catch {
    return body.slice(0, 300);
  }
}
