// A turn's known start (ADR 0082): while this replica keeps a session's idle writer lease, a turn
// with a server-chosen id starts from the head its previous turn committed, with no admission
// statement, as long as the session's queue is known quiet. Checked on every engine, by the
// statements the store counts (deterministic): the commit is then the turn's only statement;
// a client-chosen id, an announced enqueue (a session command enqueued here must still apply
// before the next turn), an admin write or the linger off make the turn read as before; the head
// kept is the one the store holds; and a head changed behind the replica's back (which the lease
// rules forbid) costs one refused commit, after which the turn lands on the newer head.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnqueueTurnInputRequest } from '../../gen/lash/v1/queue_service.js';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import type { SessionWriters } from '../../src/domain/session-writers.js';
import { isCommitStatement, quietServerEnv } from '../support/counted-turns.js';
import { engines } from '../support/engines.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { deltasText, runTurn, textInput } from '../support/turns.js';

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`known start on ${engine.name}`, () => {
    let s: TestServer;
    let n = 0;
    const open = async () => {
      const sessionId = `known-${++n}`;
      await s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId }));
      return sessionId;
    };
    const writers = () => s.app.turns['deps'].sessions.writers as SessionWriters;
    /** The head this replica keeps with the session's idle lease (undefined: the next turn reads). */
    const knownHead = (sessionId: string) => writers()['idle'].get(`default\u0000${sessionId}`)?.head;

    /** Statements the store saw while `fn` ran, feed appends and audit writes left out. */
    const statements = async (fn: () => Promise<unknown>) => {
      const stats = s.app.db.stats;
      await s.app.feed.appender.drain();
      const trace: string[] = [];
      stats.trace = trace;
      await fn();
      await s.app.feed.appender.drain();
      stats.trace = undefined;
      return trace.filter((t) => !(/\bfeed_(events|heads)\b/.test(t) && !/\bsession_leases\b/.test(t)) && !/^insert into audit_records\b/.test(t));
    };
    const turn = async (sessionId: string, text: string, turnId = '') => {
      const t = await runTurn(s.clients, { sessionId, turnId, input: textInput(text) });
      expect(t.error, t.error?.details).toBeUndefined();
      expect(t.result?.outcome?.$case).toBe('finished');
      return t;
    };

    beforeAll(async () => {
      s = await startTestServer(engine, quietServerEnv());
    });
    afterAll(async () => {
      await s?.close();
    });

    it('a turn after a quiet turn here sends only its commit; a client-chosen id still reads', async () => {
      const sessionId = await open();
      await turn(sessionId, 'first');
      const quiet = await statements(() => turn(sessionId, 'second'));
      expect(quiet.length, quiet.join('\n')).toBe(1);
      expect(isCommitStatement(quiet[0]!)).toBe(true);
      // A client-chosen id may name a turn committed before (a retry): the admission reads it.
      const chosen = await statements(() => turn(sessionId, 'third', 'chosen-1'));
      expect(chosen.length, chosen.join('\n')).toBe(2);
      expect(isCommitStatement(chosen[0]!)).toBe(false);
      const view = await s.clients.sessions.getReadView({ sessionId, pageSize: 0, pageToken: '' });
      expect(view.turnIndex).toBe(3n);
    });

    it('the head kept for the next turn is the head the store holds', async () => {
      const sessionId = await open();
      await turn(sessionId, 'one');
      await turn(sessionId, 'two');
      const kept = knownHead(sessionId);
      expect(kept).toBeDefined();
      const stored = await s.app.turns['deps'].store.getHead('default', sessionId);
      expect(kept).toEqual(stored);
    });

    it('a session command enqueued here applies before the next turn (the enqueue drops the known start)', async () => {
      const sessionId = await open();
      await turn(sessionId, 'old history');
      await turn(sessionId, 'more history');
      expect(knownHead(sessionId)).toBeDefined();
      await s.clients.admin.resetSession({ sessionId, reason: 'start over', idempotencyKey: `reset-${sessionId}` });
      const t = await turn(sessionId, 'after reset');
      expect(t.result?.turnIndex).toBe(1n);
      const view = await s.clients.sessions.getReadView({ sessionId, pageSize: 0, pageToken: '' });
      expect(JSON.stringify(view.messages)).not.toContain('old history');
      expect((await s.clients.queue.listQueuedWork({ sessionId })).batches).toEqual([]);
    });

    it('queued input waiting makes every later turn read the queue until it is gone', async () => {
      const sessionId = await open();
      await turn(sessionId, 'warm');
      await s.clients.queue.enqueueTurnInput(EnqueueTurnInputRequest.fromPartial({ sessionId, input: textInput('queued') }));
      for (let i = 0; i < 2; i++) {
        const st = await statements(() => turn(sessionId, `turn ${i}`));
        expect(st.length, st.join('\n')).toBeGreaterThanOrEqual(2);
        expect(isCommitStatement(st[0]!), st.join('\n')).toBe(false);
        expect(knownHead(sessionId)).toBeUndefined();
      }
    });

    it('an admin write in between makes the next turn read', async () => {
      const sessionId = await open();
      await turn(sessionId, 'one');
      await turn(sessionId, 'two');
      await s.clients.admin.appendMessages({ sessionId, messages: [{ id: 'admin-1', role: 1, parts: [{ kind: { $case: 'text', value: { text: 'x' } } }] }] });
      expect(knownHead(sessionId)).toBeUndefined();
      const st = await statements(() => turn(sessionId, 'three'));
      expect(st.length, st.join('\n')).toBe(2);
    });

    it('a head changed behind the lease costs one refused commit: the turn lands on the newer head, its deltas sent once', async () => {
      const sessionId = await open();
      await turn(sessionId, 'one');
      await turn(sessionId, 'two');
      const known = knownHead(sessionId)!;
      expect(known).toBeDefined();
      // What the lease rules forbid (a write without the writer lease), to see what a stale start costs.
      await s.app.db.conn().execute(`update sessions set head_revision = head_revision + 1 where tenant_id = 'default' and session_id = ?`, [sessionId]);
      let t: Awaited<ReturnType<typeof turn>> | undefined;
      const st = await statements(async () => (t = await turn(sessionId, 'three')));
      // The commit from the known start is refused (revision), the head is read, the turn commits on it.
      expect(isCommitStatement(st[0]!), st.join('\n')).toBe(true);
      expect(isCommitStatement(st[st.length - 1]!), st.join('\n')).toBe(true);
      expect(st.length, st.join('\n')).toBeGreaterThan(2);
      expect(t!.result?.headRevision).toBe(known.headRevision + 2n);
      expect(t!.result?.turnIndex).toBe(3n);
      expect(deltasText(t!)).toBe('three');
      const view = await s.clients.sessions.getReadView({ sessionId, pageSize: 0, pageToken: '' });
      expect(view.messages.filter((m) => JSON.stringify(m).includes('three'))).toHaveLength(2);
      // Its commit kept the lease idle with the head it stored: the next turn starts from that.
      expect(knownHead(sessionId)?.headRevision).toBe(known.headRevision + 2n);
      expect((await statements(() => turn(sessionId, 'four'))).length).toBe(1);
    });
  });
}
