// The formats of the files authentication reads: the static tokens file (names, SHA-256 hashes of
// the tokens, tenants, roles; never a token itself) and the identities file (certificate or SPIFFE
// names → tenant and roles). Parsing throws an Error whose message names the bad entry.

import { ROLES, type Role } from '../domain/auth/principal.js';

export interface TokenEntry {
  name: string;
  /** Lower-case hex SHA-256 of the token's UTF-8 bytes. */
  sha256: string;
  tenant: string;
  roles: Role[];
}

/** Which name of a certificate (or forwarded identity) a rule matches; a trailing `*` matches a prefix. */
export type NameKind = 'uri' | 'dns' | 'cn';

export interface IdentityRule {
  kind: NameKind;
  pattern: string;
  tenant: string;
  roles: Role[];
}

const TENANT = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

function rolesOf(value: unknown, where: string): Role[] {
  if (!Array.isArray(value) || value.some((r) => !ROLES.includes(r as Role))) throw new Error(`${where}.roles must be a list of ${ROLES.join(', ')}`);
  return value as Role[];
}

function tenantOf(value: unknown, where: string): string {
  if (typeof value !== 'string' || !TENANT.test(value))
    throw new Error(`${where}.tenant must be 1–128 letters, digits or . _ : - (starting with a letter or digit)`);
  return value;
}

function entriesOf(text: string, key: string): unknown[] {
  const doc = JSON.parse(text) as unknown;
  const list = Array.isArray(doc) ? doc : (doc as Record<string, unknown> | null)?.[key];
  if (!Array.isArray(list)) throw new Error(`expected a JSON list, or an object with a "${key}" list`);
  return list;
}

export function parseTokensFile(text: string): TokenEntry[] {
  const seen = new Set<string>();
  return entriesOf(text, 'tokens').map((raw, i) => {
    const e = (raw ?? {}) as Record<string, unknown>;
    const where = `tokens[${i}]`;
    if (typeof e.name !== 'string' || e.name.length === 0 || e.name.length > 128)
      throw new Error(`${where}.name must be a non-empty string of at most 128 characters`);
    if (typeof e.sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(e.sha256))
      throw new Error(`${where}.sha256 must be the 64 hex digits of the token's SHA-256 (e.g. printf %s "$TOKEN" | sha256sum)`);
    const sha256 = e.sha256.toLowerCase();
    if (seen.has(sha256)) throw new Error(`${where}: the same token hash is listed twice`);
    seen.add(sha256);
    return { name: e.name, sha256, tenant: tenantOf(e.tenant, where), roles: rolesOf(e.roles, where) };
  });
}

export function parseIdentitiesFile(text: string): IdentityRule[] {
  return entriesOf(text, 'identities').map((raw, i) => {
    const e = (raw ?? {}) as Record<string, unknown>;
    const where = `identities[${i}]`;
    const kinds = (['uri', 'dns', 'cn'] as const).filter((k) => e[k] !== undefined);
    if (kinds.length !== 1 || typeof e[kinds[0]!] !== 'string' || (e[kinds[0]!] as string).length === 0)
      throw new Error(`${where} must have exactly one of "uri", "dns" or "cn" (a name, or a prefix ending in *)`);
    return { kind: kinds[0]!, pattern: e[kinds[0]!] as string, tenant: tenantOf(e.tenant, where), roles: rolesOf(e.roles, where) };
  });
}
