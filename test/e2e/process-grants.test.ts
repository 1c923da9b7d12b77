// Frame-scope grants of process handles over real gRPC: a handle a session's turn grants to its
// agent frame is listed by that session's turns only while the frame is current (a compaction
// opens a new frame); a session-scope handle is listed in every frame; `all` lists both. The
// admin API grants only to the current frame and filters by the frame a handle is visible in. A
// turn can also start an rlm_program process (run in the sandbox).

import { status } from '@grpc/grpc-js';
import { beforeAll, describe, expect, it } from 'vitest';
import { ProcessKind, ProcessOrigin, ProcessStatus } from '../../gen/lash/v1/process.js';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { engines } from '../support/engines.js';
import { fakeModelSuite } from '../support/fake-model-suite.js';
import { type RecordedRequest, type ScriptedResponse } from '../support/fake-model-server.js';
import { finished, processWhen } from '../support/processes.js';
import { rejection } from '../support/server.js';
import { runTurn, textInput } from '../support/turns.js';

const ENV = {
  LASH_DEFAULT_PROVIDER: 'openai-compatible',
  LASH_DEFAULT_MODEL: 'fake-model',
  LASH_TOOLS: 'start_process,list_processes',
  LASH_PROCESS_POLL_MS: '100',
};

/** The model calls the tool its input names, then acknowledges the result. */
function toolByInput(req: RecordedRequest): ScriptedResponse {
  const last = req.body?.messages?.at(-1);
  if (last?.role === 'tool') return { steps: [{ text: 'done' }] };
  const text = JSON.stringify(last ?? '');
  const call = (name: string, args: Record<string, unknown>): ScriptedResponse => ({ steps: [{ toolCall: { name, args } }] });
  if (text.includes('start-frame')) return call('start_process', { kind: 'external', task: 'frame job', grant: 'frame', wake: false });
  if (text.includes('start-program'))
    return call('start_process', { kind: 'rlm_program', task: 'print("six times seven"); submit(6 * 7)', grant: 'frame', wake: false });
  if (text.includes('start-session')) return call('start_process', { kind: 'external', task: 'session job', wake: false });
  if (text.includes('list-all')) return call('list_processes', { all: true });
  if (text.includes('list-now')) return call('list_processes', {});
  return { steps: [{ text: 'nothing to do' }] };
}

interface Handle {
  process_id: string;
  grant: string;
  task: string;
}

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`process handle grants on ${engine.name}`, () => {
    const suite = fakeModelSuite(engine, { prefix: 'process-grants', env: { ...ENV }, reset: false });
    beforeAll(() => suite.fake.setDefault(toolByInput));

    const toolOutput = async (sessionId: string, text: string) => {
      const t = await runTurn(suite.s.clients, { sessionId, input: textInput(text) });
      expect(t.error).toBeUndefined();
      const done = t.events.find((e) => e.kind?.$case === 'toolCallCompleted')!.kind!.value as { output: unknown; isError: boolean };
      expect(done.isError).toBe(false);
      return done.output;
    };
    const listed = async (sessionId: string, text: string) =>
      ((await toolOutput(sessionId, text)) as { processes: Handle[] }).processes.map((h) => [h.task, h.grant]);

    it('a frame-granted handle is seen only while its frame is current; a session-granted one in every frame', async () => {
      const sessionId = 'grants-1';
      await suite.s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId }));
      const frame1 = (await suite.s.clients.sessions.getSession({ sessionId })).session!.frameId;
      const inFrame = (await toolOutput(sessionId, 'start-frame')) as Handle;
      const inSession = (await toolOutput(sessionId, 'start-session')) as Handle;
      expect([inFrame.grant, inSession.grant]).toEqual(['frame', 'session']);
      expect((await suite.s.clients.admin.getProcess({ processId: inFrame.process_id })).process).toMatchObject({
        scopeSessionId: sessionId,
        scopeFrameId: frame1,
      });
      expect((await suite.s.clients.admin.getProcess({ processId: inSession.process_id })).process).toMatchObject({
        scopeSessionId: sessionId,
        scopeFrameId: '',
      });
      expect(await listed(sessionId, 'list-now')).toEqual([
        ['frame job', 'frame'],
        ['session job', 'session'],
      ]);

      // A compaction opens a new frame: the frame's handle leaves what the session's turns see.
      suite.fake.script({ steps: [{ text: 'Two jobs were started.' }] });
      const { compacted, frameId: frame2 } = await suite.s.clients.admin.compactContext({ sessionId, instructions: '' });
      expect(compacted).toBe(true);
      expect(frame2).not.toBe(frame1);
      expect(await listed(sessionId, 'list-now')).toEqual([['session job', 'session']]);
      expect(await listed(sessionId, 'list-all')).toEqual([
        ['frame job', 'frame'],
        ['session job', 'session'],
      ]);

      // The admin API filters the same way.
      const visible = async (frameId: string) =>
        (
          await suite.s.clients.admin.listProcesses({
            status: 0,
            scopeSessionId: sessionId,
            visibleInFrameId: frameId,
            sessionId: '',
            pageSize: 0,
            pageToken: '',
          })
        ).processes.map((p) => p.processId);
      expect(await visible(frame1)).toEqual([inFrame.process_id, inSession.process_id]);
      expect(await visible(frame2)).toEqual([inSession.process_id]);
      // The frame's process still runs: a grant limits who sees it, not its life.
      expect(
        (await suite.s.clients.admin.signalProcess({ processId: inFrame.process_id, name: 'result', payload: 'ok', idempotencyKey: 'k' })).process!.output,
      ).toBe('ok');
    });

    it('a turn starts an rlm_program process granted to its frame; the program runs in the sandbox and its value is recorded', async () => {
      const sessionId = 'grants-3';
      await suite.s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId }));
      const handle = (await toolOutput(sessionId, 'start-program')) as Handle & { kind: string };
      expect(handle).toMatchObject({ kind: 'rlm_program', grant: 'frame' });
      const p = await processWhen(suite.s.clients, handle.process_id, finished);
      expect(p).toMatchObject({
        status: ProcessStatus.PROCESS_STATUS_COMPLETED,
        origin: ProcessOrigin.PROCESS_ORIGIN_SESSION,
        scopeSessionId: sessionId,
        output: { value: 42, submitted: true },
      });
      expect((p.output as { printed: string }).printed).toContain('six times seven');
    });

    it('StartProcess grants to the current frame only; a frame needs its session', async () => {
      const sessionId = 'grants-2';
      await suite.s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId }));
      const frameId = (await suite.s.clients.sessions.getSession({ sessionId })).session!.frameId;
      const start = (scopeSessionId: string, scopeFrameId: string) =>
        suite.s.clients.admin.startProcess({
          kind: ProcessKind.PROCESS_KIND_EXTERNAL,
          input: undefined,
          scopeSessionId,
          scopeFrameId,
          wakeSessionId: '',
          idempotencyKey: '',
          maxRunMs: 0n,
        });
      expect((await start(sessionId, frameId)).process).toMatchObject({ scopeSessionId: sessionId, scopeFrameId: frameId });
      expect(await rejection(start(sessionId, 'some-other-frame'))).toMatchObject({ code: status.FAILED_PRECONDITION, reason: 'FRAME_NOT_CURRENT' });
      expect(await rejection(start('', frameId))).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'SCOPE_SESSION_REQUIRED' });
      expect(
        await rejection(
          suite.s.clients.admin.listProcesses({ status: 0, scopeSessionId: '', visibleInFrameId: frameId, sessionId: '', pageSize: 0, pageToken: '' }),
        ),
      ).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'SCOPE_SESSION_REQUIRED' });
      await suite.s.clients.admin.cancelProcesses({ scopeSessionId: sessionId, reason: 'test over' });
    });
  });
}
