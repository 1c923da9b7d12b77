// Mapping of turn input, events and results between wire and domain.

import {
  AssistantOutputState,
  QueueBoundary,
  StopReason as PbStop,
  type RlmOptions,
  type TurnEvent as PbEvent,
  type TurnInput as PbInput,
  type TurnOverrides as PbOverrides,
  type TurnResult as PbResult,
} from '../../../gen/lash/v1/turn.js';
import { invalid } from '../../domain/errors.js';
import type { JsonValue } from '../../domain/messages.js';
import type { InputItem, RlmTurnOptions, StopReason, TurnEvent, TurnInput, TurnOverrides, TurnResult } from '../../domain/turns/types.js';
import type { CompletionResolution } from '../../domain/tools/types.js';
import type { CompletionResolution as PbResolution } from '../../../gen/lash/v1/turn.js';
import { messageToPb, usageToPb } from './common.js';
import { effortToPb, modelFromPb, promptFromPb } from './session.js';

const STOP_OUT: Record<StopReason, PbStop> = {
  cancelled: PbStop.STOP_REASON_CANCELLED,
  invalid_input: PbStop.STOP_REASON_INVALID_INPUT,
  incomplete: PbStop.STOP_REASON_INCOMPLETE,
  provider_error: PbStop.STOP_REASON_PROVIDER_ERROR,
  max_turns: PbStop.STOP_REASON_MAX_TURNS,
  tool_failure: PbStop.STOP_REASON_TOOL_FAILURE,
  plugin_abort: PbStop.STOP_REASON_PLUGIN_ABORT,
  runtime_error: PbStop.STOP_REASON_RUNTIME_ERROR,
  submitted_error: PbStop.STOP_REASON_SUBMITTED_ERROR,
  tool_error: PbStop.STOP_REASON_TOOL_ERROR,
};
const STATE_OUT = {
  usable: AssistantOutputState.ASSISTANT_OUTPUT_STATE_USABLE,
  empty_output: AssistantOutputState.ASSISTANT_OUTPUT_STATE_EMPTY_OUTPUT,
  traceback_only: AssistantOutputState.ASSISTANT_OUTPUT_STATE_TRACEBACK_ONLY,
  recovered_from_error: AssistantOutputState.ASSISTANT_OUTPUT_STATE_RECOVERED_FROM_ERROR,
};

export function turnInputFromPb(input: PbInput | undefined): TurnInput {
  if (!input) throw invalid('INPUT_MISSING', 'input is required: give at least one text item, e.g. {"items":[{"text":{"text":"hello"}}]}');
  const items = input.items.map((it, i): InputItem => {
    if (it.item?.$case === 'text') return { kind: 'text', text: it.item.value.text };
    if (it.item?.$case === 'imageRef') return { kind: 'image_ref', id: it.item.value.id };
    throw invalid('INPUT_ITEM_EMPTY', `input.items[${i}] must set text or image_ref`, { field: `input.items[${i}]` });
  });
  const imageBlobs = Object.fromEntries(Object.entries(input.imageBlobs).map(([id, b]) => [id, { data: new Uint8Array(b.data), mimeType: b.mimeType }]));
  return { items, imageBlobs, traceTurnId: input.traceTurnId || undefined };
}

export function overridesFromPb(o: PbOverrides | undefined): TurnOverrides {
  if (!o) return {};
  return {
    model: o.model ? modelFromPb(o.model, 'overrides.model') : undefined,
    providerId: o.providerId || undefined,
    prompt: o.prompt ? promptFromPb(o.prompt, 'overrides.prompt') : undefined,
  };
}

export function rlmFromPb(r: RlmOptions | undefined): RlmTurnOptions | undefined {
  return r
    ? { requireSubmit: r.requireSubmit, submitSchema: r.submitSchema as Record<string, JsonValue> | undefined, proseOrSubmit: r.proseOrSubmit }
    : undefined;
}

export function eventToPb(e: TurnEvent): PbEvent {
  const base = { id: e.id, correlationId: e.correlationId, sequence: BigInt(e.sequence), time: e.time };
  const ev = e.event;
  switch (ev.kind) {
    case 'queued_work_started':
      return {
        ...base,
        kind: {
          $case: 'queuedWorkStarted',
          value: { boundary: ev.boundary === 'idle' ? QueueBoundary.QUEUE_BOUNDARY_IDLE : QueueBoundary.QUEUE_BOUNDARY_CHECKPOINT, batchIds: ev.batchIds },
        },
      };
    case 'model_request_started':
      return {
        ...base,
        kind: {
          $case: 'modelRequestStarted',
          value: {
            iteration: ev.iteration,
            providerId: ev.providerId ?? '',
            modelId: ev.modelId ?? '',
            reasoningEffort: effortToPb(ev.reasoningEffort),
            promptCache: ev.promptCache ?? false,
          },
        },
      };
    case 'assistant_prose_delta':
      return { ...base, kind: { $case: 'assistantProseDelta', value: { text: ev.text } } };
    case 'reasoning_delta':
      return { ...base, kind: { $case: 'reasoningDelta', value: { text: ev.text } } };
    case 'code_block_started':
      return { ...base, kind: { $case: 'codeBlockStarted', value: { language: ev.language, code: ev.code } } };
    case 'code_block_completed':
      return {
        ...base,
        kind: {
          $case: 'codeBlockCompleted',
          value: {
            language: ev.language,
            output: ev.output,
            error: ev.error,
            success: ev.success,
            durationMs: BigInt(ev.durationMs),
            toolCallIds: ev.toolCallIds,
          },
        },
      };
    case 'tool_call_started':
      return { ...base, kind: { $case: 'toolCallStarted', value: { callId: ev.callId, name: ev.name, args: ev.args } } };
    case 'tool_call_completed':
      return {
        ...base,
        kind: {
          $case: 'toolCallCompleted',
          value: { callId: ev.callId, name: ev.name, args: ev.args, output: ev.output, isError: ev.isError, durationMs: BigInt(ev.durationMs) },
        },
      };
    case 'submitted_value':
      return { ...base, kind: { $case: 'submittedValue', value: { value: ev.value } } };
    case 'tool_value':
      return { ...base, kind: { $case: 'toolValue', value: { toolName: ev.toolName, value: ev.value } } };
    case 'usage':
      return { ...base, kind: { $case: 'usage', value: { iteration: ev.iteration, usage: usageToPb(ev.usage), cumulative: usageToPb(ev.cumulative) } } };
    case 'child_usage':
      return {
        ...base,
        kind: {
          $case: 'childUsage',
          value: { sessionId: ev.sessionId, source: ev.source, model: ev.model, usage: usageToPb(ev.usage), cumulative: usageToPb(ev.cumulative) },
        },
      };
    case 'retry_status':
      return {
        ...base,
        kind: { $case: 'retryStatus', value: { waitSeconds: ev.waitSeconds, attempt: ev.attempt, maxAttempts: ev.maxAttempts, reason: ev.reason } },
      };
    case 'queued_input_accepted':
      return {
        ...base,
        kind: {
          $case: 'queuedInputAccepted',
          value: { checkpoint: ev.checkpoint, inputs: ev.inputs.map((i) => ({ id: i.id, message: messageToPb(i.message) })) },
        },
      };
    case 'error':
      return { ...base, kind: { $case: 'error', value: { message: ev.message } } };
  }
}

export function resultToPb(r: TurnResult): PbResult {
  const o = r.outcome;
  const outcome: PbResult['outcome'] =
    o.type === 'finished'
      ? {
          $case: 'finished',
          value: {
            answer:
              o.answer.kind === 'assistant_message'
                ? { $case: 'assistantMessage', value: { text: o.answer.text } }
                : o.answer.kind === 'submitted_value'
                  ? { $case: 'submittedValue', value: { value: o.answer.value } }
                  : { $case: 'toolValue', value: { toolName: o.answer.toolName, value: o.answer.value } },
          },
        }
      : o.type === 'stopped'
        ? { $case: 'stopped', value: { reason: STOP_OUT[o.reason], value: o.value, toolName: o.toolName ?? '', message: o.message ?? '' } }
        : { $case: 'agentFrameSwitch', value: { frameId: o.frameId, task: o.task } };
  return {
    sessionId: r.sessionId,
    turnId: r.turnId,
    turnIndex: r.turnIndex,
    outcome,
    assistantOutput: { safeText: r.assistantOutput.safeText, rawText: r.assistantOutput.rawText, state: STATE_OUT[r.assistantOutput.state] },
    usage: {
      parent: usageToPb(r.usage.parent),
      children: r.usage.children.map((c) => ({ source: c.source, model: c.model, usage: usageToPb(c.usage) })),
      total: usageToPb(r.usage.total),
    },
    toolCalls: r.toolCalls.map((c) => ({
      callId: c.callId,
      tool: c.tool,
      args: c.args,
      output: c.output,
      isError: c.isError,
      durationMs: BigInt(c.durationMs),
    })),
    hadToolCalls: r.hadToolCalls,
    hadCodeExecution: r.hadCodeExecution,
    issues: r.issues.map((i) => ({
      kind: i.kind,
      code: i.code,
      terminalReason: i.terminalReason ? STOP_OUT[i.terminalReason] : undefined,
      message: i.message,
    })),
    headRevision: r.headRevision,
  };
}

/** The resolution as sent; undefined when it sets no outcome (the domain refuses that). */
export function resolutionFromPb(r: PbResolution | undefined): CompletionResolution | undefined {
  switch (r?.outcome?.$case) {
    case 'value':
      return { kind: 'value', value: (r.outcome.value ?? null) as JsonValue };
    case 'error':
      return { kind: 'error', message: r.outcome.value.message, details: r.outcome.value.details as JsonValue | undefined };
    case 'timeout':
      return { kind: 'timeout' };
    case 'cancelled':
      return { kind: 'cancelled' };
    default:
      return undefined;
  }
}

export function resolutionToPb(r: CompletionResolution): PbResolution {
  switch (r.kind) {
    case 'value':
      return { outcome: { $case: 'value', value: r.value } };
    case 'error':
      return { outcome: { $case: 'error', value: { message: r.message, details: r.details } } };
    case 'timeout':
      return { outcome: { $case: 'timeout', value: {} } };
    case 'cancelled':
      return { outcome: { $case: 'cancelled', value: {} } };
  }
}
