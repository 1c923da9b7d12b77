// Who is calling: the identity an authenticator established for one call, its tenant and roles.
// The domain sees only this shape; how it was proven (token, JWT, certificate, sidecar) stays at the edge.

/** Roles a caller may hold; each RPC needs one of them (the edge keeps the table). */
export type Role = 'observer' | 'runner' | 'admin' | 'tool_host';

export const ROLES: readonly Role[] = ['observer', 'runner', 'admin', 'tool_host'];

/** How an identity was established. `anonymous` is the zero-setup loopback mode. */
export type IdentitySource = 'anonymous' | 'static_token' | 'jwt' | 'mtls' | 'forwarded';

export interface Principal {
  /** Stable name of the caller (token name, JWT `sub`, certificate subject/SAN, SPIFFE id). Never a secret. */
  subject: string;
  tenantId: string;
  roles: ReadonlySet<Role>;
  source: IdentitySource;
}
