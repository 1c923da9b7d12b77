// Contract of turn admission on each engine: the lease and the head come back in one call, a
// held lease is not taken, and — on PostgreSQL, where another replica's commit can be in flight —
// a lease won the moment the previous writer's commit lands comes with the head that commit wrote,
// never the one from before it.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DbAdmissionStore } from '../../src/store/admission-store.js';
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
