// Domain errors: every expected failure carries a reason from the closed catalogue
// (error-reasons.ts), which fixes its status class and whether a client may retry it, plus a
// message saying what to change and the ids involved, so the transport maps it without guessing.

import { ERROR_REASONS, type ErrorClass, type ErrorReason, type ReasonOf } from './error-reasons.js';

export type { ErrorClass, ErrorReason } from './error-reasons.js';

export class DomainError extends Error {
  readonly errorClass: ErrorClass;
  /** Whether the same call may succeed later (from the catalogue; false for a permanent occurrence). */
  readonly retryable: boolean;

  /**
   * `permanent` marks an occurrence whose cause will not go away (a reason that may be either,
   * such as a provider error): it is never retryable and takes the reason's permanent class.
   */
  constructor(
    readonly reason: ErrorReason,
    message: string,
    readonly metadata: Record<string, string> = {},
    permanent = false,
  ) {
    super(message);
    this.name = 'DomainError';
    const spec: { code: ErrorClass; retryable: boolean; permanentCode?: ErrorClass } = ERROR_REASONS[reason];
    this.errorClass = permanent ? (spec.permanentCode ?? spec.code) : spec.code;
    this.retryable = !permanent && spec.retryable;
  }
}

export const invalid = (reason: ReasonOf<'INVALID_ARGUMENT'>, message: string, metadata: Record<string, string> = {}) =>
  new DomainError(reason, message, metadata);

export const notFound = (reason: ReasonOf<'NOT_FOUND'>, message: string, metadata: Record<string, string> = {}) => new DomainError(reason, message, metadata);

export const precondition = (reason: ReasonOf<'FAILED_PRECONDITION'>, message: string, metadata: Record<string, string> = {}) =>
  new DomainError(reason, message, metadata);

export const sessionNotFound = (sessionId: string) =>
  notFound('SESSION_NOT_FOUND', `session "${sessionId}" does not exist; open it with OpenSession first`, {
    session_id: sessionId,
  });

export const revisionConflict = (sessionId: string, expected: bigint) =>
  new DomainError('REVISION_CONFLICT', `session "${sessionId}" changed concurrently (expected head revision ${expected}); retry the request`, {
    session_id: sessionId,
    expected_revision: String(expected),
  });
