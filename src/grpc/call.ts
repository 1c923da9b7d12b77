// Adapters from grpc-js handlers to async functions: request ids, tenant context, structured
// logs per call, and the error exit. Handlers stay one line: decode, call the domain, encode.

import { status, type Metadata, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Principal } from '../domain/auth/principal.js';
import type { RequestContext } from '../domain/ports.js';
import { wellFormed } from './decode-guard.js';
import { errorInfoOf, toServiceError } from './errors.js';

const reasonOf = (error: { metadata?: Metadata }) => errorInfoOf(error)?.reason;

export interface RpcContext extends RequestContext {
  principal: Principal;
  requestId: string;
  log: Logger;
  /** Fires when the client cancels or the deadline passes. */
  signal: AbortSignal;
  metadata: Metadata;
}

export const DEFAULT_TENANT = 'default';

export interface CallEnv {
  log: Logger;
  /**
   * The caller admitted for a call (src/auth/guard.ts authenticates before the handler runs and
   * keys the principal by the call's metadata); undefined means the call was never admitted.
   */
  principalOf(metadata: Metadata): Principal | undefined;
  /** Records a finished mutating call in the audit trail (never blocks, never throws). */
  audit?(call: AuditedCall): void;
  /** Records a finished call (`service/Method`, status code name, seconds, the caller's tenant), e.g. for metrics. */
  observe?(method: string, code: string, seconds: number, tenant: string): void;
}

/** The status code name of a finished call, as metrics and logs name it. */
export const codeName = (code: number): string => status[code] ?? String(code);

/** One finished call as the audit hook sees it: the request and response only to pick ids from. */
export interface AuditedCall {
  method: string;
  ctx: RpcContext;
  request: unknown;
  response?: unknown;
  code: string;
  reason?: string;
}

/** The caller's `x-request-id` when it is usable, else a fresh one. */
export function requestIdOf(metadata: Metadata): string {
  const given = metadata.get('x-request-id')[0];
  return typeof given === 'string' && given.length > 0 && given.length <= 128 ? given : randomUUID();
}

export function rpcContext(env: CallEnv, method: string, metadata: Metadata, signal: AbortSignal): RpcContext {
  const requestId = requestIdOf(metadata);
  const principal = env.principalOf(metadata);
  // Fail closed: a handler reached without the guard must not run as anybody.
  if (!principal) throw new Error(`${method} was called without an authenticated principal; register the service through guardService`);
  // The call's logger is made on first use: pino's child() costs tens of µs, paid by every call of
  // a burst, while most calls log nothing at the default level (ADR 0075).
  let log: Logger | undefined;
  return {
    tenantId: principal.tenantId,
    principal,
    requestId,
    get log() {
      return (log ??= env.log.child({ requestId, method, tenant: principal.tenantId }));
    },
    signal,
    metadata,
  };
}

/**
 * The reason every call's signal aborts with, made once: grpc-js reports a stream that closes as
 * cancelled even after its response went out, and a fresh DOMException per call (with its stack)
 * was ~1 % of a turn's server CPU. Nothing reads the reason beyond its being an AbortError.
 */
const CLIENT_GONE = new DOMException('the client cancelled the call, its deadline passed or its stream closed', 'AbortError');

export function callSignal(call: { on(event: 'cancelled', fn: () => void): unknown }): AbortSignal {
  const controller = new AbortController();
  call.on('cancelled', () => controller.abort(CLIENT_GONE));
  return controller.signal;
}

/** Wraps an async unary implementation. `domain` names the gRPC service for ErrorInfo. */
export function unary<Req, Res>(env: CallEnv, domain: string, method: string, fn: (req: Req, ctx: RpcContext) => Promise<Res>) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
    const started = performance.now();
    const ctx = rpcContext(env, `${domain}/${method}`, call.metadata, callSignal(call));
    // A request that failed to decode is refused here, like any other bad input.
    new Promise<Res>((resolve) => resolve(fn(wellFormed(call.request), ctx))).then(
      (response) => {
        // Asked first: reading ctx.log makes the call's child logger, which most calls never need.
        if (env.log.isLevelEnabled('debug')) ctx.log.debug({ code: 'OK', ms: +(performance.now() - started).toFixed(2) }, 'rpc');
        env.observe?.(`${domain}/${method}`, 'OK', (performance.now() - started) / 1000, ctx.tenantId);
        env.audit?.({ method: `${domain}/${method}`, ctx, request: call.request, response, code: 'OK' });
        callback(null, response);
      },
      (err: unknown) => {
        const { error, correlationId } = toServiceError(err, domain);
        if (correlationId) ctx.log.error({ err, correlationId }, 'rpc failed with an internal error');
        else ctx.log.info({ code: error.code, reason: reasonOf(error), message: error.details, ms: +(performance.now() - started).toFixed(2) }, 'rpc rejected');
        env.observe?.(`${domain}/${method}`, codeName(error.code ?? status.UNKNOWN), (performance.now() - started) / 1000, ctx.tenantId);
        env.audit?.({ method: `${domain}/${method}`, ctx, request: call.request, code: codeName(error.code ?? status.UNKNOWN), reason: reasonOf(error) });
        callback(error, null);
      },
    );
  };
}
