// Contract of the QueueStore claim on each engine: claims follow the queue and bump the fencing
// token, a one-statement claim refuses rows that changed since they were read, and the locking
// transaction takes over when it does.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueueBatch } from '../../src/domain/queue/types.js';
import { DbQueueStore, fromRow, type Row } from '../../src/store/queue-store.js';
import { engines, openTestDatabase } from '../support/engines.js';

const batch = (sessionId: string, batchId: string): QueueBatch => ({
  batchId, tenantId: 't', sessionId, enqueueSeq: 0n, deliveryPolicy: 'after_current_turn_commit', slotPolicy: 'exclusive',
  availableAt: new Date(0), enqueuedAt: new Date(), items: [{ itemId: batchId, payload: { kind: 'input', input: { items: [{ kind: 'text', text: batchId }], imageBlobs: {} } } }], state: 'pending',
});
const first = (pending: QueueBatch[]) => pending.slice(0, 1);
// The store's private steps, to drive the race between its read and its claim deterministically.
type Internals = { openRows(t: string, s: string): Promise<Row[]>; claimIfUnchanged(batches: QueueBatch[], owner: string, ttlMs: number): Promise<QueueBatch[] | undefined> };

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`QueueStore claim contract on ${engine.name}`, () => {
    let store: DbQueueStore;
    let close: () => Promise<void>;
    beforeAll(async () => {
      const opened = await openTestDatabase(engine);
      store = new DbQueueStore(opened.db);
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

    it('the one-statement claim refuses rows changed since the read and claims none of them', async () => {
      await store.enqueue(batch('race', 'r1'));
      await store.enqueue(batch('race', 'r2'));
      const internals = store as unknown as Internals;
      const rows = (await internals.openRows('t', 'race')).map(fromRow);
      expect((await store.cancel('t', 'race', 'r2')).outcome).toBe('cancelled');
      expect(await internals.claimIfUnchanged(rows, 'w1', 30_000)).toBeUndefined();
      expect((await store.get('t', 'race', 'r1'))?.state).toBe('pending');
    });

    it('when the one-statement claim is refused, the locking transaction chooses again and claims', async () => {
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
