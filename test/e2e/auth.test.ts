// Authentication and roles over real gRPC: every missing or bad credential has its own
// UNAUTHENTICATED reason; each role reaches exactly its methods (PERMISSION_DENIED names the
// role otherwise); JWTs against a JWKS served over local HTTP, with key rotation and expiry; a
// static tokens file reloaded without a restart; a sidecar's forwarded identity only from a
// trusted address; mTLS certificates mapped to tenants; start-up refused on a non-loopback
// address without authentication.

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, Metadata, status, type Client } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { withToken } from '../../src/client/bearer.js';
import { connect, type LashClients } from '../../src/client/promised.js';
import { hmacJwt, jwksServer, LASH_METHODS, mint, rawCall, rawClient, signingKey, writeTokens, type SigningKey } from '../support/auth.js';
import { runCli } from '../support/cli.js';
import { engines } from '../support/engines.js';
import { killAllChildServers, startChildServer } from '../support/child-server.js';
import { rejection, startTestServer, type TestServer } from '../support/server.js';
import { until } from '../support/turns.js';

const ISSUER = 'https://issuer.lash.test';
const AUDIENCE = 'lash-api';
const md = (entries: Record<string, string>) => {
  const m = new Metadata();
  for (const [k, v] of Object.entries(entries)) m.set(k, v);
  return m;
};
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** The role each method needs, written out here independently of the server's table. */
const OBSERVER = [
  'GetSession',
  'ListSessions',
  'GetReadView',
  'GetAttachment',
  'GetUsageReport',
  'ExportSessionState',
  'ExportSessionStateChunk',
  'ObserveSession',
  'GetTurn',
  'ListQueuedWork',
  'AwaitQueuedWorkBatch',
  'GetProcess',
  'ListProcesses',
  'AwaitProcess',
  'ListProcessEvents',
  'WatchProcessEvents',
  'ListTriggerSubscriptions',
];
const RUNNER = [
  'OpenSession',
  'CloseSession',
  'RunTurn',
  'StartTurn',
  'CancelTurn',
  'CancelRunningTurns',
  'ResolveCompletion',
  'EnqueueTurnInput',
  'CancelQueuedWorkBatch',
  'RunQueuedTurn',
  'StartProcess',
  'CancelProcess',
  'CancelProcesses',
  'SignalProcess',
  'EmitTrigger',
];
const expectedRole = (path: string): string => {
  const method = path.slice(path.lastIndexOf('/') + 1);
  if (method === 'ServeTools') return 'tool_host';
  if (OBSERVER.includes(method)) return 'observer';
  if (RUNNER.includes(method)) return 'runner';
  return 'admin'; // the rest of AdminService (tool state, history, children, audit, trigger subscriptions), DeleteSession, UpdateSessionConfig
};
const ROLE_HOLDS: Record<string, string[]> = {
  observer: ['observer'],
  runner: ['observer', 'runner'],
  admin: ['observer', 'runner', 'admin'],
  tool_host: ['tool_host'],
  none: [],
};

const TOKENS = [
  { name: 'observer-1', token: 'tok-observer-1', tenant: 't1', roles: ['observer'] },
  { name: 'runner-1', token: 'tok-runner-1', tenant: 't1', roles: ['runner'] },
  { name: 'admin-1', token: 'tok-admin-1', tenant: 't1', roles: ['admin'] },
  { name: 'host-1', token: 'tok-host-1', tenant: 't1', roles: ['tool_host'] },
  { name: 'none-1', token: 'tok-none-1', tenant: 't1', roles: [] },
  { name: 'runner-2', token: 'tok-runner-2', tenant: 't2', roles: ['runner'] },
];

const waitFor = async (what: string, check: () => Promise<boolean>, timeoutMs = 30_000) => {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
};

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`authentication on ${engine.name}`, () => {
    let dir: string;
    let s: TestServer;
    let untrusting: TestServer;
    let jwks: Awaited<ReturnType<typeof jwksServer>>;
    let k1: SigningKey;
    let k2: SigningKey;
    let rogue: SigningKey;
    let raw: Client;
    const opened: LashClients[] = [];
    const as = (token: string) => {
      const c = connect(s.app.address, credentials.createInsecure(), withToken(token));
      opened.push(c);
      return c;
    };
    const tokensPath = () => join(dir, 'tokens.json');

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'lash-auth-'));
      [k1, k2, rogue] = await Promise.all([signingKey('k1'), signingKey('k2'), signingKey('k1')]);
      jwks = await jwksServer([k1.jwk]);
      writeTokens(tokensPath(), TOKENS);
      writeFileSync(join(dir, 'identities.json'), JSON.stringify({ identities: [{ uri: 'spiffe://lash.test/ns/a/*', tenant: 't1', roles: ['runner'] }] }));
      const common = {
        LASH_AUTH_TOKENS_FILE: tokensPath(),
        LASH_AUTH_RELOAD_MS: '100',
        LASH_AUTH_IDENTITIES_FILE: join(dir, 'identities.json'),
        LASH_AUTH_FORWARDED: '1',
      };
      s = await startTestServer(engine, {
        ...common,
        LASH_AUTH_TRUSTED_PROXIES: '127.0.0.1/32,::1',
        LASH_AUTH_JWKS: jwks.url,
        LASH_AUTH_JWT_ISSUER: ISSUER,
        LASH_AUTH_JWT_AUDIENCE: AUDIENCE,
        LASH_AUTH_JWT_CLOCK_SKEW_S: '0',
        LASH_AUTH_JWKS_COOLDOWN_MS: '0',
        LASH_AUTH_JWT_TENANT_CLAIM: 'org',
        LASH_AUTH_JWT_ROLES_CLAIM: 'lash.roles',
        LASH_AUTH_OPEN: 'health',
      });
      // A second server that believes forwarded identities only from a proxy we are not.
      untrusting = await startTestServer(engine, { ...common, LASH_AUTH_TRUSTED_PROXIES: '192.0.2.10' });
      raw = rawClient(s.app.address);
    });
    afterAll(async () => {
      opened.forEach((c) => c.close());
      raw?.close();
      await s?.close();
      await untrusting?.close();
      await jwks?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('refuses each missing or bad credential with its own UNAUTHENTICATED reason', async () => {
      const jwt = (key: SigningKey, claims: Record<string, unknown>, opts: Parameters<typeof mint>[2] = {}) =>
        mint(key, claims, { issuer: ISSUER, audience: AUDIENCE, ...opts });
      const good = { org: 't1', 'lash.roles': ['runner'] };
      const cases: [string, Record<string, string>][] = [
        ['CREDENTIALS_MISSING', {}],
        ['AUTHORIZATION_MALFORMED', { authorization: 'Basic dXNlcjpwYXNz' }],
        ['TOKEN_UNKNOWN', bearer('not-a-listed-token')],
        ['TOKEN_MALFORMED', bearer('bm90.YS.and0')],
        ['TOKEN_EXPIRED', bearer(await jwt(k1, good, { expiresIn: Math.floor(Date.now() / 1000) - 60 }))],
        ['TOKEN_AUDIENCE_MISMATCH', bearer(await jwt(k1, good, { audience: 'someone-else' }))],
        ['TOKEN_ISSUER_MISMATCH', bearer(await jwt(k1, good, { issuer: 'https://evil.test' }))],
        ['TOKEN_SIGNATURE_INVALID', bearer(await jwt(rogue, good))],
        ['TOKEN_KEY_UNKNOWN', bearer(await jwt(await signingKey('k-unknown'), good))],
        ['TOKEN_TENANT_MISSING', bearer(await jwt(k1, { 'lash.roles': ['runner'] }))],
        ['TOKEN_NOT_YET_VALID', bearer(await jwt(k1, { ...good, nbf: Math.floor(Date.now() / 1000) + 3_600 }))],
        ['TOKEN_CLAIM_INVALID', bearer(await jwt(k1, { org: '../t1', 'lash.roles': ['runner'] }))],
        ['TOKEN_ALGORITHM_NOT_ALLOWED', bearer(await hmacJwt(k1.kid, good, ISSUER, AUDIENCE))],
        ['FORWARDED_IDENTITY_UNMAPPED', { 'x-forwarded-client-cert': 'By=spiffe://lash.test/lash;URI=spiffe://other.test/ns/x/sa/y' }],
        ['FORWARDED_IDENTITY_MALFORMED', { 'x-forwarded-client-cert': 'Hash=abcdef' }],
      ];
      for (const [reason, metadata] of cases) {
        const r = await rawCall(raw, '/lash.v1.SessionService/GetSession', 'unary', metadata);
        expect({ reason, got: r.reason, code: r.code }).toEqual({ reason, got: reason, code: status.UNAUTHENTICATED });
      }
      // Streams are refused the same way, before anything runs.
      expect(await rawCall(raw, '/lash.v1.SessionService/ObserveSession', 'server')).toMatchObject({
        code: status.UNAUTHENTICATED,
        reason: 'CREDENTIALS_MISSING',
      });
      expect(await rawCall(raw, '/lash.v1.TurnService/ServeTools', 'bidi', bearer('nope'))).toMatchObject({
        code: status.UNAUTHENTICATED,
        reason: 'TOKEN_UNKNOWN',
      });
      // Health is open here; reflection is not.
      expect((await s.clients.health.check({ service: '' })).status).toBe(1);
      expect(await rawCall(raw, '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', 'bidi')).toMatchObject({
        code: status.UNAUTHENTICATED,
        reason: 'CREDENTIALS_MISSING',
      });
    });

    it('gives each role exactly its methods: a missing role is PERMISSION_DENIED naming it', async () => {
      const holders: Record<string, string> = {
        observer: 'tok-observer-1',
        runner: 'tok-runner-1',
        admin: 'tok-admin-1',
        tool_host: 'tok-host-1',
        none: 'tok-none-1',
      };
      // Every RPC of the four services, from the generated definitions (processes, triggers and the audit listing included).
      for (const [holder, token] of Object.entries(holders)) {
        for (const m of LASH_METHODS) {
          const needed = expectedRole(m.path);
          const r = await rawCall(raw, m.path, m.kind, bearer(token), 3_000);
          const row = { holder, method: m.path, code: r.code, role: r.metadata.required_role };
          if (ROLE_HOLDS[holder]!.includes(needed)) expect(row.code, `${holder} ${m.path}`).not.toBe(status.PERMISSION_DENIED);
          else expect(row).toEqual({ holder, method: m.path, code: status.PERMISSION_DENIED, role: needed });
          if (r.code === status.PERMISSION_DENIED) expect(r.reason).toBe('ROLE_REQUIRED');
          expect(r.code).not.toBe(status.UNAUTHENTICATED);
        }
      }
    });

    it('places a caller in the tenant of its token: another tenant does not see the session', async () => {
      await as('tok-runner-1').sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'auth-tenant-1' }));
      expect((await as('tok-observer-1').sessions.getSession({ sessionId: 'auth-tenant-1' })).session?.sessionId).toBe('auth-tenant-1');
      expect((await rejection(as('tok-runner-2').sessions.getSession({ sessionId: 'auth-tenant-1' }))).code).toBe(status.NOT_FOUND);
    });

    it('accepts JWTs from the JWKS URL, picks up a rotated key, and refuses a token once it expires', async () => {
      const token = await mint(k1, { org: 't1', lash: { roles: ['runner', 'unknown-role'] } }, { issuer: ISSUER, audience: AUDIENCE });
      await as(token).sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'auth-jwt-1' }));
      expect((await as('tok-observer-1').sessions.getSession({ sessionId: 'auth-jwt-1' })).session?.sessionId).toBe('auth-jwt-1');
      // A JWT of another tenant, via the same claim, does not see it.
      const other = await mint(k1, { org: 't2', 'lash.roles': 'observer runner' }, { issuer: ISSUER, audience: AUDIENCE });
      expect((await rejection(as(other).sessions.getSession({ sessionId: 'auth-jwt-1' }))).code).toBe(status.NOT_FOUND);
      // Roles come from the claim: an observer token may read but not open.
      const reader = await mint(k1, { org: 't1', 'lash.roles': ['observer'] }, { issuer: ISSUER, audience: AUDIENCE });
      expect(await rejection(as(reader).sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'auth-jwt-2' })))).toMatchObject({
        code: status.PERMISSION_DENIED,
        reason: 'ROLE_REQUIRED',
        metadata: { required_role: 'runner' },
      });
      // The refused write is in the audit trail of the caller's tenant, with who tried it.
      await until(
        async () =>
          (
            await s.app.db
              .em()
              .getConnection()
              .execute(
                `select count(*)::int as n from audit_records where tenant_id = 't1' and session_id = 'auth-jwt-2' and code = 'PERMISSION_DENIED' and reason = 'ROLE_REQUIRED' and identity_source = 'jwt'`,
              )
          )[0].n === 1,
        10_000,
      );

      // Rotation: the issuer publishes k2 and signs with it; the server fetches the set again.
      const rotated = await mint(k2, { org: 't1', 'lash.roles': ['observer'] }, { issuer: ISSUER, audience: AUDIENCE });
      expect((await rawCall(raw, '/lash.v1.SessionService/GetSession', 'unary', bearer(rotated))).reason).toBe('TOKEN_KEY_UNKNOWN');
      const before = jwks.fetches();
      jwks.keys = [k1.jwk, k2.jwk];
      expect((await as(rotated).sessions.getSession({ sessionId: 'auth-jwt-1' })).session?.sessionId).toBe('auth-jwt-1');
      expect(jwks.fetches()).toBeGreaterThan(before);

      // Expiry: valid now, refused once its exp has passed (no clock skew on this server).
      const exp = Math.floor(Date.now() / 1000) + 3;
      const shortLived = await mint(k2, { org: 't1', 'lash.roles': ['observer'] }, { issuer: ISSUER, audience: AUDIENCE, expiresIn: exp });
      const first = await rawCall(raw, '/lash.v1.SessionService/GetSession', 'unary', bearer(shortLived));
      if (Date.now() < (exp - 1) * 1000) expect(first.code).not.toBe(status.UNAUTHENTICATED);
      await new Promise((r) => setTimeout(r, Math.max(0, (exp + 1) * 1000 - Date.now())));
      expect(await rawCall(raw, '/lash.v1.SessionService/GetSession', 'unary', bearer(shortLived))).toMatchObject({
        code: status.UNAUTHENTICATED,
        reason: 'TOKEN_EXPIRED',
      });
    });

    it('reloads the static tokens file without a restart; a broken file keeps the last good tokens', async () => {
      const fresh = { name: 'fresh', token: 'tok-fresh', tenant: 't1', roles: ['observer'] };
      writeTokens(tokensPath(), [...TOKENS.filter((t) => t.name !== 'observer-1'), fresh]);
      const outcome = (token: string) => rawCall(raw, '/lash.v1.SessionService/ListSessions', 'unary', bearer(token));
      await waitFor('the new token to be accepted', async () => (await outcome('tok-fresh')).code === status.OK);
      expect((await outcome('tok-observer-1')).reason).toBe('TOKEN_UNKNOWN');
      writeFileSync(tokensPath(), '{"tokens": [ this is not json');
      // Give the poller many intervals to see the broken file; the last good set must stay.
      await new Promise((r) => setTimeout(r, 2_000));
      expect((await outcome('tok-fresh')).code).toBe(status.OK);
      writeTokens(tokensPath(), TOKENS);
      await waitFor('the original tokens again', async () => (await outcome('tok-observer-1')).code === status.OK);
    });

    it('the CLI sends --token or LASH_TOKEN; without one the server refuses it', async () => {
      const cli = (args: string[], env: Record<string, string> = {}) => runCli(s.app.address, args, { env: { LASH_TOKEN: '', ...env } });
      const opened = await cli(['--token', 'tok-runner-1', 'sessions', 'open', 'auth-cli-1']);
      expect(opened.code).toBe(0);
      expect(JSON.parse(opened.stdout)).toMatchObject({ created: true });
      const listed = await cli(['sessions', 'list'], { LASH_TOKEN: 'tok-observer-1' });
      expect(listed.stdout).toMatch(/^auth-cli-1\t/m);
      const refused = await cli(['sessions', 'list']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/CREDENTIALS_MISSING/);
    }, 120_000);

    it('believes a forwarded identity only from a trusted proxy address', async () => {
      const xfcc = { 'x-forwarded-client-cert': 'By=spiffe://lash.test/lash;Hash=0a1b;Subject="CN=app,O=x";URI=spiffe://lash.test/ns/a/sa/app' };
      await connect(s.app.address).sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'auth-fwd-1' }), { metadata: md(xfcc) });
      expect((await as('tok-observer-1').sessions.getSession({ sessionId: 'auth-fwd-1' })).session?.sessionId).toBe('auth-fwd-1');
      // The mapped identity holds runner only.
      expect(await rawCall(raw, '/lash.v1.SessionService/DeleteSession', 'unary', xfcc)).toMatchObject({
        code: status.PERMISSION_DENIED,
        metadata: { required_role: 'admin' },
      });
      const elsewhere = rawClient(untrusting.app.address);
      try {
        expect(await rawCall(elsewhere, '/lash.v1.SessionService/GetSession', 'unary', xfcc)).toMatchObject({
          code: status.UNAUTHENTICATED,
          reason: 'FORWARDED_IDENTITY_UNTRUSTED',
        });
        // Bearer tokens still work there, and health is open by default.
        expect((await rawCall(elsewhere, '/lash.v1.SessionService/ListSessions', 'unary', bearer('tok-observer-1'))).code).toBe(status.OK);
        expect((await untrusting.clients.health.check({ service: '' })).status).toBe(1);
      } finally {
        elsewhere.close();
      }
    });
  });
}

const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version']);
    return true;
  } catch {
    return false;
  }
})();

/** A CA, a server certificate, a client with a SPIFFE URI SAN and a client with only a CN (EC keys: fast). */
function makePki(dir: string) {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const key = (name: string) => ssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`);
  key('ca');
  ssl('req', '-x509', '-new', '-key', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=lash-auth-test-ca');
  const issue = (name: string, cn: string, san?: string) => {
    key(name);
    ssl('req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    const ext = san ? ['-extfile', join(dir, `${name}.ext`)] : [];
    if (san) writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\n`);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '1', ...ext);
  };
  issue('server', 'localhost', 'IP:127.0.0.1,DNS:localhost');
  issue('app', 'app-a', 'URI:spiffe://lash.test/ns/a/sa/app');
  issue('stranger', 'stranger');
  const read = (f: string) => readFileSync(join(dir, f));
  return { ca: read('ca.pem'), app: { key: read('app.key'), cert: read('app.pem') }, stranger: { key: read('stranger.key'), cert: read('stranger.pem') } };
}

for (const engine of engines) {
  describe.skipIf(!hasOpenssl || !engine.enabled)(`mTLS identities on ${engine.name}`, () => {
    let dir: string;
    let s: TestServer;
    let pki: ReturnType<typeof makePki>;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'lash-mtls-auth-'));
      pki = makePki(dir);
      writeFileSync(join(dir, 'identities.json'), JSON.stringify([{ uri: 'spiffe://lash.test/ns/a/*', tenant: 'ta', roles: ['runner'] }]));
      writeTokens(join(dir, 'tokens.json'), [{ name: 'tb-runner', token: 'tok-tb', tenant: 'tb', roles: ['runner'] }]);
      s = await startTestServer(engine, {
        LASH_TLS_CERT: join(dir, 'server.pem'),
        LASH_TLS_KEY: join(dir, 'server.key'),
        LASH_TLS_CLIENT_CA: join(dir, 'ca.pem'),
        LASH_AUTH_IDENTITIES_FILE: join(dir, 'identities.json'),
        LASH_AUTH_TOKENS_FILE: join(dir, 'tokens.json'),
      });
    });
    afterAll(async () => {
      await s?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it("maps a client certificate's SAN to a tenant and roles; an unmapped one needs a token", async () => {
      const app = connect(s.app.address, credentials.createSsl(pki.ca, pki.app.key, pki.app.cert));
      const stranger = connect(s.app.address, credentials.createSsl(pki.ca, pki.stranger.key, pki.stranger.cert));
      const strangerWithToken = connect(s.app.address, credentials.createSsl(pki.ca, pki.stranger.key, pki.stranger.cert), withToken('tok-tb'));
      try {
        await app.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'mtls-1' }), { deadlineMs: 20_000 });
        expect((await app.sessions.getSession({ sessionId: 'mtls-1' })).session?.sessionId).toBe('mtls-1');
        expect(await rejection(app.sessions.deleteSession({ sessionId: 'mtls-1' }))).toMatchObject({
          code: status.PERMISSION_DENIED,
          metadata: { required_role: 'admin' },
        });
        expect(await rejection(stranger.sessions.getSession({ sessionId: 'mtls-1' }, { deadlineMs: 20_000 }))).toMatchObject({
          code: status.UNAUTHENTICATED,
          reason: 'CERTIFICATE_UNMAPPED',
        });
        // The token's tenant (tb) does not see tenant ta's session, but can open its own.
        expect((await rejection(strangerWithToken.sessions.getSession({ sessionId: 'mtls-1' }, { deadlineMs: 20_000 }))).code).toBe(status.NOT_FOUND);
        expect((await strangerWithToken.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'mtls-1' }))).created).toBe(true);
      } finally {
        [app, stranger, strangerWithToken].forEach((c) => c.close());
      }
    });
  });
}

describe('start-up without authentication', () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'lash-auth-start-'));
  });
  afterAll(() => {
    killAllChildServers();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('refuses a non-loopback listen address (exit 2, naming the variables) and accepts it with LASH_AUTH=none', async () => {
    const refused = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
        env: { ...process.env, LASH_LISTEN: '0.0.0.0:0', LASH_DATA_DIR: dataDir, LASH_AUTH: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('exit', (code) => resolve({ code, stderr }));
    });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/LASH_AUTH_TOKENS_FILE/);
    expect(refused.stderr).toMatch(/LASH_AUTH=none/);
    const open = await startChildServer({ LASH_LISTEN: '0.0.0.0:0', LASH_DATA_DIR: dataDir, LASH_AUTH: 'none' });
    try {
      expect(open.output()).toMatch(/AUTHENTICATION IS OFF/);
      const port = open.address.split(':').pop();
      const c = connect(`127.0.0.1:${port}`);
      expect((await c.sessions.listSessions({ pageSize: 10, pageToken: '' })).sessions).toEqual([]);
      c.close();
    } finally {
      await open.kill('SIGTERM');
    }
  }, 300_000);
});
