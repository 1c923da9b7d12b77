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
export const jwksUnavailable = () => new DomainError('JWKS_UNAVAILABLE', 'the key set that verifies tokens cannot be fetched right now; retry with backoff');

/** The tenant no real caller can hold (every tenant id starts with a letter or digit): unauthenticated refusals are filed under it. */
export const UNAUTHENTICATED_TENANT = '_unauthenticated';

/**
 * Facts a refused credential may still prove: a JWT refused for its claims (expired, wrong
 * audience or issuer, not yet valid) had a signature that verified against the key set, so the
 * tenant and subject it names are the issuer's word, not the caller's. Kept off the error itself
 * so they never reach the client's ErrorInfo.
 */
const verifiedClaims = new WeakMap<Error, { tenantId?: string; subject?: string }>();

export function withVerifiedClaims<E extends Error>(err: E, claims: { tenantId?: string; subject?: string }): E {
  verifiedClaims.set(err, claims);
  return err;
}

export const verifiedClaimsOf = (err: unknown): { tenantId?: string; subject?: string } => (err instanceof Error ? verifiedClaims.get(err) : undefined) ?? {};

/** The mechanism a refused call tried, named for the audit trail (`none`: it offered nothing). */
export function mechanismOf(reason: string): string {
  if (reason === 'CREDENTIALS_MISSING') return 'none';
  if (reason === 'AUTHORIZATION_MALFORMED' || reason === 'TOKEN_UNKNOWN') return 'bearer';
  if (reason.startsWith('TOKEN_')) return 'jwt';
  if (reason === 'CERTIFICATE_UNMAPPED') return 'mtls';
  if (reason.startsWith('FORWARDED_')) return 'forwarded';
  return 'unknown';
}
