// Process and trigger payloads keep the value rules of the rest of the API (issue 12): a
// non-finite number given in a `google.protobuf.Value` (StartProcess input.payload,
// SignalProcess payload, EmitTrigger payload) reads as the string "Infinity" / "-Infinity" /
// "NaN" in every answer and read path (the call's own response, GetProcess, ListProcesses,
// AwaitProcess, ListProcessEvents, WatchProcessEvents, a trigger's task text and the wake the
// session's model is shown), and in a ResolveCompletion value (the turn, GetTurn, the model and
// the first resolution a later resolve is told); a string holding NUL comes back exactly, and a
// running process whose payload holds one does not break deleting a session.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageRole } from '../../gen/lash/v1/common.js';
import { ResolveCompletionOutcome } from '../../gen/lash/v1/turn_service.js';
import { ProcessKind, ProcessStatus, type ProcessEvent } from '../../gen/lash/v1/process.js';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { engines } from '../support/engines.js';
import { startFakeModelServer, type FakeModelServer } from '../support/fake-model-server.js';
import { finished, processWhen } from '../support/processes.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { connectToolHost } from '../support/tool-host.js';
import { startRunTurn, textInput, until } from '../support/turns.js';

const SENT = { inf: Infinity, ninf: -Infinity, nan: NaN, nul: 'a\u0000b', list: [1, Infinity, 'x\u0000'] };
const READ = { inf: 'Infinity', ninf: '-Infinity', nan: 'NaN', nul: 'a\u0000b', list: [1, 'Infinity', 'x\u0000'] };
const base = { scopeFrameId: '', scopeSessionId: '', wakeSessionId: '', idempotencyKey: '', maxRunMs: 0n };

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`process and trigger values on ${engine.name}`, () => {
    let s: TestServer;
    let fake: FakeModelServer;
    beforeAll(async () => {
      fake = await startFakeModelServer();
      s = await startTestServer(engine, {
        OPENAI_BASE_URL: fake.url,
        LASH_DEFAULT_PROVIDER: 'openai-compatible',
        LASH_DEFAULT_MODEL: 'fake-model',
        LASH_QUEUE_POLL_MS: '100',
        LASH_PROCESS_POLL_MS: '100',
      });
    });
    afterAll(async () => {
      await s?.close();
      await fake?.close();
    });

    const watchAll = (processId: string) =>
      new Promise<ProcessEvent[]>((resolve, reject) => {
        const events: ProcessEvent[] = [];
        const call = s.clients.admin.raw.watchProcessEvents({ processId, afterSeq: 0n });
        call.on('data', (r: { events: ProcessEvent[] }) => events.push(...r.events));
        call.on('end', () => resolve(events));
        call.on('error', reject);
      });

    it('StartProcess and SignalProcess payloads read the same in the response, Get, List, Await, ListProcessEvents and WatchProcessEvents', async () => {
      const started = await s.clients.admin.startProcess({
        ...base,
        kind: ProcessKind.PROCESS_KIND_EXTERNAL,
        input: { task: 'render', sessionId: '', awaitSignal: 'done', payload: SENT },
      });
      const id = started.process!.processId;
      expect(started.process!.input!.payload).toEqual(READ);
      expect((await s.clients.admin.getProcess({ processId: id })).process!.input!.payload).toEqual(READ);
      const listed = await s.clients.admin.listProcesses({ status: 0, visibleInFrameId: '', scopeSessionId: '', sessionId: '', pageSize: 500, pageToken: '' });
      expect(listed.processes.find((p) => p.processId === id)!.input!.payload).toEqual(READ);

      const watched = watchAll(id);
      const signalled = await s.clients.admin.signalProcess({ processId: id, name: 'done', payload: SENT, idempotencyKey: 'sig' });
      expect(signalled.process!.output).toEqual(READ);
      expect(signalled.event!.payload).toEqual({ name: 'done', payload: READ });
      // A retried signal answers from the store: the same spelling.
      const again = await s.clients.admin.signalProcess({ processId: id, name: 'done', payload: SENT, idempotencyKey: 'sig' });
      expect(again.event!.payload).toEqual({ name: 'done', payload: READ });
      expect(again.process!.output).toEqual(READ);
      const awaited = await s.clients.admin.awaitProcess({ processId: id, waitMs: 10_000 });
      expect(awaited.process).toMatchObject({ status: ProcessStatus.PROCESS_STATUS_COMPLETED, output: READ });
      expect((await s.clients.admin.getProcess({ processId: id })).process!.output).toEqual(READ);

      const expectEvents = (events: ProcessEvent[]) => {
        expect(events.map((e) => e.kind)).toEqual(['created', 'signal', 'completed']);
        expect(events[1]!.payload).toEqual({ name: 'done', payload: READ });
        expect(events[2]!.payload).toMatchObject({ status: 'completed', output: READ });
      };
      expectEvents((await s.clients.admin.listProcessEvents({ processId: id, afterSeq: 0n, pageSize: 0 })).events);
      expectEvents(await watched);
      expectEvents(await watchAll(id));
    });

    it('an EmitTrigger payload reads the same in the delivery, the task text, the process output and the wake the model is shown', async () => {
      await s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'values-desk' }));
      await s.clients.admin.putTriggerSubscription({
        subscription: {
          subscriptionId: 'values',
          sourceType: 'webhook',
          sourceKey: 'v-*',
          intervalMs: 0n,
          cron: '',
          timeZone: '',
          template: { kind: ProcessKind.PROCESS_KIND_NOTIFY, task: 'got {{payload}}', sessionId: '', wakeSessionId: 'values-desk', awaitSignal: '' },
        },
        firstDueTime: undefined,
      });
      const emitted = await s.clients.admin.emitTrigger({ sourceType: 'webhook', sourceKey: 'v-1', payload: SENT, idempotencyKey: 'e1' });
      const delivered = emitted.deliveries[0]!.process!;
      const task = `got ${JSON.stringify(READ)}`;
      expect(delivered.input).toMatchObject({ task, payload: READ });
      const done = await processWhen(s.clients, delivered.processId, (p) => finished(p) && p.wakeState === 'delivered');
      expect(done).toMatchObject({ status: ProcessStatus.PROCESS_STATUS_COMPLETED, input: { task, payload: READ }, output: { message: task, payload: READ } });
      const events = (await s.clients.admin.listProcessEvents({ processId: delivered.processId, afterSeq: 0n, pageSize: 0 })).events;
      expect(events.at(-1)!.payload).toMatchObject({ output: { payload: READ } });
      // The wake reaches the session's conversation (and so its model) with the same spelling.
      const wakeText = async () => {
        const view = await s.clients.sessions.getReadView({ sessionId: 'values-desk', pageSize: 500, pageToken: '' });
        return view.messages
          .filter((m) => m.role === MessageRole.MESSAGE_ROLE_USER)
          .flatMap((m) => m.parts.map((p) => (p.kind?.$case === 'text' ? p.kind.value.text : '')))
          .find((t) => t.includes(delivered.processId));
      };
      await until(async () => (await wakeText()) !== undefined, 20_000);
      const wake = (await wakeText())!;
      expect(wake).toContain(`"payload":${JSON.stringify(READ)}`);
      expect(fake.requests.some((r) => JSON.stringify(r.body).includes(JSON.stringify(JSON.stringify(READ)).slice(1, -1)))).toBe(true);
    });

    it('deleting a session while a session_turn process with NUL in its payload runs succeeds and fails that process', async () => {
      fake.setDefault(() => ({ steps: [{ hang: true }] }));
      const before = fake.requests.length;
      const { process } = await s.clients.admin.startProcess({
        ...base,
        kind: ProcessKind.PROCESS_KIND_SESSION_TURN,
        input: { task: 'work', sessionId: '', awaitSignal: '', payload: { nul: 'a\u0000b' } },
      });
      await fake.waitForRequests(before + 1, 20_000);
      const runSession = process!.runSessionId;
      await s.clients.sessions.deleteSession({ sessionId: runSession });
      const failed = await processWhen(s.clients, process!.processId, finished);
      expect(failed.status).toBe(ProcessStatus.PROCESS_STATUS_FAILED);
      expect(failed.error).toContain('was deleted');
      expect(failed.input!.payload).toEqual({ nul: 'a\u0000b' });
    });

    it('a ResolveCompletion value reads the same in the turn, GetTurn, the model and the first resolution a later resolve gets', async () => {
      fake.reset();
      const sessionId = 'values-approve';
      await s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId, spec: { remoteTools: { bindings: [{ name: 'approve' }] } } }));
      const host = await connectToolHost(s.clients, { sessionId, tools: [{ name: 'approve' }], reply: () => ({ pending: 'values-approval' }) });
      fake.script({ steps: [{ toolCall: { name: 'approve', args: {} } }] }, { steps: [{ text: 'approved' }] });
      const running = startRunTurn(s.clients, { sessionId, turnId: 'approve', input: textInput('ask') });
      await until(() => host.calls.length === 1);
      await until(async () => {
        const [row] = await s.app.db.em().getConnection().execute(`select count(*)::int as n from completions where completion_key = 'values-approval'`);
        return row.n === 1;
      });
      const first = await s.clients.turns.resolveCompletion({ completionKey: 'values-approval', resolution: { outcome: { $case: 'value', value: SENT } } });
      expect(first.outcome).toBe(ResolveCompletionOutcome.RESOLVE_COMPLETION_OUTCOME_ACCEPTED);
      const t = await running.done;
      expect(t.result?.toolCalls[0]).toMatchObject({ tool: 'approve', output: READ, isError: false });
      expect((await s.clients.turns.getTurn({ sessionId, turnId: 'approve' })).result?.toolCalls[0]?.output).toEqual(READ);
      const toolMessage = (fake.requests[1]!.body.messages as { role: string; content: string }[]).find((m) => m.role === 'tool');
      expect(JSON.parse(toolMessage!.content)).toEqual(READ);
      const second = await s.clients.turns.resolveCompletion({ completionKey: 'values-approval', resolution: { outcome: { $case: 'cancelled', value: {} } } });
      expect(second.outcome).toBe(ResolveCompletionOutcome.RESOLVE_COMPLETION_OUTCOME_ALREADY_RESOLVED);
      expect(second.firstResolution?.outcome).toEqual({ $case: 'value', value: READ });
      host.close();
    });
  });
}
