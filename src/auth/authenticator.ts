// Establishes who is calling, once per call, trying the configured mechanisms in a fixed order:
//   1. forwarded identity — a trusted proxy's header (LASH_AUTH_FORWARDED, from LASH_AUTH_TRUSTED_PROXIES only)
//   2. client certificate — a verified mTLS certificate whose names match LASH_AUTH_IDENTITIES_FILE
//   3. bearer token — a static token (LASH_AUTH_TOKENS_FILE) by its hash, else a JWT (LASH_AUTH_JWKS)
//   4. anonymous — only in anonymous mode (LASH_AUTH=none, or nothing configured on loopback)
// The first mechanism whose credential is present decides: a bad credential is refused, never
// passed over for a weaker one. Verified JWTs are remembered (by hash, bounded) for a short time.

import type { PeerCertificate } from 'node:tls';
import { ROLES, type Principal } from '../domain/auth/principal.js';
import type { AuthConfig } from './config.js';
import { unauthenticated } from './failures.js';
import { certificateNames, mapIdentity, plainHeaderNames, xfccNames } from './identities.js';
import { JwtVerifier } from './jwt.js';
import { peerAddress } from './peer.js';
import { sha256Hex, StaticTokens } from './static-tokens.js';

/** What a call offers as proof: its metadata, the transport peer, the verified client certificate. */
export interface CallFacts {
  metadata: { get(key: string): (string | Buffer)[] };
  /** grpc-js's peer string (`ip:port`). */
  peer: string;
  certificate?: PeerCertificate;
}

export const ANONYMOUS: Principal = Object.freeze({ subject: 'anonymous', tenantId: 'default', roles: new Set(ROLES), source: 'anonymous' as const });

/** Longest bearer token looked at; longer ones are refused before any hashing or parsing. */
const MAX_TOKEN_CHARS = 8_192;
const CACHE_ENTRIES = 10_000;

interface Log {
  info(o: object, m: string): void;
  error(o: object, m: string): void;
}

export class Authenticator {
  readonly tokens?: StaticTokens;
  private readonly jwt?: JwtVerifier;
  private readonly verified = new Map<string, { principal: Principal; until: number }>();

  constructor(
    private readonly config: AuthConfig,
    log: Log,
  ) {
    if (config.tokens) {
      this.tokens = new StaticTokens(config.tokens.entries);
      this.tokens.follow(config.tokens.path, config.reloadMs, log);
    }
    if (config.jwt) {
      this.jwt = new JwtVerifier(config.jwt);
      this.jwt.follow(config.reloadMs, log);
    }
  }

  get anonymous(): boolean {
    return this.config.mode === 'anonymous';
  }

  close(): void {
    this.tokens?.close();
    this.jwt?.close();
  }

  async authenticate(call: CallFacts): Promise<Principal> {
    if (this.config.mode === 'anonymous') return ANONYMOUS;
    const { forwarded, identities } = this.config;
    if (forwarded && identities) {
      const value = first(call.metadata.get(forwarded.header));
      if (value !== undefined) {
        const address = peerAddress(call.peer);
        if (!address || !forwarded.trustedProxies.check(address.ip, address.family)) {
          throw unauthenticated(
            'FORWARDED_IDENTITY_UNTRUSTED',
            `the "${forwarded.header}" header is only believed from the proxies in LASH_AUTH_TRUSTED_PROXIES; call through the proxy or drop the header`,
          );
        }
        const names = forwarded.header === 'x-forwarded-client-cert' ? xfccNames(value) : plainHeaderNames(value);
        if (!names) throw unauthenticated('FORWARDED_IDENTITY_MALFORMED', `the "${forwarded.header}" header holds no URI, DNS or subject name`);
        const principal = mapIdentity(identities.rules, names, 'forwarded');
        if (!principal)
          throw unauthenticated('FORWARDED_IDENTITY_UNMAPPED', 'the forwarded identity matches no entry of LASH_AUTH_IDENTITIES_FILE', {
            identity: names.uri[0] ?? names.dns[0] ?? names.cn[0] ?? '',
          });
        return principal;
      }
    }
    const certificate = this.config.mtls && identities && call.certificate && Object.keys(call.certificate).length > 0 ? call.certificate : undefined;
    const fromCertificate = certificate ? mapIdentity(identities!.rules, certificateNames(certificate), 'mtls') : undefined;
    if (fromCertificate) return fromCertificate;
    const authorization = first(call.metadata.get('authorization'));
    if (authorization !== undefined) return this.bearer(authorization);
    if (certificate)
      throw unauthenticated(
        'CERTIFICATE_UNMAPPED',
        'the client certificate matches no entry of LASH_AUTH_IDENTITIES_FILE; use a mapped certificate or send a bearer token',
        { subject: certificateNames(certificate).uri[0] ?? certificate.subject?.CN?.toString() ?? '' },
      );
    throw unauthenticated(
      'CREDENTIALS_MISSING',
      'this server needs credentials: send "authorization: Bearer <token>" metadata' + (this.config.mtls ? ' or a mapped client certificate' : ''),
    );
  }

  private async bearer(authorization: string): Promise<Principal> {
    const m = /^bearer +(\S+)\s*$/i.exec(authorization);
    if (!m || m[1]!.length > MAX_TOKEN_CHARS)
      throw unauthenticated(
        'AUTHORIZATION_MALFORMED',
        `the "authorization" metadata must be "Bearer <token>" (a token of at most ${MAX_TOKEN_CHARS} characters)`,
      );
    const token = m[1]!;
    const hash = sha256Hex(token);
    const listed = this.tokens?.lookup(hash);
    if (listed) return listed;
    if (!this.jwt || token.split('.').length !== 3)
      throw unauthenticated('TOKEN_UNKNOWN', 'the bearer token is not one this server knows; check the token (static tokens are matched exactly)');
    const now = Date.now();
    const cached = this.verified.get(hash);
    if (cached && cached.until > now) return cached.principal;
    if (cached) this.verified.delete(hash);
    const { principal, expiresAt } = await this.jwt.verify(token);
    const until = Math.min(now + this.config.cacheMs, expiresAt ?? Infinity);
    if (this.config.cacheMs > 0 && until > now) {
      if (this.verified.size >= CACHE_ENTRIES) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(hash, { principal, until });
    }
    return principal;
  }
}

function first(values: (string | Buffer)[]): string | undefined {
  const v = values[0];
  return typeof v === 'string' ? v : undefined;
}
