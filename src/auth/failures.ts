// The errors authentication and authorisation answer with: UNAUTHENTICATED with one reason per
// way a credential can be missing or bad, PERMISSION_DENIED naming the role needed. Messages say
// what to change and never quote the credential.

import { DomainError } from '../domain/errors.js';
import type { Requirement } from './roles.js';

export type AuthFailureReason =
  | 'CREDENTIALS_MISSING'
  | 'AUTHORIZATION_MALFORMED'
  | 'TOKEN_UNKNOWN'
  | 'TOKEN_MALFORMED'
  | 'TOKEN_EXPIRED'
  | 'TOKEN_NOT_YET_VALID'
  | 'TOKEN_AUDIENCE_MISMATCH'
  | 'TOKEN_ISSUER_MISMATCH'
  | 'TOKEN_SIGNATURE_INVALID'
  | 'TOKEN_KEY_UNKNOWN'
  | 'TOKEN_ALGORITHM_NOT_ALLOWED'
  | 'TOKEN_CLAIM_INVALID'
  | 'TOKEN_TENANT_MISSING'
  | 'CERTIFICATE_UNMAPPED'
  | 'FORWARDED_IDENTITY_UNTRUSTED'
  | 'FORWARDED_IDENTITY_MALFORMED'
  | 'FORWARDED_IDENTITY_UNMAPPED';

export const unauthenticated = (reason: AuthFailureReason, message: string, metadata: Record<string, string> = {}) =>
  new DomainError('UNAUTHENTICATED', reason, message, metadata);

export const roleRequired = (needed: Requirement, method: string) =>
  new DomainError('PERMISSION_DENIED', 'ROLE_REQUIRED', `${method} needs the "${needed}" role; ask for a credential that grants it`, { required_role: needed, method });

/** The key set could not be fetched: the caller may retry, the credential is not at fault. */
export const jwksUnavailable = () =>
  new DomainError('UNAVAILABLE', 'JWKS_UNAVAILABLE', 'the key set that verifies tokens cannot be fetched right now; retry with backoff');
