// Contract of the writer lease's idle state (ADR 0079) on every store (memory, PGlite,
// PostgreSQL): a held lease kept idle for its replica (by `keep` or by the commit that ends it),
// gone on under by that replica's next writer without a write (same token), taken by that replica
// with a write when too little is left, refused to another replica while it lingers, handed over
// by a release, and free again once its linger passed.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdmissionStore, LeaseStore, SessionStore } from '../../src/domain/ports.js';
import { testHead } from '../support/heads.js';
import { storeEngines, type OpenedStores } from '../support/store-engines.js';

const tenant = 'lt';
const idle = 'r1/~idle';
/** Lets the store's clock pass a lease that expired "now". */
const tick = () => new Promise((r) => setTimeout(r, 15));

for (const engine of storeEngines) {
  describe.skipIf(!engine.enabled)(`idle writer lease contract on ${engine.name}`, () => {
    let opened: OpenedStores;
    let leases: LeaseStore;
    let admissions: AdmissionStore;
    let sessions: SessionStore;
    let n = 0;
    /** A new session whose lease writer `r1/turn-a` holds. */
    const held = async () => {
      const sessionId = `s${++n}`;
      const h = testHead(sessionId, { tenantId: tenant });
      await sessions.create(h, { frameId: h.currentFrameId, status: 'active', reason: 'initial', createdAt: new Date() });
      const token = (await leases.acquire(tenant, sessionId, 'r1/turn-a', 30_000))!;
      return { sessionId, token };
    };
    beforeAll(async () => {
      opened = await engine.open();
      ({ leases, admissions, sessions } = opened);
    });
    afterAll(async () => opened?.close());

    it('keep leaves a held lease to its replica, idle, with the same token; a stale owner or token keeps nothing', async () => {
      const { sessionId, token } = await held();
      expect(await leases.keep(tenant, sessionId, 'r1/turn-a', token + 1n, idle, 60_000)).toBe(false);
      expect(await leases.keep(tenant, sessionId, 'r1/turn-b', token, idle, 60_000)).toBe(false);
      expect(await leases.holder(tenant, sessionId)).toEqual({ owner: 'r1/turn-a', token });
      expect(await leases.keep(tenant, sessionId, 'r1/turn-a', token, idle, 60_000)).toBe(true);
      expect(await leases.holder(tenant, sessionId)).toEqual({ owner: idle, token });
    });

    it("the replica's next writer goes on under its idle lease without taking it: same token, the reads, the time left", async () => {
      const { sessionId, token } = await held();
      await leases.keep(tenant, sessionId, 'r1/turn-a', token, idle, 60_000);
      const left = await leases.heldFor(tenant, sessionId, idle, token, 1_000);
      expect(left).toBeGreaterThan(1_000);
      expect(left).toBeLessThanOrEqual(60_000);
      const a = await admissions.admit({ tenantId: tenant, sessionId, owner: 'r1/turn-b', ttlMs: 30_000, held: { owner: idle, token, minLeftMs: 1_000 } });
      expect(a.token).toBe(token);
      expect(a.heldLeftMs).toBeGreaterThan(1_000);
      expect(a.head?.sessionId).toBe(sessionId);
      // Nothing was written: the row still names the idle owner and the same token.
      expect(await leases.holder(tenant, sessionId)).toEqual({ owner: idle, token });
      // Renewed under the idle owner while that writer runs.
      expect(await leases.renew(tenant, sessionId, idle, token, 30_000)).toBe(true);
    });

    it('another replica cannot take an idle lease while it lingers; its own replica can, with a new token', async () => {
      const { sessionId, token } = await held();
      await leases.keep(tenant, sessionId, 'r1/turn-a', token, idle, 60_000);
      expect(await leases.acquire(tenant, sessionId, 'r2/turn-x', 30_000)).toBeUndefined();
      const other = await admissions.admit({ tenantId: tenant, sessionId, owner: 'r2/turn-x', ttlMs: 30_000 });
      expect(other.token).toBeUndefined();
      // Too little left to go on under it: this replica's writer takes it (a write), token bumped.
      expect(await leases.heldFor(tenant, sessionId, idle, token, 120_000)).toBeUndefined();
      const mine = await admissions.admit({ tenantId: tenant, sessionId, owner: 'r1/turn-b', ttlMs: 30_000, held: { owner: idle, token, minLeftMs: 120_000 } });
      expect(mine.heldLeftMs).toBeUndefined();
      expect(mine.token).toBe(token + 1n);
      expect(await leases.holder(tenant, sessionId)).toEqual({ owner: 'r1/turn-b', token: token + 1n });
    });

    it('handed over: released by its replica, another replica takes it at once', async () => {
      const { sessionId, token } = await held();
      await leases.keep(tenant, sessionId, 'r1/turn-a', token, idle, 60_000);
      await leases.release(tenant, sessionId, idle, token);
      expect(await leases.holder(tenant, sessionId)).toBeUndefined();
      const b = await admissions.admit({ tenantId: tenant, sessionId, owner: 'r2/turn-x', ttlMs: 30_000 });
      expect(b.token).toBeDefined();
      // The old holder's idle lease is gone: going on under it is refused, and its stale release changes nothing.
      expect(await leases.heldFor(tenant, sessionId, idle, token, 0)).toBeUndefined();
      await leases.release(tenant, sessionId, idle, token);
      expect((await leases.holder(tenant, sessionId))?.owner).toBe('r2/turn-x');
    });

    it('once its linger passed, an idle lease is free: another replica takes it, its replica can no longer go on under it', async () => {
      const { sessionId, token } = await held();
      await leases.keep(tenant, sessionId, 'r1/turn-a', token, idle, 0);
      await tick();
      expect(await leases.holder(tenant, sessionId)).toBeUndefined();
      expect(await leases.heldFor(tenant, sessionId, idle, token, 0)).toBeUndefined();
      const b = await admissions.admit({ tenantId: tenant, sessionId, owner: 'r2/turn-x', ttlMs: 30_000 });
      // A new token (a database store takes it twice: once more to read past a possible commit in flight, ADR 0029).
      expect(b.token).toBeGreaterThan(token);
      const late = await admissions.admit({ tenantId: tenant, sessionId, owner: 'r1/turn-b', ttlMs: 30_000, held: { owner: idle, token, minLeftMs: 0 } });
      expect(late.token).toBeUndefined();
      expect(late.heldLeftMs).toBeUndefined();
    });

    it('a commit that ends its lease with `keep` leaves it idle; a stale commit leaves it as it was', async () => {
      const { sessionId, token } = await held();
      const h = (await sessions.getHead(tenant, sessionId))!;
      const commit = (expectedRevision: bigint) =>
        sessions.commit({
          tenantId: tenant,
          sessionId,
          expectedRevision,
          kind: 'test',
          head: h,
          graph: { kind: 'none' },
          frames: [],
          usage: [],
          releaseLease: { owner: 'r1/turn-a', token, keep: { owner: idle, lingerMs: 60_000 } },
        });
      await expect(commit(5n)).rejects.toMatchObject({ reason: 'REVISION_CONFLICT' });
      expect(await leases.holder(tenant, sessionId)).toEqual({ owner: 'r1/turn-a', token });
      await commit(0n);
      expect(await leases.holder(tenant, sessionId)).toEqual({ owner: idle, token });
      expect(await leases.heldFor(tenant, sessionId, idle, token, 1_000)).toBeGreaterThan(1_000);
    });
  });
}
