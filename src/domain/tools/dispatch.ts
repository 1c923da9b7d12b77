// Dispatch of one batch of model tool calls: parallel tools concurrently, then serial tools in
// order; results come back in the original call order. Unknown tools, bad arguments and tool
// failures become error results the model sees.

import { Ajv, type ValidateFunction } from 'ajv';
import type { Clock, Timer } from '../clock.js';
import { portableJson } from '../json-values.js';
import type { JsonValue } from '../messages.js';
import type { TurnEventKind, ToolCallRecord } from '../turns/types.js';
import type { Span } from '../tracing.js';
import type { TurnScope } from '../turns/turn-scope.js';
import type { ChildUsageReport, CompletionStore, ToolDefinition, ToolOutcome } from './types.js';

export interface ToolCallRequest {
  callId: string;
  toolName: string;
  argsJson: string;
}

export interface DispatchedCall {
  record: ToolCallRecord;
  outcome: ToolOutcome;
}

export interface DispatchEnv {
  tenantId: string;
  sessionId: string;
  turnId: string;
  signal: AbortSignal;
  completions: CompletionStore;
  /** After a cancel, how long a tool may take to notice before its call is abandoned. */
  cancelGraceMs: number;
  /** Times each call and the grace after a cancel. */
  clock: Clock;
  emit(event: TurnEventKind, correlationId: string): void;
  /** Receives child-session usage reported by tools; `callId` is the reporting tool call. */
  reportChildUsage(report: ChildUsageReport, callId: string): void;
  /** The turn's span: each tool call becomes a child. */
  span: Span;
  /** Per-turn state the tools share (held child turns, counters). */
  scope: TurnScope;
}

const ajv = new Ajv({ allErrors: false, strict: false });
const validators = new WeakMap<object, ValidateFunction>();

function validatorFor(tool: ToolDefinition): ValidateFunction {
  let v = validators.get(tool.inputSchema);
  if (!v) {
    v = ajv.compile(tool.inputSchema);
    validators.set(tool.inputSchema, v);
  }
  return v;
}

export async function dispatchBatch(calls: ToolCallRequest[], tools: ToolDefinition[], env: DispatchEnv): Promise<DispatchedCall[]> {
  const byName = new Map(tools.map((t) => [t.name, t]));
  const results = new Array<DispatchedCall>(calls.length);
  const parallel: number[] = [];
  const serial: number[] = [];
  calls.forEach((c, i) => ((byName.get(c.toolName)?.scheduling ?? 'parallel') === 'serial' ? serial : parallel).push(i));
  await Promise.all(parallel.map(async (i) => (results[i] = await runOne(calls[i]!, byName, env))));
  for (const i of serial) results[i] = await runOne(calls[i]!, byName, env);
  return results;
}

async function runOne(call: ToolCallRequest, tools: Map<string, ToolDefinition>, env: DispatchEnv): Promise<DispatchedCall> {
  const started = env.clock.monotonicMs();
  let args: Record<string, JsonValue> = {};
  let outcome: ToolOutcome | undefined;
  try {
    // Spelled like safeArgs in the loop: the tool, the stream and the stored call see one value.
    const parsed: unknown = call.argsJson.trim() === '' ? {} : portableJson(JSON.parse(call.argsJson) as JsonValue);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('arguments must be a JSON object');
    args = parsed as Record<string, JsonValue>;
  } catch (err) {
    outcome = { kind: 'error', message: `invalid arguments for ${call.toolName}: ${(err as Error).message}` };
  }
  env.emit({ kind: 'tool_call_started', callId: call.callId, name: call.toolName, args }, call.callId);
  const span = env.span.child('lash.tool_call', { 'lash.tool.name': call.toolName, 'lash.tool.call_id': call.callId });
  outcome = portableOutcome(outcome ?? (await execute(call, args, tools, env, span.traceparent())));
  const durationMs = Math.round(env.clock.monotonicMs() - started);
  const isError = outcome.kind === 'error' || outcome.kind === 'terminal_error';
  const output: JsonValue =
    outcome.kind === 'ok' ? outcome.output : outcome.kind === 'error' ? { error: outcome.message } : outcome.kind === 'pending' ? null : outcome.value;
  if (isError) span.fail(outcome.kind === 'error' ? outcome.message : 'the tool ended the turn with an error');
  span.set({ 'lash.tool.outcome': outcome.kind });
  span.end();
  env.emit({ kind: 'tool_call_completed', callId: call.callId, name: call.toolName, args, output, isError, durationMs }, call.callId);
  return { record: { callId: call.callId, tool: call.toolName, args, output, isError, durationMs }, outcome };
}

async function execute(
  call: ToolCallRequest,
  args: Record<string, JsonValue>,
  tools: Map<string, ToolDefinition>,
  env: DispatchEnv,
  traceparent: string | undefined,
): Promise<ToolOutcome> {
  const tool = tools.get(call.toolName);
  if (!tool) return { kind: 'error', message: `unknown tool "${call.toolName}"; available tools: ${[...tools.keys()].join(', ') || 'none'}` };
  const validate = validatorFor(tool);
  if (!validate(args)) {
    const first = validate.errors?.[0];
    return {
      kind: 'error',
      message: `invalid arguments for ${tool.name}: ${first ? `${first.instancePath || '(root)'} ${first.message}` : 'schema mismatch'}`,
    };
  }
  if (env.signal.aborted) return { kind: 'error', message: 'cancelled before the tool started' };
  try {
    const outcome = await withCancelGrace(
      tool.execute(args, {
        tenantId: env.tenantId,
        sessionId: env.sessionId,
        turnId: env.turnId,
        callId: call.callId,
        signal: env.signal,
        reportChildUsage: (r) => env.reportChildUsage(r, call.callId),
        traceparent,
        scope: env.scope,
      }),
      env,
      tool.name,
    );
    if (outcome.kind !== 'pending') return outcome;
    await env.completions.register(outcome.completionKey, { tenantId: env.tenantId, sessionId: env.sessionId, turnId: env.turnId, callId: call.callId });
    const resolution = await env.completions.wait(env.tenantId, outcome.completionKey, env.signal);
    switch (resolution.kind) {
      case 'value':
        return { kind: 'ok', output: resolution.value };
      case 'error':
        return { kind: 'error', message: resolution.message };
      case 'timeout':
        return { kind: 'error', message: `${tool.name} timed out waiting for completion ${outcome.completionKey}` };
      case 'cancelled':
        return { kind: 'error', message: `${tool.name} was cancelled (completion ${outcome.completionKey})` };
    }
  } catch (err) {
    if (env.signal.aborted) return { kind: 'error', message: `${tool.name} was cancelled` };
    return { kind: 'error', message: `${tool.name} failed: ${(err as Error).message}` };
  }
}

/** One spelling of non-finite numbers for the stream, the result, the store and the model. */
function portableOutcome(o: ToolOutcome): ToolOutcome {
  if (o.kind === 'ok') {
    const output = portableJson(o.output);
    return output === o.output ? o : { ...o, output };
  }
  if (o.kind === 'terminal_value' || o.kind === 'terminal_error') {
    const value = portableJson(o.value);
    return value === o.value ? o : { ...o, value };
  }
  return o;
}

/** Resolves with the tool's outcome, or with a cancellation error once the grace period after a cancel is over. */
function withCancelGrace(work: Promise<ToolOutcome>, env: DispatchEnv, name: string): Promise<ToolOutcome> {
  return new Promise<ToolOutcome>((resolve, reject) => {
    let timer: Timer | undefined;
    const onAbort = () => {
      timer = env.clock.after(env.cancelGraceMs, () =>
        resolve({ kind: 'error', message: `${name} did not stop within ${env.cancelGraceMs} ms of the cancel; abandoned` }),
      );
    };
    if (env.signal.aborted) onAbort();
    else env.signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => {
      timer?.cancel();
      env.signal.removeEventListener('abort', onAbort);
    });
  });
}
