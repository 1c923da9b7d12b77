// DeleteSession ends everything that watches the session: a running turn is cancelled first (its
// caller gets the cancelled result), observers end with NOT_FOUND / SESSION_DELETED, queue
// waiters answer UNKNOWN at once, here and on another replica (PostgreSQL).

import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { AwaitStatus, EnqueueTurnInputRequest } from '../../gen/lash/v1/queue_service.js';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { StopReason } from '../../gen/lash/v1/turn.js';
import { errorInfoOf } from '../../src/grpc/errors.js';
import { engines } from '../support/engines.js';
import { fakeModelSuite } from '../support/fake-model-suite.js';
import { observe, payloadCase, type Observed } from '../support/observe.js';
import { runTurn, startRunTurn, textInput, until } from '../support/turns.js';

const reasonOf = (o: Observed) => errorInfoOf(o.error as unknown as { metadata: import('@grpc/grpc-js').Metadata })?.reason;

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`DeleteSession ends its streams on ${engine.name}`, () => {
    // Workers off and the safety-net poll slow: only the delete itself can end a queue waiter.
    const suite = fakeModelSuite(engine, { prefix: 'del', env: { LASH_FEED_HEARTBEAT_MS: '200', LASH_QUEUE_WORKERS: '0', LASH_QUEUE_POLL_MS: '60000' } });
    const open = () => suite.open();

    it('an attached observer ends with NOT_FOUND / SESSION_DELETED instead of heartbeating forever', async () => {
      const sessionId = await open();
      const o = observe(suite.s.clients, sessionId);
      await o.waitFor((m) => m.length >= 1);
      expect((await suite.s.clients.sessions.deleteSession({ sessionId })).deleted).toBe(true);
      await until(() => o.error !== undefined || o.ended);
      expect(o.error?.code).toBe(status.NOT_FOUND);
      expect(reasonOf(o)).toBe('SESSION_DELETED');
    });

    it('a delete while a turn runs cancels the turn first: its caller gets the cancelled result, the observer ends with SESSION_DELETED', async () => {
      const sessionId = await open();
      const o = observe(suite.s.clients, sessionId);
      await o.waitFor((m) => m.length >= 1);
      suite.fake.script({ steps: [{ text: 'partial ' }, { hang: true }] });
      const running = startRunTurn(suite.s.clients, { sessionId, turnId: 'doomed', input: textInput('long job') });
      await running.firstEvent;
      // Without the cancel the delete would wait for a model stream that never ends.
      expect((await suite.s.clients.sessions.deleteSession({ sessionId })).deleted).toBe(true);
      const t = await running.done;
      expect(t.result?.outcome).toMatchObject({ $case: 'stopped', value: { reason: StopReason.STOP_REASON_CANCELLED } });
      await until(() => o.error !== undefined || o.ended);
      expect(o.error?.code).toBe(status.NOT_FOUND);
      expect(reasonOf(o)).toBe('SESSION_DELETED');
      await expect(suite.s.clients.sessions.getSession({ sessionId })).rejects.toMatchObject({ code: status.NOT_FOUND });
    });

    it('an observer of the re-created id is not ended by the delete of the earlier one, and sees its events', async () => {
      const sessionId = await open();
      const old = observe(suite.s.clients, sessionId);
      await old.waitFor((m) => m.length >= 1);
      await suite.s.clients.sessions.deleteSession({ sessionId });
      await until(() => old.error !== undefined || old.ended);
      await suite.s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId }));
      const fresh = observe(suite.s.clients, sessionId);
      await fresh.waitFor((m) => m.length >= 1);
      await runTurn(suite.s.clients, { sessionId, input: textInput('second life') });
      await fresh.waitFor((m) => m.some((x) => payloadCase(x) === 'committed'));
      expect(fresh.error).toBeUndefined();
      fresh.close();
    });

    it('a queue waiter of a deleted session answers UNKNOWN when the session is deleted', async () => {
      const sessionId = await open();
      const b = await suite.s.clients.queue.enqueueTurnInput(EnqueueTurnInputRequest.fromPartial({ sessionId, input: textInput('never drained') }));
      let settled = false;
      const waiting = suite.s.clients.queue.awaitQueuedWorkBatch({ sessionId, batchId: b.batch!.batchId }).finally(() => (settled = true));
      await new Promise((r) => setTimeout(r, 100));
      expect(settled).toBe(false);
      await suite.s.clients.sessions.deleteSession({ sessionId });
      // The safety-net poll is a minute away: only the delete's bus message can wake the waiter.
      await until(() => settled, 10_000);
      expect((await waiting).status).toBe(AwaitStatus.AWAIT_STATUS_UNKNOWN);
    });

    it.skipIf(engine.name !== 'postgresql')(
      'a delete on one replica cancels the turn running on another and ends its observers and queue waiters',
      async () => {
        const sessionId = await open();
        const other = await suite.s.restart();
        try {
          const o = observe(other.clients, sessionId);
          await o.waitFor((m) => m.length >= 1);
          const b = await other.clients.queue.enqueueTurnInput(EnqueueTurnInputRequest.fromPartial({ sessionId, input: textInput('never drained') }));
          const waiting = other.clients.queue.awaitQueuedWorkBatch({ sessionId, batchId: b.batch!.batchId });
          suite.fake.script({ steps: [{ text: 'remote ' }, { hang: true }] });
          const running = startRunTurn(other.clients, { sessionId, turnId: 'remote', input: textInput('hang on the other replica') });
          await running.firstEvent;
          expect((await suite.s.clients.sessions.deleteSession({ sessionId })).deleted).toBe(true);
          expect((await running.done).result?.outcome).toMatchObject({ $case: 'stopped', value: { reason: StopReason.STOP_REASON_CANCELLED } });
          await until(() => o.error !== undefined || o.ended);
          expect(o.error?.code).toBe(status.NOT_FOUND);
          expect(reasonOf(o)).toBe('SESSION_DELETED');
          expect((await waiting).status).toBe(AwaitStatus.AWAIT_STATUS_UNKNOWN);
        } finally {
          await other.stop();
        }
      },
    );
  });
}
