// Domain errors: every expected failure carries a status class, a stable UPPER_SNAKE reason and
// the ids involved, so the transport can map it to a precise gRPC status without guessing.

export type ErrorClass =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION'
  | 'ABORTED'
  | 'RESOURCE_EXHAUSTED'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'DEADLINE_EXCEEDED'
  | 'CANCELLED'
  | 'UNAVAILABLE'
  | 'UNIMPLEMENTED';

export class DomainError extends Error {
  constructor(
    readonly errorClass: ErrorClass,
    readonly reason: string,
    message: string,
    readonly metadata: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const invalid = (reason: string, message: string, metadata: Record<string, string> = {}) =>
  new DomainError('INVALID_ARGUMENT', reason, message, metadata);

export const notFound = (reason: string, message: string, metadata: Record<string, string> = {}) =>
  new DomainError('NOT_FOUND', reason, message, metadata);

export const precondition = (reason: string, message: string, metadata: Record<string, string> = {}) =>
  new DomainError('FAILED_PRECONDITION', reason, message, metadata);

export const sessionNotFound = (sessionId: string) =>
  notFound('SESSION_NOT_FOUND', `session "${sessionId}" does not exist; open it with OpenSession first`, {
    session_id: sessionId,
  });

export const revisionConflict = (sessionId: string, expected: bigint) =>
  new DomainError(
    'ABORTED',
    'REVISION_CONFLICT',
    `session "${sessionId}" changed concurrently (expected head revision ${expected}); retry the request`,
    { session_id: sessionId, expected_revision: String(expected) },
  );
