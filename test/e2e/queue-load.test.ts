// The queue under load, drained by the background workers of two server processes on one
// PostgreSQL: 200 sessions × 10 batches, enqueued through both servers. Every batch is drained
// exactly once, each as its own turn, in per-session enqueue order (DOMAIN.md §3, §4).

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageRole } from '../../gen/lash/v1/common.js';
import { AwaitStatus, EnqueueTurnInputRequest } from '../../gen/lash/v1/queue_service.js';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import type { LashClients } from '../../src/client/promised.js';
import { engines } from '../support/engines.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { startChildServer, type ChildServer } from '../support/child-server.js';
import { textInput } from '../support/turns.js';

const SESSIONS = 200;
const PER_SESSION = 10;
const IN_FLIGHT = 32;
const DRAIN_BUDGET_MS = 240_000;

const pgEngine = engines.find((e) => e.name === 'postgresql')!;

/** Runs `fn` over `items` with at most `limit` calls in flight. */
async function pool<T>(items: T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

const textOf = (m: { parts: { kind?: { $case: string; value: unknown } }[] }) =>
  m.parts.map((p) => (p.kind?.$case === 'text' ? (p.kind.value as { text: string }).text : '')).join('');

describe.skipIf(!pgEngine.enabled)('queue under load: two server processes with workers on one PostgreSQL', () => {
  let inproc: TestServer;
  let child: ChildServer;
  let sql: pg.Client;
  beforeAll(async () => {
    // Both servers answer with the built-in echo model (no provider credentials).
    inproc = await startTestServer(pgEngine, { LASH_QUEUE_WORKERS: '4' });
    child = await startChildServer({
      DATABASE_URL: inproc.databaseUrl!,
      LASH_QUEUE_WORKERS: '4',
      // Echo even if the caller's environment (inherited by the child) holds provider credentials.
      LASH_DEFAULT_PROVIDER: 'echo',
      LASH_DEFAULT_MODEL: 'echo',
    });
    sql = new pg.Client({ connectionString: inproc.databaseUrl });
    await sql.connect();
  });
  afterAll(async () => {
    await sql?.end().catch(() => {});
    await child?.kill('SIGTERM');
    await inproc?.close();
  });

  it(`${SESSIONS * PER_SESSION} batches on ${SESSIONS} sessions: each drained exactly once, in per-session order`, { timeout: 420_000 }, async () => {
    const servers: LashClients[] = [inproc.clients, child.clients];
    const via = (n: number) => servers[n % 2]!;
    const sessionIds = Array.from({ length: SESSIONS }, (_, s) => `load-s${s}`);
    const textFor = (s: number, k: number) => `s${s}-b${k}`;
    const started = performance.now();

    await pool(sessionIds, IN_FLIGHT, async (sessionId, s) => {
      await via(s).sessions.openSession(OpenSessionRequest.fromPartial({ sessionId }));
    });
    const opened = performance.now();

    // Per session the enqueues are sequential (that is the order the drain must keep); sessions
    // run concurrently, alternating the server batch by batch.
    const batchIds: string[][] = sessionIds.map(() => []);
    await pool(sessionIds, IN_FLIGHT, async (sessionId, s) => {
      for (let k = 0; k < PER_SESSION; k++) {
        const r = await via(s + k).queue.enqueueTurnInput(EnqueueTurnInputRequest.fromPartial({ sessionId, input: textInput(textFor(s, k)) }), {
          deadlineMs: 60_000,
        });
        expect(r.deduplicated).toBe(false);
        batchIds[s]!.push(r.batch!.batchId);
      }
    });
    const enqueued = performance.now();

    // Wait (bounded) for every batch to be done.
    const deadline = Date.now() + DRAIN_BUDGET_MS;
    const all = sessionIds.flatMap((sessionId, s) => batchIds[s]!.map((batchId, k) => ({ sessionId, s, k, batchId })));
    const outcome = new Map<string, { status: AwaitStatus | 'timeout'; turnId: string }>();
    await pool(all, 64, async (b, i) => {
      try {
        const r = await via(i).queue.awaitQueuedWorkBatch(
          { sessionId: b.sessionId, batchId: b.batchId },
          { deadlineMs: Math.max(1_000, deadline - Date.now()) },
        );
        outcome.set(b.batchId, { status: r.status, turnId: r.turnId });
      } catch (err) {
        outcome.set(b.batchId, { status: 'timeout', turnId: (err as Error).message });
      }
    });
    const drained = performance.now();
    const secs = (a: number, b: number) => ((b - a) / 1000).toFixed(1);
    console.log(
      `[queue-load] ${all.length} batches / ${SESSIONS} sessions: open ${secs(started, opened)} s, enqueue ${secs(opened, enqueued)} s, ` +
        `last batch done ${secs(enqueued, drained)} s after the last enqueue (${secs(opened, drained)} s after the first: ${(all.length / ((drained - opened) / 1000)).toFixed(1)} batches/s)`,
    );

    const notDone = all.filter((b) => outcome.get(b.batchId)?.status !== AwaitStatus.AWAIT_STATUS_DONE);
    if (notDone.length) {
      const pending = await sql.query<{ state: string; n: string }>('select state, count(*)::text as n from queue_batches group by state');
      throw new Error(
        `${notDone.length} of ${all.length} batches not done within ${DRAIN_BUDGET_MS / 1000} s (e.g. ${notDone
          .slice(0, 3)
          .map((b) => `${b.sessionId}/${b.k}: ${String(outcome.get(b.batchId)?.status)}`)
          .join(', ')}); rows by state: ${JSON.stringify(pending.rows)}`,
      );
    }
    // Each batch was its own turn (exclusive slots): 2000 distinct turn ids.
    const turnIds = all.map((b) => outcome.get(b.batchId)!.turnId);
    expect(turnIds.every((t) => t.length > 0)).toBe(true);
    expect(new Set(turnIds).size).toBe(all.length);

    // Over gRPC: every session ran exactly its 10 batches, in enqueue order, each echoed once.
    await pool(sessionIds, IN_FLIGHT, async (sessionId, s) => {
      const client = via(s + 1);
      const expected = Array.from({ length: PER_SESSION }, (_, k) => [
        [MessageRole.MESSAGE_ROLE_USER, textFor(s, k)],
        [MessageRole.MESSAGE_ROLE_ASSISTANT, textFor(s, k)],
      ]).flat();
      const view = await client.sessions.getReadView({ sessionId, pageSize: 0, pageToken: '' });
      expect(view.nextPageToken).toBe('');
      expect(view.turnIndex, sessionId).toBe(BigInt(PER_SESSION));
      expect(
        view.messages.map((m) => [m.role, textOf(m)]),
        sessionId,
      ).toEqual(expected);
      expect((await client.sessions.getSession({ sessionId })).session?.turnIndex, sessionId).toBe(BigInt(PER_SESSION));
      expect((await client.queue.listQueuedWork({ sessionId })).batches, sessionId).toEqual([]);
    });

    // In the store: every batch done by one committed turn of its own session, the turns of a
    // session committed in enqueue order, and no other turn commits.
    const rows = await sql.query<{
      batch_id: string;
      session_id: string;
      state: string;
      turn_id: string | null;
      claim_owner: string | null;
      committed: string | null;
      revision: string | null;
    }>(
      `select q.batch_id, q.session_id, q.state, q.turn_id, q.claim_owner, c.turn_id as committed, c.revision::text as revision
         from queue_batches q left join session_commits c on c.tenant_id = q.tenant_id and c.session_id = q.session_id and c.turn_id = q.turn_id and c.kind = 'turn'`,
    );
    expect(rows.rows).toHaveLength(all.length);
    const byBatch = new Map(rows.rows.map((r) => [r.batch_id, r]));
    for (const b of all) {
      const r = byBatch.get(b.batchId)!;
      expect(r.state).toBe('done');
      expect(r.turn_id).toBe(outcome.get(b.batchId)!.turnId);
      expect(r.committed, `${b.sessionId}/${b.k} has no turn commit`).toBe(r.turn_id);
    }
    for (const [s, ids] of batchIds.entries()) {
      const revisions = ids.map((id) => BigInt(byBatch.get(id)!.revision!));
      expect(
        revisions.every((r, i) => i === 0 || r > revisions[i - 1]!),
        `turn commits of ${sessionIds[s]} out of enqueue order`,
      ).toBe(true);
    }
    const turnCommits = await sql.query<{ n: string }>(`select count(*)::text as n from session_commits where kind = 'turn'`);
    expect(Number(turnCommits.rows[0]!.n)).toBe(all.length);

    // Both replicas drained work (their replica id is the first part of the claim owner).
    const byReplica = new Map<string, number>();
    for (const r of rows.rows) {
      const replica = r.claim_owner!.split('/')[0]!;
      byReplica.set(replica, (byReplica.get(replica) ?? 0) + 1);
    }
    expect(byReplica.size).toBe(2);
    expect(byReplica.has(inproc.app.replicaId)).toBe(true);
    const verified = performance.now();
    console.log(
      `[queue-load] verify ${secs(drained, verified)} s, total ${secs(started, verified)} s; drained per replica: ${JSON.stringify(Object.fromEntries(byReplica))}`,
    );
  });
});
