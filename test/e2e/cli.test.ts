// The command-line client as a user runs it: a separate process (node + tsx) against a real
// server, checked by its stdout, stderr and exit code.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { engines } from '../support/engines.js';
import { startTestServer, type TestServer } from '../support/server.js';

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`CLI on ${engine.name}`, () => {
    let s: TestServer;
    const run = (args: string[], stdin?: string) => runCli(s.app.address, args, { stdin: stdin ?? '' });
    beforeAll(async () => {
      s = await startTestServer(engine, { LASH_TOOLS: 'calculate', LASH_QUEUE_WORKERS: '0' });
    });
    afterAll(async () => s?.close());

    it('opens a session, runs a turn with streamed output and a tool call, chats, lists and gets it', async () => {
      const opened = await run(['sessions', 'open', 'cli-1']);
      expect(opened.code).toBe(0);
      expect(JSON.parse(opened.stdout)).toMatchObject({ created: true, session: { sessionId: 'cli-1' } });
      const turn = await run(['turn', 'cli-1', 'hello', 'from', 'the', 'cli']);
      expect(turn).toMatchObject({ code: 0 });
      expect(turn.stdout).toBe('hello from the cli\n');
      expect(turn.stderr).toMatch(/\[turn .+: finished, tokens in=\d+ out=\d+\]/);
      const tool = await run(['turn', 'cli-1', '/tool calculate {"op":"add","a":2,"b":3}']);
      expect(tool.stderr).toContain('[tool calculate {"op":"add","a":2,"b":3}]');
      expect(tool.stderr).toContain('[tool calculate → {"result":5}]');
      const chat = await run(['chat', 'cli-1'], 'first line\n\nsecond line\n');
      expect(chat.code).toBe(0);
      expect(chat.stdout).toBe('first line\nsecond line\n');
      const listed = await run(['sessions', 'list']);
      expect(listed.stdout).toMatch(/^cli-1\tidle\tturns=4\trevision=4$/m);
      expect(JSON.parse((await run(['sessions', 'get', 'cli-1'])).stdout)).toMatchObject({ sessionId: 'cli-1', turnIndex: '4' });
    });

    it('queues input and follows the feed from the start for a number of messages', async () => {
      await run(['sessions', 'open', 'cli-2']);
      const queued = await run(['queue', 'enqueue', 'cli-2', 'later', '--id', 'b1']);
      expect(JSON.parse(queued.stdout)).toMatchObject({ deduplicated: false, batch: { id: 'b1', state: 'QUEUE_BATCH_STATE_PENDING' } });
      expect(JSON.parse((await run(['queue', 'list', 'cli-2'])).stdout)).toMatchObject({ id: 'b1' });
      const observed = await run(['observe', 'cli-2', '--cursor', '', '--count', '2']);
      expect(observed.code).toBe(0);
      const lines = observed.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { snapshot?: unknown; event?: unknown; cursor: string });
      expect(lines).toHaveLength(2);
      expect(lines.every((l) => typeof l.cursor === 'string' && l.cursor.length > 0)).toBe(true);
    });

    it('a refused call prints code, reason and message and exits 1; bad usage exits 2', async () => {
      const missing = await run(['sessions', 'get', 'no-such-session']);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/^error: 5 SESSION_NOT_FOUND session "no-such-session" does not exist/);
      const unknown = await run(['sessions', 'frobnicate']);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain('unknown command "sessions frobnicate"');
      expect((await run(['sessions', 'open', 'x', '--mode', 'weird'])).code).toBe(2);
    });
  });
}
