// The two storage engines every storage behaviour runs against: embedded PGlite (always) and
// PostgreSQL (when TEST_DATABASE_URL or DATABASE_URL is set). Each PostgreSQL user gets its own
// throw-away database so test files never see each other's rows. Each PGlite user gets its own
// data folder: a copy of the run's migrated template (pglite-template.ts) unless it asks for a
// `fresh` (empty) one, which the server then creates and migrates itself as on a first start.

import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';
import { openDatabase, type Database, type DatabaseOptions } from '../../src/store/database.js';

export interface EngineTarget {
  name: 'pglite' | 'postgresql';
  /** False when this run does not cover the engine (no PostgreSQL URL, or TEST_ENGINES excludes it). */
  enabled: boolean;
  /**
   * Config for a server or store: a fresh database (URL) or a data folder of its own. On PGlite the
   * folder holds a copy of the migrated template, or nothing with `fresh` (for tests about a first
   * start: initdb and every migration then run in the server).
   */
  provision(options?: { fresh?: boolean }): Promise<{ databaseUrl?: string; dataDir: string; cleanup(): Promise<void> }>;
}

export const postgresUrl = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
const selected = (process.env.TEST_ENGINES ?? 'pglite,postgresql').split(',').map((e) => e.trim());

/** Both engines, always listed so that suites of a disabled engine show up as skipped. */
export const engines: EngineTarget[] = [
  {
    name: 'pglite',
    enabled: selected.includes('pglite'),
    async provision(options = {}) {
      const dataDir = mkdtempSync(join(tmpdir(), 'lash-test-'));
      const template = options.fresh ? '' : inject('pgliteTemplate');
      if (template) cpSync(join(template, 'pgdata'), join(dataDir, 'pgdata'), { recursive: true });
      return { dataDir, cleanup: async () => rmSync(dataDir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'postgresql' as const,
    enabled: selected.includes('postgresql') && postgresUrl !== undefined,
    async provision() {
      if (!postgresUrl) throw new Error('set TEST_DATABASE_URL to run the PostgreSQL suites');
      return provisionPostgres(postgresUrl);
    },
  },
];

async function provisionPostgres(postgresUrl: string) {
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
}

/**
 * Opens a migrated store on a fresh database of the engine. On PGlite that is a folder copied from
 * the run's template, as a server opens it: an in-memory PGlite would run initdb (~8 s of CPU).
 */
export async function openTestDatabase(
  engine: EngineTarget,
  options: Pick<DatabaseOptions, 'bulkInFlight' | 'bulkOverdueMs' | 'poolMax'> = {},
): Promise<{ db: Database; databaseUrl?: string; close(): Promise<void> }> {
  const target = await engine.provision();
  const db = await openDatabase({ databaseUrl: target.databaseUrl, dataDir: target.dataDir, ...options });
  return {
    db,
    databaseUrl: target.databaseUrl,
    async close() {
      await db.close();
      await target.cleanup();
    },
  };
}
