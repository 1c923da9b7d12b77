// PostgreSQL: the main pool's hot-path statements reach the database at most
// LASH_DB_BULK_IN_FLIGHT at a time (ADR 0083); the rest wait in this process, in order, and the
// interactive lane (a unary call's short reads) does not wait for them; a statement that stays
// at the database past LASH_DB_BULK_OVERDUE_MS (here: stuck on a lock) stops counting, so the
// others are not held behind it. Statements are held at the database by an advisory lock the test
// owns, so what is "at the database" is read off pg_stat_activity rather than guessed from timings.

import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { engines, openTestDatabase } from '../support/engines.js';

const postgres = engines.find((e) => e.name === 'postgresql')!;
const LOCK = 731_905;

describe.skipIf(!postgres.enabled)('hot-path statements at PostgreSQL at once', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** A database, plus a connection of the test's own that holds the advisory lock the statements wait on. */
  async function setUp(bulkInFlight: number, bulkOverdueMs = 600_000) {
    const opened = await openTestDatabase(postgres, { bulkInFlight, bulkOverdueMs });
    cleanups.push(() => opened.close());
    const locker = new pg.Client({ connectionString: opened.databaseUrl });
    await locker.connect();
    cleanups.push(() => locker.end());
    await locker.query('select pg_advisory_lock($1)', [LOCK]);
    const waitingAtDatabase = async () =>
      Number(
        (
          await locker.query(
            `select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query like '%pg_advisory_lock_shared%'`,
          )
        ).rows[0].n,
      );
    const blocked = (n: number) =>
      Array.from({ length: n }, (_, i) =>
        opened.db.sql.query<{ i: number }>('select pg_advisory_lock_shared($1), pg_advisory_unlock_shared($1), $2::int as i', [LOCK, i]),
      );
    return { opened, locker, waitingAtDatabase, blocked };
  }

  it('lets only the limit reach the database; the rest wait here and run once it answers', async () => {
    const { opened, locker, waitingAtDatabase, blocked } = await setUp(2);
    const statements = blocked(5);
    await vi.waitFor(async () => expect(await waitingAtDatabase()).toBe(2), { timeout: 20_000, interval: 50 });
    expect(opened.db.inFlight!.stats).toMatchObject({ inFlight: 2, waiting: 3 });

    // The interactive lane is not held back by the waiting statements.
    expect((await opened.db.sql.interactive.query<{ one: number }>('select 1 as one')).rows).toEqual([{ one: 1 }]);
    // Still the same two at the database, the same three here.
    expect(await waitingAtDatabase()).toBe(2);
    expect(opened.db.inFlight!.stats).toMatchObject({ inFlight: 2, waiting: 3 });

    await locker.query('select pg_advisory_unlock($1)', [LOCK]);
    const rows = await Promise.all(statements);
    expect(rows.map((r) => r.rows[0]!.i)).toEqual([0, 1, 2, 3, 4]);
    expect(opened.db.inFlight!.stats).toEqual({ inFlight: 0, waiting: 0, waited: 3, overdue: 0 });
  });

  it('with a limit of 1 runs the waiting ones one at a time, in the order they came', async () => {
    const { locker, waitingAtDatabase, blocked } = await setUp(1);
    const finished: number[] = [];
    const statements = blocked(4).map((p) => p.then((r) => finished.push(r.rows[0]!.i)));
    await vi.waitFor(async () => expect(await waitingAtDatabase()).toBe(1), { timeout: 20_000, interval: 50 });
    await locker.query('select pg_advisory_unlock($1)', [LOCK]);
    await Promise.all(statements);
    expect(finished).toEqual([0, 1, 2, 3]);
  });

  it('counts a transaction as one for its whole length, between its statements too', async () => {
    const opened = await openTestDatabase(postgres, { bulkInFlight: 1, bulkOverdueMs: 600_000 });
    cleanups.push(() => opened.close());
    let firstDone!: () => void;
    const firstStatementDone = new Promise<void>((r) => (firstDone = r));
    let letFinish!: () => void;
    const mayFinish = new Promise<void>((r) => (letFinish = r));
    const tx = opened.db.sql.transaction(async (t) => {
      await t.query('select 1 as n');
      firstDone();
      // The transaction is open and has no statement at the database: it still holds its slot.
      await mayFinish;
      return (await t.query<{ n: number }>('select 7 as n')).rows[0]!.n;
    });
    await firstStatementDone;
    let afterDone = false;
    const after = opened.db.sql.query<{ n: number }>('select 8 as n').then((r) => ((afterDone = true), r));
    await new Promise((r) => setTimeout(r, 50));
    expect(afterDone).toBe(false);
    expect(opened.db.inFlight!.stats).toMatchObject({ inFlight: 1, waiting: 1 });
    letFinish();
    expect(await tx).toBe(7);
    expect((await after).rows).toEqual([{ n: 8 }]);
    expect(opened.db.inFlight!.stats).toMatchObject({ inFlight: 0, waiting: 0, waited: 1 });
  });

  it('does not hold the others behind statements stuck at the database past the overdue time', async () => {
    const { opened, locker, waitingAtDatabase, blocked } = await setUp(2, 50);
    const statements = blocked(5);
    // None of them can finish while the test holds the lock; all five still reach the database.
    await vi.waitFor(async () => expect(await waitingAtDatabase()).toBe(5), { timeout: 20_000, interval: 50 });
    expect(opened.db.inFlight!.stats).toMatchObject({ waiting: 0, waited: 3 });
    expect(opened.db.inFlight!.stats.overdue).toBeGreaterThanOrEqual(3);
    await locker.query('select pg_advisory_unlock($1)', [LOCK]);
    expect((await Promise.all(statements)).map((r) => r.rows[0]!.i)).toEqual([0, 1, 2, 3, 4]);
    expect(opened.db.inFlight!.stats).toMatchObject({ inFlight: 0, waiting: 0 });
  });

  it('with 0 leaves it to the pool: every statement reaches the database', async () => {
    const { opened, locker, waitingAtDatabase, blocked } = await setUp(0);
    expect(opened.db.inFlight).toBeUndefined();
    const statements = blocked(5);
    await vi.waitFor(async () => expect(await waitingAtDatabase()).toBe(5), { timeout: 20_000, interval: 50 });
    await locker.query('select pg_advisory_unlock($1)', [LOCK]);
    expect((await Promise.all(statements)).length).toBe(5);
  });
});
