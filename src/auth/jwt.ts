// JWTs verified with `jose` against a JWKS (a file that is followed for changes, or a URL that is
// fetched again when a token names a key it does not know, at most once per cooldown): signature,
// issuer, audience, expiry and not-before (with a clock skew), then the tenant and roles claims.
// Each failure becomes its own UNAUTHENTICATED reason.

import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { ROLES, type Principal, type Role } from '../domain/auth/principal.js';
import type { JwtConfig } from './config.js';
import { jwksUnavailable, unauthenticated, withVerifiedClaims, type AuthFailureReason } from './failures.js';
import { watchText } from './watch.js';

/** Asymmetric algorithms only: a JWKS is public, so an HMAC key in it would let anyone sign. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
const TENANT = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export interface VerifiedJwt {
  principal: Principal;
  /** Epoch milliseconds after which the token is no longer valid (if it expires). */
  expiresAt?: number;
}

export class JwtVerifier {
  private keys: JWTVerifyGetKey;
  private stopWatching?: () => void;

  constructor(private readonly config: JwtConfig) {
    this.keys =
      'url' in config.jwks
        ? createRemoteJWKSet(config.jwks.url, { cooldownDuration: config.cooldownMs, timeoutDuration: 5_000 })
        : createLocalJWKSet(config.jwks.keys);
  }

  /** Follows a JWKS file: keys added (rotation) or removed take effect without a restart. */
  follow(intervalMs: number, log: { info(o: object, m: string): void; error(o: object, m: string): void }): void {
    const { jwks } = this.config;
    if (!('path' in jwks)) return;
    this.stopWatching = watchText(
      jwks.path,
      intervalMs,
      (text) => {
        try {
          this.keys = createLocalJWKSet(JSON.parse(text));
          log.info({ path: jwks.path }, 'JWKS file reloaded');
        } catch (err) {
          log.error({ path: jwks.path, err: (err as Error).message }, 'JWKS file is not valid; keeping the previous keys');
        }
      },
      (err) => log.error({ path: jwks.path, err: err.message }, 'JWKS file cannot be read; keeping the previous keys'),
    );
  }

  close(): void {
    this.stopWatching?.();
  }

  async verify(token: string): Promise<VerifiedJwt> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.keys, {
        issuer: this.config.issuer,
        audience: this.config.audience,
        clockTolerance: this.config.clockSkewS,
        algorithms: ALGORITHMS,
      }));
    } catch (err) {
      throw failure(err, this.config);
    }
    const tenant = claimAt(payload, this.config.tenantClaim);
    if (tenant === undefined)
      throw unauthenticated('TOKEN_TENANT_MISSING', `the token has no "${this.config.tenantClaim}" claim naming its tenant`, {
        claim: this.config.tenantClaim,
      });
    if (typeof tenant !== 'string' || !TENANT.test(tenant))
      throw unauthenticated('TOKEN_CLAIM_INVALID', `the token's "${this.config.tenantClaim}" claim must be a tenant id (1–128 letters, digits or . _ : -)`, {
        claim: this.config.tenantClaim,
      });
    return {
      principal: {
        subject: typeof payload.sub === 'string' ? payload.sub : `${payload.iss ?? 'jwt'}`,
        tenantId: tenant,
        roles: rolesOf(claimAt(payload, this.config.rolesClaim)),
        source: 'jwt',
      },
      expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 + this.config.clockSkewS * 1000 : undefined,
    };
  }
}

/** A claim by name; a name with dots that is not itself a key walks nested objects (`realm.roles`). */
function claimAt(payload: JWTPayload, name: string): unknown {
  if (name in payload) return payload[name];
  return name.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), payload);
}

/** Roles as a list or a space-separated string (like `scope`); names that are not roles are ignored. */
function rolesOf(value: unknown): Set<Role> {
  const names = Array.isArray(value) ? value : typeof value === 'string' ? value.split(/\s+/) : [];
  return new Set(names.filter((r): r is Role => ROLES.includes(r as Role)));
}

function failure(err: unknown, config: JwtConfig): Error {
  const e = err as { code?: string; claim?: string; payload?: JWTPayload };
  // jose checks claims only after the signature verified: a claim failure's payload is the issuer's.
  const fail = (reason: AuthFailureReason, message: string) => {
    const refused = unauthenticated(reason, message);
    if (e.payload && (e.code === 'ERR_JWT_EXPIRED' || e.code === 'ERR_JWT_CLAIM_VALIDATION_FAILED')) {
      const tenant = claimAt(e.payload, config.tenantClaim);
      withVerifiedClaims(refused, {
        tenantId: typeof tenant === 'string' && TENANT.test(tenant) ? tenant : undefined,
        subject: typeof e.payload.sub === 'string' ? e.payload.sub : undefined,
      });
    }
    return refused;
  };
  switch (e.code) {
    case 'ERR_JWT_EXPIRED':
      return fail('TOKEN_EXPIRED', 'the token has expired; get a new one');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (e.claim === 'aud') return fail('TOKEN_AUDIENCE_MISMATCH', `the token's "aud" does not include "${config.audience}"`);
      if (e.claim === 'iss') return fail('TOKEN_ISSUER_MISMATCH', `the token's "iss" is not "${config.issuer}"`);
      if (e.claim === 'nbf' || e.claim === 'iat')
        return fail('TOKEN_NOT_YET_VALID', 'the token is not valid yet ("nbf"/"iat" in the future); check the issuer\'s clock');
      return fail('TOKEN_CLAIM_INVALID', `the token's "${e.claim ?? '?'}" claim is not valid`);
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return fail('TOKEN_SIGNATURE_INVALID', "the token's signature does not verify with the key it names");
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return fail('TOKEN_KEY_UNKNOWN', 'the token is signed with a key ("kid") that the key set does not hold');
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return fail('TOKEN_ALGORITHM_NOT_ALLOWED', `the token's "alg" is not accepted; sign with one of ${ALGORITHMS.join(', ')}`);
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return fail('TOKEN_MALFORMED', 'the bearer token is not a well-formed JWT (header.payload.signature, base64url JSON)');
    default:
      // The key set could not be fetched or read: not the caller's fault.
      return jwksUnavailable();
  }
}
