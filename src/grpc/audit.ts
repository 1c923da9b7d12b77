// The audit hook of the call wrappers: which calls are writes, and what of a call the trail
// keeps — the method, the session, turn and batch ids found in the request or response, the
// outcome, the caller's identity. Nothing else of the request is read: bodies, completion keys
// and metadata (credentials) never reach the record or its log line. Never throws.

import type { AuditRecord } from '../domain/audit/types.js';
import { identitySourceOf, subjectOf } from '../domain/auth/caller.js';
import type { AuditedCall } from './call.js';
import { shorten } from './errors.js';

/** Every mutating RPC of the four services ("service/Method"); reads such as GetReadView and GetAttachment are not here. */
export const AUDITED_METHODS: ReadonlySet<string> = new Set([
  ...['OpenSession', 'CloseSession', 'DeleteSession', 'UpdateSessionConfig'].map((m) => `lash.v1.SessionService/${m}`),
  ...['RunTurn', 'StartTurn', 'CancelTurn', 'CancelRunningTurns', 'ResolveCompletion', 'ServeTools'].map((m) => `lash.v1.TurnService/${m}`),
  ...['EnqueueTurnInput', 'CancelQueuedWorkBatch', 'RunQueuedTurn'].map((m) => `lash.v1.QueueService/${m}`),
  ...[
    'SetToolAvailability',
    'ClearToolAvailabilityOverride',
    'ApplyToolState',
    'RestoreToolState',
    'RefreshToolCatalog',
    'ResetSession',
    'AppendMessages',
    'BranchToNode',
    'CompactContext',
    'CreateChildSession',
    'CloseChildSession',
    'StartProcess',
    'CancelProcess',
    'CancelProcesses',
    'SignalProcess',
    'PutTriggerSubscription',
    'DeleteTriggerSubscription',
    'EmitTrigger',
  ].map((m) => `lash.v1.AdminService/${m}`),
]);

/** Ids are at most 256 bytes; a refused request may carry anything, so what is kept is cut and cleaned. */
const ID_CHARS = 256;

function idAt(source: unknown, ...path: string[]): string | undefined {
  let v: unknown = source;
  for (const key of path) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
  // NUL cannot be stored in a text column; one bad id must not sink the batch it is written with.
  return typeof v === 'string' && v.length > 0 ? shorten(v, ID_CHARS).replaceAll('\u0000', '\ufffd') : undefined;
}

/** The audit record of a finished call, or undefined when the method is not a write. */
export function auditRecordOf(call: AuditedCall): AuditRecord | undefined {
  if (!AUDITED_METHODS.has(call.method)) return undefined;
  const { ctx, request, response } = call;
  return {
    tenantId: ctx.tenantId,
    subject: subjectOf(ctx),
    identitySource: identitySourceOf(ctx),
    method: call.method,
    sessionId: idAt(request, 'sessionId'),
    turnId: idAt(request, 'turnId') ?? idAt(response, 'turnId'),
    batchId: idAt(request, 'batchId') ?? idAt(response, 'batch', 'batchId') ?? idAt(response, 'receipt', 'batchId'),
    code: call.code,
    reason: call.reason,
    requestId: ctx.requestId,
    at: new Date(),
  };
}

/** A write refused before any identity was established: what the guard knows of it. */
export interface RefusedCall {
  method: string;
  request: unknown;
  /** The reserved unauthenticated tenant, or the tenant an issuer-signed credential names. */
  tenantId: string;
  /** The verified subject, else the peer's address (`peer:<ip>`); never a credential. */
  subject: string;
  /** The mechanism the caller tried: none, bearer, jwt, mtls, forwarded. */
  mechanism: string;
  code: string;
  reason: string;
  requestId: string;
}

/** The audit record of a write refused for its credential, or undefined when the method is not a write. */
export function refusalRecordOf(call: RefusedCall): AuditRecord | undefined {
  if (!AUDITED_METHODS.has(call.method)) return undefined;
  const { request } = call;
  return {
    tenantId: call.tenantId,
    subject: shorten(call.subject, ID_CHARS).replaceAll('\u0000', '\ufffd'),
    identitySource: call.mechanism,
    method: call.method,
    sessionId: idAt(request, 'sessionId'),
    turnId: idAt(request, 'turnId'),
    batchId: idAt(request, 'batchId'),
    code: call.code,
    reason: call.reason,
    requestId: call.requestId,
    at: new Date(),
  };
}

/** The hook for CallEnv.audit: records writes, and swallows (and reports) its own failures. */
export function auditHook(record: (r: AuditRecord) => void, onError: (err: unknown) => void): (call: AuditedCall) => void {
  return (call) => {
    try {
      const r = auditRecordOf(call);
      if (r) record(r);
    } catch (err) {
      onError(err);
    }
  };
}
