// Contract of the FeedStore port on each store (memory, PGlite, PostgreSQL): gap-free sequence
// numbers (also under concurrent appenders), one batch per append (one row on the databases)
// with reads from any cursor inside it, open-turn tracking, retention by whole batches that never trims past the last committed marker, lossless
// payloads, and (PostgreSQL) the wake-up sent by the append itself.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeedPayload } from '../../src/domain/feed/types.js';
import type { TurnEvent } from '../../src/domain/turns/types.js';
import type { FeedStore } from '../../src/domain/ports.js';
import type { Database } from '../../src/store/database.js';
import { DbFeedStore } from '../../src/store/feed-store.js';
import { storeEngines, type OpenedStores } from '../support/store-engines.js';

let counter = 0;
const activity = (turnId: string, text: string): FeedPayload => {
  const id = `ev-${(counter += 1)}`;
  const event: TurnEvent = {
    id,
    correlationId: `corr-${turnId}`,
    sequence: counter,
    time: new Date(1_700_000_000_000 + counter),
    event: { kind: 'assistant_prose_delta', text },
  };
  return { kind: 'turn_activity', turnId, event };
};
const changed = (what: string): FeedPayload => ({ kind: 'session_changed', what });

async function countRows(db: Database, sessionId: string): Promise<number> {
  const rows = await db.conn().execute<{ n: string | number }[]>('select count(*) as n from feed_batches where session_id = ?', [sessionId]);
  return Number((rows as { n: string | number }[])[0]!.n);
}

for (const engine of storeEngines) {
  describe.skipIf(!engine.enabled)(`FeedStore contract on ${engine.name}`, () => {
    let store: FeedStore;
    let opened: OpenedStores;
    let close: () => Promise<void>;
    beforeAll(async () => {
      opened = await engine.open();
      store = opened.feed;
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
      expect(read.map((r) => [r.seq, r.revision, r.payload])).toEqual([
        [1n, 1n, changed('x')],
        [2n, 1n, changed('y')],
        [3n, 2n, changed('z')],
      ]);
      expect((await store.head('t', 'a')).lastSeq).toBe(3n);
    });

    it('concurrent appenders get distinct, contiguous numbers and every event is stored', async () => {
      const batches = await Promise.all(Array.from({ length: 12 }, (_, i) => store.append('t', 'race', 1n, [changed(`${i}-a`), changed(`${i}-b`)])));
      const seqs = batches
        .flat()
        .map((r) => r.seq)
        .sort((x, y) => (x < y ? -1 : 1));
      expect(seqs).toEqual(Array.from({ length: 24 }, (_, i) => BigInt(i + 1)));
      for (const batch of batches) expect(batch[1]!.seq).toBe(batch[0]!.seq + 1n);
      expect((await store.read('t', 'race', 0n, 100)).length).toBe(24);
    });

    it("tracks the open turn: activity opens it, its commit or interruption closes it, another turn's commit does not", async () => {
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
        const notifying = new DbFeedStore(opened.db!, 'feed_contract');
        expect(notifying.wakesReplicas).toBe(true);
        const records = await notifying.append('t', 'woken', 1n, [changed('a'), changed('b')]);
        for (let i = 0; i < 100 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
        expect(got.map((g) => JSON.parse(g) as unknown)).toEqual([{ t: 'feed', p: { tenantId: 't', sessionId: 'woken', upTo: records[1]!.seq.toString() } }]);
      } finally {
        await listener.end();
      }
    });

    it('retention drops whole batches and keeps every batch from the last committed marker on, whatever the age', async () => {
      await store.append('t', 'keep', 0n, [changed('old-1'), changed('old-2')]);
      await store.append('t', 'keep', 1n, [changed('before'), { kind: 'committed', revision: 1n }, changed('after')]);
      await store.append('t', 'keep', 1n, [changed('uncommitted')]);
      await store.trim(new Date(Date.now() + 60_000), 0);
      const left = await store.read('t', 'keep', 0n, 100);
      // The batch holding the marker stays whole, so "before" (seq 3) is kept with it.
      expect(left.map((r) => r.seq)).toEqual([3n, 4n, 5n, 6n]);
      expect((await store.head('t', 'keep')).trimmedThrough).toBe(2n);
    });

    it('tells whether a retained turn_interrupted event names a turn, not fooled by the same text inside a tool call', async () => {
      const lookalike: TurnEvent = {
        id: 'tc',
        correlationId: 'tc',
        sequence: 1,
        time: new Date(),
        event: { kind: 'tool_call_started', callId: 'c', name: 'x', args: { k: 'i', t: 'ghost' } },
      };
      await store.append('t', 'intr', 1n, [
        activity('next', 'a'),
        { kind: 'turn_interrupted', turnId: 'dead' },
        { kind: 'turn_activity', turnId: 'next', event: lookalike },
      ]);
      expect(await store.reportedInterrupted('t', 'intr', 'dead')).toBe(true);
      expect(await store.reportedInterrupted('t', 'intr', 'ghost')).toBe(false);
      expect(await store.reportedInterrupted('t', 'intr', 'next')).toBe(false);
      expect(await store.reportedInterrupted('t', 'other', 'dead')).toBe(false);
    });

    it('stores a batch as one row and resumes from every cursor inside it, each later event exactly once', async () => {
      // One row per batch is how the databases store it; the memory store keeps no rows to count.
      const rowsBefore = opened.db ? await countRows(opened.db, 'multi') : 0;
      const first = await store.append(
        't',
        'multi',
        1n,
        Array.from({ length: 7 }, (_, i) => activity('turn-m', `d${i}`)),
      );
      await store.append('t', 'multi', 2n, [{ kind: 'committed', revision: 2n, turnId: 'turn-m' }, changed('after')]);
      if (opened.db) expect(await countRows(opened.db, 'multi')).toBe(rowsBefore + 2);
      expect(first.map((r) => r.seq)).toEqual([1n, 2n, 3n, 4n, 5n, 6n, 7n]);
      const all = await store.read('t', 'multi', 0n, 100);
      expect(all.map((r) => r.seq)).toEqual([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n]);
      for (let after = 0n; after <= 9n; after++) {
        for (const limit of [1, 2, 3, 100]) {
          const page = await store.read('t', 'multi', after, limit);
          const expected = all.filter((r) => r.seq > after).slice(0, limit);
          expect(page).toEqual(expected);
        }
      }
      // Paging through with a small limit visits every event once, across the batch boundary.
      const seen: bigint[] = [];
      for (let after = 0n; ;) {
        const page = await store.read('t', 'multi', after, 2);
        if (page.length === 0) break;
        seen.push(...page.map((r) => r.seq));
        after = page[page.length - 1]!.seq;
      }
      expect(seen).toEqual(all.map((r) => r.seq));
    });

    it('after a trim, a read from before the floor starts at the first retained event', async () => {
      await store.append('t', 'floor', 1n, [changed('a'), changed('b')]);
      await store.append('t', 'floor', 1n, [changed('c'), { kind: 'committed', revision: 1n }]);
      await store.append('t', 'floor', 2n, [changed('d'), changed('e'), changed('f')]);
      await store.append('t', 'floor', 3n, [{ kind: 'committed', revision: 3n }]);
      await store.trim(new Date(Date.now() + 60_000), 0);
      expect((await store.head('t', 'floor')).trimmedThrough).toBe(7n);
      expect((await store.read('t', 'floor', 0n, 2)).map((r) => r.seq)).toEqual([8n]);
    });

    it('keeps every string exactly (NUL, lone surrogates, "5n"-like text), revives bigints only where the schema has them', async () => {
      const texts = ['nul \u0000 inside', 'high \ud83d alone', 'low \udc68 alone', '5n', '-12n', "'quoted", '\u200f rtl \u0301 mark', '😀 whole'];
      const usage = {
        inputTokens: 9_007_199_254_740_993n,
        outputTokens: 2n,
        cachedInputTokens: 0n,
        reasoningTokens: 1n,
        cacheWriteTokens: 9_007_199_254_740_995n,
      };
      const ev: TurnEvent = {
        id: 'u1',
        correlationId: 'u1',
        sequence: 9,
        time: new Date(1_700_000_000_123),
        event: { kind: 'usage', iteration: 1, usage, cumulative: usage },
      };
      const toolEv: TurnEvent = {
        id: 'tc',
        correlationId: 'call-1',
        sequence: 10,
        time: new Date(1_700_000_000_124),
        event: {
          kind: 'tool_call_completed',
          callId: 'call-1',
          name: 'x',
          args: { a: '7n', nul: '\u0000' },
          output: { n: 1.5, s: '\ud800' },
          isError: false,
          durationMs: 3,
        },
      };
      const payloads: FeedPayload[] = [
        ...texts.map((t) => activity('turn-l', t)),
        { kind: 'turn_activity', turnId: 'turn-l', event: ev },
        { kind: 'turn_activity', turnId: '3n', event: toolEv },
        { kind: 'queue_changed', change: 'enqueued', batchIds: ['42n'] },
        { kind: 'committed', revision: 77n, turnId: '3n' },
      ];
      const appended = await store.append('t', 'lossless', 5n, payloads);
      expect(appended.map((r) => r.payload)).toEqual(payloads);
      const read = await store.read('t', 'lossless', 0n, 100);
      expect(read.map((r) => r.payload)).toEqual(payloads);
    });

    it('an event too large to store is replaced by an error event in its slot; its neighbours are stored', async () => {
      const huge = activity('turn-h', 'x'.repeat(1_100_000));
      const records = await store.append('t', 'huge', 1n, [activity('turn-h', 'before'), huge, activity('turn-h', 'after')]);
      const read = await store.read('t', 'huge', 0n, 10);
      expect(read).toEqual(records);
      expect(read.map((r) => r.seq)).toEqual([1n, 2n, 3n]);
      const texts = read.map((r) => (r.payload.kind === 'turn_activity' ? r.payload.event.event : undefined));
      expect(texts[0]).toEqual({ kind: 'assistant_prose_delta', text: 'before' });
      expect(texts[1]).toMatchObject({ kind: 'error', message: expect.stringContaining('could not be stored') as unknown });
      expect(texts[2]).toEqual({ kind: 'assistant_prose_delta', text: 'after' });
      expect(read[1]!.payload.kind === 'turn_activity' && read[1]!.payload.event.id).toBe(huge.kind === 'turn_activity' && huge.event.id);
    });
  });
}
