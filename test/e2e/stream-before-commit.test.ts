// A turn alone in its process lets what it streamed reach the caller before its commit is
// written (ADR 0082). Observed without timing, as an order of events in one process: when the
// client receives the turn's first delta, the store has not yet been sent the commit statement.
// The turn starts from its known start (ADR 0082), so nothing waits between its start and its
// commit: without the wait before the commit, the commit would always be sent first. The wait
// holds the feed's waiting events for the commit, so the turn still writes once.
// And a model call's first text leaves before the rest of the turn is computed (ADR 0084): when the
// client has it, the running turn has produced nothing after it — with the scripted model, which
// never waits, the whole model call would otherwise run first. The feed lane's pause during that
// wait is what keeps the first test's feed statements at none.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { RunTurnRequest, type RunTurnResponse } from '../../gen/lash/v1/turn_service.js';
import { isCommitStatement, quietServerEnv } from '../support/counted-turns.js';
import { engines } from '../support/engines.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { runTurn, textInput } from '../support/turns.js';
import { scriptedText } from '../../src/providers/scripted.js';

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`stream before commit on ${engine.name}`, () => {
    let s: TestServer;

    beforeAll(async () => {
      s = await startTestServer(engine, { ...quietServerEnv(), LASH_SCRIPTED_PROVIDER: '1' });
    });
    afterAll(async () => {
      await s?.close();
    });

    it('a turn alone in the process: its first delta reaches the client before its commit statement is sent, every delta in order', async () => {
      const sessionId = 'alone';
      await s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId }));
      await runTurn(s.clients, { sessionId, input: textInput('warm') });
      for (const text of ['one two three', 'four five six']) {
        await s.app.feed.appender.drain();
        const trace: string[] = [];
        s.app.db.stats.trace = trace;
        let commitSentAtFirstDelta: boolean | undefined;
        let deltas = '';
        await new Promise<void>((resolve, reject) => {
          const call = s.clients.turns.raw.runTurn(RunTurnRequest.fromPartial({ sessionId, input: textInput(text) }));
          call.on('data', (m: RunTurnResponse) => {
            for (const a of m.activities) {
              if (a.item?.$case !== 'event' || a.item.value.kind?.$case !== 'assistantProseDelta') continue;
              commitSentAtFirstDelta ??= trace.some(isCommitStatement);
              deltas += a.item.value.kind.value.text;
            }
          });
          call.on('error', reject);
          call.on('end', resolve);
        });
        await s.app.feed.appender.drain();
        s.app.db.stats.trace = undefined;
        expect(trace.some(isCommitStatement), trace.join('\n')).toBe(true);
        // The wait comes after the commit took the feed's waiting events: it stores them, and the
        // feed writes nothing of its own for the turn (one writing statement, as without the wait).
        expect(
          trace.filter((t) => /\bfeed_(heads|batches)\b/.test(t) && !isCommitStatement(t)),
          trace.join('\n'),
        ).toEqual([]);
        expect(commitSentAtFirstDelta, trace.join('\n')).toBe(false);
        expect(deltas).toBe(text);
      }
    });

    it('a turn alone in the process: its first text reaches the client before the turn reads the model further', async () => {
      const sessionId = 'alone-first-text';
      await s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId, spec: { providerId: 'scripted', model: { id: 'tokens-20' } } }));
      await runTurn(s.clients, { sessionId, input: textInput('warm') });
      for (let round = 0; round < 3; round++) {
        await s.app.feed.appender.drain();
        const received: number[] = [];
        let atFirstText: { received: number; produced: number } | undefined;
        let text = '';
        await new Promise<void>((resolve, reject) => {
          const call = s.clients.turns.raw.runTurn(RunTurnRequest.fromPartial({ sessionId, input: textInput('go') }));
          call.on('data', (m: RunTurnResponse) => {
            for (const a of m.activities) {
              received.push(Number(a.sequence));
              if (a.item?.$case !== 'event' || a.item.value.kind?.$case !== 'assistantProseDelta') continue;
              // Every event the running turn has produced so far (its replay buffer, which every
              // event passes through on its way to the stream) is one this client already has.
              const [running] = s.app.turns.registry.active('default', sessionId);
              atFirstText ??= { received: received.length, produced: running?.events.length ?? -1 };
              text += a.item.value.kind.value.text;
            }
          });
          call.on('error', reject);
          call.on('end', resolve);
        });
        expect(text).toBe(scriptedText(20));
        expect(atFirstText!.produced, JSON.stringify({ atFirstText, received })).toBe(atFirstText!.received);
      }
    });
  });
}
