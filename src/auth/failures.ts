// The errors authentication and authorisation answer with: UNAUTHENTICATED with one reason per
// way a credential can be missing or bad, PERMISSION_DENIED naming the role needed. Messages say
// what to change and never quote the credential.

import type { ReasonOf } from '../domain/error-reasons.js';
import { DomainError } from '../domain/errors.js';
import type { Requirement } from './roles.js';

/** The reasons of UNAUTHENTICATED, from the catalogue. */
export type AuthFailureReason = ReasonOf<'UNAUTHENTICATED'>;

export const unauthenticated = (reason: AuthFailureReason, message: string, metadata: Record<string, string> = {}) =>
  new DomainError(reason, message, metadata);

export const roleRequired = (needed: Requirement, method: string) =>
  new DomainError('ROLE_REQUIRED', `${method} needs the "${needed}" role; ask for a credential that grants it`, { required_role: needed, method });

/** The key set could not be fetched: the caller may retry, the credential is not at fault. */
export const jwksUnavailable = () =>
  new DomainError('JWKS_UNAVAILABLE', 'the key set that verifies tokens cannot be fetched right now; retry with backoff');
