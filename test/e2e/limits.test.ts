// Resource limits over real gRPC (issue 18): the rlm sandbox's thread pool never runs more
// threads than LASH_SANDBOX_THREADS, queues a bounded number of blocks and fails the rest as
// "sandbox busy" — a block error the model reads, never a crash.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionMode } from '../../gen/lash/v1/session.js';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { engines } from '../support/engines.js';
import { startFakeModelServer, type FakeModelServer, type RecordedRequest } from '../support/fake-model-server.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { startRunTurn, textInput, type StreamedTurn } from '../support/turns.js';

const js = (code: string) => ({ steps: [{ text: '```js\n' + code + '\n```' }] });
const lastUser = (r: RecordedRequest) => String((r.body.messages as { role: string; content: string }[]).filter((m) => m.role === 'user').at(-1)?.content ?? '');
const blockErrors = (t: StreamedTurn) => t.events.filter((e) => e.kind?.$case === 'codeBlockCompleted').map((e) => (e.kind as { value: { error?: string } }).value.error ?? '');

async function until(what: () => boolean): Promise<void> {
  for (let i = 0; i < 3_000 && !what(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(what()).toBe(true);
}

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`resource limits on ${engine.name}`, () => {
    let s: TestServer;
    let fake: FakeModelServer;
    let n = 0;

    beforeAll(async () => {
      fake = await startFakeModelServer();
      // "spin" blocks loop until the time limit; after any block error the model answers in prose.
      fake.setDefault((req) => (/^(Output|Error)/.test(lastUser(req)) ? { steps: [{ text: 'gave up' }] } : js(lastUser(req) === 'spin' ? 'while (true) {}' : 'submit("ran");')));
      s = await startTestServer(engine, {
        OPENAI_BASE_URL: fake.url, LASH_DEFAULT_PROVIDER: 'openai-compatible', LASH_DEFAULT_MODEL: 'fake-model', LASH_QUEUE_WORKERS: '0',
        LASH_SANDBOX_TIME_MS: '60000', LASH_SANDBOX_THREADS: '2', LASH_SANDBOX_QUEUE: '1', LASH_SANDBOX_QUEUE_WAIT_MS: '60000',
      });
    });
    afterAll(async () => {
      await s?.close();
      await fake?.close();
    });

    const open = async () => {
      const sessionId = `lim-${++n}`;
      await s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId, mode: SessionMode.SESSION_MODE_RLM }));
      return sessionId;
    };

    it('more concurrent endless blocks than LASH_SANDBOX_THREADS run on at most that many threads; past the queue a block fails as sandbox busy', async () => {
      const spinning: { sessionId: string; turnId: string; done: Promise<StreamedTurn> }[] = [];
      for (let i = 0; i < 3; i++) {
        const sessionId = await open();
        const turnId = `spin-${i}`;
        spinning.push({ sessionId, turnId, done: startRunTurn(s.clients, { sessionId, turnId, input: textInput('spin') }).done });
      }
      // Two blocks spin on the two threads, the third waits in the one-place queue.
      await until(() => s.app.sandbox.stats().busy === 2 && s.app.sandbox.stats().queued === 1);
      const extra = await startRunTurn(s.clients, { sessionId: await open(), input: textInput('spin'), rlm: { proseOrSubmit: true } }).done;
      expect(blockErrors(extra)[0]).toMatch(/^sandbox busy: all 2 sandbox threads are running and 1 blocks are already waiting/);
      expect(extra.result?.outcome).toMatchObject({ $case: 'finished', value: { answer: { $case: 'assistantMessage', value: { text: 'gave up' } } } });
      expect(fake.requests.some((r) => lastUser(r).includes('sandbox busy'))).toBe(true);
      // Cancelling the spinning turns frees their threads; the queued block gets one, and is cancelled in turn.
      for (const t of spinning) await s.clients.turns.cancelTurn({ sessionId: t.sessionId, turnId: t.turnId });
      const done = await Promise.all(spinning.map((t) => t.done));
      expect(done.map((t) => t.result?.outcome?.$case)).toEqual(['stopped', 'stopped', 'stopped']);
      expect(s.app.sandbox.stats()).toMatchObject({ peakThreads: 2, busy: 0, queued: 0, rejectedBusy: 1 });
      // The pool still serves blocks afterwards.
      const after = await startRunTurn(s.clients, { sessionId: await open(), input: textInput('go') }).done;
      expect(after.result?.outcome).toMatchObject({ $case: 'finished', value: { answer: { $case: 'submittedValue', value: { value: 'ran' } } } });
    });
  });
}
