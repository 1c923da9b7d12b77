// TEST SEAM, not authentication: when AppOptions.testPrincipalHeader is set (tests only, never
// from configuration), a call's identity is read from the `x-lash-test-principal` metadata header
// ("tenant/subject"), so tests can act as callers of different tenants and identities. The real
// authenticators replace this at merge; without the option the header is ignored.

import type { Metadata } from '@grpc/grpc-js';
import { ROLES, type Principal } from '../domain/auth/principal.js';

export const TEST_PRINCIPAL_HEADER = 'x-lash-test-principal';

export function testPrincipalOf(metadata: Metadata): Principal | undefined {
  const raw = metadata.get(TEST_PRINCIPAL_HEADER)[0];
  if (typeof raw !== 'string') return undefined;
  const slash = raw.indexOf('/');
  if (slash <= 0 || slash === raw.length - 1) return undefined;
  return { tenantId: raw.slice(0, slash), subject: raw.slice(slash + 1), roles: new Set(ROLES), source: 'anonymous' };
}
