// Authentication settings from the environment (LASH_AUTH*), parsed with the rest of the config
// at start-up. Files are read here too, so a missing or broken one stops the server (exit 2)
// instead of failing the first call. The listen address decides whether running without any
// identity is allowed.

import { readFileSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import type { JSONWebKeySet } from 'jose';
import { parseIdentitiesFile, parseTokensFile, type IdentityRule, type TokenEntry } from './files.js';

export interface JwtConfig {
  jwks: { url: URL } | { path: string; keys: JSONWebKeySet };
  issuer: string;
  audience: string;
  clockSkewS: number;
  tenantClaim: string;
  rolesClaim: string;
  /** Least time between two fetches of a remote key set (an unknown `kid` triggers one). */
  cooldownMs: number;
}

export interface AuthConfig {
  /** `anonymous`: every caller is the anonymous principal (tenant `default`, all roles). */
  mode: 'anonymous' | 'required';
  /** Why anonymous: LASH_AUTH=none, or nothing configured on a loopback address. */
  anonymousBecause?: 'LASH_AUTH=none' | 'loopback';
  tokens?: { path: string; entries: TokenEntry[] };
  jwt?: JwtConfig;
  /** Certificate / forwarded names → tenant and roles. */
  identities?: { path: string; rules: IdentityRule[] };
  /** Client certificates are mapped (LASH_TLS_CLIENT_CA and an identities file are set). */
  mtls: boolean;
  forwarded?: { header: string; trustedProxies: BlockList; proxies: string[] };
  /** Services callable without credentials. */
  open: { health: boolean; reflection: boolean };
  /** How often watched files are checked for changes. */
  reloadMs: number;
  /** How long a verified JWT is remembered (never past its expiry). */
  cacheMs: number;
}

export const isLoopback = (host: string): boolean => {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || /^::ffff:127\./.test(h);
};

type Fail = (message: string) => Error;

export function loadAuthConfig(env: NodeJS.ProcessEnv, listenHost: string, hasClientCa: boolean, fail: Fail): AuthConfig {
  const read = (name: string, path: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      throw fail(`${name}: cannot read ${path}: ${(err as Error).message}`);
    }
  };
  const parsed = <T>(name: string, path: string, parse: (text: string) => T): T => {
    try {
      return parse(read(name, path));
    } catch (err) {
      if (err instanceof Error && err.message.startsWith(`${name}:`)) throw err;
      throw fail(`${name}: ${path} is not valid: ${(err as Error).message}`);
    }
  };
  const int = (name: string, fallback: number, min: number, max: number) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw fail(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
    return n;
  };

  const tokensPath = env.LASH_AUTH_TOKENS_FILE || undefined;
  const tokens = tokensPath ? { path: tokensPath, entries: parsed('LASH_AUTH_TOKENS_FILE', tokensPath, parseTokensFile) } : undefined;
  const jwt = jwtConfig(env, int, fail, (path) => parsed('LASH_AUTH_JWKS', path, (t) => jwksOf(t)));
  const identitiesPath = env.LASH_AUTH_IDENTITIES_FILE || undefined;
  const identities = identitiesPath ? { path: identitiesPath, rules: parsed('LASH_AUTH_IDENTITIES_FILE', identitiesPath, parseIdentitiesFile) } : undefined;
  const forwarded = forwardedConfig(env, fail);
  if (identities && !hasClientCa && !forwarded)
    throw fail('LASH_AUTH_IDENTITIES_FILE maps client certificates or forwarded identities: set LASH_TLS_CLIENT_CA (mTLS) or LASH_AUTH_FORWARDED=1 as well');
  if (forwarded && !identities) throw fail('LASH_AUTH_FORWARDED=1 needs LASH_AUTH_IDENTITIES_FILE to map forwarded identities to tenants and roles');
  const open = openServices(env.LASH_AUTH_OPEN ?? 'health,reflection', fail);
  const configured = Boolean(tokens || jwt || (identities && hasClientCa) || forwarded);
  const mode = env.LASH_AUTH ?? '';
  if (mode !== '' && mode !== 'none')
    throw fail(`LASH_AUTH may only be "none" (accept anonymous callers on any address); leave it unset otherwise (got "${mode}")`);
  const common = {
    mtls: Boolean(identities && hasClientCa),
    open,
    reloadMs: int('LASH_AUTH_RELOAD_MS', 2_000, 50, 600_000),
    cacheMs: int('LASH_AUTH_CACHE_MS', 60_000, 0, 3_600_000),
  };
  if (mode === 'none') {
    if (configured)
      throw fail(
        'LASH_AUTH=none accepts every caller anonymously, but credentials are configured too (LASH_AUTH_TOKENS_FILE, LASH_AUTH_JWKS, LASH_AUTH_IDENTITIES_FILE, LASH_AUTH_FORWARDED); remove one or the other',
      );
    return { mode: 'anonymous', anonymousBecause: 'LASH_AUTH=none', ...common };
  }
  if (!configured) {
    if (!isLoopback(listenHost)) {
      throw fail(
        `LASH_LISTEN is ${listenHost}, not a loopback address, and no authentication is configured: set LASH_AUTH_TOKENS_FILE and/or LASH_AUTH_JWKS (with LASH_AUTH_JWT_ISSUER and LASH_AUTH_JWT_AUDIENCE), or LASH_AUTH_IDENTITIES_FILE with LASH_TLS_CLIENT_CA or LASH_AUTH_FORWARDED=1; or set LASH_AUTH=none to accept anonymous callers anyway`,
      );
    }
    return { mode: 'anonymous', anonymousBecause: 'loopback', ...common };
  }
  return { mode: 'required', tokens, jwt, identities, forwarded, ...common };
}

function jwksOf(text: string): JSONWebKeySet {
  const doc = JSON.parse(text) as JSONWebKeySet;
  if (!doc || !Array.isArray(doc.keys)) throw new Error('expected a JWKS document: {"keys": [...]}');
  return doc;
}

function jwtConfig(
  env: NodeJS.ProcessEnv,
  int: (n: string, f: number, min: number, max: number) => number,
  fail: Fail,
  readJwks: (path: string) => JSONWebKeySet,
): JwtConfig | undefined {
  const source = env.LASH_AUTH_JWKS || undefined;
  const issuer = env.LASH_AUTH_JWT_ISSUER || undefined;
  const audience = env.LASH_AUTH_JWT_AUDIENCE || undefined;
  if (!source) {
    if (issuer || audience) throw fail('LASH_AUTH_JWT_ISSUER / LASH_AUTH_JWT_AUDIENCE need LASH_AUTH_JWKS (a JWKS file path or an http(s) URL) as well');
    return undefined;
  }
  // A token is only as narrow as what it is checked against: both are required.
  if (!issuer || !audience) throw fail('LASH_AUTH_JWKS needs LASH_AUTH_JWT_ISSUER and LASH_AUTH_JWT_AUDIENCE (the "iss" and "aud" tokens must carry)');
  const claim = (name: string, fallback: string) => {
    const v = env[name] || fallback;
    if (!/^[A-Za-z0-9_:/.-]{1,128}$/.test(v)) throw fail(`${name} must be a claim name (got "${v}")`);
    return v;
  };
  const jwks = /^https?:\/\//.test(source) ? { url: new URL(source) } : { path: source, keys: readJwks(source) };
  return {
    jwks,
    issuer,
    audience,
    clockSkewS: int('LASH_AUTH_JWT_CLOCK_SKEW_S', 30, 0, 600),
    tenantClaim: claim('LASH_AUTH_JWT_TENANT_CLAIM', 'tenant'),
    rolesClaim: claim('LASH_AUTH_JWT_ROLES_CLAIM', 'roles'),
    cooldownMs: int('LASH_AUTH_JWKS_COOLDOWN_MS', 30_000, 0, 3_600_000),
  };
}

function forwardedConfig(env: NodeJS.ProcessEnv, fail: Fail): AuthConfig['forwarded'] {
  const on = env.LASH_AUTH_FORWARDED ?? '';
  if (on === '' || on === '0' || on === 'false') {
    if (env.LASH_AUTH_TRUSTED_PROXIES) throw fail('LASH_AUTH_TRUSTED_PROXIES is only used with LASH_AUTH_FORWARDED=1');
    return undefined;
  }
  if (on !== '1' && on !== 'true') throw fail(`LASH_AUTH_FORWARDED must be 1 or 0 (got "${on}")`);
  const proxies = (env.LASH_AUTH_TRUSTED_PROXIES ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (proxies.length === 0)
    throw fail(
      'LASH_AUTH_FORWARDED=1 needs LASH_AUTH_TRUSTED_PROXIES: the addresses or CIDRs of the proxies whose forwarded identity is believed, e.g. 127.0.0.1/32',
    );
  const list = new BlockList();
  for (const p of proxies) {
    const [address, bits] = p.split('/');
    const family = isIP(address ?? '');
    const prefix = bits === undefined ? (family === 6 ? 128 : 32) : Number(bits);
    if (!family || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32))
      throw fail(`LASH_AUTH_TRUSTED_PROXIES: "${p}" is not an IP address or CIDR`);
    list.addSubnet(address!, prefix, family === 6 ? 'ipv6' : 'ipv4');
  }
  const header = (env.LASH_AUTH_FORWARDED_HEADER || 'x-forwarded-client-cert').toLowerCase();
  if (!/^[a-z0-9-]{1,64}$/.test(header)) throw fail(`LASH_AUTH_FORWARDED_HEADER must be a metadata key (got "${header}")`);
  return { header, trustedProxies: list, proxies };
}

function openServices(value: string, fail: Fail): AuthConfig['open'] {
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = names.filter((n) => n !== 'health' && n !== 'reflection');
  if (bad.length) throw fail(`LASH_AUTH_OPEN lists services callable without credentials: health and/or reflection, or empty (got "${value}")`);
  return { health: names.includes('health'), reflection: names.includes('reflection') };
}
