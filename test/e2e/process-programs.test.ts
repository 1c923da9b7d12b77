// rlm_program processes over real gRPC: a program run in the rlm sandbox with the process's
// payload, its submitted value and printed output recorded; submit_error, an exception and a
// broken sandbox limit each fail it with the reason; an empty program is refused.

import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessKind, ProcessStatus } from '../../gen/lash/v1/process.js';
import { engines } from '../support/engines.js';
import { finished, processWhen } from '../support/processes.js';
import { rejection, startTestServer, type TestServer } from '../support/server.js';

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`rlm_program processes on ${engine.name}`, () => {
    let s: TestServer;
    beforeAll(async () => {
      s = await startTestServer(engine, { LASH_PROCESS_POLL_MS: '100', LASH_SANDBOX_TIME_MS: '500' });
    });
    afterAll(async () => s?.close());

    const run = async (program: string, payload?: unknown) => {
      const { process } = await s.clients.admin.startProcess({
        kind: ProcessKind.PROCESS_KIND_RLM_PROGRAM,
        input: { task: program, sessionId: '', awaitSignal: '', payload },
        scopeSessionId: '',
        scopeFrameId: '',
        wakeSessionId: '',
        idempotencyKey: '',
        maxRunMs: 0n,
      });
      return processWhen(s.clients, process!.processId, finished);
    };

    it('runs the program with its payload and records the submitted value and what it printed', async () => {
      const p = await run('print("adding", payload.a, payload.b); submit({ sum: payload.a + payload.b })', { a: 2, b: 40 });
      expect(p).toMatchObject({ status: ProcessStatus.PROCESS_STATUS_COMPLETED, kind: ProcessKind.PROCESS_KIND_RLM_PROGRAM, error: '', attempts: 1 });
      expect(p.output).toMatchObject({ value: { sum: 42 }, submitted: true });
      expect((p.output as { printed: string }).printed).toContain('adding 2 40');
      const kinds = (await s.clients.admin.listProcessEvents({ processId: p.processId, afterSeq: 0n, pageSize: 0 })).events.map((e) => e.kind);
      expect(kinds).toEqual(['created', 'running', 'completed']);
      // A program that submits nothing completes with a null value.
      expect((await run('print("hello")')).output).toMatchObject({ value: null, submitted: false });
    });

    it('submit_error, an exception and the sandbox time limit fail the process, saying why', async () => {
      const refused = await run('print("checking"); submit_error("input was empty")');
      expect(refused).toMatchObject({ status: ProcessStatus.PROCESS_STATUS_FAILED, error: 'the program called submit_error: "input was empty"' });
      expect((refused.output as { printed: string }).printed).toContain('checking');
      const thrown = await run('throw new Error("boom")');
      expect(thrown.status).toBe(ProcessStatus.PROCESS_STATUS_FAILED);
      expect(thrown.error).toContain('boom');
      const spinning = await run('while (true) {}');
      expect(spinning.status).toBe(ProcessStatus.PROCESS_STATUS_FAILED);
      expect(spinning.error).toMatch(/time limit|interrupted/i);
    });

    it('an rlm_program process needs its program', async () => {
      const start = s.clients.admin.startProcess({
        kind: ProcessKind.PROCESS_KIND_RLM_PROGRAM,
        input: { task: '  ', sessionId: '', awaitSignal: '', payload: undefined },
        scopeSessionId: '',
        scopeFrameId: '',
        wakeSessionId: '',
        idempotencyKey: '',
        maxRunMs: 0n,
      });
      expect(await rejection(start)).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'PROGRAM_REQUIRED' });
    });
  });
}
