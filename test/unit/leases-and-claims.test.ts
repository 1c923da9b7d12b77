// Leases and queue claims on a clock moved by hand (in memory, no waiting): a writer's lease is
// renewed by its own timer while it works and freed when it ends; a lease or claim nobody renews
// expires and is taken over with a newer fencing token, and the old token commits nothing.

import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/clock.js';
import type { QueueBatch } from '../../src/domain/queue/types.js';
import { SessionWriters } from '../../src/domain/session-writers.js';
import { openMemoryStores } from '../../src/store/memory/index.js';
import { testHead } from '../support/heads.js';

const batch = (batchId: string, at: Date): QueueBatch => ({
  batchId,
  tenantId: 't',
  sessionId: 's',
  enqueueSeq: 0n,
  deliveryPolicy: 'after_current_turn_commit',
  slotPolicy: 'exclusive',
  availableAt: at,
  enqueuedAt: at,
  items: [],
  state: 'pending',
});

describe('leases and claims on a manual clock (unit, in memory)', () => {
  it('a working writer keeps its lease across many TTLs; another replica gets it only after the writer ends', async () => {
    const clock = new ManualClock();
    const stores = openMemoryStores(clock);
    const here = new SessionWriters(stores.leases, 'a', 1_000, undefined, clock);
    const there = new SessionWriters(stores.leases, 'b', 1_000, undefined, clock);
    await here.run('t', 's', async () => {
      clock.advance(5_000);
      expect(await there.run('t', 's', async () => 'ran', { skipIfBusy: true })).toBeUndefined();
    });
    expect(clock.pending).toBe(0);
    expect(await there.run('t', 's', async () => 'ran', { skipIfBusy: true })).toBe('ran');
  });

  it('a lease nobody renews expires; the next owner gets a newer token', async () => {
    const clock = new ManualClock();
    const { leases } = openMemoryStores(clock);
    const first = await leases.acquire('t', 's', 'dead', 1_000);
    expect(await leases.acquire('t', 's', 'next', 1_000)).toBeUndefined();
    clock.advance(1_001);
    expect(await leases.holder('t', 's')).toBeUndefined();
    expect(await leases.acquire('t', 's', 'next', 1_000)).toBe(first! + 1n);
    expect(await leases.renew('t', 's', 'dead', first!, 1_000)).toBe(false);
  });

  it('an expired claim is pending again, claimed anew with a newer token, and the old token commits nothing', async () => {
    const clock = new ManualClock();
    const stores = openMemoryStores(clock);
    const now = clock.now();
    await stores.sessions.create(testHead('s', { currentFrameId: 'f', createdAt: now, updatedAt: now }), {
      frameId: 'f',
      status: 'active',
      reason: 'initial',
      createdAt: now,
    });
    await stores.queue.enqueue(batch('b1', now));
    const [old] = await stores.queue.claim('t', 's', 'w1', 1_000, (p) => p);
    expect(await stores.queue.listPending('t', 's')).toEqual([]);
    // Renewal moves the expiry; without it the claim lapses.
    clock.advance(900);
    await stores.queue.renew([{ batchId: 'b1', token: old!.claim!.token }], 1_000);
    clock.advance(900);
    expect(await stores.queue.listPending('t', 's')).toEqual([]);
    clock.advance(200);
    expect((await stores.queue.listPending('t', 's')).map((b) => b.batchId)).toEqual(['b1']);
    const [taken] = await stores.queue.claim('t', 's', 'w2', 1_000, (p) => p);
    expect(taken!.claim!.token).toBe(old!.claim!.token + 1n);
    const head = (await stores.sessions.getHead('t', 's'))!;
    await expect(
      stores.sessions.commit({
        tenantId: 't',
        sessionId: 's',
        expectedRevision: 0n,
        kind: 'turn',
        head,
        graph: { kind: 'none' },
        frames: [],
        usage: [],
        claims: [{ batchId: 'b1', token: old!.claim!.token }],
      }),
    ).rejects.toMatchObject({ reason: 'STALE_CLAIM' });
    await stores.sessions.commit({
      tenantId: 't',
      sessionId: 's',
      expectedRevision: 0n,
      kind: 'turn',
      head,
      graph: { kind: 'none' },
      frames: [],
      usage: [],
      turnId: 'w2-turn',
      claims: [{ batchId: 'b1', token: taken!.claim!.token }],
    });
    expect(await stores.queue.get('t', 's', 'b1')).toMatchObject({ state: 'done', turnId: 'w2-turn' });
  });
});
