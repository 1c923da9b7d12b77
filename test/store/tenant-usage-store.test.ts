// Contract of the per-tenant counts behind the tenant limits, on each engine: sessions of one
// tenant (children included, other tenants not), and its open queue batches (pending or
// claimed; done and cancelled ones no longer count).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueueBatch } from '../../src/domain/queue/types.js';
import type { SessionHead } from '../../src/domain/session.js';
import { DbQueueStore } from '../../src/store/queue-store.js';
import { OrmSessionStore } from '../../src/store/session-store.js';
import { DbTenantUsageStore } from '../../src/store/tenant-usage-store.js';
import { engines, openTestDatabase } from '../support/engines.js';
import { testHead } from '../support/heads.js';

const head = (tenantId: string, sessionId: string, parentSessionId?: string) => testHead(sessionId, { tenantId, parentSessionId });
const batch = (tenantId: string, sessionId: string, batchId: string): QueueBatch => ({
  batchId,
  tenantId,
  sessionId,
  enqueueSeq: 0n,
  deliveryPolicy: 'after_current_turn_commit',
  slotPolicy: 'exclusive',
  availableAt: new Date(0),
  enqueuedAt: new Date(),
  items: [{ itemId: batchId, payload: { kind: 'input', input: { items: [{ kind: 'text', text: batchId }], imageBlobs: {} } } }],
  state: 'pending',
});

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`TenantUsageStore contract on ${engine.name}`, () => {
    let usage: DbTenantUsageStore;
    let sessions: OrmSessionStore;
    let queue: DbQueueStore;
    let close: () => Promise<void>;
    beforeAll(async () => {
      const opened = await openTestDatabase(engine);
      usage = new DbTenantUsageStore(opened.db);
      sessions = new OrmSessionStore(opened.db);
      queue = new DbQueueStore(opened.db);
      close = opened.close;
    });
    afterAll(async () => close?.());

    const create = (h: SessionHead) => sessions.create(h, { frameId: h.currentFrameId, status: 'active', reason: 'initial', createdAt: new Date() });

    it('counts the sessions of one tenant, children included, other tenants not', async () => {
      expect(await usage.sessions('acme')).toBe(0);
      await create(head('acme', 's1'));
      await create(head('acme', 's2'));
      await create(head('acme', 's2-kid', 's2'));
      await create(head('globex', 's1'));
      expect(await usage.sessions('acme')).toBe(3);
      expect(await usage.sessions('globex')).toBe(1);
      await sessions.delete('acme', 's1');
      expect(await usage.sessions('acme')).toBe(2);
    });

    it('counts open (pending or claimed) batches of one tenant; done and cancelled ones no longer count', async () => {
      for (const id of ['b1', 'b2', 'b3']) await queue.enqueue(batch('acme', 's2', id));
      await queue.enqueue(batch('globex', 's1', 'g1'));
      expect(await usage.openBatches('acme')).toBe(3);
      await queue.claim('acme', 's2', 'w1', 30_000, (p) => p.slice(0, 1));
      expect(await usage.openBatches('acme')).toBe(3);
      expect((await queue.cancel('acme', 's2', 'b3')).outcome).toBe('cancelled');
      expect(await usage.openBatches('acme')).toBe(2);
      expect(await usage.openBatches('globex')).toBe(1);
      expect(await usage.openBatches('nobody')).toBe(0);
    });
  });
}
