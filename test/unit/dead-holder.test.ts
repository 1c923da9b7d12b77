// Leases of a provably dead replica (ADR 0081), in memory on a clock moved by hand: a writer that
// finds one (idle or busy) releases it and writes at once, with no clock advance; a live holder's
// lease is waited for and asked for as before, and never released by the waiter; a queue
// worker's drain (skipIfBusy) also takes a dead holder's lease. And the node probe's rule: same
// host, our pid but not a live replica here, or a pid that does not run; ids parsed from the right.

import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/clock.js';
import { SessionWriters } from '../../src/domain/session-writers.js';
import { openMemoryStores } from '../../src/store/memory/index.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { deadReplicaProbe, newReplicaId, parseReplicaId, pidAlive, pidNamespace, replicaHost } from '../../src/replica-liveness.js';

const flush = () => new Promise((r) => setImmediate(r));

/** Replica `new` next to a lease of `holder` on t/s; `gone` is the probe's answer set. */
async function setUp(holderOwner: string, gone: Set<string>) {
  const clock = new ManualClock();
  const { leases } = openMemoryStores(clock);
  const token = await leases.acquire('t', 's', holderOwner, 60_000);
  const told: string[] = [];
  const asked: string[] = [];
  const here = new SessionWriters(
    leases,
    'new',
    1_000,
    undefined,
    clock,
    60_000,
    (r) => gone.has(r),
    (d) => told.push(d.owner),
  );
  here.askRelease = (_t, s) => asked.push(s);
  return { clock, leases, token, here, told, asked };
}

describe('leases of a dead replica (unit, in memory)', () => {
  for (const owner of ['old/~idle', 'old/turn-1']) {
    it(`a writer that finds ${owner} of a dead replica releases it and runs with no wait`, async () => {
      const { leases, here, told, asked } = await setUp(owner, new Set(['old']));
      let ran = false;
      // The clock never moves: only an immediate take can let it run.
      await here.run('t', 's', async (lease) => {
        ran = true;
        expect(lease.token).toBeDefined();
      });
      expect(ran).toBe(true);
      expect(told).toEqual([owner]);
      expect(asked).toEqual([]);
      expect((await leases.holder('t', 's'))?.owner).toBe('new/~idle');
    });
  }

  it("a live holder's lease is asked for and waited for, never released by the waiter", async () => {
    const { clock, leases, token, here, told, asked } = await setUp('alive/~idle', new Set(['old']));
    let ran = false;
    const waiting = here.run('t', 's', async () => void (ran = true));
    for (let i = 0; i < 40; i++) {
      await flush();
      clock.advance(100);
    }
    expect(ran).toBe(false);
    expect(asked.length).toBeGreaterThan(1);
    expect(told).toEqual([]);
    expect(await leases.holder('t', 's')).toEqual({ owner: 'alive/~idle', token });
    // The holder lets go (as on the bus ask): the waiter takes it.
    await leases.release('t', 's', 'alive/~idle', token!);
    while (!ran) {
      await flush();
      clock.advance(100);
    }
    await waiting;
  });

  it("a queue worker's drain (skipIfBusy) takes a dead holder's lease instead of skipping the session", async () => {
    const { here, told } = await setUp('old/~idle', new Set(['old']));
    expect(await here.run('t', 's', async () => 'drained', { skipIfBusy: true })).toBe('drained');
    expect(told).toEqual(['old/~idle']);
    const live = await setUp('alive/~idle', new Set());
    expect(await live.here.run('t', 's', async () => 'drained', { skipIfBusy: true })).toBeUndefined();
  });
});

describe('the node probe of dead replicas', () => {
  it('parses ids from the right: host names may contain "-"', () => {
    expect(parseReplicaId('web-1.example-42-0a1b2c')).toEqual({ host: 'web-1.example', pid: 42 });
    expect(parseReplicaId('host-42')).toBeUndefined();
    expect(parseReplicaId('host-x-0a1b2c')).toBeUndefined();
    expect(parseReplicaId('replica-1')).toBeUndefined();
    expect(parseReplicaId('host-0-0a1b2c')).toBeUndefined();
  });

  it('our pid: dead unless it is a live replica of this process; a gone pid: dead; another host or a live pid: not', () => {
    const probe = deadReplicaProbe('my-host');
    const live = newReplicaId('my-host');
    expect(probe(live.id)).toBe(false);
    expect(probe(`my-host-${process.pid}-abcdef`)).toBe(true);
    live.retire();
    expect(probe(live.id)).toBe(true);
    // A pid that ran and exited (a finished child); pids are not reused this fast in practice.
    const gone = spawnSync(process.execPath, ['-e', '']).pid!;
    expect(pidAlive(gone)).toBe(false);
    expect(probe(`my-host-${gone}-abcdef`)).toBe(true);
    expect(probe(`other-host-${gone}-abcdef`)).toBe(false);
    expect(probe(`my-host-${process.ppid}-abcdef`)).toBe(false);
    expect(probe('my-host')).toBe(false);
    // An injected liveness check decides for other pids.
    expect(deadReplicaProbe('h', () => true)('h-7-abcdef')).toBe(false);
    expect(deadReplicaProbe('h', () => false)('h-7-abcdef')).toBe(true);
  });

  it('the host part carries the pid namespace: a same-named host in another pid namespace is never judged by our pids', () => {
    expect(pidNamespace((p) => (p === '/proc/self/ns/pid' ? 'pid:[4026531836]' : ''))).toBe('4026531836');
    expect(pidNamespace(() => 'not a namespace')).toBeUndefined();
    expect(
      pidNamespace(() => {
        throw new Error('ENOENT');
      }),
    ).toBeUndefined();
    if (process.platform === 'linux') expect(pidNamespace()).toMatch(/^\d+$/);
    expect(replicaHost('web-1', '77')).toBe('web-1~77');
    expect(replicaHost('web-1', undefined)).toBe('web-1');
    const ours = replicaHost('web-1', '77');
    const probe = deadReplicaProbe(ours, () => false);
    expect(probe(`${ours}-7-abcdef`)).toBe(true);
    // Same host name, other namespace (a container with host networking): its pid 7 is not ours to judge.
    expect(probe(`${replicaHost('web-1', '78')}-7-abcdef`)).toBe(false);
    expect(probe(`${replicaHost('web-1', '78')}-${process.pid}-abcdef`)).toBe(false);
    expect(parseReplicaId(`${ours}-7-abcdef`)).toEqual({ host: 'web-1~77', pid: 7 });
  });

  it("LASH_HOST_NAME must keep lease owners readable: no '/' or spaces, at most 128 characters", () => {
    expect(loadConfig({ LASH_HOST_NAME: 'pod-a.example' }).hostName).toBe('pod-a.example');
    expect(loadConfig({}).hostName.length).toBeGreaterThan(0);
    for (const bad of ['a/b', 'pod a', 'x'.repeat(129)]) expect(() => loadConfig({ LASH_HOST_NAME: bad })).toThrow(ConfigError);
  });
});
