// The hot-path door (bound-sql.ts) on each engine: a prepared statement gives the same rows, names
// and parsed types on its first run and on later ones. On PGlite only the first run describes the
// result; later runs reuse that row description, so a wrong reuse would show up here as rows
// with missing or misnamed columns, or values left unparsed.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines, openTestDatabase } from '../support/engines.js';

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`bound SQL on ${engine.name}`, () => {
    let opened: Awaited<ReturnType<typeof openTestDatabase>>;
    beforeAll(async () => {
      opened = await openTestDatabase(engine);
    });
    afterAll(async () => opened?.close());

    it('returns the same columns and parsed values on every run of one statement', async () => {
      const text = `select $1::text as name, $2::int as n, $3::bigint::text as big, $4::timestamptz as at, $5::jsonb as doc, $6::bool as flag`;
      const at = new Date('2026-01-02T03:04:05.678Z');
      for (let run = 0; run < 3; run++) {
        const { rows, rowCount } = await opened.db.sql.query<Record<string, unknown>>(text, [`r${run}`, run, '9007199254740993', at, { run }, run % 2 === 0]);
        expect(rowCount).toBe(1);
        // Timestamps come back as the driver gives them (text on PostgreSQL's pool, a Date on PGlite).
        const { at: got, ...rest } = rows[0]!;
        expect(new Date(got as string | Date).toISOString()).toBe(at.toISOString());
        expect(rest).toEqual({ name: `r${run}`, n: run, big: '9007199254740993', doc: { run }, flag: run % 2 === 0 });
      }
    });

    it('keeps results apart between statements, with no rows and with no result columns', async () => {
      await opened.db.sql.query('create table if not exists bound_sql_probe (k text primary key, v int)');
      const insert = 'insert into bound_sql_probe (k, v) values ($1, $2)';
      const read = 'select k, v from bound_sql_probe where v >= $1 order by k';
      for (let run = 0; run < 3; run++) {
        expect((await opened.db.sql.query(insert, [`k${run}`, run])).rowCount).toBe(1);
        expect((await opened.db.sql.query(read, [100])).rows).toEqual([]);
        expect((await opened.db.sql.query(read, [run])).rows).toEqual([{ k: `k${run}`, v: run }]);
      }
      await opened.db.sql.query('drop table bound_sql_probe');
    });
  });
}
