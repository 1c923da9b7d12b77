// PGlite's prepared-statement door (src/store/pglite-prepared.ts) does the wire work PGlite's
// helpers did before: it writes the Bind message itself and builds rows from the statement's kept
// shape. These tests hold it to PGlite's own output: the same bytes as PGlite's serializer, the
// same rows and counts as PGlite's `query` (first run and later runs, every common column type,
// nulls, duplicate and odd column names), and the file-system sync skipped only where it does
// nothing. The bound-SQL suite (bound-sql.test.ts) runs the same door through the store on both
// engines.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryFS, PGlite, protocol, types } from '@electric-sql/pglite';
import { bindMessage, fileSystemSyncs, pglitePrepared } from '../../src/store/pglite-prepared.js';
import { engines } from '../support/engines.js';

const pgliteEnabled = engines.find((e) => e.name === 'pglite')!.enabled;
const direct = <T>(_lane: unknown, fn: () => Promise<T>) => fn();
let names = 0;
const nameOf = new Map<string, string>();
const statementName = (text: string) => {
  if (!nameOf.has(text)) nameOf.set(text, `probe_${names++}`);
  return nameOf.get(text)!;
};

const schema = `
  create type mood as enum ('calm', 'busy');
  create table probe (k text primary key, n int, big bigint, at timestamptz, doc jsonb, tags text[], raw bytea, m mood);
`;

describe.skipIf(!pgliteEnabled)('PGlite prepared statements', () => {
  // `db` runs our door; `mirror`, the same schema, runs PGlite's own `query`: writes land alike.
  let db: PGlite;
  let mirror: PGlite;
  beforeAll(async () => {
    db = await PGlite.create();
    mirror = await PGlite.create();
    await db.exec(schema);
    await mirror.exec(schema);
  });
  afterAll(async () => {
    await db?.close();
    await mirror?.close();
  });

  it('writes the Bind, Describe, Execute and Sync bytes that PGlite’s serializer writes', () => {
    const serializers = [types.TEXT, types.INT4, types.INT8, types.TIMESTAMPTZ, types.JSONB, types.BOOL, types.BYTEA].map((t) => db.serializers[t]);
    const cases: unknown[][] = [
      [],
      ['', 0, 0n, new Date(0), {}, false, new Uint8Array()],
      ['naïve ✓ 𝄞', -7, 9007199254740993n, new Date('2026-01-02T03:04:05.678Z'), { a: [1, 'é', null] }, true, new Uint8Array([0, 255, 16])],
      [null, undefined, null, null, null, null, null],
      ['x'.repeat(70_000), 1, 2n, new Date(1), { long: 'y'.repeat(5000) }, true, new Uint8Array(300)],
    ];
    for (const params of cases) {
      const statement = { nameBytes: Buffer.from('lash_7\0'), serializers: serializers.slice(0, params.length) };
      const values = params.map((v, i) => (v === null || v === undefined ? null : serializers[i]!(v)));
      const bind = protocol.serialize.bind({ statement: 'lash_7', values });
      const tail = [protocol.serialize.execute({}), protocol.serialize.sync()];
      expect(bindMessage(statement, params, false)).toEqual(Buffer.concat([bind, ...tail]));
      expect(bindMessage(statement, params, true)).toEqual(Buffer.concat([bind, protocol.serialize.describe({ type: 'P' }), ...tail]));
    }
  });

  it('gives the rows and counts PGlite’s own query gives, on the first run and later ones', async () => {
    const run = pglitePrepared(db, direct, statementName);
    const statements: [string, unknown[]][] = [
      [
        'insert into probe (k, n, big, at, doc, tags, raw, m) values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict (k) do update set n = probe.n + 1',
        ['a', 1, 10n, new Date('2026-01-02T03:04:05.678Z'), { x: [1, 2] }, ['p', 'q r', null], new Uint8Array([1, 2, 3]), 'busy'],
      ],
      ['insert into probe (k) values ($1) on conflict (k) do nothing', ['b']],
      ['select * from probe where k >= $1 order by k', ['']],
      ['select * from probe where k = $1', ['none']],
      [
        'select n, n as n, k as "__proto__", k as "constructor", 1.5::numeric as dec, null::int as nothing, array[1,2]::int[] as ints, $1::date as day from probe order by k',
        ['2026-03-04'],
      ],
      ['update probe set n = coalesce(n, 0) + $1 where k = any($2::text[])', [5, ['a', 'b', 'c']]],
      ['update probe set n = n where k = $1 returning k, n', ['a']],
      ['delete from probe where k = $1', ['zz']],
      ['select count(*) from probe where k <> $1', ['a']],
    ];
    for (let round = 0; round < 3; round++) {
      for (const [text, params] of statements) {
        const ours = await run<Record<string, unknown>>('bulk', text, params);
        const theirs = await mirror.query<Record<string, unknown>>(text, params);
        expect(ours.rows, `${text} (run ${round + 1})`).toEqual(theirs.rows);
        expect(ours.rows.map((r) => Object.keys(r))).toEqual(theirs.rows.map((r) => Object.keys(r)));
        expect(ours.rows.map((r) => Object.getPrototypeOf(r))).toEqual(theirs.rows.map((r) => Object.getPrototypeOf(r)));
        // What the store reads: the command tag's count (rows written, or rows a read returned).
        const tag = (theirs as { rowCount?: number }).rowCount ?? theirs.affectedRows ?? theirs.rows.length;
        expect(ours.rowCount, text).toBe(tag);
      }
    }
  });

  it('refuses as PGlite does and goes on working after a refusal', async () => {
    const run = pglitePrepared(db, direct, statementName);
    const insert = 'insert into probe (k, n) values ($1, $2)';
    await run('bulk', insert, ['dup', 1]);
    await mirror.query(insert, ['dup', 1]);
    const ours = await run('bulk', insert, ['dup', 2]).catch((err: unknown) => err);
    const theirs = await mirror.query(insert, ['dup', 2]).catch((err: unknown) => err);
    expect((ours as { code?: string }).code).toBe('23505');
    expect((ours as Error).message).toBe((theirs as Error).message);
    expect((await run<{ n: number }>('bulk', 'select n from probe where k = $1', ['dup'])).rows).toEqual([{ n: 1 }]);
  });

  it('syncs the file system after a statement only when its sync does something', async () => {
    let syncs = 0;
    class CountingFS extends MemoryFS {
      override async syncToFs(relaxedDurability?: boolean) {
        syncs++;
        return super.syncToFs(relaxedDurability);
      }
    }
    expect(fileSystemSyncs(db)).toBe(false);
    const synced = await PGlite.create({ fs: new CountingFS() });
    try {
      expect(fileSystemSyncs(synced)).toBe(true);
      const run = pglitePrepared(synced, direct, statementName);
      const before = syncs;
      await run('bulk', 'select $1::int as n', [1]);
      await run('bulk', 'select $1::int as n', [2]);
      expect(syncs - before).toBeGreaterThanOrEqual(2);
    } finally {
      await synced.close();
    }
  });

  it('skips the sync on the Node.js folder store the server opens', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'lash-prepared-'));
    const folder = await PGlite.create({ dataDir: join(dir, 'pgdata') });
    try {
      expect(fileSystemSyncs(folder)).toBe(false);
    } finally {
      await folder.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
