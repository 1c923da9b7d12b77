// Resource limits over real gRPC (issue 18): the rlm sandbox's thread pool never runs more
// threads than LASH_SANDBOX_THREADS, queues a bounded number of blocks and fails the rest as
// "sandbox busy" — a block error the model reads, never a crash; run_child creates a bounded
// number of children per turn and per root, and a child turn never outlives (or commits after)
// the parent turn or block that started it.

import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CreateChildSessionRequest } from '../../gen/lash/v1/admin_service.js';
import { SessionStatus } from '../../gen/lash/v1/session.js';
import { SessionMode } from '../../gen/lash/v1/session.js';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { engines } from '../support/engines.js';
import { startFakeModelServer, type FakeModelServer, type RecordedRequest } from '../support/fake-model-server.js';
import { errorInfoOf } from '../../src/grpc/errors.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { runTurn, startRunTurn, textInput, until as waitFor, type StreamedTurn } from '../support/turns.js';

const js = (code: string) => ({ steps: [{ text: '```js\n' + code + '\n```' }] });
const lastUser = (r: RecordedRequest) =>
  String((r.body.messages as { role: string; content: string }[]).filter((m) => m.role === 'user').at(-1)?.content ?? '');
const blockErrors = (t: StreamedTurn) =>
  t.events.filter((e) => e.kind?.$case === 'codeBlockCompleted').map((e) => (e.kind as { value: { error?: string } }).value.error ?? '');

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`resource limits on ${engine.name}`, () => {
    let s: TestServer;
    let fake: FakeModelServer;
    let n = 0;

    beforeAll(async () => {
      fake = await startFakeModelServer();
      // "spin" blocks loop until the time limit; after any block error the model answers in prose.
      fake.setDefault((req) =>
        /^(Output|Error)/.test(lastUser(req)) ? { steps: [{ text: 'gave up' }] } : js(lastUser(req) === 'spin' ? 'while (true) {}' : 'submit("ran");'),
      );
      s = await startTestServer(engine, {
        OPENAI_BASE_URL: fake.url,
        LASH_DEFAULT_PROVIDER: 'openai-compatible',
        LASH_DEFAULT_MODEL: 'fake-model',
        LASH_QUEUE_WORKERS: '0',
        LASH_SANDBOX_TIME_MS: '60000',
        LASH_SANDBOX_THREADS: '2',
        LASH_SANDBOX_QUEUE: '1',
        LASH_SANDBOX_QUEUE_WAIT_MS: '60000',
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
      await waitFor(() => s.app.sandbox.stats().busy === 2 && s.app.sandbox.stats().queued === 1);
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

  describe.skipIf(!engine.enabled)(`run_child fan-out limits on ${engine.name}`, () => {
    let s: TestServer;
    let fake: FakeModelServer;
    let n = 0;
    const call = (child_session_id: string, task = 'work') => ({ toolCall: { name: 'run_child', args: { child_session_id, task } } });
    const completed = (t: StreamedTurn) =>
      t.events.filter((e) => e.kind?.$case === 'toolCallCompleted').map((e) => (e.kind as { value: { isError: boolean; output: unknown } }).value);
    const exists = (sessionId: string) =>
      s.clients.sessions.getSession({ sessionId }).then(
        () => true,
        (err: { code: number }) => (err.code === status.NOT_FOUND ? false : Promise.reject(err)),
      );
    const open = async (mode = SessionMode.SESSION_MODE_STANDARD) => {
      const sessionId = `fan-${++n}`;
      await s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId, mode }));
      return sessionId;
    };
    /** Nothing of the child runs any more and its one turn has committed. */
    const settled = async (childId: string) => {
      expect(s.app.turns.registry.active('default', childId)).toEqual([]);
      const child = (await s.clients.sessions.getSession({ sessionId: childId })).session!;
      expect(child.turnIndex).toBe(1n);
      expect(child.status).not.toBe(SessionStatus.SESSION_STATUS_RUNNING);
    };

    beforeAll(async () => {
      fake = await startFakeModelServer();
      // No cancel grace: a parent that did not wait for its children would commit before them.
      s = await startTestServer(engine, {
        OPENAI_BASE_URL: fake.url,
        LASH_DEFAULT_PROVIDER: 'openai-compatible',
        LASH_DEFAULT_MODEL: 'fake-model',
        LASH_QUEUE_WORKERS: '0',
        LASH_TOOLS: 'run_child',
        LASH_CHILDREN_PER_TURN: '2',
        LASH_CHILDREN_PER_ROOT: '3',
        LASH_CANCEL_GRACE_MS: '0',
        LASH_SANDBOX_TIME_MS: '1500',
      });
    });
    afterAll(async () => {
      await s?.close();
      await fake?.close();
    });
    beforeEach(() => fake.reset());

    it('past LASH_CHILDREN_PER_TURN, run_child is a tool error that creates nothing; the turn goes on', async () => {
      const parent = await open();
      fake.script(
        { steps: [call(`${parent}-a`), call(`${parent}-b`), call(`${parent}-c`)] },
        { steps: [{ text: 'child done' }] },
        { steps: [{ text: 'child done' }] },
        { steps: [{ text: 'parent done' }] },
      );
      const t = await runTurn(s.clients, { sessionId: parent, input: textInput('fan out') });
      const calls = completed(t);
      expect(calls.filter((c) => c.isError).map((c) => c.output)).toEqual([{ error: expect.stringContaining('this turn already created 2 child sessions') }]);
      const made = await Promise.all(['a', 'b', 'c'].map((k) => exists(`${parent}-${k}`)));
      expect(made.filter(Boolean)).toHaveLength(2);
      expect(t.result?.outcome?.$case).toBe('finished');
    });

    it('past LASH_CHILDREN_PER_ROOT sessions in the tree, run_child refuses a new child and still runs an existing one', async () => {
      const root = await open();
      await s.clients.admin.createChildSession(CreateChildSessionRequest.fromPartial({ sessionId: root, childSessionId: `${root}-1` }));
      await s.clients.admin.createChildSession(CreateChildSessionRequest.fromPartial({ sessionId: `${root}-1`, childSessionId: `${root}-1-1` }));
      await s.clients.admin.createChildSession(CreateChildSessionRequest.fromPartial({ sessionId: root, childSessionId: `${root}-2` }));
      // From a grandchild's turn: the tree of the root counts, not the caller's own children.
      fake.script({ steps: [call(`${root}-1-1-new`)] }, { steps: [{ text: 'then not' }] });
      const deep = await runTurn(s.clients, { sessionId: `${root}-1-1`, input: textInput('delegate') });
      expect(completed(deep)[0]).toMatchObject({
        isError: true,
        output: { error: expect.stringContaining(`root session "${root}" already has 3 sessions below it`) },
      });
      expect(await exists(`${root}-1-1-new`)).toBe(false);
      fake.script({ steps: [call(`${root}-1`)] }, { steps: [{ text: 'ran' }] }, { steps: [{ text: 'ok' }] });
      const again = await runTurn(s.clients, { sessionId: root, input: textInput('reuse') });
      expect(completed(again)[0]).toMatchObject({ isError: false, output: { child_session_id: `${root}-1`, answer: 'ran' } });
    });

    it('a block that hits its time limit cancels the child turn it started; the parent commits after the child', async () => {
      const parent = await open(SessionMode.SESSION_MODE_RLM);
      const kid = `${parent}-kid`;
      fake.script(js(`await run_child({child_session_id: "${kid}", task: "hang"}); submit("never");`), { steps: [{ hang: true }] }, js('submit("gave up");'));
      const t = await runTurn(s.clients, { sessionId: parent, input: textInput('delegate') });
      expect(blockErrors(t)[0]).toMatch(/time limit of 1500 ms exceeded/);
      expect(t.result?.outcome).toMatchObject({ $case: 'finished', value: { answer: { $case: 'submittedValue', value: { value: 'gave up' } } } });
      await settled(kid);
    });

    it('cancelling the parent turn cancels the running child turn, and the parent commits only after the child', async () => {
      // The child spins in its sandbox: it stops only when its thread is killed, well after the
      // parent (with no cancel grace) could have committed.
      const parent = await open(SessionMode.SESSION_MODE_RLM);
      const kid = `${parent}-kid`;
      fake.script(js(`await run_child({child_session_id: "${kid}", task: "spin"}); submit("never");`), js('while (true) {}'));
      const running = startRunTurn(s.clients, { sessionId: parent, turnId: 'cancel-parent', input: textInput('go') });
      await waitFor(() => s.app.sandbox.stats().busy === 2);
      await s.clients.turns.cancelTurn({ sessionId: parent, turnId: 'cancel-parent' });
      const t = await running.done;
      expect(t.result?.outcome).toMatchObject({ $case: 'stopped' });
      await settled(kid);
    });
  });

  describe.skipIf(!engine.enabled)(`turn slots on ${engine.name}`, () => {
    let s: TestServer;
    let fake: FakeModelServer;

    beforeAll(async () => {
      fake = await startFakeModelServer();
      s = await startTestServer(engine, {
        OPENAI_BASE_URL: fake.url,
        LASH_DEFAULT_PROVIDER: 'openai-compatible',
        LASH_DEFAULT_MODEL: 'fake-model',
        LASH_QUEUE_WORKERS: '0',
        LASH_MAX_RUNNING_TURNS: '1',
        LASH_TURN_QUEUE: '1',
        LASH_TURN_QUEUE_WAIT_MS: '60000',
      });
      for (const id of ['adm-a', 'adm-b', 'adm-c']) await s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: id }));
    });
    afterAll(async () => {
      await s?.close();
      await fake?.close();
    });

    it('past LASH_MAX_RUNNING_TURNS a turn waits; past LASH_TURN_QUEUE it is refused with RESOURCE_EXHAUSTED, TOO_MANY_TURNS and a retry hint, and runs nothing', async () => {
      fake.script({ steps: [{ hang: true }] });
      const a = startRunTurn(s.clients, { sessionId: 'adm-a', turnId: 'a', input: textInput('hang') });
      await waitFor(() => fake.requests.length === 1);
      const b = startRunTurn(s.clients, { sessionId: 'adm-b', input: textInput('b waits') });
      await waitFor(() => s.app.turnSlots.stats().waiting === 1);
      const c = await startRunTurn(s.clients, { sessionId: 'adm-c', input: textInput('c is refused') }).done;
      expect(c.error?.code).toBe(status.RESOURCE_EXHAUSTED);
      const info = errorInfoOf(c.error!);
      expect(info).toMatchObject({ reason: 'TOO_MANY_TURNS', metadata: { retry_after_ms: '1000', max_running_turns: '1' } });
      expect(fake.requests).toHaveLength(1);
      expect((await s.clients.sessions.getSession({ sessionId: 'adm-c' })).session?.turnIndex).toBe(0n);
      // When the running turn ends, the waiting one starts.
      await s.clients.turns.cancelTurn({ sessionId: 'adm-a', turnId: 'a' });
      expect((await a.done).result?.outcome?.$case).toBe('stopped');
      expect((await b.done).result?.outcome).toMatchObject({ $case: 'finished', value: { answer: { $case: 'assistantMessage', value: { text: 'b waits' } } } });
      expect(s.app.turnSlots.stats()).toEqual({ running: 0, waiting: 0, rejected: 1 });
    });
  });
}
