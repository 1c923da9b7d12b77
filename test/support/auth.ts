// Helpers for authentication tests: token files (hashes only), JWT signing keys and a JWKS served
// over local HTTP, and a raw caller that reaches any method by path with empty request bytes (the
// guard decides before a handler reads the request).

import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { renameSync, writeFileSync } from 'node:fs';
import { Client, credentials, Metadata, type ChannelCredentials } from '@grpc/grpc-js';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload, type CryptoKey } from 'jose';
import { AdminServiceService } from '../../gen/lash/v1/admin_service.js';
import { QueueServiceService } from '../../gen/lash/v1/queue_service.js';
import { SessionServiceService } from '../../gen/lash/v1/session_service.js';
import { TurnServiceService } from '../../gen/lash/v1/turn_service.js';
import { errorInfoOf } from '../../src/grpc/errors.js';

export const sha256 = (token: string) => createHash('sha256').update(token).digest('hex');

/** Writes the tokens file atomically (rename), as an operator's tooling would. */
export function writeTokens(path: string, tokens: { name: string; token: string; tenant: string; roles: string[] }[]): void {
  writeFileSync(`${path}.tmp`, JSON.stringify({ tokens: tokens.map((t) => ({ name: t.name, sha256: sha256(t.token), tenant: t.tenant, roles: t.roles })) }));
  renameSync(`${path}.tmp`, path);
}

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

export async function signingKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

export function mint(key: SigningKey, claims: JWTPayload, opts: { issuer?: string; audience?: string; expiresIn?: string | number } = {}): Promise<string> {
  let jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', kid: key.kid })
    .setIssuedAt()
    .setSubject(String(claims.sub ?? 'user-1'));
  if (opts.issuer !== undefined) jwt = jwt.setIssuer(opts.issuer);
  if (opts.audience !== undefined) jwt = jwt.setAudience(opts.audience);
  jwt = jwt.setExpirationTime(opts.expiresIn ?? '10m');
  return jwt.sign(key.privateKey);
}

/** A JWT signed with HMAC (HS256) under a key id the JWKS holds: what an attacker who read the public key set might try. */
export function hmacJwt(kid: string, claims: JWTPayload, issuer: string, audience: string): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', kid })
    .setIssuedAt()
    .setSubject('user-1')
    .setIssuer(issuer)
    .setAudience(audience)
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode('a-shared-secret-of-32-bytes-long!'));
}

/** A JWKS over local HTTP whose keys the test changes (rotation); counts fetches. */
export async function jwksServer(keys: JWK[]): Promise<{ url: string; keys: JWK[]; fetches: () => number; close(): Promise<void> }> {
  let fetches = 0;
  const state = { keys };
  const server: Server = createServer((_req, res) => {
    fetches += 1;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: state.keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/jwks.json`,
    get keys() {
      return state.keys;
    },
    set keys(k: JWK[]) {
      state.keys = k;
    },
    fetches: () => fetches,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export type MethodKind = 'unary' | 'server' | 'bidi';

export interface RawOutcome {
  code: number;
  reason?: string;
  metadata: Record<string, string>;
}

/** Calls `path` with an empty request; resolves with the final status (and its ErrorInfo). */
export function rawCall(client: Client, path: string, kind: MethodKind, md: Record<string, string> = {}, deadlineMs = 10_000): Promise<RawOutcome> {
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(md)) metadata.set(k, v);
  const id = (b: Buffer) => b;
  const options = { deadline: Date.now() + deadlineMs };
  const outcome = (s: { code: number; metadata?: Metadata }): RawOutcome => {
    const info = errorInfoOf(s);
    return { code: s.code, reason: info?.reason, metadata: info?.metadata ?? {} };
  };
  return new Promise((resolve) => {
    if (kind === 'unary') {
      client.makeUnaryRequest(path, id, id, Buffer.alloc(0), metadata, options, (err) => resolve(err ? outcome(err) : { code: 0, metadata: {} }));
      return;
    }
    const call =
      kind === 'server'
        ? client.makeServerStreamRequest(path, id, id, Buffer.alloc(0), metadata, options)
        : client.makeBidiStreamRequest(path, id, id, metadata, options);
    call.on('data', () => {});
    call.on('error', () => {});
    call.on('status', (s) => resolve(outcome(s)));
    if (kind === 'bidi') (call as unknown as { end(): void }).end();
  });
}

export const rawClient = (address: string, creds: ChannelCredentials = credentials.createInsecure()) => new Client(address, creds);

/** Every method of the four lash.v1 services with its kind, from the generated service definitions (so a new RPC is in it). */
export const LASH_METHODS: { path: string; kind: MethodKind }[] = [SessionServiceService, TurnServiceService, QueueServiceService, AdminServiceService].flatMap(
  (service) =>
    Object.values(service).map((m: { path: string; requestStream: boolean; responseStream: boolean }) => ({
      path: m.path,
      kind: m.requestStream ? ('bidi' as const) : m.responseStream ? ('server' as const) : ('unary' as const),
    })),
);
