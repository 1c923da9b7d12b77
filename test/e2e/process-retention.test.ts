// Retention of finished processes over real gRPC: past LASH_PROCESS_RETENTION_SECONDS a finished
// process and its event log are deleted by the runners' sweep, a bounded batch per pass, over as
// many passes as the backlog needs; active processes stay.

import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessKind } from '../../gen/lash/v1/process.js';
import { engines } from '../support/engines.js';
import { rejection, startTestServer, type TestServer } from '../support/server.js';
import { until } from '../support/turns.js';

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`process retention on ${engine.name}`, () => {
    let s: TestServer;
    beforeAll(async () => {
      s = await startTestServer(engine, { LASH_PROCESS_POLL_MS: '100', LASH_PROCESS_RETENTION_SECONDS: '1', LASH_PROCESS_RETENTION_BATCH: '2' });
    });
    afterAll(async () => s?.close());

    it('finished processes and their events are deleted after the retention period; active ones stay', async () => {
      const start = async () =>
        (
          await s.clients.admin.startProcess({
            kind: ProcessKind.PROCESS_KIND_EXTERNAL,
            input: undefined,
            scopeSessionId: '',
            scopeFrameId: '',
            wakeSessionId: '',
            idempotencyKey: '',
            maxRunMs: 0n,
          })
        ).process!.processId;
      const done: string[] = [];
      for (let i = 0; i < 5; i++) {
        const id = await start();
        await s.clients.admin.signalProcess({ processId: id, name: 'result', payload: i, idempotencyKey: 'k' });
        done.push(id);
      }
      const active = await start();
      const gone = (id: string) =>
        s.clients.admin.getProcess({ processId: id }).then(
          () => false,
          (err: { code?: number }) => err.code === status.NOT_FOUND,
        );
      // Five finished processes, two per pass: three passes at least.
      await until(async () => (await Promise.all(done.map(gone))).every(Boolean), 30_000);
      expect(await rejection(s.clients.admin.listProcessEvents({ processId: done[0]!, afterSeq: 0n, pageSize: 0 }))).toMatchObject({
        code: status.NOT_FOUND,
        reason: 'PROCESS_NOT_FOUND',
      });
      const still = (await s.clients.admin.getProcess({ processId: active })).process!;
      expect(still.processId).toBe(active);
      expect((await s.clients.admin.listProcessEvents({ processId: active, afterSeq: 0n, pageSize: 0 })).events.map((e) => e.kind)).toEqual(['created']);
    });
  });
}
