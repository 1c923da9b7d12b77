// Exclusive lock on the embedded database folder: PGlite has no lock of its own, and two
// processes writing one folder would corrupt it. A lock left by a dead process is taken over.

import { mkdirSync, openSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';

export class DataDirLockedError extends Error {}

/** Folders locked by this very process (a pid check cannot tell those apart). */
const heldHere = new Set<string>();

export function lockDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, 'lash.lock');
  if (heldHere.has(path)) {
    throw new DataDirLockedError(`the embedded database folder ${dataDir} is in use by process ${process.pid} (this process); use another LASH_DATA_DIR`);
  }
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      heldHere.add(path);
      return () => {
        heldHere.delete(path);
        rmSync(path, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(path, 'utf8').trim());
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
        throw new DataDirLockedError(
          `the embedded database folder ${dataDir} is in use by process ${holder}; stop that server, or set LASH_DATA_DIR to another folder (or DATABASE_URL to share a PostgreSQL server)`,
        );
      }
      rmSync(path, { force: true }); // stale lock of a dead process
    }
  }
  throw new DataDirLockedError(`could not lock ${path}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
