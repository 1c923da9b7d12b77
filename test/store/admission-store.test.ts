// Contract of turn admission on each engine: the lease and the head come back in one call, a
// held lease is not taken, and — on PostgreSQL, where another replica's commit can be in flight —
// a lease won the moment the previous writer's commit lands comes with the head that commit wrote,
// never the one from before it.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIT, DbAdmissionStore } from '../../src/store/admission-store.js';
import { TAKE_LEASE } from '../../src/store/turn-store.js';
import { engines, openTestDatabase } from '../support/engines.js';

const insertSession = `insert into sessions (tenant_id, session_id, mode, policy, residency, final_answer_format, current_frame_id, status, created_at, updated_at)
  values ($1, $2, 'standard', '{}', 'resident', '{"kind":"text"}', 'f0', 'idle', now(), now())`;

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`AdmissionStore contract on ${engine.name}`, () => {
    let store: DbAdmissionStore;
    let opened: Awaited<ReturnType<typeof openTestDatabase>>;
    beforeAll(async () => {
      opened = await openTestDatabase(engine);
      store = new DbAdmissionStore(opened.db);
    });
    afterAll(async () => opened?.close());

    it('takes a free lease with the head, and leaves a held one alone', async () => {
      await opened.db.sql.query(insertSession, ['t', 'free']);
      const a = await store.admit({ tenantId: 't', sessionId: 'free', owner: 'w1', ttlMs: 30_000 });
      expect(a.token).toBeDefined();
      expect(a.head?.headRevision).toBe(0n);
      const b = await store.admit({ tenantId: 't', sessionId: 'free', owner: 'w2', ttlMs: 30_000 });
      expect(b.token).toBeUndefined();
      expect(b.head?.sessionId).toBe('free');
    });

    it.skipIf(engine.name !== 'postgresql')(
      'reads one commit row at most, whatever the history: the generic plan made on an empty session stays cheap',
      async () => {
        await opened.db.sql.query(insertSession, ['t', 'long']);
        const c = new pg.Client({ connectionString: opened.databaseUrl });
        await c.connect();
        try {
          // The plan is made while the session has no commits (as for a new session on a new
          // server), then used after thousands: the prepared statement keeps its generic plan.
          await c.query('set plan_cache_mode = force_generic_plan');
          await c.query(`prepare admit as ${ADMIT}`);
          const rowsRead = async (owner: string, openTurn: string | null) => {
            await c.query("update feed_heads set open_turn_id = $1 where tenant_id = 't' and session_id = 'long'", [openTurn]);
            const { rows } = await c.query(`explain (analyze, format json) execute admit('t', 'long', '${owner}', 30, null, null)`);
            await c.query("delete from session_leases where tenant_id = 't' and session_id = 'long'");
            const plan = JSON.stringify(rows[0]['QUERY PLAN']);
            // The most rows any node over session_commits produced.
            const nodes = [...plan.matchAll(/"Relation Name":"session_commits"[^}]*?"Actual Rows":(\d+)/g)].map((m) => Number(m[1]));
            return Math.max(0, ...nodes);
          };
          await c.query("insert into feed_heads (tenant_id, session_id, open_turn_id) values ('t', 'long', null)");
          expect(await rowsRead('w0', null)).toBeLessThanOrEqual(1);
          await c.query(`insert into session_commits (tenant_id, session_id, revision, kind, graph_write, turn_id, created_at)
          select 't', 'long', g, 'turn', 'append', 'turn-' || g, now() from generate_series(1, 3000) g`);
          // No open turn, and an open turn that committed (the usual case after a turn): neither
          // may walk the session's commits.
          expect(await rowsRead('w1', null)).toBeLessThanOrEqual(1);
          expect(await rowsRead('w2', 'turn-2999')).toBeLessThanOrEqual(1);
          expect(await rowsRead('w3', 'turn-never')).toBeLessThanOrEqual(1);
        } finally {
          await c.end();
        }
      },
    );

    it.skipIf(engine.name !== 'postgresql')('a lease won as the holder commits comes with the head of that commit', async () => {
      await opened.db.sql.query(insertSession, ['t', 'race']);
      await opened.db.sql.query(`with lease as (${TAKE_LEASE}) select token from lease`, ['t', 'race', 'replica-a', 30]);
      // Replica A's commit: the head moves and the lease ends in one transaction, still open.
      const a = new pg.Client({ connectionString: opened.databaseUrl });
      await a.connect();
      try {
        await a.query('begin');
        await a.query("update sessions set head_revision = 1 where tenant_id = 't' and session_id = 'race'");
        await a.query("delete from session_leases where tenant_id = 't' and session_id = 'race'");
        // Replica B asks for the lease now: its statement starts before A's commit is visible and
        // waits on the lease row A holds.
        const b = store.admit({ tenantId: 't', sessionId: 'race', owner: 'replica-b', ttlMs: 30_000 });
        await waitForLockWait(opened.databaseUrl!);
        await a.query('commit');
        const won = await b;
        expect(won.token).toBeDefined();
        expect(won.head?.headRevision).toBe(1n);
      } finally {
        await a.end();
      }
    });
  });
}

/** Until some backend of this database waits on a lock (B's admission behind A's transaction). */
async function waitForLockWait(url: string): Promise<void> {
  // Its own connection: activity statistics are read once per transaction.
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    for (let i = 0; i < 500; i++) {
      const { rows } = await c.query("select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'");
      if ((rows[0] as { n: number }).n > 0) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('the admission never waited on the lease row');
  } finally {
    await c.end();
  }
}
