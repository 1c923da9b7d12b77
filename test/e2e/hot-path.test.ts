// The turn's hot path as the store counts it (deterministic, per database): an echo turn on a
// resident session with an idle queue sends at most 4 statements besides its feed appends. With
// the writer linger (ADR 0079, the default) a session this replica wrote last keeps its lease
// here, idle: the admission only reads, and the commit (which also stores the feed's tail and
// keeps the lease idle) is the turn's one write. With the linger off the lease take and the
// commit are its two writes and the lease is gone when the turn returns. A turn after a quiet
// turn here sends no admission at all (ADR 0082, test/e2e/known-start.test.ts).
// A drained batch adds only its claim; an admin write costs what a turn does. And free text is
// stored losslessly: NUL (and other text jsonb refuses) round-trips through the read view and
// the export, whether it came by AppendMessages or as RunTurn input.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwaitStatus, EnqueueTurnInputRequest } from '../../gen/lash/v1/queue_service.js';
import { OpenSessionRequest, UpdateSessionConfigRequest } from '../../gen/lash/v1/session_service.js';
import { PromptSlot } from '../../gen/lash/v1/session.js';
import { engines } from '../support/engines.js';
import { isCommitStatement, quietServerEnv } from '../support/counted-turns.js';
import { rejection, startTestServer, type TestServer } from '../support/server.js';
import { drainQueue, runTurn, textInput } from '../support/turns.js';

for (const engine of engines) {
  for (const linger of ['60000', '0']) {
    const sticky = linger !== '0';
    describe.skipIf(!engine.enabled)(`hot path on ${engine.name}, writer linger ${linger} ms`, () => {
      let s: TestServer;
      let n = 0;
      const open = async () => {
        const sessionId = `hot-${++n}`;
        await s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId }));
        return sessionId;
      };
      /** The lease a session is left with: this replica's idle one with the linger, none without. */
      const leaseLeft = async (sessionId: string) => {
        const holder = await s.app.turns['deps'].leases.holder('default', sessionId);
        if (sticky) expect(holder?.owner).toBe(`${s.app.replicaId}/~idle`);
        else expect(holder).toBeUndefined();
      };

      /** Statements the store saw while `fn` ran (feed appends drained first and listed apart). */
      const counted = async (fn: () => Promise<unknown>) => {
        const stats = s.app.db.stats;
        await s.app.feed.appender.drain();
        const trace: string[] = [];
        stats.trace = trace;
        const before = { statements: stats.statements, writes: stats.writeTransactions };
        await fn();
        await s.app.feed.appender.drain();
        stats.trace = undefined;
        const feed = trace.filter((t) => /\bfeed_(events|heads)\b/.test(t) && !/\bsession_leases\b/.test(t));
        // The audit trail is written in batches off the request path (ADR 0046): listed apart too.
        const audit = trace.filter((t) => /^insert into audit_records\b/.test(t));
        return {
          total: stats.statements - before.statements,
          writes: stats.writeTransactions - before.writes - audit.length,
          feed: feed.length,
          other: trace.filter((t) => !feed.includes(t) && !audit.includes(t)),
          trace,
        };
      };

      beforeAll(async () => {
        s = await startTestServer(engine, quietServerEnv(linger));
      });
      afterAll(async () => {
        await s?.close();
      });

      it(`an echo turn on an idle queue sends at most 4 statements besides its feed appends, ${sticky ? "one writing (the commit with the feed's tail, keeping the lease idle)" : "two writing (lease take, commit with the feed's tail)"}`, async () => {
        const sessionId = await open();
        for (const [i, turnId] of ['', 'client-chosen-1', ''].entries()) {
          const c = await counted(async () => {
            const t = await runTurn(s.clients, { sessionId, turnId, input: textInput('hello hot path') });
            expect(t.result?.outcome?.$case).toBe('finished');
          });
          // What the turn itself sent: the admission (lease + start reads) and the commit (+ lease end).
          expect(c.other.length, c.other.join('\n')).toBeLessThanOrEqual(4);
          // With the linger, a server-chosen id after a quiet turn here starts from the head that
          // turn committed (ADR 0082): its commit is its one statement.
          expect(c.other.length, c.other.join('\n')).toBe(sticky && i === 2 ? 1 : 2);
          expect(c.other.some((t) => /\bqueue_batches\b/.test(t) && !/\bsession_leases\b/.test(t))).toBe(false);
          // The commit also stores the feed events still waiting and the committed marker: no feed
          // append follows it. The first turn takes the lease (creating a session takes no writer);
          // with the linger the later ones only read it at their admission (the lease the previous
          // turn's commit kept idle here), so the commit is their one write.
          expect(c.writes - c.feed).toBe(sticky && i > 0 ? 1 : 2);
          const commitAt = c.trace.findIndex(isCommitStatement);
          expect(commitAt, c.trace.join('\n')).toBeGreaterThanOrEqual(0);
          expect(
            c.trace.slice(commitAt + 1).filter((t) => /\bfeed_heads\b/.test(t)),
            c.trace.join('\n'),
          ).toEqual([]);
        }
        await leaseLeft(sessionId);
      });

      it('a drained batch sends at most 4 statements besides its feed appends and bus notice: start read, admission, claim, commit', async () => {
        const sessionId = await open();
        await runTurn(s.clients, { sessionId, input: textInput('warm') });
        const enqueued = await s.clients.queue.enqueueTurnInput(EnqueueTurnInputRequest.fromPartial({ sessionId, input: textInput('queued work') }));
        const c = await counted(async () => {
          const d = await drainQueue(s.clients, { sessionId });
          expect(d.result?.outcome?.$case).toBe('finished');
        });
        const own = c.other.filter((t) => !/pg_notify/.test(t));
        expect(own.length, own.join('\n')).toBeLessThanOrEqual(4);
        expect((await s.clients.queue.awaitQueuedWorkBatch({ sessionId, batchId: enqueued.batch!.batchId })).status).toBe(AwaitStatus.AWAIT_STATUS_DONE);
        await leaseLeft(sessionId);
      });

      it('an admin write (AppendMessages) takes its writer with the head read and ends it with its commit: 2 statements besides feed appends', async () => {
        const sessionId = await open();
        const append = (id: string) =>
          s.clients.admin.appendMessages({ sessionId, messages: [{ id, role: 1, parts: [{ kind: { $case: 'text', value: { text: id } } }] }] });
        await append('first');
        const c = await counted(() => append('second'));
        expect(c.other.length, c.other.join('\n')).toBe(2);
        expect(c.writes - c.feed).toBe(sticky ? 1 : 2);
        await leaseLeft(sessionId);
      });

      it('NUL and other hard text round-trip exactly through the read view and the export, from AppendMessages and from RunTurn input', async () => {
        const sessionId = await open();
        const appended = 'nul:\u0000|tab:\t|astral:\u{1F468}\u200D\u{1F469}|rtl:\u05D0|combining:e\u0301|end';
        const input = 'turn nul:\u0000\u0000 done';
        await s.clients.admin.appendMessages({
          sessionId,
          messages: [{ id: 'm-nul', role: 1, parts: [{ kind: { $case: 'text', value: { text: appended } } }] }],
        });
        const t = await runTurn(s.clients, { sessionId, input: textInput(input) });
        expect(t.error).toBeUndefined();
        expect(t.result?.outcome?.$case).toBe('finished');
        const view = await s.clients.sessions.getReadView({ sessionId, pageSize: 0, pageToken: '' });
        const texts = view.messages.flatMap((m) => m.parts.map((p) => (p.kind?.$case === 'text' ? p.kind.value.text : '')));
        expect(texts).toContain(appended);
        expect(texts).toContain(input);
        const state = await s.clients.sessions.exportSessionState({ sessionId });
        const doc = JSON.stringify(state.state?.document);
        expect(doc).toContain(JSON.stringify(appended).slice(1, -1));
        expect(doc).toContain(JSON.stringify(input).slice(1, -1));
        // A prompt contribution is configuration text: NUL is refused there (TEXT_HAS_NUL, see the
        // README), while other hard characters are kept exactly in the session policy (JSON text).
        expect(
          (
            await rejection(
              s.clients.sessions.updateSessionConfig(
                UpdateSessionConfigRequest.fromPartial({
                  sessionId,
                  prompt: { slots: [{ slot: PromptSlot.PROMPT_SLOT_GUIDANCE, contributions: [{ priority: 0, content: 'guide:\u0000:end' }] }] },
                }),
              ),
            )
          ).reason,
        ).toBe('TEXT_HAS_NUL');
        const guide = 'guide:\u0001 \u202e 😀 5n:end';
        await s.clients.sessions.updateSessionConfig(
          UpdateSessionConfigRequest.fromPartial({
            sessionId,
            prompt: { slots: [{ slot: PromptSlot.PROMPT_SLOT_GUIDANCE, contributions: [{ priority: 0, content: guide }] }] },
          }),
        );
        expect(
          JSON.stringify((await s.clients.sessions.getSession({ sessionId })).session?.spec, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)),
        ).toContain(JSON.stringify(guide).slice(1, -1));
        // GetTurn reads the committed result (JSON text too).
        const got = await s.clients.turns.getTurn({ sessionId, turnId: t.result!.turnId });
        expect(got.result?.assistantOutput?.rawText).toContain('\u0000');
      });
    });
  }
}
