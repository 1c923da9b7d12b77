// The one exit for failures: DomainError → gRPC status + google.rpc.ErrorInfo detail; the store
// adapter's typed failures → UNAVAILABLE (outage) or ABORTED (conflict), both retryable; anything
// else → INTERNAL with a correlation id that is logged, never the internals themselves. No driver
// knowledge here: src/store/typed-errors.ts decides what an outage or a conflict is.

import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import { Any } from '../../gen/google/protobuf/any.js';
import { ErrorInfo } from '../../gen/google/rpc/error_details.js';
import { Status } from '../../gen/google/rpc/status.js';
import { ERROR_REASONS, type ErrorReason } from '../domain/error-reasons.js';
import { DomainError, type ErrorClass } from '../domain/errors.js';
import { StoreConflict, StoreUnavailable } from '../domain/store-errors.js';

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
  INTERNAL: status.INTERNAL,
};

export interface MappedError {
  error: Partial<ServiceError>;
  /** Set for INTERNAL errors: the id under which the cause was logged. */
  correlationId?: string;
}

/** How much of a client's value an error quotes: enough to recognise it, never the whole value. */
export const QUOTE_CHARS = 64;
/** Ids are at most 256 bytes: metadata longer than that quotes a bad value, so it is cut too. */
const METADATA_CHARS = 256;
const MESSAGE_CHARS = 512;

/** The first `max` characters of `value` and "…" when it is longer (never splitting a surrogate pair). */
export function shorten(value: string, max: number): string {
  if (value.length <= max) return value;
  const cut = /[\ud800-\udbff]/.test(value[max - 1]!) ? max - 1 : max;
  return `${value.slice(0, cut)}…`;
}

/**
 * Bounds what an error echoes of the request: every "quoted" value in the message to a short
 * prefix, the message itself, and each metadata value. A long bad value would otherwise be sent
 * three times (grpc-message, the Status copy, ErrorInfo) and overflow the client's header limit.
 */
function bounded(message: string, metadata: Record<string, string>): { message: string; metadata: Record<string, string> } {
  const quoted = message.replace(/"([^"]*)"/g, (whole, inner: string) => (inner.length > QUOTE_CHARS ? `"${shorten(inner, QUOTE_CHARS)}"` : whole));
  return {
    message: shorten(quoted, MESSAGE_CHARS),
    metadata: Object.fromEntries(Object.entries(metadata).map(([k, v]) => [shorten(k, QUOTE_CHARS), shorten(v, METADATA_CHARS)])),
  };
}

export function toServiceError(err: unknown, domain: string): MappedError {
  if (err instanceof DomainError) {
    const { message, metadata } = bounded(err.message, err.metadata);
    return { error: build(CODES[err.errorClass], message, err.reason, domain, metadata, err.retryable) };
  }
  if (err instanceof StoreUnavailable) {
    return { error: build(status.UNAVAILABLE, 'the session store is unreachable right now; retry with backoff', 'STORE_UNAVAILABLE', domain, {}) };
  }
  if (err instanceof StoreConflict) {
    return { error: build(status.ABORTED, 'a concurrent change to the same data won; nothing was written, retry the request', 'STORE_CONFLICT', domain, {}) };
  }
  const correlationId = randomUUID();
  return {
    error: build(status.INTERNAL, `internal error (correlation id ${correlationId}); the server logged the cause`, 'INTERNAL', domain, {
      correlation_id: correlationId,
    }),
    correlationId,
  };
}

/**
 * A status with its ErrorInfo. Every ErrorInfo says whether the client may retry (metadata
 * `retryable`: "true" or "false", from the reason's catalogue entry unless the error says otherwise).
 */
export function build(
  code: status,
  message: string,
  reason: ErrorReason,
  domain: string,
  metadata: Record<string, string>,
  retryable = ERROR_REASONS[reason].retryable,
): Partial<ServiceError> {
  const info = ErrorInfo.encode({ reason, domain, metadata: { ...metadata, retryable: String(retryable) } }).finish();
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
