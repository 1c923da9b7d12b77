// Contract of the QueueStore on each store (memory, PGlite, PostgreSQL): idempotent enqueue,
// cancel outcomes, claims follow the queue and bump the fencing token, a released claim is
// pending again, and a commit completes only claims still held. On the databases also: a
// one-statement claim refuses rows that changed since they were read, and the locking
// transaction takes over when it does.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueueBatch } from '../../src/domain/queue/types.js';
import type { QueueStore, SessionStore } from '../../src/domain/ports.js';
import { fromRow, type Row } from '../../src/store/queue-store.js';
import { storeEngines } from '../support/store-engines.js';
import { testHead } from '../support/heads.js';

const batch = (sessionId: string, batchId: string): QueueBatch => ({
  batchId,
  tenantId: 't',
  sessionId,
  enqueueSeq: 0n,
  deliveryPolicy: 'after_current_turn_commit',
  slotPolicy: 'exclusive',
  availableAt: new Date(0),
  enqueuedAt: new Date(),
  items: [{ itemId: batchId, payload: { kind: 'input', input: { items: [{ kind: 'text', text: batchId }], imageBlobs: {} } } }],
  state: 'pending',
});
const first = (pending: QueueBatch[]) => pending.slice(0, 1);
// The store's private steps, to drive the race between its read and its claim deterministically.
type Internals = {
  openRows(t: string, s: string): Promise<Row[]>;
  claimIfUnchanged(batches: QueueBatch[], owner: string, ttlMs: number): Promise<QueueBatch[] | undefined>;
};

for (const engine of storeEngines) {
  describe.skipIf(!engine.enabled)(`QueueStore contract on ${engine.name}`, () => {
    let store: QueueStore;
    let sessions: SessionStore;
    let close: () => Promise<void>;
    beforeAll(async () => {
      const opened = await engine.open();
      store = opened.queue;
      sessions = opened.sessions;
      close = opened.close;
    });
    afterAll(async () => close?.());

    it('claims in queue order, bumps the token, and keeps our own claims ours', async () => {
      await store.enqueue(batch('order', 'o1'));
      await store.enqueue(batch('order', 'o2'));
      const [a] = await store.claim('t', 'order', 'w1', 30_000, first);
      expect(a).toMatchObject({ batchId: 'o1', state: 'claimed', claim: { owner: 'w1' } });
      const [b] = await store.claim('t', 'order', 'w1', 30_000, first);
      expect(b?.batchId).toBe('o2');
      // A crashed writer's claim is taken over by the next writer, with a newer token.
      const [c] = await store.claim('t', 'order', 'w2', 30_000, first);
      expect(c?.batchId).toBe('o1');
      expect(c!.claim!.token).toBe(a!.claim!.token + 1n);
      expect(await store.claim('t', 'order', 'w2', 30_000, (p) => p.filter((x) => x.claim?.owner === 'w2'))).toEqual([]);
    });

    it('enqueues once per idempotency id and reports cancel outcomes', async () => {
      const first = await store.enqueue({ ...batch('idem', 'i1'), id: 'client-1' });
      expect(first).toMatchObject({ deduplicated: false, batch: { batchId: 'i1', state: 'pending' } });
      const again = await store.enqueue({ ...batch('idem', 'i2'), id: 'client-1' });
      expect(again).toMatchObject({ deduplicated: true, batch: { batchId: 'i1' } });
      expect((await store.listPending('t', 'idem')).map((b) => b.batchId)).toEqual(['i1']);
      expect((await store.cancel('t', 'idem', 'missing')).outcome).toBe('not_found');
      await store.enqueue(batch('idem', 'i3'));
      await store.claim('t', 'idem', 'w1', 30_000, (p) => p.filter((b) => b.batchId === 'i3'));
      expect((await store.cancel('t', 'idem', 'i3')).outcome).toBe('already_claimed');
      expect((await store.cancel('t', 'idem', 'i1')).outcome).toBe('cancelled');
      expect((await store.cancel('t', 'idem', 'i1')).outcome).toBe('already_done');
      expect(await store.get('other-tenant', 'idem', 'i1')).toBeUndefined();
    });

    it('a released claim is pending again; a stale token releases nothing', async () => {
      await store.enqueue(batch('rel', 'rel-1'));
      const [a] = await store.claim('t', 'rel', 'w1', 30_000, first);
      expect(await store.listPending('t', 'rel')).toEqual([]);
      await store.release([{ batchId: 'rel-1', token: a!.claim!.token - 1n }]);
      expect(await store.listPending('t', 'rel')).toEqual([]);
      await store.release([{ batchId: 'rel-1', token: a!.claim!.token }]);
      expect((await store.listPending('t', 'rel')).map((b) => [b.batchId, b.state])).toEqual([['rel-1', 'pending']]);
    });

    it('a commit completes the claims it names, and a stale claim voids the whole commit', async () => {
      const h = testHead('done');
      await sessions.create(h, { frameId: h.currentFrameId, status: 'active', reason: 'initial', createdAt: new Date() });
      await store.enqueue(batch('done', 'd1'));
      await store.enqueue(batch('done', 'd2'));
      const [d1] = await store.claim('t', 'done', 'w1', 30_000, first);
      const [stale] = await store.claim('t', 'done', 'w1', 30_000, first);
      const [d2] = await store.claim('t', 'done', 'w2', 30_000, (p) => p.filter((b) => b.batchId === 'd2'));
      expect(d2!.claim!.token).toBe(stale!.claim!.token + 1n);
      const claims = [
        { batchId: 'd1', token: d1!.claim!.token },
        { batchId: 'd2', token: stale!.claim!.token },
      ];
      await expect(
        sessions.commit({
          tenantId: 't',
          sessionId: 'done',
          expectedRevision: 0n,
          kind: 'turn',
          head: h,
          graph: { kind: 'none' },
          frames: [],
          usage: [],
          turnId: 'x',
          claims,
        }),
      ).rejects.toMatchObject({ reason: 'STALE_CLAIM' });
      expect((await sessions.getHead('t', 'done'))?.headRevision).toBe(0n);
      expect((await store.get('t', 'done', 'd1'))?.state).toBe('claimed');
      await sessions.commit({
        tenantId: 't',
        sessionId: 'done',
        expectedRevision: 0n,
        kind: 'turn',
        head: h,
        graph: { kind: 'none' },
        frames: [],
        usage: [],
        turnId: 'turn-d',
        claims: [claims[0]!, { batchId: 'd2', token: d2!.claim!.token }],
      });
      expect(await store.get('t', 'done', 'd1')).toMatchObject({ state: 'done', turnId: 'turn-d' });
      expect(await store.get('t', 'done', 'd2')).toMatchObject({ state: 'done', turnId: 'turn-d' });
    });

    // The database's optimistic claim and its locking fallback (the memory store claims in one step).
    it.runIf(engine.name !== 'memory')('the one-statement claim refuses rows changed since the read and claims none of them', async () => {
      await store.enqueue(batch('race', 'r1'));
      await store.enqueue(batch('race', 'r2'));
      const internals = store as unknown as Internals;
      const rows = (await internals.openRows('t', 'race')).map(fromRow);
      expect((await store.cancel('t', 'race', 'r2')).outcome).toBe('cancelled');
      expect(await internals.claimIfUnchanged(rows, 'w1', 30_000)).toBeUndefined();
      expect((await store.get('t', 'race', 'r1'))?.state).toBe('pending');
    });

    it.runIf(engine.name !== 'memory')('when the one-statement claim is refused, the locking transaction chooses again and claims', async () => {
      await store.enqueue(batch('fallback', 'f1'));
      const internals = store as unknown as Internals;
      const original = internals.claimIfUnchanged;
      internals.claimIfUnchanged = async () => undefined;
      try {
        const claimed = await store.claim('t', 'fallback', 'w1', 30_000, first);
        expect(claimed.map((x) => [x.batchId, x.state, x.claim?.owner])).toEqual([['f1', 'claimed', 'w1']]);
      } finally {
        internals.claimIfUnchanged = original;
      }
    });
  });
}
