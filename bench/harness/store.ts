// A throw-away store per bench run: a temp PGlite folder, or a fresh `lash_bench_<random>`
// database on a PostgreSQL server, removed at the end.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface BenchStore {
  engine: 'pglite' | 'postgresql';
  /** LASH_* / DATABASE_URL variables that point a server at this store. */
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

/** A fresh PGlite folder, or (with a URL) a fresh `lash_bench_<random>` database on that server. */
export async function provisionStore(databaseUrl: string | undefined): Promise<BenchStore> {
  const dataDir = mkdtempSync(join(tmpdir(), 'lash-bench-'));
  const removeDir = () => rmSync(dataDir, { recursive: true, force: true });
  if (!databaseUrl) {
    return { engine: 'pglite', env: { LASH_DATA_DIR: dataDir }, cleanup: async () => removeDir() };
  }
  const name = `lash_bench_${randomBytes(6).toString('hex')}`;
  try {
    await adminQuery(databaseUrl, `create database ${name}`);
  } catch (err) {
    removeDir();
    throw new Error(`cannot create the bench database on ${redact(databaseUrl)}: ${(err as Error).message}`);
  }
  const url = new URL(databaseUrl);
  url.pathname = `/${name}`;
  return {
    engine: 'postgresql',
    env: { LASH_DATA_DIR: dataDir, DATABASE_URL: url.toString() },
    async cleanup() {
      removeDir();
      await adminQuery(databaseUrl, `drop database if exists ${name} with (force)`);
    },
  };
}

async function adminQuery(databaseUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** The URL without its password, for messages. */
export function redact(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '<unparsable DATABASE_URL>';
  }
}
