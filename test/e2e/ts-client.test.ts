// The TypeScript client library (src/client) against a real server: a turn as events then its
// result, typed errors, deadlines, AbortSignal cancellation of a running turn, a retried
// idempotent call that outlives a server restart, observation that resumes across a restart
// without a gap or a duplicate, and a state export of several pieces that starts again when the
// session changes in between.

import { status } from '@grpc/grpc-js';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeedMessage } from '../../gen/lash/v1/feed.js';
import { TurnStatus } from '../../gen/lash/v1/turn_service.js';
import { OpenMode } from '../../gen/lash/v1/session.js';
import { STATE_CHUNK_BYTES } from '../../src/domain/limits.js';
import { LashError } from '../../src/client/errors.js';
import { LashClient } from '../../src/client/lash-client.js';
import { resultText } from '../../src/client/turn-stream.js';
import { engines } from '../support/engines.js';
import { fakeModelSuite } from '../support/fake-model-suite.js';
import { textInput, until } from '../support/turns.js';

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function rejected(p: Promise<unknown>): Promise<LashError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(LashError);
    return err as LashError;
  }
  throw new Error('expected a rejection');
}

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`TypeScript client on ${engine.name}`, () => {
    let client: LashClient;
    let n = 0;
    const open = async (prefix: string) => {
      const sessionId = `ts-${prefix}-${++n}`;
      await client.sessions.openSession({ sessionId });
      return sessionId;
    };

    let address: string;
    const suite = fakeModelSuite(engine, {
      prefix: 'ts-client',
      env: async () => {
        address = `127.0.0.1:${await freePort()}`;
        return { LASH_LISTEN: address, LASH_QUEUE_WORKERS: '0' };
      },
    });
    beforeAll(() => {
      client = new LashClient({ address, deadlineMs: 30_000 });
    });
    afterAll(() => {
      client?.close();
    });

    it('exportState reads a state larger than one piece, starting again when the session changes in between; the text imports back', async () => {
      const sessionId = await open('export');
      const big = (id: string) => ({ id, role: 1, parts: [{ kind: { $case: 'text' as const, value: { text: `${id} ${'é'.repeat(400 * 1024)}` } } }] });
      // Three appends of 800 KiB of text each: more than one 2 MiB piece.
      for (const id of ['a', 'b', 'c']) await client.admin.appendMessages({ sessionId, messages: [big(id)] });
      // After the first piece, another append: the next piece is STATE_CHANGED_DURING_EXPORT and
      // the helper starts again (the same method on the instance, shadowed once).
      type Chunk = LashClient['sessions']['exportSessionStateChunk'];
      const api = client.sessions as unknown as { exportSessionStateChunk: Chunk };
      const chunk = api.exportSessionStateChunk;
      let calls = 0;
      api.exportSessionStateChunk = async (...args: Parameters<Chunk>) => {
        const r = await chunk(...args);
        if (++calls === 1) await client.admin.appendMessages({ sessionId, messages: [big('d')] });
        return r;
      };
      let json: Buffer;
      try {
        json = await client.exportState(sessionId);
      } finally {
        api.exportSessionStateChunk = chunk;
      }
      expect(json.length).toBeGreaterThan(STATE_CHUNK_BYTES);
      expect(calls).toBeGreaterThan(2); // one piece of the stale read, then every piece again
      const doc = JSON.parse(json.toString('utf8')) as { nodes: unknown[] };
      expect(doc.nodes).toHaveLength(4); // 'd' included: the export is of the session as it is now
      // With one attempt the change is the caller's to handle.
      api.exportSessionStateChunk = async (...args: Parameters<Chunk>) => {
        const r = await chunk(...args);
        await client.admin.appendMessages({ sessionId, messages: [big(`e${calls++}`)] });
        return r;
      };
      try {
        expect((await rejected(client.exportState(sessionId, { attempts: 1 }))).reason).toBe('STATE_CHANGED_DURING_EXPORT');
      } finally {
        api.exportSessionStateChunk = chunk;
      }
      // Gone, then back from the text (a document names its session: it imports under that id).
      await client.sessions.deleteSession({ sessionId });
      await client.sessions.openSession({ sessionId, openMode: OpenMode.OPEN_MODE_WITH_STATE, state: { sessionId, documentJson: json } });
      const ids: string[] = [];
      let pageToken = '';
      do {
        // A read-view page ends at 2 MiB of messages.
        const page = await client.sessions.getReadView({ sessionId, pageSize: 10, pageToken });
        ids.push(...page.messages.map((m) => m.id));
        pageToken = page.nextPageToken;
      } while (pageToken);
      expect(ids).toEqual(['a', 'b', 'c', 'd']);
    });

    it('a turn streams its deltas, then resolves to the committed result under the id the client chose', async () => {
      const sessionId = await open('turn');
      suite.fake.script({ steps: [{ text: 'streamed ' }, { delayMs: 20 }, { text: 'answer' }] });
      const turn = client.runTurn({ sessionId, input: textInput('hi') });
      const deltas: string[] = [];
      for await (const d of turn.deltas()) deltas.push(d);
      const result = await turn.done();
      expect(deltas.join('')).toBe('streamed answer');
      expect(resultText(result)).toBe('streamed answer');
      expect(result?.turnId).toBe(turn.turnId);
      expect(turn.turnId).not.toBe('');
      // The same id again returns the stored result; the model is not asked twice.
      const again = await client.runTurn({ sessionId, turnId: turn.turnId, input: textInput('hi') }).done();
      expect(resultText(again)).toBe('streamed answer');
      expect(suite.fake.requests).toHaveLength(1);
    });

    it('drain runs queued work and reports nothing to do on an empty queue', async () => {
      const sessionId = await open('drain');
      await client.queue.enqueueTurnInput({ sessionId, id: 'job-1', input: textInput('queued work') });
      const drained = client.drain({ sessionId });
      expect((await drained.done())?.turnId).toBeTruthy();
      expect(drained.events[0]?.kind?.$case).toBe('queuedWorkStarted');
      const empty = client.drain({ sessionId });
      expect(await empty.done()).toBeUndefined();
      expect(empty.nothingToDo).toBe(true);
    });

    it('failures are LashErrors with the code, ErrorInfo reason and ids', async () => {
      const missing = await rejected(client.sessions.getSession({ sessionId: 'ts-never-opened' }));
      expect(missing).toMatchObject({ code: status.NOT_FOUND, reason: 'SESSION_NOT_FOUND', metadata: { session_id: 'ts-never-opened', retryable: 'false' } });
      expect(missing.retryable).toBe(false);
      // The server's word decides, whatever the code: a conflict it calls retryable is; a
      // transport failure without ErrorInfo is retryable only when UNAVAILABLE.
      expect(new LashError(status.ABORTED, 'raced', 'REVISION_CONFLICT', 'lash', { retryable: 'true' }).retryable).toBe(true);
      expect(new LashError(status.UNAVAILABLE, 'connection refused').retryable).toBe(true);
      expect(new LashError(status.UNAVAILABLE, 'store down', 'STORE_UNAVAILABLE', 'lash', { retryable: 'true' }).unavailable).toBe(true);
      const bad = await rejected(client.sessions.openSession({ sessionId: '' }));
      expect(bad.code).toBe(status.INVALID_ARGUMENT);
      expect(bad.reason).toMatch(/^[A-Z_]+$/);
      const sessionId = await open('errors');
      await client.runTurn({ sessionId, turnId: 't1', input: textInput('one') }).done();
      const reused = client.runTurn({ sessionId, turnId: 't1', input: textInput('two') });
      const e = await rejected(reused.done());
      expect(e).toMatchObject({ code: status.ALREADY_EXISTS, reason: 'TURN_ID_REUSED' });
      const cursor = await rejected(client.observe(sessionId, { cursor: 'not-a-cursor' }).next());
      expect(cursor).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'CURSOR_MALFORMED' });
    });

    it('a deadline ends a call that waits too long with DEADLINE_EXCEEDED', async () => {
      const sessionId = await open('deadline');
      const { batch } = await client.queue.enqueueTurnInput({ sessionId, id: 'never-drained', input: textInput('wait') });
      const e = await rejected(client.queue.awaitQueuedWorkBatch({ sessionId, batchId: batch!.batchId }, { deadlineMs: 500 }));
      expect(e.code).toBe(status.DEADLINE_EXCEEDED);
    });

    it('an AbortSignal cancels a running turn: the iteration throws CANCELLED and the server cancels the turn', async () => {
      const sessionId = await open('abort');
      suite.fake.script({ steps: [{ text: 'partial' }, { hang: true }] });
      const abort = new AbortController();
      const turn = client.runTurn({ sessionId, input: textInput('long') }, { signal: abort.signal });
      const iterator = turn.deltas()[Symbol.asyncIterator]();
      expect((await iterator.next()).value).toBe('partial');
      abort.abort(new Error('user pressed stop'));
      const e = await rejected(iterator.next());
      expect(e.code).toBe(status.CANCELLED);
      expect(e.details).toContain('user pressed stop');
      await until(async () => (await client.turns.getTurn({ sessionId, turnId: turn.turnId })).status === TurnStatus.TURN_STATUS_COMMITTED, 30_000);
      const { result } = await client.turns.getTurn({ sessionId, turnId: turn.turnId });
      expect(result?.outcome?.$case).toBe('stopped');
    });

    it('an idempotent call retries through a server restart; a non-idempotent one fails at once', async () => {
      const sessionId = await open('retry');
      await suite.s.stop();
      const patient = { maxAttempts: 1_000, initialBackoffMs: 50, maxBackoffMs: 200 };
      const append = rejected(
        client.admin.appendMessages({ sessionId, messages: [{ role: 1, parts: [{ kind: { $case: 'text', value: { text: 'x' } } }] }] }, { retry: patient }),
      );
      expect((await append).code).toBe(status.UNAVAILABLE);
      const get = client.sessions.getSession({ sessionId }, { retry: patient, deadlineMs: 120_000 });
      suite.s = await suite.s.restart();
      expect((await get).session?.sessionId).toBe(sessionId);
    });

    it('calls that carry an idempotency id retry through a server restart: an enqueue with an id and a turn; an enqueue without one fails at once', async () => {
      const queued = await open('ids-queue');
      const turned = await open('ids-turn');
      await suite.s.stop();
      const patient = { maxAttempts: 1_000, initialBackoffMs: 50, maxBackoffMs: 200 };
      const anonymous = await rejected(client.queue.enqueueTurnInput({ sessionId: queued, input: textInput('no id') }, { retry: patient }));
      expect(anonymous.code).toBe(status.UNAVAILABLE);
      const enqueue = client.queue.enqueueTurnInput(
        { sessionId: queued, id: 'job-through-restart', input: textInput('with id') },
        { retry: patient, deadlineMs: 120_000 },
      );
      // runTurn names a fresh turn id itself, so reopening the stream after UNAVAILABLE is safe.
      const turn = client.runTurn({ sessionId: turned, input: textInput('through the restart') }, { retry: patient });
      const done = turn.done();
      suite.fake.script({ steps: [{ text: 'ran once' }] });
      suite.s = await suite.s.restart();
      await enqueue;
      const result = await done;
      expect(resultText(result)).toBe('ran once');
      expect(result?.turnId).toBe(turn.turnId);
      expect(suite.fake.requests).toHaveLength(1);
      const batches = (await client.queue.listQueuedWork({ sessionId: queued })).batches;
      expect(batches.map((b) => b.id)).toEqual(['job-through-restart']);
    });

    it('observe resumes across a server restart without a gap or a duplicate', async () => {
      const sessionId = await open('observe');
      const abort = new AbortController();
      const seen: FeedMessage[] = [];
      let reconnects = 0;
      const committed = (turnId: string) => () =>
        seen.some((m) => m.kind?.$case === 'event' && m.kind.value.payload?.$case === 'committed' && m.kind.value.payload.value.turnId === turnId);
      const loop = (async () => {
        for await (const m of client.observe(sessionId, { signal: abort.signal, onReconnect: () => reconnects++ })) seen.push(m);
      })().catch((err: unknown) => {
        if (!(err instanceof LashError && err.code === status.CANCELLED)) throw err;
      });
      await until(() => seen.length > 0, 30_000);
      suite.fake.script({ steps: [{ text: 'before' }] });
      await client.runTurn({ sessionId, turnId: 'before', input: textInput('one') }).done();
      await until(committed('before'), 30_000);
      await suite.s.stop();
      await until(() => reconnects > 0, 30_000);
      suite.s = await suite.s.restart();
      suite.fake.script({ steps: [{ text: 'after' }] });
      await client
        .runTurn({ sessionId, turnId: 'after', input: textInput('two') }, { retry: { maxAttempts: 100, initialBackoffMs: 50, maxBackoffMs: 500 } })
        .done();
      await until(committed('after'), 60_000);
      abort.abort();
      await loop;
      expect(seen.filter((m) => m.kind?.$case === 'snapshot')).toHaveLength(1);
      const seqs = seen.filter((m) => m.kind?.$case === 'event').map((m) => m.sequence);
      expect(seqs.slice(1).flatMap((q, i) => (q === seqs[i]! + 1n ? [] : [`${seqs[i]} → ${q}`]))).toEqual([]);
    });
  });
}
