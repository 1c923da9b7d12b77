// Mapping between the domain's processes / triggers and their lash.v1 messages.

import {
  ProcessKind as PbKind,
  ProcessOrigin as PbOrigin,
  ProcessStatus as PbStatus,
  type Process as PbProcess,
  type ProcessEvent as PbEvent,
  type ProcessTemplate as PbTemplate,
  type TriggerSubscription as PbSubscription,
} from '../../../gen/lash/v1/process.js';
import { invalid } from '../../domain/errors.js';
import type { JsonValue } from '../../domain/messages.js';
import { processSessionId } from '../../domain/processes/executors.js';
import type { Delivery } from '../../domain/processes/triggers.js';
import type { ProcessTemplate, Subscription } from '../../domain/processes/trigger-types.js';
import type { ProcessEvent, ProcessInput, ProcessKind, ProcessRecord, ProcessStatus, StartedBy } from '../../domain/processes/types.js';
import { decodeEnum, encodeTable } from './enums.js';

const KINDS: Record<number, ProcessKind> = {
  [PbKind.PROCESS_KIND_SESSION_TURN]: 'session_turn',
  [PbKind.PROCESS_KIND_EXTERNAL]: 'external',
  [PbKind.PROCESS_KIND_NOTIFY]: 'notify',
  [PbKind.PROCESS_KIND_RLM_PROGRAM]: 'rlm_program',
};
const STATUSES: Record<number, ProcessStatus | undefined> = {
  [PbStatus.PROCESS_STATUS_UNSPECIFIED]: undefined,
  [PbStatus.PROCESS_STATUS_PENDING]: 'pending',
  [PbStatus.PROCESS_STATUS_RUNNING]: 'running',
  [PbStatus.PROCESS_STATUS_COMPLETED]: 'completed',
  [PbStatus.PROCESS_STATUS_FAILED]: 'failed',
  [PbStatus.PROCESS_STATUS_CANCELLED]: 'cancelled',
};
const ORIGINS: Record<number, StartedBy> = {
  [PbOrigin.PROCESS_ORIGIN_HOST]: 'host',
  [PbOrigin.PROCESS_ORIGIN_SESSION]: 'session',
  [PbOrigin.PROCESS_ORIGIN_TRIGGER]: 'trigger',
  [PbOrigin.PROCESS_ORIGIN_SCHEDULE]: 'schedule',
};
const KIND_PB = encodeTable(KINDS);
const STATUS_PB = encodeTable(STATUSES);
const ORIGIN_PB = encodeTable(ORIGINS);

export function kindFromPb(field: string, v: number): ProcessKind {
  if (v === PbKind.PROCESS_KIND_UNSPECIFIED)
    throw invalid(
      'PROCESS_KIND_REQUIRED',
      `${field} is required: PROCESS_KIND_SESSION_TURN, PROCESS_KIND_EXTERNAL, PROCESS_KIND_NOTIFY or PROCESS_KIND_RLM_PROGRAM`,
      { field },
    );
  return decodeEnum(field, v, KINDS, 'ProcessKind');
}

export const statusFromPb = (v: number): ProcessStatus | undefined => decodeEnum('status', v, STATUSES, 'ProcessStatus');

const orEmpty = (s: string | undefined) => s || undefined;

export function inputFromPb(i: { task: string; sessionId: string; awaitSignal: string; payload?: unknown } | undefined): ProcessInput {
  if (!i) return {};
  return {
    task: orEmpty(i.task),
    sessionId: orEmpty(i.sessionId),
    awaitSignal: orEmpty(i.awaitSignal),
    payload: i.payload === undefined ? undefined : (i.payload as JsonValue),
  };
}

export function processToPb(p: ProcessRecord): PbProcess {
  return {
    processId: p.processId,
    kind: KIND_PB.get(p.kind)!,
    status: STATUS_PB.get(p.status)!,
    origin: ORIGIN_PB.get(p.startedBy)!,
    input: { task: p.input.task ?? '', sessionId: p.input.sessionId ?? '', awaitSignal: p.input.awaitSignal ?? '', payload: p.input.payload },
    output: p.output,
    error: p.error ?? '',
    scopeSessionId: p.scopeSessionId ?? '',
    wakeSessionId: p.wakeSessionId ?? '',
    wakeState: p.wakeState,
    runSessionId: p.kind === 'session_turn' ? processSessionId(p) : '',
    attempts: p.attempts,
    lastEventSeq: p.eventSeq,
    createTime: p.createdAt,
    deadline: p.deadlineAt,
    finishTime: p.finishedAt,
    idempotencyKey: p.idempotencyKey ?? '',
    scopeFrameId: p.scopeFrameId ?? '',
  };
}

export const eventToPb = (e: ProcessEvent): PbEvent => ({
  processId: e.processId,
  seq: e.seq,
  kind: e.kind,
  payload: e.payload,
  time: e.createdAt,
  idempotencyKey: e.idempotencyKey,
});

export function templateFromPb(t: PbTemplate | undefined): ProcessTemplate {
  if (!t) throw invalid('TEMPLATE_REQUIRED', 'subscription.template is required: what a matching occurrence starts', { field: 'subscription.template' });
  return {
    kind: kindFromPb('subscription.template.kind', t.kind),
    task: orEmpty(t.task),
    sessionId: orEmpty(t.sessionId),
    wakeSessionId: orEmpty(t.wakeSessionId),
    awaitSignal: orEmpty(t.awaitSignal),
  };
}

export const subscriptionToPb = (s: Subscription): PbSubscription => ({
  subscriptionId: s.subscriptionId,
  sourceType: s.sourceType,
  sourceKey: s.sourceKey,
  intervalMs: BigInt(s.intervalMs ?? 0),
  nextDueTime: s.nextDueAt,
  createTime: s.createdAt,
  cron: s.cron ?? '',
  timeZone: s.timeZone ?? '',
  template: {
    kind: KIND_PB.get(s.template.kind)!,
    task: s.template.task ?? '',
    sessionId: s.template.sessionId ?? '',
    wakeSessionId: s.template.wakeSessionId ?? '',
    awaitSignal: s.template.awaitSignal ?? '',
  },
});

export const deliveryToPb = (d: Delivery) => ({
  subscriptionId: d.subscriptionId,
  process: d.process && processToPb(d.process),
  deduplicated: d.deduplicated,
  errorReason: d.error?.reason ?? '',
  errorMessage: d.error?.message ?? '',
});
