// Who a replica is, and whether a replica named in a lease is provably dead (ADR 0081). A replica
// id is `<host>-<pid>-<6 hex>`; the host is LASH_HOST_NAME (default the OS host name) with, on
// Linux, `~<pid namespace inode>` after it (see replicaHost), and may
// itself contain '-', so ids are parsed from the right. A replica is provably dead when it ran on
// this host and its pid is either ours (a previous incarnation of this process: one pid cannot run
// twice in a pid namespace) without being one of this process's live replicas, or no process at
// all. Anything else (another host, a live pid, an id of another shape) is not guessed about.
// Node-specific, so it lives here and is handed to the domain as a function.

import { randomBytes } from 'node:crypto';
import { readlinkSync } from 'node:fs';

/**
 * The pid namespace of this process (Linux: the inode behind /proc/self/ns/pid), or undefined where
 * there is none to read. Two containers can share a host name (host networking) while each numbers
 * its own pids from 1: only within one pid namespace do "pid gone" and "pid is ours" mean anything.
 */
export function pidNamespace(read: (path: string) => string = readlinkSync): string | undefined {
  try {
    return /^pid:\[(\d+)\]$/.exec(read('/proc/self/ns/pid'))?.[1];
  } catch {
    return undefined;
  }
}

/**
 * The host part of this process's replica ids: the host name, and on Linux its pid namespace
 * (`<name>~<inode>`), so a replica in another container with the same host name is never judged
 * by this process's pids.
 */
export function replicaHost(hostName: string, namespace: string | undefined): string {
  return namespace === undefined ? hostName : `${hostName}~${namespace}`;
}

/** Replica ids of this process that are serving (an app adds its own at start, drops it at close). */
const liveHere = new Set<string>();

/** A new replica id for this process on `host`, registered as live here until `retire`. */
export function newReplicaId(host: string): { id: string; retire: () => void } {
  const id = `${host}-${process.pid}-${randomBytes(3).toString('hex')}`;
  liveHere.add(id);
  return { id, retire: () => void liveHere.delete(id) };
}

/** Host and pid of a replica id, or undefined when it has another shape. */
export function parseReplicaId(id: string): { host: string; pid: number } | undefined {
  const m = /^(.+)-(\d{1,10})-[0-9a-f]{6}$/.exec(id);
  if (!m) return undefined;
  const pid = Number(m[2]);
  return pid > 0 ? { host: m[1]!, pid } : undefined;
}

/** Whether a process with this pid exists (EPERM: it does, owned by someone else). */
export function pidAlive(pid: number): boolean {
  if (!(pid > 0)) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The `HolderGone` probe of a replica on `host` (see the header for the rule). */
export function deadReplicaProbe(host: string, alive: (pid: number) => boolean = pidAlive): (replicaId: string) => boolean {
  return (replicaId) => {
    const r = parseReplicaId(replicaId);
    if (!r || r.host !== host) return false;
    if (r.pid === process.pid) return !liveHere.has(replicaId);
    return !alive(r.pid);
  };
}
