// The rlm turn loop (DOMAIN.md §2, RLM mode): each model response carries one fenced code block
// that runs in the sandbox, where tools are async functions; print output and errors feed the
// next iteration; submit(value) ends the turn (checked against a JSON schema when one is given).

import { Ajv } from 'ajv';
import type { JsonValue, Message, Part } from '../messages.js';
import type { FinalAnswerFormat } from '../session.js';
import { dispatchBatch } from '../tools/dispatch.js';
import type { ToolDefinition } from '../tools/types.js';
import { addUsage, zeroUsage, type Usage } from '../usage.js';
import type { CodeRunner, SandboxLimits } from './code-runner.js';
import { callWithRetries, Cancelled, dispatchEnvOf, modelRequestStarted, paced, TURN_LIMIT_MESSAGE, type LoopEnv, type LoopResult } from './loop.js';
import { ProviderError, type ModelMessage } from './model.js';
import { withTurnScope } from './turn-scope.js';
import type { RlmTurnOptions, ToolCallRecord, TurnIssue, TurnOutcome } from './types.js';

export interface RlmEnv extends LoopEnv {
  runner: CodeRunner;
  limits: SandboxLimits;
  options: RlmTurnOptions;
  globals: Record<string, JsonValue>;
  history: JsonValue;
}

export interface RlmResult extends LoopResult {
  globals: Record<string, JsonValue>;
  hadCodeExecution: boolean;
}

const BLOCK = /```([\w.+-]*)[^\n]*\n([\s\S]*?)```/;
const ajv = new Ajv({ strict: false, allErrors: false });

export const CODE_REMINDER =
  'Your reply must contain one fenced ```js code block. Write code that makes progress, and call submit(value) when you have the answer.';

/** The sandbox section of an rlm system prompt, including the final-answer guidance. */
export function rlmInstructions(tools: ToolDefinition[], format: FinalAnswerFormat, options: RlmTurnOptions): string {
  const toolLines = tools.map((t) => `- async ${t.name}(args): ${t.description} Arguments schema: ${JSON.stringify(t.inputSchema)}`);
  const answer = options.submitSchema
    ? `Call submit(value) with a value that matches this JSON schema: ${JSON.stringify(options.submitSchema)}`
    : format.kind === 'markdown'
      ? 'Final answer: call submit(text) with your answer as a Markdown string written for a person to read.'
      : format.kind === 'custom'
        ? `Final answer: call submit(value). ${format.guidance}`
        : 'Final answer: call submit(value) with the raw value itself (a calling program consumes it as data; no prose).';
  return [
    'You work by writing JavaScript that runs in a sandbox. Every reply must contain exactly one fenced ```js code block; further blocks are ignored.',
    'Inside the code: `await` the tool functions listed below; print(...) shows text to you in the next step; submit(value) ends the turn with that value; submit_error(value) ends it as a failure; `history` holds the conversation so far (read-only).',
    'Top-level `await` works. Keep values for later steps by assigning them to globalThis (JSON-serialisable values survive; functions do not).',
    toolLines.length ? `Tools:\n${toolLines.join('\n')}` : 'No tools are available.',
    options.proseOrSubmit ? 'If you can answer directly without code, reply in prose instead.' : '',
    answer,
  ]
    .filter(Boolean)
    .join('\n\n');
}

/** The rlm loop; it returns only after child turns it started have committed. */
export function runRlmLoop(env: RlmEnv, history: ModelMessage[], userMessage: ModelMessage): Promise<RlmResult> {
  return withTurnScope(env, (scoped) => rlmLoop(scoped, history, userMessage));
}

async function rlmLoop(env: RlmEnv, history: ModelMessage[], userMessage: ModelMessage): Promise<RlmResult> {
  const messages: ModelMessage[] = [...history, userMessage];
  const newMessages: Message[] = [];
  const toolCalls: ToolCallRecord[] = [];
  const issues: TurnIssue[] = [];
  let usage: Usage = zeroUsage();
  let lastUsage: Usage | undefined;
  let rawText = '';
  let globals = env.globals;
  let hadCodeExecution = false;
  const validate = env.options.submitSchema ? ajv.compile(env.options.submitSchema) : undefined;
  const finish = (outcome: TurnOutcome): RlmResult => ({ outcome, rawText, newMessages, toolCalls, usage, lastUsage, issues, globals, hadCodeExecution });
  const modelEnv = { ...env, tools: [] }; // rlm offers no native tool calling

  for (let iteration = 1; ; iteration++) {
    await paced(env); // the feed's back-pressure, before each model call and code block
    if (env.signal.aborted) return finish({ type: 'stopped', reason: 'cancelled' });
    env.emit(modelRequestStarted(env, iteration));
    let text: string;
    try {
      const out = await callWithRetries(modelEnv, messages, iteration, { text: '' });
      text = out.text;
      usage = addUsage(usage, out.usage);
      lastUsage = out.usage;
      env.emit({ kind: 'usage', iteration, usage: out.usage, cumulative: usage });
    } catch (err) {
      if (err instanceof Cancelled || env.signal.aborted) return finish({ type: 'stopped', reason: 'cancelled' });
      const message = err instanceof ProviderError ? err.message : `provider call failed: ${(err as Error).message}`;
      env.emit({ kind: 'error', message });
      issues.push({ kind: 'provider', terminalReason: 'provider_error', message });
      return finish({ type: 'stopped', reason: 'provider_error', message });
    }
    rawText = text;
    const block = BLOCK.exec(text);
    const prose = (block ? text.replace(block[0], '') : text).trim();
    messages.push({ role: 'assistant', parts: [{ type: 'text', text }] });

    if (!block) {
      if (text.trim() === '') {
        const message = 'the model returned an empty response';
        env.emit({ kind: 'error', message });
        issues.push({ kind: 'provider', terminalReason: 'provider_error', message });
        return finish({ type: 'stopped', reason: 'provider_error', message });
      }
      newMessages.push({ id: env.ids.uuid(), role: 'assistant', parts: [{ kind: 'prose', text }] });
      if (env.options.proseOrSubmit) return finish({ type: 'finished', answer: { kind: 'assistant_message', text } });
      newMessages.push({ id: env.ids.uuid(), role: 'event', parts: [{ kind: 'error', message: CODE_REMINDER }] });
      messages.push({ role: 'user', parts: [{ type: 'text', text: CODE_REMINDER }] });
    } else {
      const language = block[1] || 'js';
      const code = block[2]!;
      const corr = `${iteration}:code`;
      env.emit({ kind: 'code_block_started', language, code }, corr);
      hadCodeExecution = true;
      // Tool calls live no longer than the block that made them: when it ends (time limit,
      // error, or without awaiting them) the calls still running, child turns included, are
      // cancelled, and the loop goes on only once they have stopped.
      const blockScope = new AbortController();
      const endBlock = () => blockScope.abort();
      env.signal.addEventListener('abort', endBlock, { once: true });
      const calls = new Set<Promise<unknown>>();
      const run = await env.runner.run({
        code,
        globals,
        history: env.history,
        toolNames: env.tools.map((t) => t.name),
        limits: env.limits,
        signal: env.signal,
        callTool: (name, args) => {
          const callId = env.ids.uuid();
          const call = dispatchBatch([{ callId, toolName: name, argsJson: JSON.stringify(args) }], env.tools, dispatchEnvOf(env, blockScope.signal)).then(
            ([d]) => {
              toolCalls.push(d!.record);
              return { output: d!.record.output, isError: d!.record.isError, callId };
            },
          );
          calls.add(call);
          return call;
        },
      });
      endBlock();
      env.signal.removeEventListener('abort', endBlock);
      await Promise.allSettled(calls);
      globals = run.globals;
      env.emit(
        {
          kind: 'code_block_completed',
          language,
          output: run.output,
          error: run.error,
          success: run.success,
          durationMs: run.durationMs,
          toolCallIds: run.toolCallIds,
        },
        corr,
      );
      // Tool calls made by code live on the code step (events, result), not as message parts.
      const assistantParts: Part[] = [...(prose ? [{ kind: 'prose' as const, text: prose }] : []), { kind: 'code', language, code }];
      newMessages.push({ id: env.ids.uuid(), role: 'assistant', parts: assistantParts });
      const feedback: Part[] = [];
      if (run.output) feedback.push({ kind: 'output', text: run.output });
      if (run.error) feedback.push({ kind: 'error', message: run.error });
      if (run.dropped.length) feedback.push({ kind: 'error', message: `not kept between steps (not JSON-serialisable): ${run.dropped.join(', ')}` });
      if (env.signal.aborted) {
        if (feedback.length) newMessages.push({ id: env.ids.uuid(), role: 'event', parts: feedback });
        return finish({ type: 'stopped', reason: 'cancelled' });
      }
      if (run.submittedError) {
        if (feedback.length) newMessages.push({ id: env.ids.uuid(), role: 'event', parts: feedback });
        return finish({ type: 'stopped', reason: 'submitted_error', value: run.submittedError.value });
      }
      if (run.submitted && run.success) {
        if (!validate || validate(run.submitted.value)) {
          if (feedback.length) newMessages.push({ id: env.ids.uuid(), role: 'event', parts: feedback });
          env.emit({ kind: 'submitted_value', value: run.submitted.value }, corr);
          return finish({ type: 'finished', answer: { kind: 'submitted_value', value: run.submitted.value } });
        }
        const e = validate.errors?.[0];
        feedback.push({
          kind: 'error',
          message: `submit() value does not match the required schema: ${e ? `${e.instancePath || '(root)'} ${e.message}` : 'mismatch'}; fix it and submit again`,
        });
      }
      if (feedback.length === 0) feedback.push({ kind: 'output', text: '(no output)' });
      newMessages.push({ id: env.ids.uuid(), role: 'event', parts: feedback });
      messages.push({
        role: 'user',
        parts: [
          {
            type: 'text',
            text: feedback.map((p) => (p.kind === 'output' ? `Output:\n${p.text}` : p.kind === 'error' ? `Error: ${p.message}` : '')).join('\n'),
          },
        ],
      });
    }
    if (env.maxTurns !== undefined && iteration >= env.maxTurns) {
      newMessages.push({ id: env.ids.uuid(), role: 'system', parts: [{ kind: 'text', text: TURN_LIMIT_MESSAGE }] });
      return finish({ type: 'stopped', reason: 'max_turns', message: `max_turns (${env.maxTurns}) reached` });
    }
  }
}
