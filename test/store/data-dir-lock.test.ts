// The embedded folder's lock across hosts: a live owner elsewhere (its heartbeat moves) is
// refused; once its heartbeat stops, another host takes the folder over without a human; a lock
// without heartbeats from another host is never guessed about. The owner runs in a real separate
// process so "alive" and "dead" are real.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DataDirLockedError, lockDataDir, type LockRecord } from '../../src/store/data-dir-lock.js';

const dirs: string[] = [];
const owners: ChildProcess[] = [];
afterEach(() => owners.splice(0).forEach((o) => o.kill('SIGKILL')));
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function freshDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'lash-lock-'));
  dirs.push(d);
  return d;
}

/** A separate process holding the lock as host `host`, beating every `heartbeatMs`. */
async function ownerProcess(dir: string, host: string, heartbeatMs: number): Promise<ChildProcess> {
  const script = `import('./src/store/data-dir-lock.ts').then(async (m) => { await m.lockDataDir(${JSON.stringify(dir)}, { host: ${JSON.stringify(host)}, heartbeatMs: ${heartbeatMs} }); console.log('locked'); setInterval(() => {}, 1000); });`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  owners.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => c.toString().includes('locked') && resolve());
    child.on('exit', (code) => reject(new Error(`owner exited with ${code}`)));
  });
  return child;
}

const lockOf = (dir: string) => JSON.parse(readFileSync(join(dir, 'lash.lock'), 'utf8')) as LockRecord;

describe('data folder lock across hosts', () => {
  it('a live owner on another host is refused; after it dies, the folder is taken over', async () => {
    const dir = freshDir();
    const owner = await ownerProcess(dir, 'pod-a', 500);
    const refused = await lockDataDir(dir, { host: 'pod-b', heartbeatMs: 500 }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(DataDirLockedError);
    expect((refused as Error).message).toContain(`is in use by process ${owner.pid} on host pod-a`);
    expect(lockOf(dir)).toMatchObject({ host: 'pod-a', pid: owner.pid });

    owner.kill('SIGKILL');
    await new Promise((r) => owner.once('exit', r));
    const previous: LockRecord[] = [];
    const release = await lockDataDir(dir, { host: 'pod-b', heartbeatMs: 500, onTakeover: (p) => previous.push(p) });
    expect(previous).toEqual([expect.objectContaining({ host: 'pod-a', pid: owner.pid })]);
    expect(lockOf(dir)).toMatchObject({ host: 'pod-b', pid: process.pid });
    // The new owner beats too: its lock changes while it holds it.
    const first = readFileSync(join(dir, 'lash.lock'), 'utf8');
    await expect.poll(() => readFileSync(join(dir, 'lash.lock'), 'utf8'), { timeout: 30_000 }).not.toBe(first);
    release();
  }, 60_000);

  it('a lock without heartbeats from another host (an older version) is refused with the manual way out', async () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'lash.lock'), JSON.stringify({ pid: 4242, host: 'old-pod' }));
    const err = await lockDataDir(dir, { host: 'pod-b', heartbeatMs: 100 }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toContain('in use by process 4242 on host old-pod');
    expect(err?.message).toContain(`if that server is gone, delete ${join(dir, 'lash.lock')}`);
  });

  it('a lock of a dead process on this host and boot is taken over at once', async () => {
    const dir = freshDir();
    const owner = await ownerProcess(dir, 'same-host', 60_000);
    owner.kill('SIGKILL');
    await new Promise((r) => owner.once('exit', r));
    const release = await lockDataDir(dir, { host: 'same-host', heartbeatMs: 60_000 });
    expect(lockOf(dir)).toMatchObject({ host: 'same-host', pid: process.pid });
    release();
  }, 60_000);
});
