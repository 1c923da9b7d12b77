// Triggers over real gRPC: an emission retried twice starts exactly one process (per matching
// subscription) and wakes its session once; schedules wake a session once per due time, also
// with two replicas on one database (PostgreSQL); kill -9 of the replica running a process →
// another takes it over and the sub-agent turn runs once.

import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { ProcessKind, ProcessOrigin, ProcessStatus, type Process } from '../../gen/lash/v1/process.js';
import { MessageRole } from '../../gen/lash/v1/common.js';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import type { LashClients } from '../../src/client/promised.js';
import { startChildServer } from '../support/child-server.js';
import { childFixture } from '../support/child-fixture.js';
import { engines } from '../support/engines.js';
import { fakeModelSuite } from '../support/fake-model-suite.js';
import { finished, processWhen } from '../support/processes.js';
import { rejection } from '../support/server.js';
import { until } from '../support/turns.js';

const FAST = { LASH_QUEUE_POLL_MS: '100', LASH_PROCESS_POLL_MS: '100', LASH_DEFAULT_PROVIDER: 'openai-compatible', LASH_DEFAULT_MODEL: 'fake-model' };
const notifyTemplate = (wakeSessionId: string, task = 'order {{key}}: {{payload}}') => ({
  kind: ProcessKind.PROCESS_KIND_NOTIFY,
  task,
  sessionId: '',
  wakeSessionId,
  awaitSignal: '',
});
const sub = (subscriptionId: string, sourceType: string, sourceKey: string, template: ReturnType<typeof notifyTemplate>, intervalMs = 0n) => ({
  subscription: { subscriptionId, sourceType, sourceKey, template, intervalMs, cron: '', timeZone: '' },
  firstDueTime: undefined,
});

async function allProcesses(clients: LashClients, sessionId: string): Promise<Process[]> {
  const out: Process[] = [];
  let pageToken = '';
  do {
    const page = await clients.admin.listProcesses({ status: 0, visibleInFrameId: '', scopeSessionId: '', sessionId, pageSize: 100, pageToken });
    out.push(...page.processes);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return out;
}

/** How many process wakes the session's conversation holds (each one once, whether drained alone or joined). */
async function wakesSeen(clients: LashClients, sessionId: string): Promise<string[]> {
  const view = await clients.sessions.getReadView({ sessionId, pageSize: 500, pageToken: '' });
  return [
    ...JSON.stringify(view.messages.filter((m) => m.role === MessageRole.MESSAGE_ROLE_USER)).matchAll(/\[process (p-[0-9a-z-]+) \(notify\) completed\]/g),
  ].map((m) => m[1]!);
}

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`triggers on ${engine.name}`, () => {
    const suite = fakeModelSuite(engine, { prefix: 'triggers', env: { ...FAST }, reset: false });

    it('an emission retried twice starts exactly one process per matching subscription and wakes the session once', async () => {
      await suite.s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'orders-desk' }));
      await suite.s.clients.admin.putTriggerSubscription(sub('orders', 'webhook', 'order-*', notifyTemplate('orders-desk')));
      await suite.s.clients.admin.putTriggerSubscription(sub('refunds', 'webhook', 'refund-*', notifyTemplate('orders-desk')));
      const emit = () =>
        suite.s.clients.admin.emitTrigger({ sourceType: 'webhook', sourceKey: 'order-17', payload: { total: 42 }, idempotencyKey: 'delivery-17' });
      const [first, second, third] = [await emit(), await emit(), await emit()];
      expect(first.deliveries).toHaveLength(1);
      expect(first.deliveries[0]).toMatchObject({
        subscriptionId: 'orders',
        deduplicated: false,
        errorReason: '',
        process: {
          kind: ProcessKind.PROCESS_KIND_NOTIFY,
          origin: ProcessOrigin.PROCESS_ORIGIN_TRIGGER,
          wakeSessionId: 'orders-desk',
          input: { task: 'order order-17: {"total":42}', payload: { total: 42 } },
        },
      });
      const id = first.deliveries[0]!.process!.processId;
      for (const retry of [second, third])
        expect(retry.deliveries).toEqual([
          expect.objectContaining({ subscriptionId: 'orders', deduplicated: true, process: expect.objectContaining({ processId: id }) }),
        ]);
      expect((await processWhen(suite.s.clients, id, (p) => p.wakeState === 'delivered')).status).toBe(ProcessStatus.PROCESS_STATUS_COMPLETED);
      await until(async () => (await wakesSeen(suite.s.clients, 'orders-desk')).length === 1, 20_000);
      expect((await allProcesses(suite.s.clients, 'orders-desk')).map((p) => p.processId)).toEqual([id]);
      // Another occurrence starts another process; a key no subscription matches starts nothing.
      expect(
        (await suite.s.clients.admin.emitTrigger({ sourceType: 'webhook', sourceKey: 'order-18', payload: undefined, idempotencyKey: 'delivery-18' }))
          .deliveries[0]!.deduplicated,
      ).toBe(false);
      expect(
        (await suite.s.clients.admin.emitTrigger({ sourceType: 'webhook', sourceKey: 'invoice-1', payload: undefined, idempotencyKey: 'delivery-19' }))
          .deliveries,
      ).toEqual([]);
      const listed = await suite.s.clients.admin.listTriggerSubscriptions({ sourceType: 'webhook', pageSize: 1, pageToken: '' });
      expect(listed.subscriptions.map((x) => x.subscriptionId)).toEqual(['orders']);
      expect(
        (await suite.s.clients.admin.listTriggerSubscriptions({ sourceType: 'webhook', pageSize: 1, pageToken: listed.nextPageToken })).subscriptions.map(
          (x) => x.subscriptionId,
        ),
      ).toEqual(['refunds']);
      // A delivery whose target session is gone reports why instead of failing the emission.
      await suite.s.clients.admin.putTriggerSubscription(sub('ghost', 'webhook', 'order-*', notifyTemplate('no-such-session')));
      const mixed = await suite.s.clients.admin.emitTrigger({
        sourceType: 'webhook',
        sourceKey: 'order-20',
        payload: undefined,
        idempotencyKey: 'delivery-20',
      });
      expect(mixed.deliveries.map((d) => [d.subscriptionId, d.errorReason])).toEqual([
        ['ghost', 'SESSION_NOT_FOUND'],
        ['orders', ''],
      ]);
      expect((await suite.s.clients.admin.deleteTriggerSubscription({ subscriptionId: 'ghost' })).deleted).toBe(true);
      expect((await suite.s.clients.admin.deleteTriggerSubscription({ subscriptionId: 'ghost' })).deleted).toBe(false);
    });

    it('a scheduled subscription wakes its session once per due time', async () => {
      await suite.s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'nightly' }));
      await suite.s.clients.admin.putTriggerSubscription({
        subscription: {
          subscriptionId: 'tick',
          sourceType: 'schedule',
          sourceKey: 'nightly',
          template: notifyTemplate('nightly', 'summarise the day ({{payload}})'),
          intervalMs: 1000n,
          cron: '',
          timeZone: '',
        },
        firstDueTime: new Date(Date.now() + 200),
      });
      await until(async () => (await allProcesses(suite.s.clients, 'nightly')).length >= 3, 30_000);
      await suite.s.clients.admin.deleteTriggerSubscription({ subscriptionId: 'tick' });
      const procs = await allProcesses(suite.s.clients, 'nightly');
      const dues = procs.map((p) => (p.input!.payload as { due_at: string }).due_at);
      expect(new Set(dues).size).toBe(dues.length);
      expect(procs.every((p) => p.origin === ProcessOrigin.PROCESS_ORIGIN_SCHEDULE)).toBe(true);
      await until(async () => (await wakesSeen(suite.s.clients, 'nightly')).length === procs.length, 30_000);
      expect((await wakesSeen(suite.s.clients, 'nightly')).sort()).toEqual(procs.map((p) => p.processId).sort());
    });

    it('a cron subscription wakes its session once per due time, at the cron times', async () => {
      await suite.s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'cron-s' }));
      const put = await suite.s.clients.admin.putTriggerSubscription({
        subscription: {
          subscriptionId: 'every-second',
          sourceType: 'schedule',
          sourceKey: 'cron-s',
          template: notifyTemplate('cron-s', 'tick {{payload}}'),
          intervalMs: 0n,
          cron: '* * * * * *',
          timeZone: 'Europe/Berlin',
        },
        firstDueTime: undefined,
      });
      expect(put.subscription).toMatchObject({ cron: '* * * * * *', timeZone: 'Europe/Berlin', intervalMs: 0n });
      await until(async () => (await allProcesses(suite.s.clients, 'cron-s')).length >= 3, 30_000);
      await suite.s.clients.admin.deleteTriggerSubscription({ subscriptionId: 'every-second' });
      const procs = await allProcesses(suite.s.clients, 'cron-s');
      const dues = procs.map((p) => Date.parse((p.input!.payload as { due_at: string }).due_at));
      expect(new Set(dues).size).toBe(dues.length);
      expect(dues.every((d) => d % 1000 === 0)).toBe(true);
      expect(procs.every((p) => p.origin === ProcessOrigin.PROCESS_ORIGIN_SCHEDULE)).toBe(true);
      await until(async () => (await wakesSeen(suite.s.clients, 'cron-s')).length === procs.length, 30_000);
      expect((await wakesSeen(suite.s.clients, 'cron-s')).sort()).toEqual(procs.map((p) => p.processId).sort());
    });

    it('bad cron schedules are refused precisely', async () => {
      const t = notifyTemplate('nightly');
      const put = (cron: string, timeZone = '', intervalMs = 0n, sourceType = 'schedule', firstDueTime: Date | undefined = undefined) =>
        rejection(
          suite.s.clients.admin.putTriggerSubscription({
            subscription: { subscriptionId: 'bad-cron', sourceType, sourceKey: 'k', template: t, intervalMs, cron, timeZone },
            firstDueTime,
          }),
        );
      expect(await put('every day')).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'CRON_INVALID' });
      expect(await put('61 * * * *')).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'CRON_INVALID' });
      expect(await put('0 0 30 2 *')).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'CRON_NEVER_DUE' });
      expect(await put('0 3 * * *', 'Mars/Olympus')).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'TIME_ZONE_INVALID' });
      expect(await put('', 'Europe/Berlin')).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'SCHEDULE_CRON_REQUIRED' });
      expect(await put('0 3 * * *', '', 5000n)).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'SCHEDULE_CONFLICT' });
      expect(await put('0 3 * * *', '', 0n, 'webhook')).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'SCHEDULE_SOURCE_REQUIRED' });
      expect(await put('0 3 * * *', '', 0n, 'schedule', new Date(Date.now() + 60_000))).toMatchObject({
        code: status.INVALID_ARGUMENT,
        reason: 'FIRST_DUE_TIME_WITH_CRON',
      });
      expect(
        (await suite.s.clients.admin.listTriggerSubscriptions({ sourceType: 'schedule', pageSize: 0, pageToken: '' })).subscriptions.some(
          (x) => x.subscriptionId === 'bad-cron',
        ),
      ).toBe(false);
    });

    it('bad subscriptions and emissions are refused precisely', async () => {
      const t = notifyTemplate('nightly');
      expect(await rejection(suite.s.clients.admin.putTriggerSubscription(sub('', 'webhook', 'x', t)))).toMatchObject({
        code: status.INVALID_ARGUMENT,
        reason: 'MISSING_ID',
      });
      expect(
        await rejection(
          suite.s.clients.admin.putTriggerSubscription({
            subscription: { subscriptionId: 'x', sourceType: 'webhook', sourceKey: 'k', template: undefined, intervalMs: 0n, cron: '', timeZone: '' },
            firstDueTime: undefined,
          }),
        ),
      ).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'TEMPLATE_REQUIRED' });
      expect(
        await rejection(
          suite.s.clients.admin.putTriggerSubscription(sub('x', 'webhook', 'k', { ...t, kind: ProcessKind.PROCESS_KIND_SESSION_TURN, task: '' })),
        ),
      ).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'TASK_REQUIRED' });
      expect(await rejection(suite.s.clients.admin.putTriggerSubscription(sub('x', 'schedule', 'k', t, 10n)))).toMatchObject({
        code: status.INVALID_ARGUMENT,
        reason: 'INTERVAL_INVALID',
      });
      expect(await rejection(suite.s.clients.admin.putTriggerSubscription(sub('x', 'webhook', 'k', t, 5000n)))).toMatchObject({
        code: status.INVALID_ARGUMENT,
        reason: 'SCHEDULE_SOURCE_REQUIRED',
      });
      expect(
        await rejection(suite.s.clients.admin.emitTrigger({ sourceType: 'webhook', sourceKey: 'k', payload: undefined, idempotencyKey: '' })),
      ).toMatchObject({
        code: status.INVALID_ARGUMENT,
        reason: 'IDEMPOTENCY_KEY_REQUIRED',
      });
      expect(
        (await suite.s.clients.admin.listTriggerSubscriptions({ sourceType: 'webhook', pageSize: 0, pageToken: '' })).subscriptions.some(
          (x) => x.subscriptionId === 'x',
        ),
      ).toBe(false);
    });
  });

  describe.skipIf(!engine.enabled)(`process runners across server processes on ${engine.name}`, () => {
    const fx = childFixture(engine, { ...FAST, LASH_LEASE_TTL_MS: '2000', LASH_PROCESS_CLAIM_TTL_MS: '2000' });
    const env = () => fx.env();

    it('kill -9 of the runner mid-process: another server takes it over and the sub-agent turn runs once', async () => {
      const a = await startChildServer(env());
      fx.fake.setDefault(() => ({ steps: [{ text: 'working' }, { hang: true }] }));
      const { process } = await a.clients.admin.startProcess({
        kind: ProcessKind.PROCESS_KIND_SESSION_TURN,
        input: { task: 'long research', sessionId: '', awaitSignal: '', payload: undefined },
        scopeFrameId: '',
        scopeSessionId: '',
        wakeSessionId: '',
        idempotencyKey: '',
        maxRunMs: 0n,
      });
      const id = process!.processId;
      await until(() => fx.fake.requests.length === 1, 30_000);
      expect((await a.kill('SIGKILL')).signal).toBe('SIGKILL');
      fx.fake.setDefault(() => ({ steps: [{ text: 'the findings' }] }));
      const b = await startChildServer(env());
      try {
        const p = await processWhen(b.clients, id, finished, 60_000);
        expect(p).toMatchObject({ status: ProcessStatus.PROCESS_STATUS_COMPLETED, attempts: 2, output: { answer: 'the findings' } });
        const kinds = (await b.clients.admin.listProcessEvents({ processId: id, afterSeq: 0n, pageSize: 0 })).events.map((e) => e.kind);
        expect(kinds).toEqual(['created', 'running', 'taken_over', 'completed']);
        // One committed turn in the sub-agent's session: the dead runner's turn never committed.
        expect((await b.clients.sessions.getSession({ sessionId: p.runSessionId })).session!.turnIndex).toBe(1n);
        expect(fx.fake.requests).toHaveLength(2);
      } finally {
        await b.kill('SIGKILL');
      }
    }, 240_000);

    it.skipIf(engine.name !== 'postgresql')(
      'two replicas: a cron subscription wakes its session once per due time',
      async () => {
        fx.fake.setDefault(() => ({ steps: [{ text: 'noted' }] }));
        const a = await startChildServer(env());
        const b = await startChildServer(env());
        try {
          await a.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'cron-timer' }));
          await a.clients.admin.putTriggerSubscription({
            subscription: {
              subscriptionId: 'cron-every-second',
              sourceType: 'schedule',
              sourceKey: 'cron-timer',
              template: notifyTemplate('cron-timer', 'tick'),
              intervalMs: 0n,
              cron: '* * * * * *',
              timeZone: '',
            },
            firstDueTime: undefined,
          });
          await until(async () => (await allProcesses(b.clients, 'cron-timer')).length >= 4, 30_000);
          await b.clients.admin.deleteTriggerSubscription({ subscriptionId: 'cron-every-second' });
          const procs = await allProcesses(a.clients, 'cron-timer');
          const dues = procs.map((p) => Date.parse((p.input!.payload as { due_at: string }).due_at));
          // Each cron time was taken by one replica only.
          expect(new Set(dues).size).toBe(dues.length);
          expect(dues.every((d) => d % 1000 === 0)).toBe(true);
          await until(async () => (await wakesSeen(a.clients, 'cron-timer')).length === procs.length, 30_000);
          expect((await wakesSeen(b.clients, 'cron-timer')).sort()).toEqual(procs.map((p) => p.processId).sort());
        } finally {
          await a.kill('SIGKILL');
          await b.kill('SIGKILL');
        }
      },
      240_000,
    );

    it.skipIf(engine.name !== 'postgresql')(
      'two replicas: a scheduled subscription wakes its session once per due time',
      async () => {
        fx.fake.setDefault(() => ({ steps: [{ text: 'noted' }] }));
        const a = await startChildServer(env());
        const b = await startChildServer(env());
        try {
          await a.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'timer' }));
          await a.clients.admin.putTriggerSubscription({
            subscription: {
              subscriptionId: 'every-second',
              sourceType: 'schedule',
              sourceKey: 'timer',
              template: notifyTemplate('timer', 'tick'),
              intervalMs: 1000n,
              cron: '',
              timeZone: '',
            },
            firstDueTime: new Date(Date.now() + 200),
          });
          await until(async () => (await allProcesses(b.clients, 'timer')).length >= 4, 30_000);
          await b.clients.admin.deleteTriggerSubscription({ subscriptionId: 'every-second' });
          const procs = await allProcesses(a.clients, 'timer');
          const dues = procs.map((p) => Date.parse((p.input!.payload as { due_at: string }).due_at)).sort((x, y) => x - y);
          expect(new Set(dues).size).toBe(dues.length);
          // Consecutive due times are whole intervals apart: no due time was taken twice or drifted.
          for (let i = 1; i < dues.length; i++) expect((dues[i]! - dues[0]!) % 1000).toBe(0);
          await until(async () => (await wakesSeen(a.clients, 'timer')).length === procs.length, 30_000);
          expect((await wakesSeen(b.clients, 'timer')).sort()).toEqual(procs.map((p) => p.processId).sort());
        } finally {
          await a.kill('SIGKILL');
          await b.kill('SIGKILL');
        }
      },
      240_000,
    );
  });
}
