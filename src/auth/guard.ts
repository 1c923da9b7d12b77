// Puts authentication and the role check in front of every method of a service, where services
// are registered: the handler runs only after the caller is known and holds the role the method
// needs (roles.ts). The principal is handed to the handler's request context through the call's
// metadata object (principalOf), so handlers and their wrappers stay as they were.

import type { Metadata, sendUnaryData, ServiceDefinition, ServiceError, UntypedHandleCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import type { Principal } from '../domain/auth/principal.js';
import { DomainError } from '../domain/errors.js';
import { codeName } from '../grpc/call.js';
import { errorInfoOf, toServiceError } from '../grpc/errors.js';
import { ANONYMOUS, type Authenticator } from './authenticator.js';
import { roleRequired, UNAUTHENTICATED_TENANT } from './failures.js';
import type { UnauthenticatedCall } from './refusal-audit.js';
import { METHOD_ROLES, satisfies, type Requirement } from './roles.js';

const principals = new WeakMap<Metadata, Principal>();

/** The principal admitted for a call (by its metadata object); undefined if it was not guarded. */
export const principalOf = (metadata: Metadata): Principal | undefined => principals.get(metadata);

interface GuardedCall {
  metadata: Metadata;
  readonly cancelled?: boolean;
  getPeer(): string;
  getAuthContext?(): { sslPeerCertificate?: PeerCertificate };
  emit(event: 'error', err: unknown): boolean;
}

export interface GuardEnv {
  authenticator: Authenticator;
  log: { info(o: object, m: string): void; error(o: object, m: string): void };
  /** A finished refusal (`service/Method`, code name, seconds, the caller's tenant), e.g. for metrics. */
  observe?(method: string, code: string, seconds: number, tenant: string): void;
  /**
   * A write refused for a missing role, for the audit trail: the caller is known (tenant and
   * subject), so the attempt is recorded like any other outcome.
   */
  refused?(call: { method: string; principal: Principal; metadata: Metadata; request: unknown; code: string; reason?: string }): void;
  /** A call refused for a missing or bad credential (UNAUTHENTICATED), for the audit trail (refusal-audit.ts). */
  unauthenticated?(call: UnauthenticatedCall): void;
  /** Paces the start of heavy calls over turns of the event loop (ADR 0075); unary reads go at once. */
  pacer?: { start(go: () => void, cancelled: () => boolean): void };
}

/** Unary methods paced like streams: each starts a turn. */
const PACED_UNARY = new Set(['/lash.v1.TurnService/StartTurn']);

/**
 * A copy of `impl` whose methods first authenticate and check the role. `open`: the service is
 * callable without credentials (health, reflection). lash.v1 methods must be in the role table.
 */
export function guardService(env: GuardEnv, definition: ServiceDefinition, impl: UntypedServiceImplementation, open = false): UntypedServiceImplementation {
  if (open) return impl;
  const guarded: UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(definition)) {
    const handler = impl[name];
    if (!handler) continue;
    const path = method.path;
    const needed: Requirement | undefined = METHOD_ROLES[path] ?? (path.startsWith('/lash.') ? undefined : 'authenticated');
    if (!needed) throw new Error(`${path} has no entry in the role table (src/auth/roles.ts)`);
    const service = path.slice(1, path.lastIndexOf('/'));
    const methodName = path.slice(path.lastIndexOf('/') + 1);
    const streaming = method.requestStream || method.responseStream;
    const pacer = streaming || PACED_UNARY.has(path) ? env.pacer : undefined;
    const admit = (call: GuardedCall) =>
      env.authenticator.authenticate({ metadata: call.metadata, peer: call.getPeer(), certificate: call.getAuthContext?.().sslPeerCertificate });
    const authorised = (call: GuardedCall, principal: Principal) => {
      if (!satisfies(principal.roles, needed)) {
        const err = roleRequired(needed, methodName);
        env.refused?.({
          method: `${service}/${methodName}`,
          principal,
          metadata: call.metadata,
          request: (call as { request?: unknown }).request,
          code: codeName(toServiceError(err, service).error.code!),
          reason: err.reason,
        });
        throw err;
      }
      principals.set(call.metadata, principal);
    };
    /** `principal`: set when the caller was known and refused for its role. */
    const refuse = (call: GuardedCall, err: unknown, started: number, principal?: Principal): Partial<ServiceError> => {
      const { error, correlationId } = toServiceError(err, service);
      const code = codeName(error.code!);
      if (correlationId) env.log.error({ err, correlationId, method: `${service}/${methodName}` }, 'authentication failed with an internal error');
      else if (err instanceof DomainError)
        env.log.info(
          { method: `${service}/${methodName}`, code, reason: errorInfoOf(error)?.reason, peer: call.getPeer() },
          principal ? 'rpc refused: role' : 'rpc refused: authentication',
        );
      if (!principal && err instanceof DomainError && err.errorClass === 'UNAUTHENTICATED') {
        env.unauthenticated?.({
          method: `${service}/${methodName}`,
          err,
          code,
          peer: call.getPeer(),
          metadata: call.metadata,
          request: (call as { request?: unknown }).request,
        });
      }
      env.observe?.(`${service}/${methodName}`, code, (performance.now() - started) / 1000, principal?.tenantId ?? UNAUTHENTICATED_TENANT);
      return error;
    };
    const run = (call: GuardedCall, handle: () => void, fail: (error: Partial<ServiceError>) => void) => {
      const started = performance.now();
      const go = pacer ? () => pacer.start(handle, () => call.cancelled === true) : handle;
      // Anonymous mode decides at once: no promise, no extra turn of the event loop.
      if (env.authenticator.anonymous) {
        authorised(call, ANONYMOUS);
        return go();
      }
      // A client that gave up while it was being authenticated has no handler run for it (its
      // 'cancelled' event fired before the handler could listen for it).
      let known: Principal | undefined;
      admit(call)
        .then((p) => authorised(call, (known = p)))
        .then(
          () => (call.cancelled ? undefined : go()),
          (err: unknown) => fail(refuse(call, err, started, known)),
        );
    };
    guarded[name] = (
      streaming
        ? (call: GuardedCall) =>
            run(
              call,
              () => (handler as (c: unknown) => void)(call),
              (error) => call.emit('error', error),
            )
        : (call: GuardedCall, callback: sendUnaryData<unknown>) =>
            run(
              call,
              () => (handler as (c: unknown, cb: unknown) => void)(call, callback),
              (error) => callback(error as ServiceError, null),
            )
    ) as UntypedHandleCall;
  }
  return guarded;
}
