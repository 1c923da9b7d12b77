// The two storage engines every storage behaviour runs against: embedded PGlite (always) and
// PostgreSQL (when TEST_DATABASE_URL or DATABASE_URL is set). Each PostgreSQL user gets its own
// throw-away database so test files never see each other's rows.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openDatabase, type Database } from '../../src/store/database.js';

export interface EngineTarget {
  name: 'pglite' | 'postgresql';
  /** Config for a server or store: a fresh database (URL) or a fresh data folder. */
  provision(): Promise<{ databaseUrl?: string; dataDir: string; cleanup(): Promise<void> }>;
}

export const postgresUrl = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;

export const engines: EngineTarget[] = [
  {
    name: 'pglite',
    async provision() {
      const dataDir = mkdtempSync(join(tmpdir(), 'lash-test-'));
      return { dataDir, cleanup: async () => rmSync(dataDir, { recursive: true, force: true }) };
    },
  },
  ...(postgresUrl
    ? [
        {
          name: 'postgresql' as const,
          async provision() {
            const name = `lash_test_${randomBytes(6).toString('hex')}`;
            const admin = new pg.Client({ connectionString: postgresUrl });
            await admin.connect();
            await admin.query(`create database ${name}`);
            await admin.end();
            const url = new URL(postgresUrl);
            url.pathname = `/${name}`;
            const dataDir = mkdtempSync(join(tmpdir(), 'lash-test-'));
            return {
              databaseUrl: url.toString(),
              dataDir,
              async cleanup() {
                rmSync(dataDir, { recursive: true, force: true });
                const c = new pg.Client({ connectionString: postgresUrl });
                await c.connect();
                await c.query(`drop database if exists ${name} with (force)`);
                await c.end();
              },
            };
          },
        },
      ]
    : []),
];

/** Opens a migrated store on a fresh database of the engine. */
export async function openTestDatabase(engine: EngineTarget): Promise<{ db: Database; close(): Promise<void> }> {
  const target = await engine.provision();
  const db = await openDatabase({ databaseUrl: target.databaseUrl, dataDir: target.dataDir, inMemory: !target.databaseUrl });
  return {
    db,
    async close() {
      await db.close();
      await target.cleanup();
    },
  };
}
