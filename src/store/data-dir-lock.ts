// Exclusive lock on the embedded database folder: PGlite has no lock of its own, and two
// processes writing one folder would corrupt it. The lock file names host, boot id and pid, and
// its owner rewrites it every heartbeat. A lock of a dead process on this host and boot is taken
// over at once. A lock written elsewhere (another container sharing the volume, or this host
// before a reboot) is taken over only once its heartbeat has provably stopped: the newcomer
// watches the file for `STALE_BEATS` heartbeats and takes over if it never changed. Watching
// instead of comparing timestamps keeps clocks of different hosts out of the decision.

import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { pidAlive } from '../replica-liveness.js';

export class DataDirLockedError extends Error {}

export interface LockOptions {
  /** How often the owner rewrites the lock (LASH_LOCK_HEARTBEAT_MS). */
  heartbeatMs?: number;
  /** The host name recorded and compared (default os.hostname(); LASH_HOST_NAME overrides it). */
  host?: string;
  /** Told when a stale lock is taken over, with the previous owner. */
  onTakeover?: (previous: LockRecord) => void;
}

export interface LockRecord {
  host: string;
  pid: number;
  /** The kernel's boot id: a pid means nothing across reboots. */
  bootId?: string;
  /** Heartbeat counter and the owner's clock (for people reading the file; never compared). */
  beat?: number;
  at?: string;
}

/** A foreign lock is stale after this many heartbeats without a change. */
export const STALE_BEATS = 5;
export const DEFAULT_HEARTBEAT_MS = 3_000;

/** Folders locked by this very process (a pid check cannot tell those apart). */
const heldHere = new Set<string>();

export async function lockDataDir(dataDir: string, options: LockOptions = {}): Promise<() => void> {
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const host = options.host ?? hostname();
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, 'lash.lock');
  if (heldHere.has(path)) {
    throw new DataDirLockedError(`the embedded database folder ${dataDir} is in use by process ${process.pid} (this process); use another LASH_DATA_DIR`);
  }
  const me: LockRecord = { host, pid: process.pid, bootId: bootId(), beat: 0 };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, serialise(me));
      closeSync(fd);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const raw = readRaw(path);
      const holder = parse(raw);
      if (await holderIsGone(path, raw, holder, me, heartbeatMs)) {
        // Remove only the lock we judged stale; another newcomer may have replaced it meanwhile.
        if (readRaw(path) === raw) {
          rmSync(path, { force: true });
          if (holder) options.onTakeover?.(holder);
        }
        continue;
      }
      throw refused(dataDir, path, holder, host);
    }
    heldHere.add(path);
    const beat = setInterval(() => {
      me.beat = (me.beat ?? 0) + 1;
      try {
        // Write then rename, so a reader never sees a half-written lock.
        const tmp = `${path}.${process.pid}.tmp`;
        writeFileSync(tmp, serialise(me));
        renameSync(tmp, path);
      } catch {
        // A failed beat is retried at the next one; STALE_BEATS tolerates a few.
      }
    }, heartbeatMs);
    beat.unref();
    return () => {
      clearInterval(beat);
      heldHere.delete(path);
      rmSync(path, { force: true });
    };
  }
  throw new DataDirLockedError(`could not lock ${path}: other processes keep taking it`);
}

async function holderIsGone(path: string, raw: string, holder: LockRecord | undefined, me: LockRecord, heartbeatMs: number): Promise<boolean> {
  // An unreadable lock is a stale lock of a crashed writer, unless it is being written right now.
  if (!holder) {
    await new Promise((r) => setTimeout(r, 200));
    return readRaw(path) === raw;
  }
  const sameBoot = holder.host === me.host && holder.bootId !== undefined && holder.bootId === me.bootId;
  const legacySameHost = holder.host === me.host && holder.bootId === undefined;
  if (sameBoot || legacySameHost) return holder.pid === process.pid || !pidAlive(holder.pid);
  // Written elsewhere. A lock without heartbeats (an older version) is never guessed about.
  if (holder.beat === undefined) return false;
  const deadline = Date.now() + STALE_BEATS * heartbeatMs;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, Math.min(heartbeatMs / 2, 250)));
    if (readRaw(path) !== raw) return false; // it beat: the owner is alive
  }
  return true;
}

function refused(dataDir: string, path: string, holder: LockRecord | undefined, host: string): DataDirLockedError {
  const where = holder && holder.host !== host ? ` on host ${holder.host}` : '';
  const legacy = holder && holder.host !== host && holder.beat === undefined ? `; if that server is gone, delete ${path}` : '';
  return new DataDirLockedError(
    `the embedded database folder ${dataDir} is in use by process ${holder?.pid}${where}; stop that server, or set LASH_DATA_DIR to another folder (or DATABASE_URL to share a PostgreSQL server)${legacy}`,
  );
}

function serialise(r: LockRecord): string {
  return JSON.stringify({ ...r, at: new Date().toISOString() });
}

function readRaw(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function parse(raw: string): LockRecord | undefined {
  try {
    const p = JSON.parse(raw.trim()) as Partial<LockRecord>;
    if (typeof p.pid === 'number' && typeof p.host === 'string') {
      return { host: p.host, pid: p.pid, bootId: typeof p.bootId === 'string' ? p.bootId : undefined, beat: typeof p.beat === 'number' ? p.beat : undefined };
    }
  } catch {
    // unreadable: treated as stale below
  }
  return undefined;
}

let cachedBootId: string | undefined | null = null;
function bootId(): string | undefined {
  if (cachedBootId === null) {
    try {
      cachedBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
    } catch {
      cachedBootId = undefined;
    }
  }
  return cachedBootId;
}
