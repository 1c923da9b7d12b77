// The audit trail of writes (issue 13, item 5) over real gRPC: every mutating call — session,
// turn, queue, admin, completion and tool-host writes — leaves one record with who, tenant,
// what (method, session, turn or batch id), when and the outcome; reads leave none; the trail is
// listed per tenant with filters and pages; no credential or request body is ever stored.

import { Metadata, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ListAuditRecordsRequest, type AuditRecord } from '../../gen/lash/v1/admin_service.js';
import { EnqueueTurnInputRequest } from '../../gen/lash/v1/queue_service.js';
import { OpenSessionRequest, UpdateSessionConfigRequest } from '../../gen/lash/v1/session_service.js';
import { StartTurnRequest } from '../../gen/lash/v1/turn_service.js';
import type { LashClients } from '../../src/client/promised.js';
import { engines } from '../support/engines.js';
import { clientsAs, identityEnv } from '../support/principals.js';
import { rejection, startTestServer, type TestServer } from '../support/server.js';
import { connectToolHost } from '../support/tool-host.js';
import { runTurn, textInput, until } from '../support/turns.js';

const SECRET_KEY = 'sekrit-api-key-4711';
const SECRET_BODY = 'body-secret-text-0815';

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`audit trail on ${engine.name}`, () => {
    let s: TestServer;
    let alice: LashClients;
    let mallory: LashClients;
    const list = async (c: LashClients, req: Partial<ListAuditRecordsRequest> = {}) =>
      (await c.admin.listAuditRecords(ListAuditRecordsRequest.fromPartial(req))).records;
    const method = (r: AuditRecord) => r.method.split('/')[1];

    beforeAll(async () => {
      s = await startTestServer(
        engine,
        { LASH_DEFAULT_PROVIDER: 'echo', LASH_QUEUE_WORKERS: '0', ...(await identityEnv()) },
        { clients: (address) => clientsAs(address, 'default', 'default-client') },
      );
      alice = clientsAs(s.app.address, 'acme', 'alice');
      mallory = clientsAs(s.app.address, 'globex', 'mallory');
    });
    afterAll(async () => {
      alice?.close();
      mallory?.close();
      await s?.close();
    });

    it('every write leaves one record with who, what, when and the outcome; reads leave none; each tenant sees only its own', async () => {
      const before = new Date(Date.now() - 1_000);
      const secret = new Metadata();
      // Credentials travel in metadata: the caller's JWT (authorization) and, here, an API key.
      secret.set('x-api-key', SECRET_KEY);
      await alice.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'a1', metadata: { note: 'x' } }), { metadata: secret });
      await alice.sessions.updateSessionConfig(UpdateSessionConfigRequest.fromPartial({ sessionId: 'a1', providerId: 'echo' }));
      await runTurn(alice, { sessionId: 'a1', turnId: 'turn-1', input: textInput(SECRET_BODY) });
      const started = await alice.turns.startTurn(StartTurnRequest.fromPartial({ sessionId: 'a1', input: textInput('again') }));
      const queued = await alice.queue.enqueueTurnInput(EnqueueTurnInputRequest.fromPartial({ sessionId: 'a1', input: textInput(SECRET_BODY) }));
      await alice.queue.cancelQueuedWorkBatch({ sessionId: 'a1', batchId: queued.batch!.batchId });
      await alice.admin.appendMessages({
        sessionId: 'a1',
        messages: [{ id: '', role: 1, parts: [{ kind: { $case: 'text', value: { text: SECRET_BODY } } }] }],
      });
      expect((await alice.sessions.deleteSession({ sessionId: 'no-such' })).deleted).toBe(false);
      await expect(connectToolHost(alice, { sessionId: 'a1', tools: [{ name: 'unbound' }], reply: () => 'no-answer' })).rejects.toMatchObject({
        code: status.PERMISSION_DENIED,
      });
      await alice.turns.resolveCompletion({ completionKey: 'secret-completion-key', resolution: { outcome: { $case: 'timeout', value: {} } } });
      // Reads are not audited.
      await alice.sessions.getSession({ sessionId: 'a1' });
      await alice.sessions.getReadView({ sessionId: 'a1', pageSize: 0, pageToken: '' });
      await mallory.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'a1' }));
      await s.app.audit.drain();

      const records = (await list(alice)).reverse();
      expect(records.map(method)).toEqual([
        'OpenSession',
        'UpdateSessionConfig',
        'RunTurn',
        'StartTurn',
        'EnqueueTurnInput',
        'CancelQueuedWorkBatch',
        'AppendMessages',
        'DeleteSession',
        'ServeTools',
        'ResolveCompletion',
      ]);
      for (const r of records) expect(r).toMatchObject({ subject: 'alice', identitySource: 'jwt', requestId: expect.any(String) });
      for (const r of records) expect(r.time!.getTime()).toBeGreaterThanOrEqual(before.getTime());
      const by = (m: string) => records.find((r) => method(r) === m)!;
      expect(by('OpenSession')).toMatchObject({ method: 'lash.v1.SessionService/OpenSession', sessionId: 'a1', code: 'OK', reason: '' });
      expect(by('RunTurn')).toMatchObject({ sessionId: 'a1', turnId: 'turn-1', code: 'OK' });
      expect(by('StartTurn')).toMatchObject({ sessionId: 'a1', turnId: started.turnId, code: 'OK' });
      expect(by('EnqueueTurnInput')).toMatchObject({ sessionId: 'a1', batchId: queued.batch!.batchId });
      expect(by('CancelQueuedWorkBatch')).toMatchObject({ sessionId: 'a1', batchId: queued.batch!.batchId });
      expect(by('DeleteSession')).toMatchObject({ sessionId: 'no-such', code: 'OK' });
      expect(by('ServeTools')).toMatchObject({ sessionId: 'a1', code: 'PERMISSION_DENIED', reason: 'TOOL_NOT_BOUND' });
      expect(by('ResolveCompletion')).toMatchObject({ sessionId: '', code: 'OK' });
      // The other tenant sees its own write only.
      expect((await list(mallory)).map((r) => [method(r), r.subject])).toEqual([['OpenSession', 'mallory']]);

      // Neither credentials, completion keys nor request bodies are stored.
      const rows = await s.app.db.conn().execute<{ row: string }[]>(`select a::text as row from audit_records a`);
      const stored = (rows as { row: string }[]).map((r) => r.row).join('\n');
      expect(stored).toContain('alice');
      for (const secretText of ['sekrit', SECRET_BODY, 'secret-completion-key', 'note', 'eyJ' /* any JWT, e.g. the callers' own */])
        expect(stored).not.toContain(secretText);
    });

    it('filters by session, method and time, pages newest first, and refuses bad filters precisely', async () => {
      await alice.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'a2' }));
      await alice.sessions.closeSession({ sessionId: 'a2' });
      await s.app.audit.drain();
      expect((await list(alice, { sessionId: 'a2' })).map(method)).toEqual(['CloseSession', 'OpenSession']);
      expect((await list(alice, { method: 'lash.v1.SessionService/CloseSession' })).map((r) => r.sessionId)).toEqual(['a2']);
      expect(await list(alice, { since: new Date(Date.now() + 60_000) })).toEqual([]);
      expect((await list(alice, { until: new Date(Date.now() + 60_000) })).length).toBeGreaterThan(2);
      // Pages of two walk the whole trail once, newest first.
      const all = await list(alice);
      const paged: AuditRecord[] = [];
      let token = '';
      do {
        const page = await alice.admin.listAuditRecords(ListAuditRecordsRequest.fromPartial({ pageSize: 2, pageToken: token }));
        expect(page.records.length).toBeLessThanOrEqual(2);
        paged.push(...page.records);
        token = page.nextPageToken;
      } while (token);
      expect(paged).toEqual(all);
      expect(await rejection(alice.admin.listAuditRecords(ListAuditRecordsRequest.fromPartial({ pageToken: 'nope' })))).toMatchObject({
        code: status.INVALID_ARGUMENT,
        reason: 'PAGE_TOKEN_INVALID',
      });
      expect(await rejection(alice.admin.listAuditRecords(ListAuditRecordsRequest.fromPartial({ pageSize: 5000 })))).toMatchObject({
        code: status.INVALID_ARGUMENT,
        reason: 'PAGE_SIZE_INVALID',
      });
      expect(
        await rejection(
          alice.admin.listAuditRecords(ListAuditRecordsRequest.fromPartial({ since: new Date(Date.now()), until: new Date(Date.now() - 1_000) })),
        ),
      ).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'TIME_RANGE_INVALID' });
      // A refused write with a hostile session id is still recorded, its id cut to 256 characters.
      const hostile = `x\u0000${'y'.repeat(1_000)}`;
      expect((await rejection(alice.sessions.closeSession({ sessionId: hostile }))).code).toBe(status.INVALID_ARGUMENT);
      await until(async () => (await list(alice, { method: 'lash.v1.SessionService/CloseSession' })).some((r) => r.code === 'INVALID_ARGUMENT'));
      const refused = (await list(alice, { method: 'lash.v1.SessionService/CloseSession' })).find((r) => r.code === 'INVALID_ARGUMENT')!;
      expect(refused.reason).toBeTruthy();
      expect(refused.sessionId.length).toBeLessThanOrEqual(257);
    });
  });
}
