// Operational behaviour over real gRPC: health (overall, per service, shutdown), reflection,
// restart on the same data, the embedded data-folder lock, and UNIMPLEMENTED capabilities.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthCheckResponse_ServingStatus as Serving } from '../../gen/grpc/health/v1/health.js';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { engines } from '../support/engines.js';
import { rejection, startTestServer, type TestServer } from '../support/server.js';

const run = promisify(execFile);

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`operations on ${engine.name}`, () => {
    let s: TestServer;
    beforeAll(async () => {
      s = await startTestServer(engine);
    });
    afterAll(async () => s?.close());

    it('health is SERVING overall and per lash service; unknown services are NOT_FOUND', async () => {
      expect((await s.clients.health.check({ service: '' })).status).toBe(Serving.SERVING);
      for (const service of ['lash.v1.SessionService', 'lash.v1.TurnService', 'lash.v1.QueueService', 'lash.v1.AdminService']) {
        expect((await s.clients.health.check({ service })).status).toBe(Serving.SERVING);
      }
      expect((await rejection(s.clients.health.check({ service: 'no.such.Service' }))).code).toBe(status.NOT_FOUND);
    });

    it('health state follows the store probe: NOT_SERVING while it reports the store down, SERVING again after; liveness stays SERVING', async () => {
      s.app.health.setStoreReachable(false);
      expect((await s.clients.health.check({ service: '' })).status).toBe(Serving.NOT_SERVING);
      // A liveness probe must not restart replicas because the database is away.
      expect((await s.clients.health.check({ service: 'liveness' })).status).toBe(Serving.SERVING);
      s.app.health.setStoreReachable(true);
      expect((await s.clients.health.check({ service: '' })).status).toBe(Serving.SERVING);
    });

    it('reflection lists every service, so buf curl can call the server without proto files', async () => {
      const { stdout } = await run('node_modules/.bin/buf', [
        'curl',
        '--protocol',
        'grpc',
        '--http2-prior-knowledge',
        '--list-services',
        `http://${s.app.address}`,
      ]);
      expect(stdout.split('\n').filter(Boolean).sort()).toEqual([
        'grpc.health.v1.Health',
        'lash.v1.AdminService',
        'lash.v1.QueueService',
        'lash.v1.SessionService',
        'lash.v1.TurnService',
      ]);
      const opened = await run('node_modules/.bin/buf', [
        'curl',
        '--protocol',
        'grpc',
        '--http2-prior-knowledge',
        '-d',
        '{"session_id":"via-reflection","metadata":{"k":"v"}}',
        `http://${s.app.address}/lash.v1.SessionService/OpenSession`,
      ]);
      expect(JSON.parse(opened.stdout)).toMatchObject({ session: { sessionId: 'via-reflection', metadata: { k: 'v' } }, created: true });
    });

    it('a restarted server on the same data still has the session', async () => {
      await s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'survivor', metadata: { a: 'b' } }));
      await s.stop();
      s = await s.restart();
      const got = await s.clients.sessions.getSession({ sessionId: 'survivor' });
      expect(got.session?.metadata).toEqual({ a: 'b' });
    });

    it.skipIf(engine.name !== 'pglite')('a second server process on the same data folder refuses to start with a clear message', async () => {
      const child = await run(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
        env: { ...process.env, LASH_DATA_DIR: s.dataDir, LASH_LISTEN: '127.0.0.1:0', DATABASE_URL: '' },
      }).then(
        () => ({ code: 0, out: '' }),
        (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, out: err.stdout + err.stderr }),
      );
      expect(child.code).toBe(1);
      expect(child.out).toContain(`is in use by process ${process.pid}`);
      // The running server is unaffected.
      expect((await s.clients.health.check({ service: '' })).status).toBe(Serving.SERVING);
    });

    it('graceful stop flips health to NOT_SERVING for watchers before the server goes away', async () => {
      const seen: number[] = [];
      const watch = s.clients.health.raw.watch({ service: '' });
      watch.on('data', (m: { status: number }) => seen.push(m.status));
      watch.on('error', () => {});
      await new Promise((r) => setTimeout(r, 200));
      await s.app.stop();
      expect(seen[0]).toBe(Serving.SERVING);
      expect(seen).toContain(Serving.NOT_SERVING);
    });
  });
}
