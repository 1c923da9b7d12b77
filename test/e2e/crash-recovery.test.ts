// kill -9 of the server during a turn: committed turns survive, the interrupted turn is not
// committed, and the session is usable after a restart. Also: SIGTERM drains gracefully.

import { describe, expect, it } from 'vitest';
import { HealthCheckResponse_ServingStatus as Serving } from '../../gen/grpc/health/v1/health.js';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { StopReason } from '../../gen/lash/v1/turn.js';
import { TurnStatus } from '../../gen/lash/v1/turn_service.js';
import { engines } from '../support/engines.js';
import { startChildServer } from '../support/child-server.js';
import { childFixture } from '../support/child-fixture.js';
import { runTurn, startRunTurn, textInput, until } from '../support/turns.js';
import { observe, payloadCase, sequenceProblems } from '../support/observe.js';

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`crash recovery on ${engine.name}`, () => {
    const fx = childFixture(engine, { LASH_LEASE_TTL_MS: '2000' });
    const env = fx.env;

    it('SIGKILL mid-turn loses only the turn in flight; after restart the session works', async () => {
      const a = await startChildServer(env());
      await a.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'crashy' }));
      const committed = await runTurn(a.clients, { sessionId: 'crashy', turnId: 'kept', input: textInput('first') });
      expect(committed.result?.outcome?.$case).toBe('finished');
      const before = observe(a.clients, 'crashy');
      await before.waitFor((m) => m.length >= 1);
      const cursor = before.messages[0]!.cursor;
      before.close();
      fx.fake.script({ steps: [{ text: 'half an ans' }, { hang: true }] });
      const inflight = startRunTurn(a.clients, { sessionId: 'crashy', turnId: 'lost', input: textInput('second') });
      inflight.call.on('error', () => {});
      await inflight.firstEvent;
      expect((await a.kill('SIGKILL')).signal).toBe('SIGKILL');

      const b = await startChildServer(env());
      try {
        const session = await b.clients.sessions.getSession({ sessionId: 'crashy' });
        expect(session.session?.turnIndex).toBe(1n);
        const kept = await b.clients.turns.getTurn({ sessionId: 'crashy', turnId: 'kept' });
        expect(kept.result?.turnId).toBe('kept');
        // The dead process's writer lease is taken at once (it ran on this host, its pid is gone:
        // ADR 0081); the next turn then runs normally.
        fx.fake.reset();
        const next = await runTurn(b.clients, { sessionId: 'crashy', input: textInput('third') });
        expect(next.result?.outcome?.$case).toBe('finished');
        expect(next.result?.turnIndex).toBe(2n);
        const view = await b.clients.sessions.getReadView({ sessionId: 'crashy', pageSize: 0, pageToken: '' });
        expect(JSON.stringify(view.messages)).not.toContain('half an ans');
        // The feed reports the turn that died with its process.
        const after = observe(b.clients, 'crashy', cursor);
        await after.waitFor((m) => m.some((x) => payloadCase(x) === 'committed'));
        const interrupted = after.events().find((m) => payloadCase(m) === 'turnInterrupted');
        expect(interrupted?.kind).toMatchObject({ value: { payload: { value: { turnId: 'lost' } } } });
        expect(sequenceProblems(after.messages)).toEqual([]);
        after.close();
      } finally {
        await b.kill('SIGKILL');
      }
    }, 240_000);

    it('GetTurn of a turn whose server was killed says RUNNING while the dead lease lasts, then INTERRUPTED, also after the next turn', async () => {
      const a = await startChildServer(env());
      await a.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'orphan' }));
      fx.fake.reset();
      fx.fake.script({ steps: [{ text: 'never finished' }, { hang: true }] });
      // The turn's first events must be stored before the kill (they mark it as open in the feed).
      const seen = observe(a.clients, 'orphan');
      await seen.waitFor((m) => m.length >= 1);
      const inflight = startRunTurn(a.clients, { sessionId: 'orphan', turnId: 'dead', input: textInput('go') });
      inflight.call.on('error', () => {});
      await seen.waitFor((m) => m.some((x) => payloadCase(x) === 'turnActivity'));
      seen.close();
      await a.kill('SIGKILL');
      const b = await startChildServer(env());
      try {
        const statuses: (TurnStatus | string)[] = [];
        await until(async () => {
          const s = await b.clients.turns.getTurn({ sessionId: 'orphan', turnId: 'dead' }).then(
            (r) => r.status,
            (e: { code: number }) => `error ${e.code}`,
          );
          if (statuses[statuses.length - 1] !== s) statuses.push(s);
          return s !== TurnStatus.TURN_STATUS_RUNNING;
        }, 30_000);
        // Never NOT_FOUND: running (the lease of the dead process may still hold), then interrupted.
        expect(statuses.filter((x) => x !== TurnStatus.TURN_STATUS_RUNNING)).toEqual([TurnStatus.TURN_STATUS_INTERRUPTED]);
        fx.fake.reset();
        expect((await runTurn(b.clients, { sessionId: 'orphan', input: textInput('again') })).result?.outcome?.$case).toBe('finished');
        // The next turn reported it in the feed: the answer stays INTERRUPTED.
        expect((await b.clients.turns.getTurn({ sessionId: 'orphan', turnId: 'dead' })).status).toBe(TurnStatus.TURN_STATUS_INTERRUPTED);
        await expect(b.clients.turns.getTurn({ sessionId: 'orphan', turnId: 'never-ran' })).rejects.toMatchObject({ code: 5 });
      } finally {
        await b.kill('SIGKILL');
      }
    }, 240_000);

    it('SIGTERM drains: a turn that outlives the grace period is cancelled and committed, and the process exits 0', async () => {
      const c = await startChildServer({ ...env(), LASH_SHUTDOWN_GRACE_MS: '500' });
      await c.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'drained' }));
      fx.fake.reset();
      fx.fake.script({ steps: [{ hang: true }] });
      const inflight = startRunTurn(c.clients, { sessionId: 'drained', turnId: 'on-term', input: textInput('x'), onDisconnect: 2 });
      inflight.call.on('error', () => {});
      await until(() => fx.fake.requests.length === 1);
      const exit = await c.kill('SIGTERM');
      expect(exit.code).toBe(0);
      expect(c.output()).toContain('shutting down');
      const d = await startChildServer(env());
      try {
        const turn = await d.clients.turns.getTurn({ sessionId: 'drained', turnId: 'on-term' });
        expect(turn.result?.outcome?.$case).toBe('stopped');
      } finally {
        await d.kill('SIGKILL');
      }
    }, 240_000);

    it('SIGTERM of an idle server: health answers NOT_SERVING before the port closes, liveness SERVING', async () => {
      // A notice long enough that a loaded test machine's polling client surely lands inside it,
      // and a channel already connected, so the probe's time goes to the answer, not the connect.
      const c = await startChildServer({ ...env(), LASH_SHUTDOWN_NOTICE_MS: '15000', LASH_SHUTDOWN_GRACE_MS: '20000' });
      expect((await c.clients.health.check({ service: '' })).status).toBe(Serving.SERVING);
      c.process.kill('SIGTERM');
      let seen: Serving | string = Serving.SERVING;
      await until(async () => {
        seen = await c.clients.health.check({ service: '' }).then(
          (r) => r.status,
          (e: { code: number }) => `error ${e.code}`,
        );
        return seen !== Serving.SERVING;
      });
      expect(seen).toBe(Serving.NOT_SERVING);
      // The process is alive and draining: a liveness probe must not kill it before its grace.
      expect((await c.clients.health.check({ service: 'liveness' })).status).toBe(Serving.SERVING);
      expect((await c.exited).code).toBe(0);
    }, 240_000);

    it('SIGTERM: the RunTurn caller receives the cancelled result that was committed, and health answers NOT_SERVING meanwhile', async () => {
      // The turn is cancelled when the cancel grace plus a second is what is left of the shutdown grace.
      const c = await startChildServer({ ...env(), LASH_SHUTDOWN_GRACE_MS: '4000', LASH_CANCEL_GRACE_MS: '200' });
      await c.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'term-result' }));
      fx.fake.reset();
      fx.fake.script({ steps: [{ text: 'working on it ' }, { hang: true }] });
      const inflight = startRunTurn(c.clients, { sessionId: 'term-result', turnId: 'cut', input: textInput('x') });
      await inflight.firstEvent;
      c.process.kill('SIGTERM');
      // Health reads SERVING until the signal is handled, then NOT_SERVING (not a refused call).
      let seen: Serving | string = Serving.SERVING;
      await until(async () => {
        seen = await c.clients.health.check({ service: '' }).then(
          (r) => r.status,
          (e: { code: number }) => `error ${e.code}`,
        );
        return seen !== Serving.SERVING;
      });
      expect(seen).toBe(Serving.NOT_SERVING);
      const t = await inflight.done;
      expect(t.error).toBeUndefined();
      expect(t.result?.turnId).toBe('cut');
      expect(t.result?.outcome).toMatchObject({ $case: 'stopped', value: { reason: StopReason.STOP_REASON_CANCELLED } });
      expect((await c.exited).code).toBe(0);
      const d = await startChildServer(env());
      try {
        const turn = await d.clients.turns.getTurn({ sessionId: 'term-result', turnId: 'cut' });
        expect(turn.result?.headRevision).toBe(t.result!.headRevision);
      } finally {
        await d.kill('SIGKILL');
      }
    }, 240_000);
  });
}
