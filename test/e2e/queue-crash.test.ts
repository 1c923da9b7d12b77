// kill -9 of the server while it drains a queued batch: the claim of the dead process expires,
// another process re-claims the batch with a higher fencing token and drains it exactly once;
// the dead drain's claim can no longer complete (DOMAIN.md §3 claims, §4 reliability).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageRole } from '../../gen/lash/v1/common.js';
import { AwaitStatus, EnqueueTurnInputRequest } from '../../gen/lash/v1/queue_service.js';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { openDatabase, type Database } from '../../src/store/database.js';
import { OrmSessionStore } from '../../src/store/session-store.js';
import { engines } from '../support/engines.js';
import { startFakeModelServer, type FakeModelServer } from '../support/fake-model-server.js';
import { startChildServer, type ChildServer } from '../support/child-server.js';
import { observe, payloadCase, sequenceProblems } from '../support/observe.js';
import { TurnStatus } from '../../gen/lash/v1/turn_service.js';
import { drainQueue, textInput, until } from '../support/turns.js';

/** One RunQueuedTurn stream, collected; never rejects (a dead server shows up as `error`). */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const textsOf = (m: { parts: { kind?: { $case: string; value: unknown } }[] }) =>
  m.parts.map((p) => (p.kind?.$case === 'text' ? (p.kind.value as { text: string }).text : '')).join('');

interface BatchRow {
  state: string;
  claim_owner: string | null;
  claim_token: string;
  turn_id: string | null;
}

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`queue crash recovery on ${engine.name}`, () => {
    let fake: FakeModelServer;
    let target: Awaited<ReturnType<typeof engine.provision>>;
    const env = () => ({
      OPENAI_BASE_URL: fake.url,
      LASH_DEFAULT_PROVIDER: 'openai-compatible',
      LASH_DEFAULT_MODEL: 'fake-model',
      LASH_DATA_DIR: target.dataDir,
      DATABASE_URL: target.databaseUrl ?? '',
      LASH_QUEUE_WORKERS: '0',
      LASH_QUEUE_CLAIM_TTL_MS: '1500',
      LASH_LEASE_TTL_MS: '1500',
    });
    beforeAll(async () => {
      fake = await startFakeModelServer();
      target = await engine.provision();
    });
    afterAll(async () => {
      await fake?.close();
      await target?.cleanup();
    });

    it(
      'kill -9 mid-drain: the batch is re-claimed with a higher fencing token and drained exactly once by the next process',
      { timeout: 180_000 },
      async () => {
        const sessionId = 'queue-crash';
        const text = 'QUEUED-BATCH-TEXT-7f3a';
        // PostgreSQL only: the test may look at the rows while the servers run (PGlite's folder is locked).
        let sql: pg.Client | undefined;
        let db: Database | undefined;
        const batchRow = async (batchId: string) =>
          (await sql!.query<BatchRow>('select state, claim_owner, claim_token::text as claim_token, turn_id from queue_batches where batch_id = $1', [batchId]))
            .rows[0]!;
        let a: ChildServer | undefined;
        let b: ChildServer | undefined;
        try {
          a = await startChildServer(env());
          await a.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId }));
          const before = observe(a.clients, sessionId);
          await before.waitFor((m) => m.length >= 1);
          const cursor = before.messages[0]!.cursor;
          before.close();
          const enqueued = await a.clients.queue.enqueueTurnInput(EnqueueTurnInputRequest.fromPartial({ sessionId, id: 'job-1', input: textInput(text) }));
          const batchId = enqueued.batch!.batchId;
          if (target.databaseUrl) {
            sql = new pg.Client({ connectionString: target.databaseUrl });
            await sql.connect();
            db = await openDatabase({ databaseUrl: target.databaseUrl, dataDir: target.dataDir, poolMax: 2 });
          }

          // Process A claims the batch and hangs in the model call; then it dies without any cleanup.
          fake.reset();
          fake.script({ steps: [{ hang: true }] });
          // Observers get feed events only once they are stored: seeing A's turn activity means
          // the feed holds A's open turn, which is what lets B and GetTurn call it interrupted.
          const watchA = observe(a.clients, sessionId, cursor);
          const onA = drainQueue(a.clients, { sessionId, drainId: 'drain-on-a' });
          await until(() => fake.requests.length === 1, 30_000);
          await watchA.waitFor((m) => m.some((x) => payloadCase(x) === 'turnActivity'));
          watchA.close();
          expect(JSON.stringify(fake.requests[0]!.body.messages)).toContain(text);
          let tokenA = 0n;
          let ownerA = '';
          if (sql) {
            const row = await batchRow(batchId);
            expect(row.state).toBe('claimed');
            expect(row.claim_owner).toMatch(/\/drain-on-a$/);
            tokenA = BigInt(row.claim_token);
            ownerA = row.claim_owner!;
            expect(tokenA).toBeGreaterThan(0n);
          }
          expect((await a.kill('SIGKILL')).signal).toBe('SIGKILL');
          const died = await onA;
          expect(died.result).toBeUndefined();
          expect(died.error).toBeDefined();

          // Process B on the same data: for PGlite it takes over the lock of the dead pid.
          b = await startChildServer(env());
          if (!target.databaseUrl) {
            const lock = JSON.parse(readFileSync(join(target.dataDir, 'lash.lock'), 'utf8')) as { pid: number };
            expect(lock.pid).toBe(b.process.pid);
          }
          fake.reset();
          // On PostgreSQL B's model answer is held back for a while, so the fencing can be checked
          // while B holds the re-claimed batch; the checks take milliseconds.
          fake.script({ steps: [...(sql ? [{ delayMs: 5_000 }] : []), { text: 'answer from B' }] });
          // While A's claim (or writer lease) is live, a drain waits for the lease or finds nothing
          // claimable; retry until the claim has expired.
          let nothingToDo = 0;
          const deadline = Date.now() + 60_000;
          const onB = (async () => {
            for (;;) {
              const d = await drainQueue(b!.clients, { sessionId });
              if (d.error) throw new Error(`RunQueuedTurn on B failed: ${d.error.code} ${d.error.details}`);
              if (!d.nothing) return d;
              nothingToDo++;
              if (Date.now() > deadline) throw new Error(`B found nothing to drain for 60 s (${nothingToDo} attempts)`);
              await sleep(200);
            }
          })();
          onB.catch(() => {});

          if (sql && db) {
            // B holds a new claim: same batch, higher fencing token, another owner.
            await until(() => fake.requests.length === 1, 60_000);
            const reclaimed = await batchRow(batchId);
            expect(reclaimed.state).toBe('claimed');
            expect(BigInt(reclaimed.claim_token)).toBeGreaterThan(tokenA);
            expect(reclaimed.claim_owner).not.toBe(ownerA);
            // The dead drain's claim cannot complete: a commit carrying A's token is rejected whole.
            const store = new OrmSessionStore(db);
            const head = (await store.getHead('default', sessionId))!;
            await expect(
              store.commit({
                tenantId: 'default',
                sessionId,
                expectedRevision: head.headRevision,
                kind: 'turn',
                head: { ...head, turnIndex: head.turnIndex + 1n },
                graph: { kind: 'append', nodes: [] },
                frames: [],
                usage: [],
                turnId: 'drain-on-a',
                contentHash: 'drain:',
                claims: [{ batchId, token: tokenA }],
              }),
            ).rejects.toMatchObject({ reason: 'STALE_CLAIM' });
            expect((await store.getHead('default', sessionId))!.headRevision).toBe(head.headRevision);
            expect((await batchRow(batchId)).claim_token).toBe(reclaimed.claim_token);
          }

          const d = await onB;
          console.log(`[queue-crash ${engine.name}] B drained after ${nothingToDo} nothing-to-do answer(s)`);
          expect(d.result?.outcome?.$case).toBe('finished');
          expect(d.result?.turnIndex).toBe(1n);
          const turnId = d.result!.turnId;
          expect(turnId).not.toBe('drain-on-a');
          expect(d.events[0]?.kind).toMatchObject({ $case: 'queuedWorkStarted', value: { batchIds: [batchId] } });
          expect(fake.requests).toHaveLength(1);
          expect(JSON.stringify(fake.requests[0]!.body.messages)).toContain(text);

          // Drained exactly once, by B.
          expect(await b.clients.queue.awaitQueuedWorkBatch({ sessionId, batchId }, { deadlineMs: 10_000 })).toEqual({
            status: AwaitStatus.AWAIT_STATUS_DONE,
            turnId,
          });
          expect((await b.clients.sessions.getSession({ sessionId })).session?.turnIndex).toBe(1n);
          const view = await b.clients.sessions.getReadView({ sessionId, pageSize: 0, pageToken: '' });
          expect(view.turnIndex).toBe(1n);
          expect(view.messages.map((m) => [m.role, textsOf(m)])).toEqual([
            [MessageRole.MESSAGE_ROLE_USER, text],
            [MessageRole.MESSAGE_ROLE_ASSISTANT, 'answer from B'],
          ]);
          expect((await b.clients.queue.listQueuedWork({ sessionId })).batches).toEqual([]);
          const again = await drainQueue(b.clients, { sessionId });
          expect(again.nothing).toBe(true);
          expect(fake.requests).toHaveLength(1);
          // A retried enqueue with the same id answers with the record, not a second turn.
          const retried = await b.clients.queue.enqueueTurnInput(EnqueueTurnInputRequest.fromPartial({ sessionId, id: 'job-1', input: textInput(text) }));
          expect(retried.deduplicated).toBe(true);
          expect(retried.batch).toMatchObject({ batchId, turnId });
          // A's drain never committed: GetTurn and the feed report it as interrupted.
          expect((await b.clients.turns.getTurn({ sessionId, turnId: 'drain-on-a' })).status).toBe(TurnStatus.TURN_STATUS_INTERRUPTED);
          const after = observe(b.clients, sessionId, cursor);
          await after.waitFor((m) => m.some((x) => payloadCase(x) === 'committed'));
          const interrupted = after.events().filter((m) => payloadCase(m) === 'turnInterrupted');
          expect(interrupted.length).toBeGreaterThanOrEqual(1);
          expect(interrupted[0]!.kind).toMatchObject({ value: { payload: { value: { turnId: 'drain-on-a' } } } });
          expect(sequenceProblems(after.messages)).toEqual([]);
          after.close();

          if (sql) {
            const row = await batchRow(batchId);
            expect(row.state).toBe('done');
            expect(row.turn_id).toBe(turnId);
            expect(BigInt(row.claim_token)).toBeGreaterThan(tokenA);
            const commits = await sql.query<{ turn_id: string }>(`select turn_id from session_commits where session_id = $1 and kind = 'turn'`, [sessionId]);
            expect(commits.rows.map((r) => r.turn_id)).toEqual([turnId]);
          }
        } finally {
          await sql?.end().catch(() => {});
          await db?.close().catch(() => {});
          if (a && a.process.exitCode === null && a.process.signalCode === null) await a.kill('SIGKILL');
          if (b) await b.kill('SIGKILL');
        }
      },
    );
  });
}
