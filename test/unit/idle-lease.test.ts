// Idle writer leases (ADR 0079) on a clock moved by hand, in memory: a writer's end keeps the
// lease for its replica; the next writer here goes on under it without taking it (same token),
// renewed while it works; another replica's writer asks and gets it long before the linger; a
// writer asked while it works deletes rather than keeps; a failed writer, letGo (park, eviction)
// and a shutdown release it, a refusal under it leaves it untouched; with no linger nothing is kept.
// A commit that kept it with the queue quiet leaves the next writer its head (known start, ADR
// 0082) while at least half the linger is left, unless an enqueue was announced since.

import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/clock.js';
import { DomainError } from '../../src/domain/errors.js';
import type { LeaseStore } from '../../src/domain/ports.js';
import type { SessionHead } from '../../src/domain/session.js';
import { SessionWriters, type KnownStart, type WriterLease } from '../../src/domain/session-writers.js';
import { openMemoryStores } from '../../src/store/memory/index.js';

/** The lease store with a count of its writes (every call but holder and heldFor). */
function counting(leases: LeaseStore) {
  const writes: string[] = [];
  const counted: LeaseStore = {
    acquire: (...a) => (writes.push('acquire'), leases.acquire(...a)),
    renew: (...a) => (writes.push('renew'), leases.renew(...a)),
    release: (...a) => (writes.push('release'), leases.release(...a)),
    keep: (...a) => (writes.push('keep'), leases.keep(...a)),
    heldFor: (...a) => leases.heldFor(...a),
    holder: (...a) => leases.holder(...a),
  };
  return { counted, writes };
}

/** Replica `a` (TTL 1 s, linger 4 s) after one writer of session t/s ended: its lease is kept idle. */
async function oneWriteKeptIdle() {
  const clock = new ManualClock();
  const { leases } = openMemoryStores(clock);
  const { counted, writes } = counting(leases);
  const here = new SessionWriters(counted, 'a', 1_000, undefined, clock, 4_000);
  let first!: WriterLease;
  await here.run('t', 's', async (lease) => void (first = lease));
  return { clock, leases, writes, here, first };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('idle writer leases on a manual clock (unit, in memory)', () => {
  it("a writer's end keeps the lease idle; the next writer here goes on under it (same token, no take), renewed while it works", async () => {
    const { clock, leases, writes, here, first } = await oneWriteKeptIdle();
    expect(await leases.holder('t', 's')).toEqual({ owner: 'a/~idle', token: first.token });
    expect(here.idleCount).toBe(1);
    writes.length = 0;
    await here.run('t', 's', async (lease) => {
      expect(lease).toMatchObject({ owner: 'a/~idle', token: first.token });
      expect(writes).toEqual([]);
      // Works for many linger and TTL spans: its renewals keep the lease.
      for (let i = 0; i < 20; i++) clock.advance(500);
      expect(await leases.holder('t', 's')).toEqual({ owner: 'a/~idle', token: first.token });
    });
    expect(writes.filter((w) => w === 'acquire')).toEqual([]);
    expect(writes).toContain('renew');
    expect(await leases.holder('t', 's')).toEqual({ owner: 'a/~idle', token: first.token });
    // Less than half the linger left: the next writer takes it (a write, a new token).
    clock.advance(2_500);
    writes.length = 0;
    await here.run('t', 's', async (lease) => expect(lease.token).toBe(first.token! + 1n));
    expect(writes[0]).toBe('acquire');
  });

  it('another replica asks and gets the idle lease long before its linger; a writer asked while it works deletes its lease instead of keeping it', async () => {
    const clock = new ManualClock();
    const { leases } = openMemoryStores(clock);
    const here = new SessionWriters(leases, 'a', 1_000, undefined, clock, 60_000);
    const there = new SessionWriters(leases, 'b', 1_000, undefined, clock, 60_000);
    // The bus, by hand.
    there.askRelease = (t, s) => here.releaseAsked(t, s);
    here.askRelease = (t, s) => there.releaseAsked(t, s);
    await here.run('t', 's', async () => {});
    expect((await leases.holder('t', 's'))?.owner).toBe('a/~idle');
    let ran = false;
    const waiting = there.run('t', 's', async () => void (ran = true));
    let advanced = 0;
    while (!ran && advanced < 5_000) {
      await flush();
      clock.advance(25);
      advanced += 25;
    }
    await waiting;
    expect(ran).toBe(true);
    expect(advanced).toBeLessThan(60_000);
    expect((await leases.holder('t', 's'))?.owner).toBe('b/~idle');
    expect(here.idleCount).toBe(0);
    // B works; A asks meanwhile: B's end lets go rather than keeping it.
    await there.run('t', 's', async () => {
      there.releaseAsked('t', 's');
    });
    expect(await leases.holder('t', 's')).toBeUndefined();
    expect(there.idleCount).toBe(0);
  });

  it('a failed writer, letGo and a shutdown release the idle lease; without a linger nothing is kept', async () => {
    const clock = new ManualClock();
    const { leases } = openMemoryStores(clock);
    const here = new SessionWriters(leases, 'a', 1_000, undefined, clock, 4_000);
    await expect(
      here.run('t', 's', async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await leases.holder('t', 's')).toBeUndefined();
    await here.run('t', 's', async () => {});
    await here.letGo('t', 's');
    expect(await leases.holder('t', 's')).toBeUndefined();
    await here.run('t', 's', async () => {});
    await here.run('t', 's2', async () => {}, { linger: false });
    expect(await leases.holder('t', 's2')).toBeUndefined();
    // The linger passes: the row expires and the replica forgets it.
    clock.advance(4_001);
    expect(await leases.holder('t', 's')).toBeUndefined();
    expect(here.idleCount).toBe(0);
    await here.run('t', 's', async () => {});
    await here.releaseIdle();
    expect(await leases.holder('t', 's')).toBeUndefined();
    await here.run('t', 's', async () => {});
    expect(await leases.holder('t', 's')).toBeUndefined();
    const off = new SessionWriters(leases, 'c', 1_000, undefined, clock, 0);
    await off.run('t', 's3', async () => {});
    expect(await leases.holder('t', 's3')).toBeUndefined();
  });
  it('a refusal under the idle lease leaves it untouched: no store write, and the next writer goes on under it', async () => {
    const { leases, writes, here, first } = await oneWriteKeptIdle();
    writes.length = 0;
    await expect(
      here.run('t', 's', async () => {
        throw new DomainError('DRAIN_NOT_HEAD_PREFIX', 'refused');
      }),
    ).rejects.toThrow('refused');
    expect(writes).toEqual([]);
    expect(await leases.holder('t', 's')).toEqual({ owner: 'a/~idle', token: first.token });
    expect(here.idleCount).toBe(1);
    await here.run('t', 's', async (lease) => expect(lease).toMatchObject({ owner: 'a/~idle', token: first.token }));
    expect(writes.filter((w) => w === 'acquire' || w === 'release')).toEqual([]);
  });

  it('a commit that keeps the lease with the queue quiet leaves the next writer its head, unless an enqueue was announced or too little is left', async () => {
    const clock = new ManualClock();
    const { leases } = openMemoryStores(clock);
    const here = new SessionWriters(leases, 'a', 1_000, undefined, clock, 4_000);
    const head = (revision: bigint) => ({ headRevision: revision }) as SessionHead;
    /** What the commit statement does with the lease, and what SessionService.commit and a quiet turn note on it. */
    const commit = async (lease: WriterLease, revision: bigint, quiet = true) => {
      const keep = lease.keep!()!;
      await leases.keep('t', 's', lease.owner, lease.token!, keep.owner, keep.lingerMs);
      Object.assign(lease, { released: true, kept: true, committedHead: head(revision), queueQuiet: quiet });
    };
    /** Runs a writer whose take records the known start it is offered (and takes as the default does). */
    const writer = async (fn: (lease: WriterLease) => Promise<void> = async () => {}) => {
      let offered: KnownStart | undefined;
      await here.run('t', 's', fn, {
        key: 'turn',
        take: async (owner, ttl, held, known) => {
          offered = known;
          const left = held && (await leases.heldFor('t', 's', held.owner, held.token, held.minLeftMs));
          return left !== undefined && held ? { token: held.token, heldLeftMs: left } : { token: await leases.acquire('t', 's', owner, ttl) };
        },
      });
      return offered;
    };
    expect(await writer((l) => commit(l, 2n))).toBeUndefined();
    expect((await writer((l) => commit(l, 3n)))?.head.headRevision).toBe(2n);
    // Half the linger or more left: offered, with what is left.
    clock.advance(1_999);
    const known = await writer((l) => commit(l, 4n, false));
    expect(known).toMatchObject({ head: { headRevision: 3n }, leftMs: 2_001 });
    // A commit without the queue known quiet (a drain, an admin write), or no commit: nothing.
    expect(await writer((l) => commit(l, 5n))).toBeUndefined();
    expect((await writer())?.head.headRevision).toBe(5n);
    expect(await writer((l) => commit(l, 6n))).toBeUndefined();
    // An enqueue announced while idle, or while a writer works (after its commit): nothing.
    here.enqueueAnnounced('t', 's');
    expect(await writer((l) => commit(l, 7n))).toBeUndefined();
    await writer(async (l) => {
      await commit(l, 8n);
      here.enqueueAnnounced('t', 's');
    });
    expect(await writer((l) => commit(l, 9n))).toBeUndefined();
    // Less than half the linger left: the lease is taken anew, nothing offered.
    clock.advance(2_001);
    expect(await writer((l) => commit(l, 10n))).toBeUndefined();
    expect((await writer())?.head.headRevision).toBe(10n);
  });
});
