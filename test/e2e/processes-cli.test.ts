// The `processes` and `triggers` CLI commands as a user runs them (a separate process against a
// real server): start an external process, signal it, await and read its events; put a
// subscription, emit to it twice with one key, list and delete it. `processes events --follow`
// outlives stream recycling: it watches again after the last event it printed.

import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessKind } from '../../gen/lash/v1/process.js';
import { runCli as cli } from '../support/cli.js';
import { engines } from '../support/engines.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { until } from '../support/turns.js';

const lines = (out: string) =>
  out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`processes and triggers CLI on ${engine.name}`, () => {
    let s: TestServer;
    const run = (...args: string[]) => cli(s.app.address, args);
    beforeAll(async () => {
      s = await startTestServer(engine, { LASH_PROCESS_POLL_MS: '100' });
    });
    afterAll(async () => s?.close());

    it('starts, signals, awaits and lists a process; puts, emits to, lists and deletes a subscription', async () => {
      const started = await run('processes', 'start', 'external', 'render', 'the', 'report', '--signal', 'done', '--key', 'cli-k');
      expect(started.code).toBe(0);
      const p = lines(started.stdout)[0]!.process as { processId: string; status: string };
      expect(p.status).toBe('PROCESS_STATUS_RUNNING');
      expect((await run('processes', 'await', p.processId, '--wait-ms', '10')).code).toBe(3);
      expect(await run('processes', 'signal', p.processId, 'done', '--payload', '{"pages":3}')).toMatchObject({
        code: 2,
        stderr: expect.stringContaining('--key'),
      });
      expect((await run('processes', 'signal', p.processId, 'done', '--payload', '{"pages":3}', '--key', 's1')).code).toBe(0);
      const awaited = await run('processes', 'await', p.processId);
      expect(lines(awaited.stdout)[0]).toMatchObject({ finished: true, process: { status: 'PROCESS_STATUS_COMPLETED', output: { pages: 3 } } });
      expect(lines((await run('processes', 'events', p.processId, '--follow')).stdout).map((e) => e.kind)).toEqual(['created', 'signal', 'completed']);
      expect(lines((await run('processes', 'list', '--status', 'completed')).stdout).map((x) => x.processId)).toContain(p.processId);
      const missing = await run('processes', 'get', 'p-none');
      expect(missing).toMatchObject({ code: 1, stderr: expect.stringContaining('PROCESS_NOT_FOUND') });

      expect((await run('triggers', 'put', 'hook', 'webhook', 'build-*', 'notify', 'built {{key}}')).code).toBe(0);
      const first = lines((await run('triggers', 'emit', 'webhook', 'build-9', '--key', 'e1')).stdout);
      const again = lines((await run('triggers', 'emit', 'webhook', 'build-9', '--key', 'e1')).stdout);
      expect(first).toEqual([
        expect.objectContaining({ subscriptionId: 'hook', process: expect.objectContaining({ input: expect.objectContaining({ task: 'built build-9' }) }) }),
      ]);
      expect(again[0]).toMatchObject({ deduplicated: true, process: { processId: (first[0]!.process as { processId: string }).processId } });
      expect(lines((await run('triggers', 'list')).stdout).map((x) => x.subscriptionId)).toEqual(['hook']);
      expect(lines((await run('triggers', 'delete', 'hook')).stdout)[0]).toEqual({ deleted: true });
      const nightly = lines(
        (await run('triggers', 'put', 'nightly', 'schedule', 'k', 'notify', 'summary time', '--cron', '0 3 * * *', '--time-zone', 'Europe/Berlin')).stdout,
      )[0]!;
      expect(nightly).toMatchObject({ subscriptionId: 'nightly', cron: '0 3 * * *', timeZone: 'Europe/Berlin' });
      expect(new Date(nightly.nextDueTime as string).getTime()).toBeGreaterThan(Date.now());
      expect((await run('triggers', 'delete', 'nightly')).code).toBe(0);
    }, 180_000);

    it('processes events --follow resumes when the server recycles its stream, printing every event once', async () => {
      // Streams end themselves with UNAVAILABLE / STREAM_RECYCLED 0.8 s after they start.
      const recycling = await startTestServer(engine, { LASH_GRPC_MAX_CONNECTION_AGE_MS: '1000', LASH_GRPC_MAX_CONNECTION_AGE_GRACE_MS: '1000' });
      try {
        const { process: p } = await recycling.clients.admin.startProcess({
          kind: ProcessKind.PROCESS_KIND_EXTERNAL,
          input: undefined,
          scopeFrameId: '',
          scopeSessionId: '',
          wakeSessionId: '',
          idempotencyKey: '',
          maxRunMs: 0n,
        });
        const follow = spawn(
          process.execPath,
          ['--import', 'tsx', 'src/cli/main.ts', '--address', recycling.app.address, 'processes', 'events', p!.processId, '--follow'],
          {
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        );
        let stdout = '';
        let stderr = '';
        follow.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        follow.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const exited = new Promise<number | null>((resolve) => follow.on('close', resolve));
        await until(() => stdout.includes('"created"'), 60_000);
        // Long enough for the stream to be recycled at least twice before the process finishes.
        await new Promise((r) => setTimeout(r, 2_500));
        await recycling.clients.admin.signalProcess({ processId: p!.processId, name: 'result', payload: { ok: true }, idempotencyKey: 'cli-recycle' });
        expect(await exited, stderr).toBe(0);
        expect(lines(stdout).map((e) => e.kind)).toEqual(['created', 'signal', 'completed']);
      } finally {
        await recycling.close();
      }
    }, 180_000);
  });
}
