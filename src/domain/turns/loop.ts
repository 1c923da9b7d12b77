// The standard-mode turn loop (DOMAIN.md §2): one model call per iteration, deltas and usage as
// events, retries with visible status, tool batches, and the stop reasons. It produces the
// messages to persist; the runner commits them.

import type { Clock, Ids } from '../clock.js';
import type { JsonValue, Message, Part } from '../messages.js';
import { portableJson } from '../json-values.js';
import { groupWithin, MAX_TOOL_RESULTS_MESSAGE_BYTES, partBytes } from '../limits.js';
import type { ModelSpec } from '../policy.js';
import { dispatchBatch, type DispatchEnv, type ToolCallRequest } from '../tools/dispatch.js';
import type { ChildUsageReport, CompletionStore, ToolDefinition } from '../tools/types.js';
import { addUsage, zeroUsage, type Usage } from '../usage.js';
import {
  ProviderError,
  type FinishReason,
  type ModelAssistantPart,
  type ModelMessage,
  type ModelProvider,
  type ReasoningReplay,
  type RetryPolicy,
} from './model.js';
import type { Span } from '../tracing.js';
import { TurnScope, withTurnScope } from './turn-scope.js';
import type { ToolCallRecord, TurnEventKind, TurnIssue, TurnOutcome } from './types.js';

export const TURN_LIMIT_MESSAGE = 'Turn limit reached: the model made the maximum number of calls allowed for one turn.';

export interface LoopEnv {
  tenantId: string;
  sessionId: string;
  turnId: string;
  provider: ModelProvider;
  model: ModelSpec;
  system: string;
  tools: ToolDefinition[];
  maxTurns?: number;
  retry: RetryPolicy;
  signal: AbortSignal;
  completions: CompletionStore;
  cancelGraceMs: number;
  /** Times tool calls and their cancel grace. */
  clock: Clock;
  /** Ids of the messages and tool calls the loop makes. */
  ids: Ids;
  emit(event: TurnEventKind, correlationId?: string): void;
  /**
   * Back-pressure from the feed: a promise to await before the next step while the session's
   * lane is full (the model's stream is then simply not read), undefined otherwise.
   */
  pace?(): Promise<void> | undefined;
  /** Child-session usage reported by a tool call of this turn. */
  reportChildUsage(report: ChildUsageReport, callId: string): void;
  /** The turn's span: model and tool calls become its children. */
  span: Span;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  /** Early injection at a checkpoint: queued user messages to add, if any (transient). */
  absorb?(checkpoint: string): Promise<Message[]>;
  /** Shared by the turn's tool calls; set by the loop itself when not given. */
  scope?: TurnScope;
}

export interface LoopResult {
  outcome: TurnOutcome;
  rawText: string;
  newMessages: Message[];
  toolCalls: ToolCallRecord[];
  usage: Usage;
  lastUsage?: Usage;
  issues: TurnIssue[];
}

/** One reasoning block of a response: its text and what the provider wants back with it. */
export interface ReasoningBlock {
  text: string;
  replay?: ReasoningReplay;
}

export interface IterationOutput {
  text: string;
  /** In order; a block is closed by the provider's reasoning_end (the next delta opens another). */
  reasoning: ReasoningBlock[];
  toolCalls: ToolCallRequest[];
  usage: Usage;
  finishReason: FinishReason;
}

export class Cancelled extends Error {}

/** The standard loop; it returns only after child turns it started have committed. */
export function runStandardLoop(env: LoopEnv, history: ModelMessage[], userMessage: ModelMessage): Promise<LoopResult> {
  return withTurnScope(env, (scoped) => standardLoop(scoped, history, userMessage));
}

async function standardLoop(env: LoopEnv, history: ModelMessage[], userMessage: ModelMessage): Promise<LoopResult> {
  const messages: ModelMessage[] = [...history, userMessage];
  const newMessages: Message[] = [];
  const toolCalls: ToolCallRecord[] = [];
  const issues: TurnIssue[] = [];
  let usage = zeroUsage();
  let lastUsage: Usage | undefined;
  let rawText = '';
  let afterToolResults = false;
  const finish = (outcome: TurnOutcome): LoopResult => ({ outcome, rawText, newMessages, toolCalls, usage, lastUsage, issues });

  for (let iteration = 1; ; iteration++) {
    await paced(env);
    if (env.signal.aborted) return finish({ type: 'stopped', reason: 'cancelled' });
    env.emit(modelRequestStarted(env, iteration));
    let out: IterationOutput;
    const partial = { text: '' };
    try {
      out = await callWithRetries(env, messages, iteration, partial);
    } catch (err) {
      if (err instanceof Cancelled || env.signal.aborted) {
        if (partial.text) newMessages.push(assistantMessage(env.ids, partial.text, [], []));
        rawText = partial.text;
        return finish({ type: 'stopped', reason: 'cancelled' });
      }
      const message = err instanceof ProviderError ? err.message : `provider call failed: ${(err as Error).message}`;
      env.emit({ kind: 'error', message });
      issues.push({
        kind: 'provider',
        code: err instanceof ProviderError && err.statusCode ? String(err.statusCode) : undefined,
        terminalReason: 'provider_error',
        message,
      });
      return finish({ type: 'stopped', reason: 'provider_error', message });
    }
    usage = addUsage(usage, out.usage);
    lastUsage = out.usage;
    env.emit({ kind: 'usage', iteration, usage: out.usage, cumulative: usage });
    rawText = out.text;

    if (out.finishReason === 'length') {
      newMessages.push(assistantMessage(env.ids, out.text, out.reasoning, []));
      issues.push({ kind: 'provider', terminalReason: 'incomplete', message: 'the model hit its output token limit' });
      return finish({ type: 'stopped', reason: 'incomplete', message: 'output token limit reached' });
    }
    if (out.finishReason === 'content_filter') {
      const message = 'the provider filtered the response (content filter)';
      env.emit({ kind: 'error', message });
      issues.push({ kind: 'provider', terminalReason: 'provider_error', message });
      return finish({ type: 'stopped', reason: 'provider_error', message });
    }
    if (out.toolCalls.length === 0) {
      if (out.text !== '' && (await injectQueued(env, `iteration-${iteration}`, messages, newMessages, out))) {
        afterToolResults = false;
        continue;
      }
      if (out.text === '' && !afterToolResults) {
        const message = 'the model returned neither text nor tool calls';
        env.emit({ kind: 'error', message });
        issues.push({ kind: 'provider', terminalReason: 'provider_error', message });
        return finish({ type: 'stopped', reason: 'provider_error', message });
      }
      newMessages.push(assistantMessage(env.ids, out.text, out.reasoning, []));
      return finish({ type: 'finished', answer: { kind: 'assistant_message', text: out.text } });
    }

    // Tool calls: persist the assistant message, run the batch, feed results back.
    const assistant = assistantMessage(env.ids, out.text, out.reasoning, out.toolCalls);
    newMessages.push(assistant);
    messages.push({
      role: 'assistant',
      // Reasoning goes back too: a provider may demand it (Anthropic, with thinking on, refuses a
      // tool round whose assistant message does not start with its signed thinking block).
      parts: assistant.parts.flatMap((p): ModelAssistantPart[] =>
        p.kind === 'text'
          ? [{ type: 'text' as const, text: p.text }]
          : p.kind === 'tool_call'
            ? [{ type: 'tool_call' as const, callId: p.callId, toolName: p.toolName, args: p.args }]
            : p.kind === 'reasoning'
              ? [{ type: 'reasoning' as const, text: p.text, ...(p.replay ? { replay: p.replay } : {}) }]
              : [],
      ),
    });
    await paced(env);
    const dispatched = await dispatchBatch(out.toolCalls, env.tools, dispatchEnvOf(env));
    toolCalls.push(...dispatched.map((d) => d.record));
    const results = dispatched.map((d) => ({ callId: d.record.callId, toolName: d.record.tool, output: d.record.output, isError: d.record.isError }));
    // Large results are split over several event messages, so no stored message outgrows a client's limit.
    for (const parts of groupWithin(
      results.map((r): Part => ({ kind: 'tool_result', ...r })),
      partBytes,
      MAX_TOOL_RESULTS_MESSAGE_BYTES,
    ))
      newMessages.push({ id: env.ids.uuid(), role: 'event', parts });
    messages.push({ role: 'tool', results });
    afterToolResults = true;

    if (env.signal.aborted) return finish({ type: 'stopped', reason: 'cancelled' });
    const terminal = dispatched.find((d) => d.outcome.kind === 'terminal_value' || d.outcome.kind === 'terminal_error');
    if (terminal?.outcome.kind === 'terminal_value') {
      env.emit({ kind: 'tool_value', toolName: terminal.record.tool, value: terminal.outcome.value }, terminal.record.callId);
      return finish({ type: 'finished', answer: { kind: 'tool_value', toolName: terminal.record.tool, value: terminal.outcome.value } });
    }
    if (terminal?.outcome.kind === 'terminal_error') {
      return finish({ type: 'stopped', reason: 'tool_error', toolName: terminal.record.tool, value: terminal.outcome.value as JsonValue });
    }
    await injectQueued(env, `iteration-${iteration}`, messages, newMessages);
    if (env.maxTurns !== undefined && iteration >= env.maxTurns) {
      newMessages.push({ id: env.ids.uuid(), role: 'system', parts: [{ kind: 'text', text: TURN_LIMIT_MESSAGE }] });
      return finish({ type: 'stopped', reason: 'max_turns', message: `max_turns (${env.maxTurns}) reached` });
    }
  }
}

/** Waits while the feed lane is full; a cancel ends the wait (callers then check the signal). */
export async function paced(env: Pick<LoopEnv, 'pace'>): Promise<void> {
  const wait = env.pace?.();
  if (wait) await wait;
}

/** The start of a model call, recording what it is sent with (provider, model, reasoning, caching). */
export function modelRequestStarted(env: LoopEnv, iteration: number): TurnEventKind {
  const { id, reasoningEffort, promptCache } = env.model;
  return { kind: 'model_request_started', iteration, providerId: env.provider.id, modelId: id, reasoningEffort, promptCache: promptCache ?? false };
}

/** What tool dispatch needs of the turn, for either mode's loop. */
export function dispatchEnvOf(env: LoopEnv, signal = env.signal): DispatchEnv {
  const { tenantId, sessionId, turnId, completions, cancelGraceMs, clock, span } = env;
  const scope = env.scope ?? new TurnScope();
  return {
    tenantId,
    sessionId,
    turnId,
    signal,
    completions,
    cancelGraceMs,
    clock,
    span,
    scope,
    emit: (e, c) => env.emit(e, c),
    reportChildUsage: (r, c) => env.reportChildUsage(r, c),
  };
}

/**
 * Checkpoint: absorbs early-delivery queued input. The model sees it as user messages; it is
 * stored as an `event` message (a transient input), not as a user message. With `answered`, the
 * text answer so far is kept in the conversation before the injected input.
 */
async function injectQueued(env: LoopEnv, checkpoint: string, messages: ModelMessage[], newMessages: Message[], answered?: IterationOutput): Promise<boolean> {
  if (!env.absorb) return false;
  const injected = await env.absorb(checkpoint);
  if (injected.length === 0) return false;
  if (answered) {
    const assistant = assistantMessage(env.ids, answered.text, answered.reasoning, []);
    newMessages.push(assistant);
    messages.push({ role: 'assistant', parts: [{ type: 'text', text: answered.text }] });
  }
  for (const m of injected) {
    messages.push({ role: 'user', parts: m.parts.flatMap((p) => (p.kind === 'text' ? [{ type: 'text' as const, text: p.text }] : [])) });
    newMessages.push({ id: m.id, role: 'event', parts: m.parts });
  }
  return true;
}

function assistantMessage(ids: Ids, text: string, reasoning: ReasoningBlock[], calls: ToolCallRequest[]): Message {
  const parts: Part[] = [];
  // A block with replay data is kept even without text (Anthropic's redacted thinking).
  for (const r of reasoning) if (r.text || r.replay) parts.push({ kind: 'reasoning', text: r.text, ...(r.replay ? { replay: r.replay } : {}) });
  if (text) parts.push({ kind: 'text', text });
  for (const c of calls) parts.push({ kind: 'tool_call', callId: c.callId, toolName: c.toolName, args: safeArgs(c.argsJson) });
  return { id: ids.uuid(), role: 'assistant', parts };
}

function safeArgs(json: string): Record<string, JsonValue> {
  try {
    // A model may write a number JSON.parse reads as Infinity (1e999): the portable spelling.
    const v = portableJson(JSON.parse(json || '{}') as JsonValue);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, JsonValue>) : { value: v };
  } catch {
    return { unparsed: json };
  }
}

/** One model call (retries included) as a child span of the turn. */
export async function callWithRetries(env: LoopEnv, messages: ModelMessage[], iteration: number, partial: { text: string }): Promise<IterationOutput> {
  const span = env.span.child('lash.model_call', { 'lash.iteration': iteration, 'gen_ai.system': env.provider.id, 'gen_ai.request.model': env.model.id });
  try {
    const out = await callWithRetriesUntraced(env, messages, iteration, partial);
    span.set({
      'gen_ai.usage.input_tokens': Number(out.usage.inputTokens),
      'gen_ai.usage.output_tokens': Number(out.usage.outputTokens),
      'gen_ai.response.finish_reasons': out.finishReason,
      'lash.tool_calls': out.toolCalls.length,
    });
    return out;
  } catch (err) {
    span.fail(err instanceof Cancelled ? 'cancelled' : (err as Error).message);
    throw err;
  } finally {
    span.end();
  }
}

async function callWithRetriesUntraced(env: LoopEnv, messages: ModelMessage[], iteration: number, partial: { text: string }): Promise<IterationOutput> {
  for (let attempt = 1; ; attempt++) {
    let emittedDelta = false;
    try {
      return await streamOnce(env, messages, iteration, partial, () => (emittedDelta = true));
    } catch (err) {
      if (env.signal.aborted) throw new Cancelled();
      const retryable = err instanceof ProviderError && err.retryable && !emittedDelta;
      if (!retryable || attempt >= env.retry.maxAttempts) {
        if (err instanceof ProviderError && err.retryable && attempt >= env.retry.maxAttempts) {
          throw new ProviderError(`${env.provider.id} failed after ${attempt} attempts: ${err.message}`, false, err.statusCode);
        }
        throw err;
      }
      // The provider's retry-after, when it gave one, wins over our backoff (within the same cap).
      const backoffMs = env.retry.initialBackoffMs * 2 ** (attempt - 1);
      const asked = err instanceof ProviderError ? err.retryAfterMs : undefined;
      const waitMs = Math.min(env.retry.maxBackoffMs, asked ?? backoffMs);
      env.emit({ kind: 'retry_status', waitSeconds: waitMs / 1000, attempt, maxAttempts: env.retry.maxAttempts, reason: (err as Error).message });
      await env.sleep(waitMs, env.signal);
      if (env.signal.aborted) throw new Cancelled();
    }
  }
}

async function streamOnce(env: LoopEnv, messages: ModelMessage[], iteration: number, partial: { text: string }, onDelta: () => void): Promise<IterationOutput> {
  const out: IterationOutput = { text: '', reasoning: [], toolCalls: [], usage: zeroUsage(), finishReason: 'stop' };
  // The block reasoning deltas go to; none until the first delta (or a block ends without text).
  let block: ReasoningBlock | undefined;
  const proseId = `${iteration}:prose`;
  const reasoningId = `${iteration}:reasoning`;
  partial.text = '';
  const tools = env.tools.map((t) => ({ name: t.name, description: t.description, inputSchema: t.inputSchema }));
  await paced(env);
  for await (const part of env.provider.stream({ model: env.model, system: env.system, messages, tools, signal: env.signal })) {
    if (env.signal.aborted) throw new Cancelled();
    switch (part.type) {
      case 'text_delta':
        if (!part.text) break;
        onDelta();
        out.text += part.text;
        partial.text = out.text;
        env.emit({ kind: 'assistant_prose_delta', text: part.text }, proseId);
        break;
      case 'reasoning_delta':
        if (!part.text) break;
        onDelta();
        if (!block) out.reasoning.push((block = { text: '' }));
        block.text += part.text;
        env.emit({ kind: 'reasoning_delta', text: part.text }, reasoningId);
        break;
      case 'reasoning_end':
        if (!block && !part.replay) break;
        if (!block) out.reasoning.push((block = { text: '' }));
        if (part.replay) block.replay = part.replay;
        block = undefined;
        break;
      case 'tool_call':
        out.toolCalls.push({ callId: part.callId || env.ids.uuid(), toolName: part.toolName, argsJson: part.argsJson });
        break;
      case 'finish':
        out.usage = part.usage;
        out.finishReason = part.finishReason;
        break;
    }
    // Before the next part is read: a full feed lane holds the stream here (inline: no promise
    // per part when there is room).
    const wait = env.pace?.();
    if (wait) await wait;
  }
  if (env.signal.aborted) throw new Cancelled();
  return out;
}
