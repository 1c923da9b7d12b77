// The embedded data folders tests get (test/support/engines.ts): by default a copy of the run's
// migrated template, so a store opens without initdb, with every migration applied, and what one
// test writes is seen by no other folder; with `fresh`, an empty folder, as on a first start.

import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/database.js';
import { migrationsList } from '../../src/store/migrations.js';
import { engines } from '../support/engines.js';

const pglite = engines.find((e) => e.name === 'pglite')!;

async function migrationsApplied(dataDir: string): Promise<number> {
  const db = await openDatabase({ dataDir });
  try {
    const rows = await db.conn().execute<{ n: number }[]>('select count(*)::int as n from lash_migrations');
    return rows[0]!.n;
  } finally {
    await db.close();
  }
}

describe.skipIf(!pglite.enabled)('provisioned PGlite data folders', () => {
  it('hold a migrated cluster before any server opens them, one per provision', async () => {
    const a = await pglite.provision();
    const b = await pglite.provision();
    try {
      expect(a.dataDir).not.toBe(b.dataDir);
      expect(existsSync(join(a.dataDir, 'pgdata', 'PG_VERSION'))).toBe(true);
      expect(existsSync(join(a.dataDir, 'lash.lock'))).toBe(false);
      expect(await migrationsApplied(a.dataDir)).toBe(migrationsList.length);
      const db = await openDatabase({ dataDir: a.dataDir });
      await db.conn().execute('create table only_in_a (x int)');
      await db.close();
      const other = await openDatabase({ dataDir: b.dataDir });
      try {
        const rows = await other.conn().execute<{ n: number }[]>("select count(*)::int as n from pg_tables where tablename = 'only_in_a'");
        expect(rows[0]!.n).toBe(0);
      } finally {
        await other.close();
      }
    } finally {
      await a.cleanup();
      await b.cleanup();
    }
  });

  it('are empty with `fresh`: the store creates and migrates the cluster itself', async () => {
    const fresh = await pglite.provision({ fresh: true });
    try {
      expect(readdirSync(fresh.dataDir)).toEqual([]);
    } finally {
      await fresh.cleanup();
    }
  });
});
