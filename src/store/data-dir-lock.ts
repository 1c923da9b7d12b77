// Exclusive lock on the embedded database folder: PGlite has no lock of its own, and two
// processes writing one folder would corrupt it. The lock names host and pid; a lock of a dead
// process on this host is taken over, a lock of another host (e.g. another container sharing a
// volume) is never guessed about.

import { mkdirSync, openSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs';
import { hostname } from 'node:os';
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
      writeSync(fd, JSON.stringify({ pid: process.pid, host: hostname() }));
      closeSync(fd);
      heldHere.add(path);
      return () => {
        heldHere.delete(path);
        rmSync(path, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = readHolder(path);
      const sameHost = holder.host === hostname();
      if (!sameHost || (holder.pid !== process.pid && isAlive(holder.pid))) {
        throw new DataDirLockedError(
          `the embedded database folder ${dataDir} is in use by process ${holder.pid}${sameHost ? '' : ` on host ${holder.host}`}; stop that server, or set LASH_DATA_DIR to another folder (or DATABASE_URL to share a PostgreSQL server)${sameHost ? '' : `; if that server is gone, delete ${path}`}`,
        );
      }
      rmSync(path, { force: true }); // stale lock of a dead process
    }
  }
  throw new DataDirLockedError(`could not lock ${path}`);
}

function readHolder(path: string): { pid: number; host: string } {
  const raw = readFileSync(path, 'utf8').trim();
  try {
    const parsed = JSON.parse(raw) as { pid?: unknown; host?: unknown };
    if (typeof parsed.pid === 'number' && typeof parsed.host === 'string') return { pid: parsed.pid, host: parsed.host };
  } catch {
    // an unreadable lock is treated as a stale lock of this host
  }
  return { pid: 0, host: hostname() };
}

function isAlive(pid: number): boolean {
  if (!(pid > 0)) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
