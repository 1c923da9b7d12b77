// The one exit for failures: DomainError → gRPC status + google.rpc.ErrorInfo detail; store
// outages → UNAVAILABLE (retryable); anything else → INTERNAL with a correlation id that is
// logged, never the internals themselves.

import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import { Any } from '../../gen/google/protobuf/any.js';
import { ErrorInfo } from '../../gen/google/rpc/error_details.js';
import { Status } from '../../gen/google/rpc/status.js';
import { DomainError, type ErrorClass } from '../domain/errors.js';

const CODES: Record<ErrorClass, status> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  NOT_FOUND: status.NOT_FOUND,
  ALREADY_EXISTS: status.ALREADY_EXISTS,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  ABORTED: status.ABORTED,
  RESOURCE_EXHAUSTED: status.RESOURCE_EXHAUSTED,
  UNAUTHENTICATED: status.UNAUTHENTICATED,
  PERMISSION_DENIED: status.PERMISSION_DENIED,
  DEADLINE_EXCEEDED: status.DEADLINE_EXCEEDED,
  CANCELLED: status.CANCELLED,
  UNAVAILABLE: status.UNAVAILABLE,
  UNIMPLEMENTED: status.UNIMPLEMENTED,
};

const STORE_DOWN_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08006', '53300']);

export function isStoreUnavailable(err: unknown): boolean {
  const e = err as { code?: string; name?: string; cause?: unknown; message?: string };
  if (!e) return false;
  if (e.code && STORE_DOWN_CODES.has(e.code)) return true;
  if (e.name === 'ConnectionException') return true;
  if (typeof e.message === 'string' && /Connection terminated|connect ECONNREFUSED|PGlite is closed|timeout exceeded when trying to connect/i.test(e.message)) return true;
  return e.cause !== undefined && e.cause !== err && isStoreUnavailable(e.cause);
}

export interface MappedError {
  error: Partial<ServiceError>;
  /** Set for INTERNAL errors: the id under which the cause was logged. */
  correlationId?: string;
}

export function toServiceError(err: unknown, domain: string): MappedError {
  if (err instanceof DomainError) return { error: build(CODES[err.errorClass], err.message, err.reason, domain, err.metadata) };
  if (isStoreUnavailable(err)) {
    return { error: build(status.UNAVAILABLE, 'the session store is unreachable right now; retry with backoff', 'STORE_UNAVAILABLE', domain, {}) };
  }
  const correlationId = randomUUID();
  return {
    error: build(status.INTERNAL, `internal error (correlation id ${correlationId}); the server logged the cause`, 'INTERNAL', domain, { correlation_id: correlationId }),
    correlationId,
  };
}

export function build(code: status, message: string, reason: string, domain: string, metadata: Record<string, string>): Partial<ServiceError> {
  const info = ErrorInfo.encode({ reason, domain, metadata }).finish();
  const detail = Status.encode({
    code,
    message,
    details: [Any.fromPartial({ typeUrl: 'type.googleapis.com/google.rpc.ErrorInfo', value: Buffer.from(info) })],
  }).finish();
  const md = new Metadata();
  md.set('grpc-status-details-bin', Buffer.from(detail));
  return { code, details: message, metadata: md };
}

/** Decodes the ErrorInfo of a status (used by clients, the CLI and tests). */
export function errorInfoOf(err: { metadata?: Metadata }): ErrorInfo | undefined {
  const raw = err.metadata?.get('grpc-status-details-bin')[0];
  if (!raw || typeof raw === 'string') return undefined;
  const decoded = Status.decode(raw);
  const any = decoded.details.find((d) => d.typeUrl.endsWith('google.rpc.ErrorInfo'));
  return any ? ErrorInfo.decode(any.value) : undefined;
}
