// Writes refused for a missing or bad credential, and the tenant label of metrics, over real gRPC
// (ADR 0062): a refused write is an audit row — under the reserved `_unauthenticated` tenant, or
// under the tenant of an issuer-signed JWT refused for its claims — naming the mechanism tried and
// the peer, never the credential; a flood of bad credentials adds a bounded number of rows (the
// rest counted as suppressed); RPC metrics carry the caller's tenant, named ones and the first N
// seen by name, later ones as `_other`, refused ones as `_unauthenticated`.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, status, type Client } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ListAuditRecordsRequest } from '../../gen/lash/v1/admin_service.js';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { withToken } from '../../src/client/bearer.js';
import { connect, type LashClients } from '../../src/client/promised.js';
import { AUDITED_METHODS } from '../../src/grpc/audit.js';
import { jwksServer, LASH_METHODS, mint, rawCall, rawClient, signingKey, writeTokens, type SigningKey } from '../support/auth.js';
import { engines } from '../support/engines.js';
import { rejection, startTestServer, type TestServer } from '../support/server.js';

const ISSUER = 'https://issuer.refusals.test';
const AUDIENCE = 'lash-refusals';
const PER_MINUTE = 5;
const TOKENS = [
  { name: 'admin-t1', token: 'tok-admin-t1', tenant: 't1', roles: ['admin'] },
  { name: 'runner-named', token: 'tok-runner-named', tenant: 'named', roles: ['runner'] },
  { name: 'runner-t3', token: 'tok-runner-t3', tenant: 't3', roles: ['runner'] },
  { name: 'runner-t4', token: 'tok-runner-t4', tenant: 't4', roles: ['runner'] },
];

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

interface Row {
  tenant_id: string;
  subject: string;
  identity_source: string;
  method: string;
  session_id: string | null;
  code: string;
  reason: string | null;
  request_id: string;
}

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`refused credentials and tenant metrics on ${engine.name}`, () => {
    let dir: string;
    let s: TestServer;
    let jwks: Awaited<ReturnType<typeof jwksServer>>;
    let key: SigningKey;
    let raw: Client;
    const opened: LashClients[] = [];
    const as = (token?: string) => {
      const c = connect(s.app.address, credentials.createInsecure(), withToken(token));
      opened.push(c);
      return c;
    };
    const rows = async (): Promise<Row[]> => {
      await s.app.audit.drain();
      return (await s.app.db
        .conn()
        .execute<Row[]>('select tenant_id, subject, identity_source, method, session_id, code, reason, request_id from audit_records order by id')) as Row[];
    };
    const scrape = async () => (await fetch(`http://${s.app.metricsAddress}/metrics`)).text();

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'lash-refusals-'));
      key = await signingKey('k1');
      jwks = await jwksServer([key.jwk]);
      writeTokens(join(dir, 'tokens.json'), TOKENS);
      s = await startTestServer(engine, {
        LASH_AUTH_TOKENS_FILE: join(dir, 'tokens.json'),
        LASH_AUTH_JWKS: jwks.url,
        LASH_AUTH_JWT_ISSUER: ISSUER,
        LASH_AUTH_JWT_AUDIENCE: AUDIENCE,
        LASH_AUTH_JWT_CLOCK_SKEW_S: '0',
        LASH_AUTH_JWKS_COOLDOWN_MS: '0',
        LASH_AUDIT_UNAUTHENTICATED_PER_MINUTE: String(PER_MINUTE),
        LASH_METRICS_LISTEN: '127.0.0.1:0',
        LASH_METRICS_TENANTS: 'named',
        LASH_METRICS_TENANT_LABELS: '1',
      });
      raw = rawClient(s.app.address);
    });
    afterAll(async () => {
      opened.forEach((c) => c.close());
      raw?.close();
      await s?.close();
      await jwks?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('records a write refused for its credential under _unauthenticated (or the signed tenant), with the mechanism and peer, never the credential', async () => {
      const jwt = (claims: Record<string, unknown>, k: SigningKey, opts: Parameters<typeof mint>[2] = {}) =>
        mint(k, claims, { issuer: ISSUER, audience: AUDIENCE, ...opts });
      const expired = await jwt({ tenant: 't1', sub: 'carol', roles: ['runner'] }, key, { expiresIn: Math.floor(Date.now() / 1000) - 60 });
      // Signed by a key the server does not trust, claiming tenant t1: its claims are nobody's word.
      const forged = await jwt({ tenant: 't1', sub: 'mallory', roles: ['admin'] }, await signingKey('k1'));
      const open = (c: LashClients, sessionId: string) => rejection(c.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId })));
      expect(await open(as(), 'r-missing')).toMatchObject({ code: status.UNAUTHENTICATED, reason: 'CREDENTIALS_MISSING' });
      expect(await open(as('tok-secret-never-stored'), 'r-unknown')).toMatchObject({ code: status.UNAUTHENTICATED, reason: 'TOKEN_UNKNOWN' });
      expect(await open(as(expired), 'r-expired')).toMatchObject({ code: status.UNAUTHENTICATED, reason: 'TOKEN_EXPIRED' });
      expect(await open(as(forged), 'r-forged')).toMatchObject({ code: status.UNAUTHENTICATED, reason: 'TOKEN_SIGNATURE_INVALID' });
      // Reads with bad credentials are refused the same way and are not audited.
      expect((await rejection(as('tok-secret-never-stored').sessions.getSession({ sessionId: 'r-read' }))).code).toBe(status.UNAUTHENTICATED);

      const got = await rows();
      const open1 = 'lash.v1.SessionService/OpenSession';
      expect(got.map((r) => [r.tenant_id, r.subject, r.identity_source, r.method, r.session_id, r.code, r.reason])).toEqual([
        ['_unauthenticated', 'peer:127.0.0.1', 'none', open1, 'r-missing', 'UNAUTHENTICATED', 'CREDENTIALS_MISSING'],
        ['_unauthenticated', 'peer:127.0.0.1', 'bearer', open1, 'r-unknown', 'UNAUTHENTICATED', 'TOKEN_UNKNOWN'],
        ['t1', 'carol', 'jwt', open1, 'r-expired', 'UNAUTHENTICATED', 'TOKEN_EXPIRED'],
        ['_unauthenticated', 'peer:127.0.0.1', 'jwt', open1, 'r-forged', 'UNAUTHENTICATED', 'TOKEN_SIGNATURE_INVALID'],
      ]);
      // Tenant t1's admin sees the refusal of its own (expired) token; the forged one is not in its trail.
      const t1 = (await as('tok-admin-t1').admin.listAuditRecords(ListAuditRecordsRequest.fromPartial({}))).records;
      expect(t1.map((r) => [r.subject, r.sessionId, r.reason])).toEqual([['carol', 'r-expired', 'TOKEN_EXPIRED']]);
      // No credential, whole or in part, is in any row.
      const stored = ((await s.app.db.conn().execute<{ row: string }[]>('select a::text as row from audit_records a')) as { row: string }[])
        .map((r) => r.row)
        .join('\n');
      for (const secret of ['tok-secret', 'never-stored', 'eyJ', expired.split('.')[2]!.slice(0, 16), forged.split('.')[2]!.slice(0, 16)])
        expect(stored).not.toContain(secret);
    });

    it('adds a bounded number of rows for a flood of bad credentials, counting the rest as suppressed', async () => {
      const before = (await rows()).length;
      const startedMinute = Math.floor(Date.now() / 60_000);
      const writes = LASH_METHODS.filter((m) => AUDITED_METHODS.has(m.path.slice(1)));
      expect(writes.length).toBe(AUDITED_METHODS.size);
      const bad: Record<string, string>[] = [{}, { authorization: 'Bearer tok-flood-secret' }, { authorization: 'Basic Zmxvb2Q=' }];
      let calls = 0;
      // Every write × every bad credential (distinct refusals), three times over (repeats).
      for (let round = 0; round < 3; round++) {
        for (const m of writes) {
          for (const md of bad) {
            expect((await rawCall(raw, m.path, m.kind, md)).code).toBe(status.UNAUTHENTICATED);
            calls++;
          }
        }
      }
      const minutes = Math.floor(Date.now() / 60_000) - startedMinute + 1;
      const added = (await rows()).length - before;
      expect(added).toBeGreaterThan(0);
      expect(added).toBeLessThanOrEqual(PER_MINUTE * minutes);
      const suppressed = sample(await scrape(), 'lash_audit_records_total{outcome="suppressed"}')!;
      expect(suppressed).toBeGreaterThanOrEqual(calls - added);
      expect(
        (
          (await s.app.db
            .conn()
            .execute<{ n: number }[]>(`select count(*)::int as n from audit_records where subject like '%flood%' or reason like '%flood%'`)) as { n: number }[]
        )[0]!.n,
      ).toBe(0);
    });

    it("labels RPC metrics with the caller's tenant: named and first-seen tenants by name, later ones as _other, refused calls as _unauthenticated", async () => {
      // t1 was the first tenant seen (LASH_METRICS_TENANT_LABELS=1); "named" is listed; t3 and t4 come later.
      for (const token of ['tok-runner-named', 'tok-runner-t3', 'tok-runner-t4', 'tok-admin-t1']) {
        expect((await rejection(as(token).sessions.getSession({ sessionId: 'no-such' }))).code).toBe(status.NOT_FOUND);
      }
      await as('tok-runner-t3').sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'm-t3' }));
      const text = await scrape();
      const get = (tenant: string) => sample(text, `lash_rpc_total{method="lash.v1.SessionService/GetSession",code="NOT_FOUND",tenant="${tenant}"}`);
      expect([get('t1'), get('named'), get('_other'), get('t3'), get('t4')]).toEqual([1, 1, 2, undefined, undefined]);
      expect(sample(text, 'lash_rpc_total{method="lash.v1.SessionService/OpenSession",code="OK",tenant="_other"}')).toBe(1);
      expect(sample(text, 'lash_rpc_duration_seconds_count{method="lash.v1.SessionService/OpenSession",tenant="_other"}')).toBe(1);
      expect(
        sample(text, 'lash_rpc_total{method="lash.v1.SessionService/OpenSession",code="UNAUTHENTICATED",tenant="_unauthenticated"}'),
      ).toBeGreaterThanOrEqual(4);
      // However many tenants call, the tenant label takes no more values than this.
      const values = new Set([...text.matchAll(/^lash_rpc_total\{[^}]*tenant="([^"]*)"/gm)].map((m) => m[1]));
      expect([...values].sort()).toEqual(['_other', '_unauthenticated', 'named', 't1']);
    });

    it('answers UNAVAILABLE (JWKS_UNAVAILABLE, retryable) when the key set cannot be fetched, and files no refusal: the credential is not at fault', async () => {
      const before = (await rows()).length;
      await jwks.close();
      const unseenKey = await mint(await signingKey('k-new'), { tenant: 't1', roles: ['runner'] }, { issuer: ISSUER, audience: AUDIENCE });
      expect(await rejection(as(unseenKey).sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'r-jwks' })))).toMatchObject({
        code: status.UNAVAILABLE,
        reason: 'JWKS_UNAVAILABLE',
      });
      expect((await rows()).length).toBe(before);
    });
  });
}
