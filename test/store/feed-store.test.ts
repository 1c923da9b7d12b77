// Contract of the FeedStore port on each engine: gap-free sequence numbers (also under concurrent
// appenders), open-turn tracking, retention that never trims past the last committed marker, and
// (PostgreSQL) the wake-up sent by the append itself.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeedPayload } from '../../src/domain/feed/types.js';
import type { TurnEvent } from '../../src/domain/turns/types.js';
import { DbFeedStore } from '../../src/store/feed-store.js';
import { engines, openTestDatabase } from '../support/engines.js';

const activity = (turnId: string, text: string): FeedPayload => {
  const event: TurnEvent = { id: text, correlationId: text, sequence: 1, time: new Date(), event: { kind: 'assistant_prose_delta', text } };
  return { kind: 'turn_activity', turnId, event };
};
const changed = (what: string): FeedPayload => ({ kind: 'session_changed', what });

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`FeedStore contract on ${engine.name}`, () => {
    let store: DbFeedStore;
    let opened: Awaited<ReturnType<typeof openTestDatabase>>;
    let close: () => Promise<void>;
    beforeAll(async () => {
      opened = await openTestDatabase(engine);
      store = new DbFeedStore(opened.db);
      close = opened.close;
    });
    afterAll(async () => close?.());

    it('numbers events from 1 without gaps, batch after batch, per session', async () => {
      const a = await store.append('t', 'a', 1n, [changed('x'), changed('y')]);
      const b = await store.append('t', 'a', 2n, [changed('z')]);
      const other = await store.append('t', 'b', 1n, [changed('w')]);
      expect([...a, ...b].map((r) => r.seq)).toEqual([1n, 2n, 3n]);
      expect(other.map((r) => r.seq)).toEqual([1n]);
      const read = await store.read('t', 'a', 0n, 10);
      expect(read.map((r) => [r.seq, r.revision, r.payload])).toEqual([[1n, 1n, changed('x')], [2n, 1n, changed('y')], [3n, 2n, changed('z')]]);
      expect((await store.head('t', 'a')).lastSeq).toBe(3n);
    });

    it('concurrent appenders get distinct, contiguous numbers and every event is stored', async () => {
      const batches = await Promise.all(Array.from({ length: 12 }, (_, i) => store.append('t', 'race', 1n, [changed(`${i}-a`), changed(`${i}-b`)])));
      const seqs = batches.flat().map((r) => r.seq).sort((x, y) => (x < y ? -1 : 1));
      expect(seqs).toEqual(Array.from({ length: 24 }, (_, i) => BigInt(i + 1)));
      for (const batch of batches) expect(batch[1]!.seq).toBe(batch[0]!.seq + 1n);
      expect((await store.read('t', 'race', 0n, 100)).length).toBe(24);
    });

    it('tracks the open turn: activity opens it, its commit or interruption closes it, another turn\'s commit does not', async () => {
      expect(await store.openTurn('t', 'turns')).toBeUndefined();
      await store.append('t', 'turns', 0n, [activity('t1', 'a')]);
      expect(await store.openTurn('t', 'turns')).toBe('t1');
      await store.append('t', 'turns', 1n, [{ kind: 'committed', revision: 1n, turnId: 'other' }]);
      expect(await store.openTurn('t', 'turns')).toBe('t1');
      await store.append('t', 'turns', 1n, [{ kind: 'committed', revision: 1n, turnId: 't1' }]);
      expect(await store.openTurn('t', 'turns')).toBeUndefined();
      await store.append('t', 'turns', 1n, [activity('t2', 'b'), changed('x')]);
      expect(await store.openTurn('t', 'turns')).toBe('t2');
      await store.append('t', 'turns', 1n, [{ kind: 'turn_interrupted', turnId: 't2' }]);
      expect(await store.openTurn('t', 'turns')).toBeUndefined();
    });

    it.runIf(engine.name === 'postgresql')('with a notify channel, the append itself sends the feed wake-up, at its commit', async () => {
      const listener = new pg.Client({ connectionString: opened.databaseUrl });
      await listener.connect();
      try {
        const got: string[] = [];
        listener.on('notification', (m) => got.push(m.payload ?? ''));
        await listener.query('listen feed_contract');
        const notifying = new DbFeedStore(opened.db, 'feed_contract');
        expect(notifying.wakesReplicas).toBe(true);
        const records = await notifying.append('t', 'woken', 1n, [changed('a'), changed('b')]);
        for (let i = 0; i < 100 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
        expect(got.map((g) => JSON.parse(g) as unknown)).toEqual([{ t: 'feed', p: { tenantId: 't', sessionId: 'woken', upTo: records[1]!.seq.toString() } }]);
      } finally {
        await listener.end();
      }
    });

    it('retention keeps everything from the last committed marker on, whatever the age', async () => {
      await store.append('t', 'keep', 0n, [changed('old-1'), changed('old-2')]);
      await store.append('t', 'keep', 1n, [changed('before'), { kind: 'committed', revision: 1n }, changed('after')]);
      await store.append('t', 'keep', 1n, [changed('uncommitted')]);
      await store.trim(new Date(Date.now() + 60_000), 0);
      const left = await store.read('t', 'keep', 0n, 100);
      expect(left.map((r) => r.seq)).toEqual([4n, 5n, 6n]);
      expect((await store.head('t', 'keep')).trimmedThrough).toBe(3n);
    });
  });
}
