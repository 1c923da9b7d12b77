// Clients that call as a given tenant and identity, through real authentication: the server under
// test verifies JWTs against a JWKS file written here (`identityEnv`), and each client sends a JWT
// naming its tenant, subject and roles (all four unless told otherwise), minted with `jose`.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, type InterceptingCall, type Interceptor, InterceptingCall as Call } from '@grpc/grpc-js';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { connect, type LashClients } from '../../src/client/promised.js';

const ISSUER = 'lash-tests';
const AUDIENCE = 'lash-grpc';
const ALL_ROLES = ['observer', 'runner', 'admin', 'tool_host'];
const key = generateKeyPair('ES256', { extractable: true });

/** Server settings that make it verify this module's JWTs (and so refuse anonymous callers). */
export async function identityEnv(): Promise<Record<string, string>> {
  const { publicKey } = await key;
  const path = join(mkdtempSync(join(tmpdir(), 'lash-ids-')), 'jwks.json');
  writeFileSync(path, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'tests', alg: 'ES256', use: 'sig' }] }));
  return {
    LASH_AUTH_JWKS: path,
    LASH_AUTH_JWT_ISSUER: ISSUER,
    LASH_AUTH_JWT_AUDIENCE: AUDIENCE,
    LASH_AUTH_JWT_TENANT_CLAIM: 'tenant',
    LASH_AUTH_JWT_ROLES_CLAIM: 'roles',
  };
}

/** A JWT for the identity, valid for an hour. */
export async function tokenFor(tenantId: string, subject: string, roles: string[] = ALL_ROLES): Promise<string> {
  const { privateKey } = await key;
  return new SignJWT({ tenant: tenantId, roles })
    .setProtectedHeader({ alg: 'ES256', kid: 'tests' })
    .setSubject(subject)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(privateKey);
}

/** Clients of `address` that authenticate as `subject` of `tenantId` on every call. */
export function clientsAs(address: string, tenantId: string, subject: string, roles?: string[]): LashClients {
  const token = tokenFor(tenantId, subject, roles);
  // The token is minted once, asynchronously: each call's start waits for it (grpc-js holds the
  // call's messages until start goes on).
  const identify: Interceptor = (options, next): InterceptingCall =>
    new Call(next(options), {
      start(metadata, listener, nextStart) {
        void token.then((t) => {
          metadata.set('authorization', `Bearer ${t}`);
          nextStart(metadata, listener);
        });
      },
    });
  return connect(address, credentials.createInsecure(), { interceptors: [identify] });
}
