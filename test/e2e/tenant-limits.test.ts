// Per-tenant limits (issue 13, item 4) over real gRPC: sessions and open queue batches (counted
// in the store), running client turns and open observers (counted per process). Past a limit the
// call is RESOURCE_EXHAUSTED with the limit in the ErrorInfo metadata, nothing is stored, other
// tenants are unaffected, and the refusals show in the metrics. Tenants come from the test
// principal header (test/support/principals.ts).

import { status } from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { CreateChildSessionRequest } from '../../gen/lash/v1/admin_service.js';
import { EnqueueTurnInputRequest } from '../../gen/lash/v1/queue_service.js';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { StartTurnRequest } from '../../gen/lash/v1/turn_service.js';
import type { LashClients } from '../../src/client/promised.js';
import { engines } from '../support/engines.js';
import { fakeModelSuite } from '../support/fake-model-suite.js';
import { observe } from '../support/observe.js';
import { clientsAs, identityEnv } from '../support/principals.js';
import { rejection } from '../support/server.js';
import { runTurn, startRunTurn, textInput, until } from '../support/turns.js';

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`per-tenant limits on ${engine.name}`, () => {
    const clients: LashClients[] = [];
    const as = (tenant: string) => {
      const c = clientsAs(suite.s.app.address, tenant, `user-of-${tenant}`);
      clients.push(c);
      return c;
    };
    const open = (c: LashClients, sessionId: string) => c.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId }));
    const scrape = async () => (await fetch(`http://${suite.s.app.metricsAddress}/metrics`)).text();

    const suite = fakeModelSuite(engine, {
      prefix: 'tenant-limits',
      env: async () => ({
        LASH_QUEUE_WORKERS: '0',
        LASH_METRICS_LISTEN: '127.0.0.1:0',
        LASH_TENANT_MAX_SESSIONS: '3',
        LASH_TENANT_MAX_QUEUED_BATCHES: '2',
        LASH_TENANT_MAX_RUNNING_TURNS: '1',
        LASH_TENANT_MAX_OBSERVERS: '2',
        ...(await identityEnv()),
      }),
      server: { clients: (address) => clientsAs(address, 'default', 'default-client') },
      reset: false,
    });
    afterAll(async () => {
      clients.forEach((c) => c.close());
    });

    it('sessions: past LASH_TENANT_MAX_SESSIONS every create path is TENANT_SESSION_LIMIT and stores nothing; other tenants go on; a delete makes room', async () => {
      const acme = as('acme-sessions');
      for (const id of ['a1', 'a2', 'a3']) await open(acme, id);
      const refused = await rejection(open(acme, 'a4'));
      expect(refused).toMatchObject({
        code: status.RESOURCE_EXHAUSTED,
        reason: 'TENANT_SESSION_LIMIT',
        metadata: { resource: 'sessions', limit: '3', limit_variable: 'LASH_TENANT_MAX_SESSIONS' },
      });
      expect(refused.message).toContain('LASH_TENANT_MAX_SESSIONS');
      expect((await rejection(acme.sessions.getSession({ sessionId: 'a4' }))).code).toBe(status.NOT_FOUND);
      expect(
        await rejection(acme.admin.createChildSession(CreateChildSessionRequest.fromPartial({ sessionId: 'a1', childSessionId: 'a1-kid' }))),
      ).toMatchObject({ code: status.RESOURCE_EXHAUSTED, reason: 'TENANT_SESSION_LIMIT' });
      // Resuming an existing session creates nothing and is not refused.
      expect((await open(acme, 'a1')).created).toBe(false);
      // Another tenant (same ids) is not affected.
      const globex = as('globex-sessions');
      for (const id of ['a1', 'a2', 'a3']) await open(globex, id);
      await acme.sessions.deleteSession({ sessionId: 'a3' });
      expect((await open(acme, 'a4')).created).toBe(true);
    });

    it('queue: past LASH_TENANT_MAX_QUEUED_BATCHES open batches, enqueue is TENANT_QUEUE_LIMIT and nothing is queued; a cancel makes room', async () => {
      const q = as('acme-queue');
      await open(q, 'q1');
      await open(q, 'q2');
      const enqueue = (sessionId: string, text: string) => q.queue.enqueueTurnInput(EnqueueTurnInputRequest.fromPartial({ sessionId, input: textInput(text) }));
      const first = await enqueue('q1', 'one');
      await enqueue('q2', 'two');
      expect(await rejection(enqueue('q1', 'three'))).toMatchObject({
        code: status.RESOURCE_EXHAUSTED,
        reason: 'TENANT_QUEUE_LIMIT',
        metadata: { resource: 'queued_batches', limit: '2' },
      });
      expect((await q.queue.listQueuedWork({ sessionId: 'q1' })).batches).toHaveLength(1);
      // Other tenants queue freely.
      const other = as('globex-queue');
      await open(other, 'q1');
      for (const text of ['x', 'y']) await other.queue.enqueueTurnInput(EnqueueTurnInputRequest.fromPartial({ sessionId: 'q1', input: textInput(text) }));
      await q.queue.cancelQueuedWorkBatch({ sessionId: 'q1', batchId: first.batch!.batchId });
      expect((await enqueue('q1', 'four')).batch?.batchId).toBeTruthy();
    });

    it('turns: past LASH_TENANT_MAX_RUNNING_TURNS a RunTurn or StartTurn of the tenant is TENANT_TURN_LIMIT before anything is written; another tenant runs', async () => {
      const t = as('acme-turns');
      await open(t, 't1');
      await open(t, 't2');
      suite.fake.script({ steps: [{ hang: true }] });
      const running = startRunTurn(t, { sessionId: 't1', turnId: 'long', input: textInput('hang') });
      await until(() => suite.s.app.turns.registry.active('acme-turns', 't1').length === 1);
      const refused = await startRunTurn(t, { sessionId: 't2', input: textInput('refused') }).done;
      expect(refused.error?.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(await rejection(t.turns.startTurn(StartTurnRequest.fromPartial({ sessionId: 't2', input: textInput('refused too') })))).toMatchObject({
        code: status.RESOURCE_EXHAUSTED,
        reason: 'TENANT_TURN_LIMIT',
        metadata: { resource: 'running_turns', limit: '1', retry_after_ms: '1000' },
      });
      expect((await t.sessions.getSession({ sessionId: 't2' })).session?.turnIndex).toBe(0n);
      const other = as('globex-turns');
      await open(other, 't1');
      suite.fake.script({ steps: [{ text: 'fine' }] });
      expect((await runTurn(other, { sessionId: 't1', input: textInput('go') })).result?.outcome?.$case).toBe('finished');
      // When the running turn ends, the tenant may start another.
      await t.turns.cancelTurn({ sessionId: 't1', turnId: 'long' });
      expect((await running.done).result?.outcome?.$case).toBe('stopped');
      suite.fake.script({ steps: [{ text: 'now' }] });
      expect((await runTurn(t, { sessionId: 't2', input: textInput('now') })).result?.outcome?.$case).toBe('finished');
    });

    it('observers: past LASH_TENANT_MAX_OBSERVERS an ObserveSession of the tenant is TENANT_OBSERVER_LIMIT; closing one makes room; the refusals are in the metrics', async () => {
      const o = as('acme-observers');
      await open(o, 'o1');
      const first = observe(o, 'o1');
      const second = observe(o, 'o1');
      await first.waitFor((m) => m.length >= 1);
      await second.waitFor((m) => m.length >= 1);
      const third = observe(o, 'o1');
      await until(() => third.error !== undefined);
      expect(third.error?.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(third.error?.details).toContain('LASH_TENANT_MAX_OBSERVERS');
      // Another tenant observes freely.
      const other = as('globex-observers');
      await open(other, 'o1');
      const theirs = observe(other, 'o1');
      await theirs.waitFor((m) => m.length >= 1);
      first.close();
      // The place comes back once the server has seen the cancel.
      const held = () => suite.s.app.tenantLimits.stats().find((x) => x.tenantId === 'acme-observers' && x.resource === 'observers')?.inUse ?? 0;
      await until(() => held() === 1);
      const again = observe(o, 'o1');
      await again.waitFor((m) => m.length >= 1);
      again.close();
      second.close();
      theirs.close();
      await until(() => held() === 0);
      const text = await scrape();
      expect(text).toMatch(/lash_tenant_limit_rejections_total\{tenant="acme-observers",resource="observers"\} 1/);
      expect(text).toMatch(/lash_tenant_limit_rejections_total\{tenant="acme-sessions",resource="sessions"\} 2/);
      expect(text).toMatch(/lash_tenant_resources\{tenant="acme-sessions",resource="sessions"\} \d+/);
    });
  });
}
