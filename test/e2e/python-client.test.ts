// The Python client (clients/python) against a real server: its examples and checks run under
// /usr/bin/python3 as separate processes. Proves the turn helper's streamed deltas, typed errors,
// the observer resuming across a server restart without gap or duplicate, a Python tool host
// answering inside a turn (and again after a server restart), the queue worker draining a
// batch and a state export of several pieces that starts again when the session changes. No skip when Python lacks grpc: preparePythonClient throws, so a machine without it
// fails here (CI installs it).

import { createServer } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { EnqueueTurnInputRequest } from '../../gen/lash/v1/queue_service.js';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { STATE_CHUNK_BYTES } from '../../src/domain/limits.js';
import { engines } from '../support/engines.js';
import { fakeModelSuite } from '../support/fake-model-suite.js';
import { killPythons, preparePythonClient, pythonOutput, runPython } from '../support/python.js';
import { runTurn, textInput } from '../support/turns.js';

/** A port nobody listens on now, so a restarted server can come back at the same address. */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/**
 * The two restart tests hold a Python interpreter, a server stop (up to its 2 s shutdown grace) and
 * a restart on the same database, each of which takes seconds on a loaded 2-core CI machine
 * running the PostgreSQL suite. Their waits (runPython's waitFor, 60 s each) name the step that
 * stalled and print the script's output; the test's own limit is above them so that message, not
 * a bare "timed out", is what a stall reports.
 */
const RESTART_TEST_MS = 120_000;

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`Python client on ${engine.name}`, () => {
    let env: Record<string, string>;
    let n = 0;
    const open = async (prefix: string) => {
      const sessionId = `py-${prefix}-${++n}`;
      // Tool hosts serve a session only the remote tools it binds (ADR 0047): the example's two.
      const spec = prefix.startsWith('tools') ? { remoteTools: { bindings: [{ name: 'divide' }, { name: 'lookup' }] } } : undefined;
      await suite.s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId, spec }));
      return sessionId;
    };

    const suite = fakeModelSuite(engine, {
      prefix: 'python-client',
      env: async () => {
        preparePythonClient();
        const address = `127.0.0.1:${await freePort()}`;
        env = { LASH_ADDRESS: address };
        // No built-in queue workers: the Python worker is the one that drains.
        return { LASH_LISTEN: address, LASH_QUEUE_WORKERS: '0' };
      },
    });
    afterAll(() => killPythons());
    afterEach(() => killPythons());

    it('the turn helper yields the streamed deltas, then returns the committed result; a retried turn id returns it again', async () => {
      suite.fake.script({ steps: [{ text: 'Hello' }, { delayMs: 30 }, { text: ', Python' }, { delayMs: 30 }, { text: ' client.' }] });
      const out = JSON.parse(await pythonOutput('tests/turn_check.py', [`py-turn-${++n}`, 'greet me'], env)) as {
        deltas: string[];
        text: string;
        turn_id: string;
        retry_turn_id: string;
        retry_text: string;
      };
      expect(out.deltas.length).toBeGreaterThanOrEqual(1);
      expect(out.deltas.join('')).toBe('Hello, Python client.');
      expect(out.text).toBe('Hello, Python client.');
      expect(out.retry_turn_id).toBe(out.turn_id);
      expect(out.retry_text).toBe(out.text);
      expect(suite.fake.requests).toHaveLength(1);
    });

    it('export_state reads a state larger than one piece, starting again when the session changes in between; the text imports back', async () => {
      const out = JSON.parse(await pythonOutput('tests/export_check.py', [`py-export-${++n}`], env)) as {
        bytes: number;
        nodes: number;
        calls: number;
        refused: string | null;
        copy_ids: string[];
      };
      expect(out.bytes).toBeGreaterThan(STATE_CHUNK_BYTES);
      expect(out.calls).toBeGreaterThan(2); // one piece of the stale read, then every piece again
      expect(out.nodes).toBe(4);
      expect(out.refused).toBe('STATE_CHANGED_DURING_EXPORT');
      expect(out.copy_ids).toEqual(['a', 'b', 'c', 'd']);
    });

    it('read_attachment reads an image larger than one 3 MiB answer in ranges; asked for whole it is ATTACHMENT_NEEDS_RANGES', async () => {
      const out = JSON.parse(await pythonOutput('tests/attachment_check.py', [`py-attach-${++n}`], env)) as {
        whole: string | null;
        media_type: string;
        bytes: number;
        same: boolean;
      };
      expect(out).toEqual({ whole: 'ATTACHMENT_NEEDS_RANGES', media_type: 'image/png', bytes: 7 * 1024 * 1024 + 4, same: true });
    });

    it('the chat example streams an answer per line typed', async () => {
      suite.fake.script({ steps: [{ text: 'first ' }, { text: 'answer' }] }, { steps: [{ text: 'second answer' }] });
      const out = await pythonOutput('examples/chat.py', [`py-chat-${++n}`], env, 'one\ntwo\n');
      expect(out).toContain('lash> first answer\n');
      expect(out).toContain('lash> second answer\n');
      expect(out.match(/\[turn [^:]+: \d+ deltas/g)).toHaveLength(2);
      expect(suite.fake.requests.map((r) => JSON.stringify(r.body.messages))).toEqual([expect.stringContaining('one'), expect.stringContaining('two')]);
    });

    it('typed errors: NotFound, InvalidArgument and AlreadyExists carry the ErrorInfo reason and ids', async () => {
      const sessionId = `py-errors-${++n}`;
      const out = JSON.parse(await pythonOutput('tests/errors_check.py', [sessionId], env)) as Record<
        string,
        {
          class: string;
          code: string;
          reason: string;
          domain: string;
          metadata: Record<string, string>;
          message: string;
          retryable: boolean;
          is_not_found: boolean;
          is_invalid: boolean;
          is_already_exists: boolean;
        }
      >;
      expect(out.unknown_session).toMatchObject({
        class: 'NotFound',
        code: 'NOT_FOUND',
        reason: 'SESSION_NOT_FOUND',
        is_not_found: true,
        retryable: false,
        metadata: { session_id: `${sessionId}-never-opened`, retryable: 'false' },
      });
      expect(out.unknown_session!.domain).toBeTruthy();
      expect(out.missing_id).toMatchObject({ class: 'InvalidArgument', code: 'INVALID_ARGUMENT', is_invalid: true });
      expect(out.missing_id!.reason).toMatch(/^[A-Z_]+$/);
      expect(out.turn_id_reused).toMatchObject({
        class: 'AlreadyExists',
        code: 'ALREADY_EXISTS',
        reason: 'TURN_ID_REUSED',
        is_already_exists: true,
        metadata: { session_id: sessionId, turn_id: `${sessionId}-t1` },
      });
      expect(out.bad_cursor).toMatchObject({ class: 'InvalidArgument', reason: 'CURSOR_MALFORMED' });
    });

    it('a Python tool host answers tool calls inside a turn, failures included', async () => {
      const sessionId = await open('tools');
      const host = runPython('examples/tool_host.py', [sessionId], env);
      await host.waitFor(() => host.stdout().includes('ready host_id='), 'the host registered');
      suite.fake.script(
        { steps: [{ toolCall: { name: 'lookup', args: { word: 'lash' } } }, { toolCall: { name: 'divide', args: { a: 1, b: 0 } } }] },
        { steps: [{ text: 'looked it up' }] },
      );
      const t = await runTurn(suite.s.clients, { sessionId, input: textInput('define lash, then divide 1 by 0') });
      expect(t.error).toBeUndefined();
      const calls = Object.fromEntries((t.result?.toolCalls ?? []).map((c) => [c.tool, c]));
      expect(calls.lookup).toMatchObject({ isError: false, output: { word: 'lash', letters: 4 } });
      expect(calls.divide).toMatchObject({ isError: true });
      expect(JSON.stringify(calls.divide!.output)).toContain('cannot divide by zero');
      expect(JSON.stringify(suite.fake.requests[0]!.body.tools)).toContain('Looks a word up in the glossary.');
      expect(host.stdout()).toContain('call lookup word=lash');
      host.child.kill('SIGTERM');
      expect(await host.exited).toBe(0);
    });

    it(
      'a Python tool host registers again after a server restart and answers the next turn',
      async () => {
        const sessionId = await open('tools-restart');
        const host = runPython('examples/tool_host.py', [sessionId], env);
        const readies = () =>
          host
            .stdout()
            .split('\n')
            .filter((l) => l.startsWith('ready host_id=')).length;
        await host.waitFor(() => readies() === 1, 'the host registered');
        await suite.s.stop();
        suite.s = await suite.s.restart();
        await host.waitFor(() => readies() === 2, 'the host registered again');
        suite.fake.script({ steps: [{ toolCall: { name: 'lookup', args: { word: 'again' } } }] }, { steps: [{ text: 'ok' }] });
        const t = await runTurn(suite.s.clients, { sessionId, input: textInput('define again') });
        expect(t.result?.toolCalls[0]).toMatchObject({ tool: 'lookup', isError: false, output: { word: 'again', letters: 5 } });
        host.child.kill('SIGTERM');
        expect(await host.exited).toBe(0);
      },
      RESTART_TEST_MS,
    );

    it('the queue worker drains every enqueued batch and stops on an empty queue', async () => {
      const sessionId = await open('queue');
      const ids = ['job-a', 'job-b', 'job-c'];
      for (const id of ids)
        await suite.s.clients.queue.enqueueTurnInput(EnqueueTurnInputRequest.fromPartial({ sessionId, id, input: textInput(`work on ${id}`) }));
      const out = await pythonOutput('examples/worker.py', [sessionId, '--until-empty'], env);
      const lines = out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { batch_ids?: string[]; turn_id?: string; drained?: number; empty?: boolean });
      const last = lines.at(-1)!;
      expect(last).toMatchObject({ empty: true, drained: lines.length - 1 });
      const drainedBatches = lines.flatMap((l) => l.batch_ids ?? []);
      expect(lines.length, out).toBeGreaterThan(1);
      const batches = (await suite.s.clients.queue.listQueuedWork({ sessionId })).batches;
      expect(batches).toEqual([]);
      expect(drainedBatches).toHaveLength(ids.length);
      expect(new Set(drainedBatches).size).toBe(ids.length);
      expect(suite.fake.requests.map((r) => JSON.stringify(r.body.messages)).join()).toContain('work on job-c');
    });

    it(
      'the observer resumes across a server restart without a gap or a duplicate',
      async () => {
        const sessionId = await open('observer');
        const observer = runPython('examples/observer.py', [sessionId], env);
        const committed = (turnId: string) => () => observer.jsonLines().some((l) => l.payload === 'committed' && l.turn_id === turnId);
        await observer.waitFor(() => observer.jsonLines().some((l) => l.kind === 'snapshot'), 'the snapshot');
        suite.fake.script({ steps: [{ text: 'before ' }, { text: 'restart' }] });
        await runTurn(suite.s.clients, { sessionId, turnId: 'before-restart', input: textInput('one') });
        await observer.waitFor(committed('before-restart'), 'the first commit');

        await suite.s.stop();
        await observer.waitFor(() => observer.stderr().includes('reconnecting_after'), 'a reconnect attempt');
        suite.s = await suite.s.restart();

        suite.fake.script({ steps: [{ text: 'after ' }, { text: 'restart' }] });
        await runTurn(suite.s.clients, { sessionId, turnId: 'after-restart', input: textInput('two') });
        await observer.waitFor(committed('after-restart'), 'the commit after the restart');
        observer.child.kill('SIGTERM');

        const lines = observer.jsonLines();
        expect(lines.filter((l) => l.kind === 'snapshot')).toHaveLength(1);
        const seqs = lines.filter((l) => l.kind === 'event').map((l) => Number(l.sequence));
        const jumps = seqs.slice(1).flatMap((q, i) => (q === seqs[i]! + 1 ? [] : [`${seqs[i]} → ${q}`]));
        expect(jumps).toEqual([]);
        const deltas = (turnId: string) =>
          lines
            .filter((l) => l.turn_id === turnId && typeof l.delta === 'string')
            .map((l) => l.delta)
            .join('');
        expect(deltas('before-restart')).toBe('before restart');
        expect(deltas('after-restart')).toBe('after restart');
      },
      RESTART_TEST_MS,
    );
  });
}
