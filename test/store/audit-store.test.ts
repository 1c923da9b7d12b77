// Contract of the AuditStore port on each engine: batches stored in one call, listing scoped to
// one tenant, newest first, filtered by session, method and time, paged by id; retention by age;
// hostile-looking values stored as given.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/domain/audit/types.js';
import { DbAuditStore } from '../../src/store/audit-store.js';
import { engines, openTestDatabase } from '../support/engines.js';

const base = Date.parse('2026-11-01T00:00:00Z');
const rec = (n: number, extra: Partial<AuditRecord> = {}): AuditRecord => ({
  tenantId: 'acme',
  subject: 'alice',
  identitySource: 'jwt',
  method: 'lash.v1.SessionService/OpenSession',
  sessionId: `s${n % 2}`,
  code: 'OK',
  requestId: `req-${n}`,
  at: new Date(base + n * 60_000),
  ...extra,
});

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`AuditStore contract on ${engine.name}`, () => {
    let store: DbAuditStore;
    let close: () => Promise<void>;
    beforeAll(async () => {
      const opened = await openTestDatabase(engine);
      store = new DbAuditStore(opened.db);
      close = opened.close;
    });
    afterAll(async () => close?.());

    it("stores a batch and lists only the tenant's records, newest first, with every field", async () => {
      await store.append([
        rec(1),
        rec(2, { method: 'lash.v1.TurnService/RunTurn', turnId: 't-2', code: 'RESOURCE_EXHAUSTED', reason: 'TENANT_TURN_LIMIT' }),
        rec(3, { tenantId: 'globex', subject: 'mallory' }),
        rec(4, { method: 'lash.v1.QueueService/EnqueueTurnInput', batchId: 'b-4', sessionId: undefined, identitySource: 'anonymous', subject: 'anonymous' }),
      ]);
      await store.append([]);
      const all = await store.list('acme', {}, undefined, 10);
      expect(all.map((r) => r.requestId)).toEqual(['req-4', 'req-2', 'req-1']);
      expect(all[1]).toMatchObject({
        tenantId: 'acme',
        subject: 'alice',
        identitySource: 'jwt',
        method: 'lash.v1.TurnService/RunTurn',
        sessionId: 's0',
        turnId: 't-2',
        code: 'RESOURCE_EXHAUSTED',
        reason: 'TENANT_TURN_LIMIT',
        at: new Date(base + 120_000),
      });
      expect(all[0]).toMatchObject({ batchId: 'b-4', sessionId: undefined, turnId: undefined, reason: undefined });
      expect((await store.list('globex', {}, undefined, 10)).map((r) => r.subject)).toEqual(['mallory']);
      expect(await store.list('nobody', {}, undefined, 10)).toEqual([]);
    });

    it('filters by session, method and time (since inclusive, until exclusive) and pages by id', async () => {
      expect((await store.list('acme', { sessionId: 's1' }, undefined, 10)).map((r) => r.requestId)).toEqual(['req-1']);
      expect((await store.list('acme', { method: 'lash.v1.TurnService/RunTurn' }, undefined, 10)).map((r) => r.requestId)).toEqual(['req-2']);
      expect((await store.list('acme', { since: new Date(base + 120_000), until: new Date(base + 240_000) }, undefined, 10)).map((r) => r.requestId)).toEqual([
        'req-2',
      ]);
      const first = await store.list('acme', {}, undefined, 2);
      expect(first.map((r) => r.requestId)).toEqual(['req-4', 'req-2']);
      const second = await store.list('acme', {}, first.at(-1)!.id, 2);
      expect(second.map((r) => r.requestId)).toEqual(['req-1']);
    });

    it('keeps quotes, backslashes and non-ASCII as given (values travel as parameters)', async () => {
      const odd = `it's "x" \\ ; drop table audit_records; -- é 🙂`;
      await store.append([rec(10, { tenantId: 'odd', sessionId: odd, reason: odd })]);
      expect((await store.list('odd', { sessionId: odd }, undefined, 10))[0]).toMatchObject({ sessionId: odd, reason: odd });
    });

    it('trims records older than the retention age and keeps the rest', async () => {
      const removed = await store.trim(new Date(base + 150_000));
      expect(removed).toBe(2);
      expect((await store.list('acme', {}, undefined, 10)).map((r) => r.requestId)).toEqual(['req-4']);
      expect(await store.list('odd', {}, undefined, 10)).toHaveLength(1);
      expect(await store.list('globex', {}, undefined, 10)).toHaveLength(1);
    });
  });
}
