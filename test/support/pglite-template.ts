// Vitest globalSetup: one migrated embedded (PGlite) data folder per test run, which
// engines.ts copies for every server or store that needs a fresh database. Creating a PGlite
// cluster (initdb) costs ~9 s of CPU; opening an existing folder ~2 s, and copying the 40 MB
// folder ~0.2 s. Tests about a fresh start (first start, `npm start` of the README, a signal while
// starting) make their own empty folders and never see the template; engines.ts has `fresh` for
// the rest. The template is built by the code under test (openDatabase runs the migrations), so
// it is never stale, and nothing in it is per-server: replica ids, locks and keys are made when a
// server starts, not by migrations.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { openDatabase } from '../../src/store/database.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A closed, migrated PGlite data folder (its `pgdata`), or '' when this run has no PGlite. */
    pgliteTemplate: string;
  }
}

export default async function setup(project: TestProject): Promise<() => void> {
  const selected = (process.env.TEST_ENGINES ?? 'pglite,postgresql').split(',').map((e) => e.trim());
  if (!selected.includes('pglite')) {
    project.provide('pgliteTemplate', '');
    return () => {};
  }
  const dir = mkdtempSync(join(tmpdir(), 'lash-template-'));
  const db = await openDatabase({ dataDir: dir });
  await db.close();
  // Only the cluster is copied; the lock file belongs to the process that opened it.
  rmSync(join(dir, 'lash.lock'), { force: true });
  project.provide('pgliteTemplate', dir);
  return () => rmSync(dir, { recursive: true, force: true });
}
