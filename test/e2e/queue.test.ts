// The queue over real gRPC: idempotent enqueue, list/cancel/await, explicit drains with the claim
// rules, early injection, fencing tokens, session commands and automatic workers (28–35).

import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeliveryPolicy, QueueBatchState, SlotPolicy } from '../../gen/lash/v1/queue.js';
import { AwaitStatus, CancelOutcome, EnqueueTurnInputRequest, type DeepPartial } from '../../gen/lash/v1/queue_service.js';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { engines } from '../support/engines.js';
import { fakeModelSuite } from '../support/fake-model-suite.js';
import { observe, payloadCase } from '../support/observe.js';
import { rejection, startTestServer, type TestServer } from '../support/server.js';
import { drainQueue, startRunTurn, textInput, until } from '../support/turns.js';

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`queue on ${engine.name}`, () => {
    let n = 0;
    const open = async () => {
      const sessionId = `q-${++n}`;
      await suite.s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId }));
      return sessionId;
    };
    const enqueue = (sessionId: string, text: string, extra: DeepPartial<EnqueueTurnInputRequest> = {}) =>
      suite.s.clients.queue.enqueueTurnInput(EnqueueTurnInputRequest.fromPartial({ sessionId, input: textInput(text), ...extra }));

    // Workers off: these tests drain explicitly (scenario 34 runs its own server with workers).
    const suite = fakeModelSuite(engine, {
      prefix: 'queue',
      env: {
        LASH_QUEUE_WORKERS: '0',
      },
    });

    it('28: enqueue with the same id while pending returns the original batch; the list is in enqueue order', async () => {
      const sessionId = await open();
      const first = await enqueue(sessionId, 'original', { id: 'msg-1' });
      const again = await enqueue(sessionId, 'changed', { id: 'msg-1' });
      expect(again.deduplicated).toBe(true);
      expect(again.batch?.batchId).toBe(first.batch?.batchId);
      expect(JSON.stringify(again.batch?.items)).toContain('original');
      const second = await enqueue(sessionId, 'second');
      const list = await suite.s.clients.queue.listQueuedWork({ sessionId });
      expect(list.batches.map((b) => b.batchId)).toEqual([first.batch!.batchId, second.batch!.batchId]);
      expect(list.batches[0]!.enqueueSeq).toBeLessThan(list.batches[1]!.enqueueSeq);
      expect(list.batches[0]!.state).toBe(QueueBatchState.QUEUE_BATCH_STATE_PENDING);
      // After it was drained, the id still answers with the record of what happened.
      const d = await drainQueue(suite.s.clients, { sessionId });
      const after = await enqueue(sessionId, 'retry', { id: 'msg-1' });
      expect(after.deduplicated).toBe(true);
      expect(after.batch).toMatchObject({ state: QueueBatchState.QUEUE_BATCH_STATE_DONE, turnId: d.result?.turnId });
    });

    it('29: enqueue and cancel appear in the feed as queue_changed', async () => {
      const sessionId = await open();
      const o = observe(suite.s.clients, sessionId);
      await o.waitFor((m) => m.length >= 1);
      const b = await enqueue(sessionId, 'to cancel');
      const c = await suite.s.clients.queue.cancelQueuedWorkBatch({ sessionId, batchId: b.batch!.batchId });
      expect(c.outcome).toBe(CancelOutcome.CANCEL_OUTCOME_CANCELLED);
      expect((await suite.s.clients.queue.cancelQueuedWorkBatch({ sessionId, batchId: b.batch!.batchId })).outcome).toBe(
        CancelOutcome.CANCEL_OUTCOME_ALREADY_DONE,
      );
      expect((await suite.s.clients.queue.cancelQueuedWorkBatch({ sessionId, batchId: 'nope' })).outcome).toBe(CancelOutcome.CANCEL_OUTCOME_NOT_FOUND);
      await o.waitFor((m) => m.filter((x) => payloadCase(x) === 'queueChanged').length >= 2);
      const changes = o
        .events()
        .filter((x) => payloadCase(x) === 'queueChanged')
        .map((x) => (x.kind as { value: { payload: { value: { change: number; batchIds: string[] } } } }).value.payload.value);
      expect(changes.map((c) => c.change)).toEqual([1 /* ENQUEUED */, 2 /* CANCELLED */]);
      expect(changes[0]!.batchIds).toEqual([b.batch!.batchId]);
      expect((await suite.s.clients.queue.listQueuedWork({ sessionId })).batches).toEqual([]);
      o.close();
    });

    it('30: await waits until the drain commits and reports its turn id; an unknown id answers unknown at once', async () => {
      const sessionId = await open();
      const b = await enqueue(sessionId, 'await me');
      const waiting = suite.s.clients.queue.awaitQueuedWorkBatch({ sessionId, batchId: b.batch!.batchId });
      const early = await Promise.race([waiting.then(() => 'settled'), new Promise((r) => setTimeout(() => r('still waiting'), 80))]);
      expect(early).toBe('still waiting');
      const d = await drainQueue(suite.s.clients, { sessionId });
      expect(d.result?.outcome?.$case).toBe('finished');
      const done = await waiting;
      expect(done).toEqual({ status: AwaitStatus.AWAIT_STATUS_DONE, turnId: d.result!.turnId });
      expect((await suite.s.clients.queue.awaitQueuedWorkBatch({ sessionId, batchId: 'never-enqueued' })).status).toBe(AwaitStatus.AWAIT_STATUS_UNKNOWN);
      expect(d.events[0]?.kind?.$case).toBe('queuedWorkStarted');
    });

    it('31: an earliest-safe-boundary batch joins the running turn at its next checkpoint, not as a user message', async () => {
      const sessionId = await open();
      suite.fake.script({ steps: [{ delayMs: 300 }, { text: 'first answer' }] }, { steps: [{ text: 'answer including the injected input' }] });
      const running = startRunTurn(suite.s.clients, { sessionId, input: textInput('start') });
      await until(() => suite.fake.requests.length === 1);
      const b = await enqueue(sessionId, 'INJECTED-TEXT', { deliveryPolicy: DeliveryPolicy.DELIVERY_POLICY_EARLIEST_SAFE_BOUNDARY });
      const t = await running.done;
      const accepted = t.events.find((e) => e.kind?.$case === 'queuedInputAccepted');
      expect(accepted?.kind).toMatchObject({ value: { inputs: [{ id: b.batch!.batchId }] } });
      expect(suite.fake.requests).toHaveLength(2);
      expect(JSON.stringify(suite.fake.requests[1]!.body.messages)).toContain('INJECTED-TEXT');
      const view = await suite.s.clients.sessions.getReadView({ sessionId, pageSize: 0, pageToken: '' });
      const userTexts = view.messages.filter((m) => m.role === 1).map((m) => JSON.stringify(m.parts));
      expect(userTexts.some((t) => t.includes('INJECTED-TEXT'))).toBe(false);
      expect((await suite.s.clients.queue.awaitQueuedWorkBatch({ sessionId, batchId: b.batch!.batchId })).status).toBe(AwaitStatus.AWAIT_STATUS_DONE);
    });

    it('32: drains follow the claim rules: join batches run as one turn, future batches wait, exact ids must be the head', async () => {
      const sessionId = await open();
      const j1 = await enqueue(sessionId, 'part one', { slotPolicy: SlotPolicy.SLOT_POLICY_JOIN, mergeKey: 'chat' });
      const j2 = await enqueue(sessionId, 'part two', { slotPolicy: SlotPolicy.SLOT_POLICY_JOIN, mergeKey: 'chat' });
      const later = await enqueue(sessionId, 'later', { availableAt: new Date(Date.now() + 3_600_000) });
      const wrong = await drainQueue(suite.s.clients, { sessionId, batchIds: [j2.batch!.batchId] });
      expect(wrong.error?.code).toBe(status.FAILED_PRECONDITION);
      const d = await drainQueue(suite.s.clients, { sessionId });
      expect(JSON.stringify(suite.fake.requests[0]!.body.messages)).toContain('part one');
      expect(JSON.stringify(suite.fake.requests[0]!.body.messages)).toContain('part two');
      for (const b of [j1, j2])
        expect((await suite.s.clients.queue.awaitQueuedWorkBatch({ sessionId, batchId: b.batch!.batchId })).turnId).toBe(d.result!.turnId);
      const nothing = await drainQueue(suite.s.clients, { sessionId });
      expect(nothing.nothing).toBe(true);
      expect((await suite.s.clients.queue.listQueuedWork({ sessionId })).batches.map((b) => b.batchId)).toEqual([later.batch!.batchId]);
    });

    it('33: a commit carrying a stale claim token is rejected whole; nothing is written and the queue is intact', async () => {
      const sessionId = await open();
      const b = await enqueue(sessionId, 'fenced');
      const queueStore = (suite.s.app.turns as unknown as { deps: { queue: import('../../src/domain/ports.js').QueueStore } }).deps.queue;
      const [claimed] = await queueStore.claim('default', sessionId, 'test-owner', 60_000, (p) => p.slice(0, 1));
      const head = await suite.s.app.sessions.get({ tenantId: 'default' }, sessionId);
      const tampered = [{ batchId: claimed!.batchId, token: claimed!.claim!.token + 1n }];
      await expect(
        suite.s.app.sessions.commit(
          { tenantId: 'default' },
          {
            expectedRevision: head.headRevision,
            kind: 'turn',
            head: { ...head, turnIndex: head.turnIndex + 1n },
            graph: { kind: 'append', nodes: [] },
            frames: [],
            claims: tampered,
            turnId: 'forged',
          },
        ),
      ).rejects.toMatchObject({ reason: 'STALE_CLAIM' });
      const after = await suite.s.app.sessions.get({ tenantId: 'default' }, sessionId);
      expect(after.headRevision).toBe(head.headRevision);
      expect(after.turnIndex).toBe(head.turnIndex);
      const batch = await queueStore.get('default', sessionId, b.batch!.batchId);
      expect(batch?.state).toBe('claimed');
      await queueStore.release([{ batchId: claimed!.batchId, token: claimed!.claim!.token }]);
      expect((await suite.s.clients.queue.listQueuedWork({ sessionId })).batches).toHaveLength(1);
    });

    it('35: a command with the same key twice is one pending batch; reset applies when the next drain starts', async () => {
      const sessionId = await open();
      await suite.s.clients.admin.appendMessages({
        sessionId,
        messages: [{ id: '', role: 1, parts: [{ kind: { $case: 'text', value: { text: 'old history' } } }] }],
      });
      const r1 = await suite.s.clients.admin.refreshToolCatalog({ sessionId, reason: 'new tools', idempotencyKey: 'k1' });
      const r2 = await suite.s.clients.admin.refreshToolCatalog({ sessionId, reason: 'new tools', idempotencyKey: 'k1' });
      expect(r2.receipt?.batchId).toBe(r1.receipt?.batchId);
      expect(r2.receipt?.deduplicated).toBe(true);
      expect(r1.receipt?.sourceKey).toBe('command:refresh_tool_catalog:k1');
      expect((await suite.s.clients.queue.listQueuedWork({ sessionId })).batches).toHaveLength(1);
      expect((await rejection(suite.s.clients.admin.resetSession({ sessionId, reason: 'x', idempotencyKey: '' }))).reason).toBe('IDEMPOTENCY_KEY_REQUIRED');
      await suite.s.clients.admin.resetSession({ sessionId, reason: 'start over', idempotencyKey: 'r1' });
      await enqueue(sessionId, 'after reset');
      const d = await drainQueue(suite.s.clients, { sessionId });
      expect(d.result?.outcome?.$case).toBe('finished');
      const view = await suite.s.clients.sessions.getReadView({ sessionId, pageSize: 0, pageToken: '' });
      expect(JSON.stringify(view.messages)).not.toContain('old history');
      expect(JSON.stringify(view.messages)).toContain('after reset');
      expect((await suite.s.clients.queue.listQueuedWork({ sessionId })).batches).toEqual([]);
    });

    it('bad queue requests are precise', async () => {
      const sessionId = await open();
      expect((await rejection(enqueue('no-such', 'x'))).code).toBe(status.NOT_FOUND);
      expect((await rejection(suite.s.clients.queue.enqueueTurnInput(EnqueueTurnInputRequest.fromPartial({ sessionId, input: { items: [] } })))).reason).toBe(
        'INPUT_EMPTY',
      );
      expect((await rejection(enqueue(sessionId, 'x', { deliveryPolicy: 7 as never }))).reason).toBe('ENUM_VALUE_UNKNOWN');
      expect((await rejection(enqueue(sessionId, 'x', { id: 'x'.repeat(300) }))).reason).toBe('ID_TOO_LONG');
      expect((await suite.s.clients.queue.listQueuedWork({ sessionId })).batches).toEqual([]);
    });
  });

  describe.skipIf(!engine.enabled)(`queue workers on ${engine.name}`, () => {
    let s: TestServer;
    beforeAll(async () => {
      s = await startTestServer(engine, { LASH_QUEUE_WORKERS: '2', LASH_QUEUE_POLL_MS: '200' });
    });
    afterAll(async () => s?.close());

    it('34: with workers on, work enqueued to an idle session runs without a drain call and its events reach observers', async () => {
      await s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'auto' }));
      const o = observe(s.clients, 'auto');
      await o.waitFor((m) => m.length >= 1);
      const b = await s.clients.queue.enqueueTurnInput(EnqueueTurnInputRequest.fromPartial({ sessionId: 'auto', input: textInput('run by a worker') }));
      const done = await s.clients.queue.awaitQueuedWorkBatch({ sessionId: 'auto', batchId: b.batch!.batchId }, { deadlineMs: 20_000 });
      expect(done.status).toBe(AwaitStatus.AWAIT_STATUS_DONE);
      await o.waitFor((m) => m.some((x) => payloadCase(x) === 'committed'));
      expect(o.events().map(payloadCase)).toEqual(expect.arrayContaining(['queueChanged', 'turnActivity', 'committed']));
      const view = await s.clients.sessions.getReadView({ sessionId: 'auto', pageSize: 0, pageToken: '' });
      expect(JSON.stringify(view.messages)).toContain('run by a worker');
      o.close();
    });
  });
}
