// Background processes over real gRPC: a session turn starts a sub-agent process that runs a turn
// in its own session and wakes the parent, whose next drain reports the result (feed shows
// process_changed); cancel and signal; the event stream resumed from a sequence after a restart;
// deleting a session reports orphaned and kept processes; limits and bad input.

import { status } from '@grpc/grpc-js';
import { beforeEach, describe, expect, it } from 'vitest';
import { ProcessKind, ProcessOrigin, ProcessStatus, type ProcessEvent } from '../../gen/lash/v1/process.js';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { engines } from '../support/engines.js';
import { fakeModelSuite } from '../support/fake-model-suite.js';
import type { FeedMessage } from '../../gen/lash/v1/feed.js';
import { observe } from '../support/observe.js';
import { delegatingModel, finished, processWhen } from '../support/processes.js';
import { rejection, type TestServer } from '../support/server.js';
import { runTurn, textInput, until } from '../support/turns.js';

const ENV = {
  LASH_DEFAULT_PROVIDER: 'openai-compatible',
  LASH_DEFAULT_MODEL: 'fake-model',
  LASH_TOOLS: 'start_process,list_processes',
  LASH_QUEUE_POLL_MS: '100',
  LASH_PROCESS_POLL_MS: '100',
  LASH_PROCESSES_PER_SESSION: '3',
};

function watch(s: TestServer, processId: string, afterSeq = 0n): { events: ProcessEvent[]; done: Promise<void> } {
  const events: ProcessEvent[] = [];
  const call = s.clients.admin.raw.watchProcessEvents({ processId, afterSeq });
  call.on('data', (r: { events: ProcessEvent[] }) => events.push(...r.events));
  const done = new Promise<void>((resolve, reject) => {
    call.on('end', () => resolve());
    call.on('error', reject);
  });
  return { events, done };
}

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`background processes on ${engine.name}`, () => {
    let n = 0;
    const open = async () => {
      const sessionId = `proc-${++n}`;
      await suite.s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId }));
      return sessionId;
    };
    const suite = fakeModelSuite(engine, { prefix: 'processes', env: { ...ENV }, reset: false });
    beforeEach(() => {
      suite.fake.reset();
      suite.fake.setDefault(delegatingModel);
    });

    it('a turn starts a sub-agent process; it runs in its own session and wakes the parent, whose next drain reports the result', async () => {
      const parent = await open();
      const feed = observe(suite.s.clients, parent);
      const t = await runTurn(suite.s.clients, { sessionId: parent, input: textInput('delegate: what is the boiling point of water') });
      expect(t.error).toBeUndefined();
      const call = t.events.find((e) => e.kind?.$case === 'toolCallCompleted')!.kind!;
      expect(call.$case).toBe('toolCallCompleted');
      const handle = call.value as { output: { process_id: string; session_id: string }; isError: boolean };
      expect(handle.isError).toBe(false);
      const processId = handle.output.process_id;
      const p = await processWhen(suite.s.clients, processId, finished);
      expect(p).toMatchObject({
        status: ProcessStatus.PROCESS_STATUS_COMPLETED,
        kind: ProcessKind.PROCESS_KIND_SESSION_TURN,
        origin: ProcessOrigin.PROCESS_ORIGIN_SESSION,
        scopeSessionId: parent,
        wakeSessionId: parent,
      });
      expect(p.output).toMatchObject({ session_id: `process-${processId}`, answer: 'ANSWER(what is the boiling point of water)' });
      // The sub-agent's turn is a real session of its own.
      const own = (await suite.s.clients.sessions.getSession({ sessionId: p.runSessionId })).session!;
      expect(own.turnIndex).toBe(1n);
      // The wake was queued and drained by the workers: the parent's model saw the result.
      await until(async () => (await suite.s.clients.sessions.getSession({ sessionId: parent })).session!.turnIndex === 2n, 30_000);
      const view = await suite.s.clients.sessions.getReadView({ sessionId: parent, pageSize: 0, pageToken: '' });
      const text = JSON.stringify(view.messages);
      expect(text).toContain(`[process ${processId} (session_turn) completed]`);
      expect(text).toContain('REPORT:');
      expect(text).toContain('ANSWER(what is the boiling point of water)');
      expect((await processWhen(suite.s.clients, processId, (x) => x.wakeState === 'delivered')).wakeState).toBe('delivered');
      // The feed reported the process's changes.
      const changed = (m: FeedMessage) =>
        m.kind?.$case === 'event' && m.kind.value.payload?.$case === 'processChanged' ? m.kind.value.payload.value : undefined;
      await feed.waitFor((m) => m.some((x) => changed(x)?.processId === processId && changed(x)?.state === 'completed'));
      expect(
        feed.messages
          .map(changed)
          .filter((c) => c?.processId === processId)
          .map((c) => c!.state),
      ).toEqual(['pending', 'running', 'completed']);
      feed.close();
      // The handle is visible to later turns through list_processes (granted by the session's scope).
      suite.fake.setDefault((req) =>
        req.body?.messages?.at(-1)?.role === 'tool' ? { steps: [{ text: 'listed' }] } : { steps: [{ toolCall: { name: 'list_processes', args: {} } }] },
      );
      const later = await runTurn(suite.s.clients, { sessionId: parent, input: textInput('which processes do you have?') });
      const listed = later.events.find((e) => e.kind?.$case === 'toolCallCompleted')!.kind!.value as {
        output: { processes: { process_id: string; status: string }[] };
      };
      expect(listed.output.processes).toEqual([expect.objectContaining({ process_id: processId, status: 'completed' })]);
    });

    it('an external process waits for its signal; a wrong name is refused; a retried signal is delivered once', async () => {
      const { process } = await suite.s.clients.admin.startProcess({
        kind: ProcessKind.PROCESS_KIND_EXTERNAL,
        input: { task: 'render', sessionId: '', awaitSignal: 'done', payload: undefined },
        scopeFrameId: '',
        scopeSessionId: '',
        wakeSessionId: '',
        idempotencyKey: '',
        maxRunMs: 0n,
      });
      const id = process!.processId;
      expect(process!.status).toBe(ProcessStatus.PROCESS_STATUS_RUNNING);
      const wrong = await rejection(suite.s.clients.admin.signalProcess({ processId: id, name: 'other', payload: undefined, idempotencyKey: 's0' }));
      expect(wrong).toMatchObject({ code: status.FAILED_PRECONDITION, reason: 'SIGNAL_NOT_AWAITED' });
      const waiting = suite.s.clients.admin.awaitProcess({ processId: id, waitMs: 30_000 });
      const first = await suite.s.clients.admin.signalProcess({ processId: id, name: 'done', payload: { url: 'https://x/1' }, idempotencyKey: 's1' });
      expect(first.process).toMatchObject({ status: ProcessStatus.PROCESS_STATUS_COMPLETED, output: { url: 'https://x/1' } });
      const again = await suite.s.clients.admin.signalProcess({ processId: id, name: 'done', payload: { url: 'https://x/2' }, idempotencyKey: 's1' });
      expect(again.event!.seq).toBe(first.event!.seq);
      expect(again.process!.output).toEqual({ url: 'https://x/1' });
      expect(await waiting).toMatchObject({ finished: true, process: { status: ProcessStatus.PROCESS_STATUS_COMPLETED } });
      const events = (await suite.s.clients.admin.listProcessEvents({ processId: id, afterSeq: 0n, pageSize: 0 })).events;
      expect(events.map((e) => e.kind)).toEqual(['created', 'signal', 'completed']);
      expect(events.map((e) => e.seq)).toEqual([1n, 2n, 3n]);
      // Awaiting with a short wait answers with the process as it is.
      const { process: other } = await suite.s.clients.admin.startProcess({
        kind: ProcessKind.PROCESS_KIND_EXTERNAL,
        input: undefined,
        scopeFrameId: '',
        scopeSessionId: '',
        wakeSessionId: '',
        idempotencyKey: '',
        maxRunMs: 0n,
      });
      expect(await suite.s.clients.admin.awaitProcess({ processId: other!.processId, waitMs: 50 })).toMatchObject({
        finished: false,
        process: { status: ProcessStatus.PROCESS_STATUS_RUNNING },
      });
      const c = await suite.s.clients.admin.cancelProcess({ processId: other!.processId, reason: 'no longer needed' });
      expect(c).toMatchObject({ cancelled: true, process: { status: ProcessStatus.PROCESS_STATUS_CANCELLED, error: 'no longer needed' } });
      expect((await suite.s.clients.admin.cancelProcess({ processId: other!.processId, reason: '' })).cancelled).toBe(false);
      expect(
        await rejection(suite.s.clients.admin.signalProcess({ processId: other!.processId, name: 'result', payload: 1, idempotencyKey: 'late' })),
      ).toMatchObject({ code: status.FAILED_PRECONDITION, reason: 'PROCESS_FINISHED' });
    });

    it('cancelling a running sub-agent stops its turn; CancelProcesses cancels a whole scope; the scope limit holds', async () => {
      const scope = await open();
      suite.fake.setDefault(() => ({ steps: [{ text: 'thinking' }, { hang: true }] }));
      const start = (key: string) =>
        suite.s.clients.admin.startProcess({
          kind: ProcessKind.PROCESS_KIND_SESSION_TURN,
          input: { task: 'think forever', sessionId: '', awaitSignal: '', payload: undefined },
          scopeFrameId: '',
          scopeSessionId: scope,
          wakeSessionId: '',
          idempotencyKey: key,
          maxRunMs: 0n,
        });
      const a = (await start('a')).process!;
      expect((await start('a')).deduplicated).toBe(true);
      const b = (await start('b')).process!;
      const c = (await start('c')).process!;
      expect(await rejection(start('d'))).toMatchObject({ code: status.RESOURCE_EXHAUSTED, reason: 'PROCESS_LIMIT_PER_SESSION' });
      await processWhen(suite.s.clients, a.processId, (p) => p.status === ProcessStatus.PROCESS_STATUS_RUNNING && p.attempts === 1);
      const cancelled = await suite.s.clients.admin.cancelProcess({ processId: a.processId, reason: 'stop' });
      expect(cancelled.cancelled).toBe(true);
      // The sub-agent's turn was cancelled too (it commits as cancelled in its own session).
      await until(
        async () => (await suite.s.clients.sessions.getSession({ sessionId: `process-${a.processId}` }).catch(() => undefined))?.session?.turnIndex === 1n,
        20_000,
      );
      expect((await suite.s.clients.admin.getProcess({ processId: a.processId })).process!.status).toBe(ProcessStatus.PROCESS_STATUS_CANCELLED);
      const all = await suite.s.clients.admin.cancelProcesses({ scopeSessionId: scope, reason: 'tidy up' });
      expect(all.cancelledProcessIds.sort()).toEqual([b.processId, c.processId].sort());
      const listed = await suite.s.clients.admin.listProcesses({
        status: ProcessStatus.PROCESS_STATUS_CANCELLED,
        visibleInFrameId: '',
        scopeSessionId: scope,
        sessionId: '',
        pageSize: 2,
        pageToken: '',
      });
      expect(listed.processes.map((p) => p.processId)).toEqual([a.processId, b.processId]);
      const rest = await suite.s.clients.admin.listProcesses({
        status: ProcessStatus.PROCESS_STATUS_CANCELLED,
        visibleInFrameId: '',
        scopeSessionId: scope,
        sessionId: '',
        pageSize: 2,
        pageToken: listed.nextPageToken,
      });
      expect(rest.processes.map((p) => p.processId)).toEqual([c.processId]);
      expect(rest.nextPageToken).toBe('');
    });

    it('deleting a session reports its orphaned and kept processes and revokes its wakes, cancelling nothing', async () => {
      const doomed = await open();
      const startExt = (key: string) =>
        suite.s.clients.admin.startProcess({
          kind: ProcessKind.PROCESS_KIND_EXTERNAL,
          input: undefined,
          scopeFrameId: '',
          scopeSessionId: doomed,
          wakeSessionId: doomed,
          idempotencyKey: `${doomed}-${key}`,
          maxRunMs: 0n,
        });
      const live = (await startExt('live')).process!;
      const done = (await startExt('done')).process!;
      await suite.s.clients.admin.signalProcess({ processId: done.processId, name: 'result', payload: 'ok', idempotencyKey: 'x' });
      const r = await suite.s.clients.sessions.deleteSession({ sessionId: doomed });
      expect(r).toEqual({ deleted: true, orphanedProcessIds: [live.processId], keptProcessIds: [done.processId], failedProcessIds: [] });
      const after = (await suite.s.clients.admin.getProcess({ processId: live.processId })).process!;
      expect(after).toMatchObject({ status: ProcessStatus.PROCESS_STATUS_RUNNING, scopeSessionId: '', wakeState: 'revoked' });
      // It still finishes; nothing is woken.
      await suite.s.clients.admin.signalProcess({ processId: live.processId, name: 'result', payload: 'late', idempotencyKey: 'y' });
      expect((await suite.s.clients.admin.getProcess({ processId: live.processId })).process).toMatchObject({
        status: ProcessStatus.PROCESS_STATUS_COMPLETED,
        wakeState: 'revoked',
      });
      const events = (await suite.s.clients.admin.listProcessEvents({ processId: live.processId, afterSeq: 0n, pageSize: 0 })).events.map((e) => e.kind);
      expect(events).toEqual(['created', 'orphaned', 'signal', 'completed']);
    });

    it('deleting a parent detaches the sub-agent processes of it and its child sessions (reported, never cancelled); a turn running in a deleted session fails saying so', async () => {
      const parent = await open();
      const child = `${parent}-child`;
      await suite.s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: child, parentSessionId: parent }));
      suite.fake.setDefault(() => ({ steps: [{ text: 'working' }, { hang: true }] }));
      const start = (kind: ProcessKind, scope: string, runIn: string, key: string) =>
        suite.s.clients.admin.startProcess({
          kind,
          input: { task: 'research', sessionId: runIn, awaitSignal: '', payload: undefined },
          scopeFrameId: '',
          scopeSessionId: scope,
          wakeSessionId: scope,
          idempotencyKey: `${parent}-${key}`,
          maxRunMs: 0n,
        });
      // A sub-agent in a session of its own, started by the parent; an external job in the child's
      // scope; a turn that runs in the child session itself.
      const subAgent = (await start(ProcessKind.PROCESS_KIND_SESSION_TURN, parent, '', 'sub')).process!;
      const external = (await start(ProcessKind.PROCESS_KIND_EXTERNAL, child, '', 'ext')).process!;
      const inChild = (await start(ProcessKind.PROCESS_KIND_SESSION_TURN, '', child, 'in-child')).process!;
      // Both turns are at the model.
      await until(() => suite.fake.requests.length >= 2);
      const r = await suite.s.clients.sessions.deleteSession({ sessionId: parent });
      expect(r.deleted).toBe(true);
      expect(r.orphanedProcessIds.sort()).toEqual([subAgent.processId, external.processId].sort());
      expect(r.failedProcessIds).toEqual([inChild.processId]);
      expect(r.keptProcessIds).toEqual([]);
      // The sub-agent goes on in its own session, which the delete left alone; nothing will be woken.
      const after = (await suite.s.clients.admin.getProcess({ processId: subAgent.processId })).process!;
      expect(after).toMatchObject({ status: ProcessStatus.PROCESS_STATUS_RUNNING, scopeSessionId: '', wakeState: 'revoked', attempts: 1 });
      expect((await suite.s.clients.sessions.getSession({ sessionId: after.runSessionId })).session!.sessionId).toBe(`process-${subAgent.processId}`);
      expect((await suite.s.clients.admin.getProcess({ processId: external.processId })).process).toMatchObject({
        status: ProcessStatus.PROCESS_STATUS_RUNNING,
        scopeSessionId: '',
        wakeState: 'revoked',
      });
      const failed = (await suite.s.clients.admin.getProcess({ processId: inChild.processId })).process!;
      expect(failed).toMatchObject({ status: ProcessStatus.PROCESS_STATUS_FAILED, error: `session "${child}", where the process ran its turn, was deleted` });
      const kinds = async (id: string) =>
        (await suite.s.clients.admin.listProcessEvents({ processId: id, afterSeq: 0n, pageSize: 0 })).events.map((e) => e.kind);
      expect(await kinds(subAgent.processId)).toEqual(['created', 'running', 'orphaned']);
      expect(await kinds(inChild.processId)).toEqual(['created', 'running', 'failed']);
      // Cancelling is still the caller's to do.
      expect((await suite.s.clients.admin.cancelProcess({ processId: subAgent.processId, reason: 'done with it' })).cancelled).toBe(true);
      expect((await suite.s.clients.admin.cancelProcess({ processId: external.processId, reason: 'done with it' })).cancelled).toBe(true);
    });

    it('the event stream follows a process live and resumes from a sequence after a restart', async () => {
      const { process } = await suite.s.clients.admin.startProcess({
        kind: ProcessKind.PROCESS_KIND_EXTERNAL,
        input: undefined,
        scopeFrameId: '',
        scopeSessionId: '',
        wakeSessionId: '',
        idempotencyKey: '',
        maxRunMs: 0n,
      });
      const id = process!.processId;
      const w = watch(suite.s, id);
      const firstEnded = w.done.catch(() => {});
      await until(() => w.events.length === 1);
      expect(w.events[0]).toMatchObject({ seq: 1n, kind: 'created' });
      // Restart the server on the same database, then resume after seq 1.
      await suite.s.stop();
      suite.s = await suite.s.restart();
      await firstEnded;
      const resumed = watch(suite.s, id, 1n);
      await suite.s.clients.admin.signalProcess({ processId: id, name: 'result', payload: { ok: true }, idempotencyKey: 'r' });
      await resumed.done;
      expect(resumed.events.map((e) => [e.seq, e.kind])).toEqual([
        [2n, 'signal'],
        [3n, 'completed'],
      ]);
      // A finished process's stream replays and ends at once.
      const replay = watch(suite.s, id, 0n);
      await replay.done;
      expect(replay.events.map((e) => e.seq)).toEqual([1n, 2n, 3n]);
    });

    it('a process past its run time fails visibly and wakes its session with the error', async () => {
      const sessionId = await open();
      const { process } = await suite.s.clients.admin.startProcess({
        kind: ProcessKind.PROCESS_KIND_EXTERNAL,
        input: undefined,
        scopeFrameId: '',
        scopeSessionId: sessionId,
        wakeSessionId: sessionId,
        idempotencyKey: '',
        maxRunMs: 1000n,
      });
      const p = await processWhen(suite.s.clients, process!.processId, finished);
      expect(p).toMatchObject({ status: ProcessStatus.PROCESS_STATUS_FAILED, error: 'the process ran past its run-time limit' });
      await until(
        async () =>
          JSON.stringify((await suite.s.clients.sessions.getReadView({ sessionId, pageSize: 0, pageToken: '' })).messages).includes(
            `[process ${p.processId} (external) failed]`,
          ),
        20_000,
      );
    });

    it('bad input is refused precisely and stores nothing', async () => {
      const base = { input: undefined, scopeFrameId: '', scopeSessionId: '', wakeSessionId: '', idempotencyKey: '', maxRunMs: 0n };
      expect(await rejection(suite.s.clients.admin.startProcess({ ...base, kind: ProcessKind.PROCESS_KIND_UNSPECIFIED }))).toMatchObject({
        code: status.INVALID_ARGUMENT,
        reason: 'PROCESS_KIND_REQUIRED',
      });
      expect(await rejection(suite.s.clients.admin.startProcess({ ...base, kind: 99 as ProcessKind }))).toMatchObject({
        code: status.INVALID_ARGUMENT,
        reason: 'ENUM_VALUE_UNKNOWN',
      });
      expect(await rejection(suite.s.clients.admin.startProcess({ ...base, kind: ProcessKind.PROCESS_KIND_SESSION_TURN }))).toMatchObject({
        code: status.INVALID_ARGUMENT,
        reason: 'TASK_REQUIRED',
      });
      expect(await rejection(suite.s.clients.admin.startProcess({ ...base, kind: ProcessKind.PROCESS_KIND_NOTIFY, wakeSessionId: 'nobody' }))).toMatchObject({
        code: status.NOT_FOUND,
        reason: 'SESSION_NOT_FOUND',
      });
      expect(await rejection(suite.s.clients.admin.startProcess({ ...base, kind: ProcessKind.PROCESS_KIND_NOTIFY, maxRunMs: 10n ** 12n }))).toMatchObject({
        code: status.INVALID_ARGUMENT,
        reason: 'MAX_RUN_TIME_INVALID',
      });
      expect(await rejection(suite.s.clients.admin.getProcess({ processId: 'p-nope' }))).toMatchObject({ code: status.NOT_FOUND, reason: 'PROCESS_NOT_FOUND' });
      expect(
        await rejection(
          suite.s.clients.admin.listProcesses({ status: 0, visibleInFrameId: '', scopeSessionId: '', sessionId: '', pageSize: 0, pageToken: 'garbage!' }),
        ),
      ).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'PAGE_TOKEN_INVALID' });
      expect(await rejection(suite.s.clients.admin.awaitProcess({ processId: 'p-nope', waitMs: 4_000_000 }))).toMatchObject({
        code: status.INVALID_ARGUMENT,
        reason: 'WAIT_INVALID',
      });
      expect(await rejection(suite.s.clients.admin.signalProcess({ processId: 'p-nope', name: 'x', payload: 1, idempotencyKey: '' }))).toMatchObject({
        code: status.INVALID_ARGUMENT,
        reason: 'MISSING_ID',
      });
      const stream = watch(suite.s, 'p-nope');
      await expect(stream.done).rejects.toMatchObject({ code: status.NOT_FOUND });
      expect(
        (await suite.s.clients.admin.listProcesses({ status: 0, visibleInFrameId: '', scopeSessionId: '', sessionId: 'nobody', pageSize: 0, pageToken: '' }))
          .processes,
      ).toEqual([]);
    });
  });
}
