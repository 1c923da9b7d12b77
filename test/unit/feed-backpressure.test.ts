// Feed back-pressure (issue 12, bullet 2; ADR 0078), on the in-memory store: while the feed store
// refuses every append, the turn producing the events stops reading its model stream once its
// session's lane holds LASH_FEED_PENDING_MAX unstored events; the lane never holds more; once the
// store takes writes again the turn goes on and completes, and every event is stored once, in
// order, followed by its committed marker. A cancel ends a waiting turn. No timing is asserted:
// "paused" means the model stream is not read while the appender retries, however long that is.

import { afterEach, describe, expect, it } from 'vitest';
import type { ModelProvider, ModelRequest, ModelStreamPart } from '../../src/domain/turns/model.js';
import { zeroUsage } from '../../src/domain/usage.js';
import { buildDomain, type Domain } from '../support/domain.js';

const PARTS = 200;
const BOUND = 20;

/** A model that streams PARTS deltas, one network read apart (a macrotask), counting what was read. */
class ChattyModel implements ModelProvider {
  readonly id = 'echo';
  read = 0;
  async *stream(_request: ModelRequest): AsyncIterable<ModelStreamPart> {
    for (let i = 0; i < PARTS; i++) {
      await new Promise((r) => setImmediate(r));
      this.read++;
      yield { type: 'text_delta', text: `w${i} ` };
    }
    yield { type: 'finish', usage: zeroUsage(), finishReason: 'stop' };
  }
}

const say = (sessionId: string, text: string) => ({ sessionId, input: { items: [{ kind: 'text' as const, text }], imageBlobs: {} }, overrides: {} });
const until = async (cond: () => boolean) => {
  while (!cond()) await new Promise((r) => setImmediate(r));
};

describe('feed back-pressure (unit, in memory)', () => {
  let d: Domain;
  afterEach(async () => d?.close());

  function refusingDomain() {
    const model = new ChattyModel();
    d = buildDomain({ provider: model, feed: { pendingMax: BOUND, maxRetryDelayMs: 1 } });
    const store = d.stores.feed;
    const append = store.append.bind(store);
    const state = { refusing: true, refusals: 0, peak: 0 };
    store.append = async (...args) => {
      if (state.refusing) {
        state.refusals++;
        throw new Error('connection refused (test)');
      }
      return append(...args);
    };
    const feedAppend = d.feed.append.bind(d.feed);
    d.feed.append = (t, s, r, p) => {
      feedAppend(t, s, r, p);
      state.peak = Math.max(state.peak, d.feed.unstored(t, s));
    };
    return { model, state };
  }

  it('the turn waits at the bound while the store refuses, then completes with every event stored once, in order', async () => {
    const { model, state } = refusingDomain();
    await d.sessions.open(d.ctx, { sessionId: 's', openMode: 'resume', policy: {} });
    const running = d.turns.run(d.ctx, say('s', 'go'));
    await until(() => d.feed.pacedTurns === 1);
    const readAtPause = model.read;
    expect(readAtPause).toBeLessThan(PARTS);
    expect(d.feed.unstored('unit', 's')).toBeLessThanOrEqual(BOUND);
    // The appender keeps retrying; the stream is not read meanwhile.
    const refusalsAtPause = state.refusals;
    await until(() => state.refusals >= refusalsAtPause + 5);
    expect(model.read).toBe(readAtPause);
    expect(d.feed.pacedTurns).toBe(1);

    state.refusing = false;
    const result = await running;
    expect(result.outcome).toMatchObject({ type: 'finished' });
    await d.feed.flushed('unit', 's');
    expect(model.read).toBe(PARTS);
    expect(state.peak).toBeLessThanOrEqual(BOUND);
    expect(state.peak).toBeGreaterThanOrEqual(BOUND - 1); // it did fill up: the bound, not luck, held it
    const records = await d.stores.feed.read('unit', 's', 0n, 10_000);
    expect(records.map((r) => r.seq)).toEqual(records.map((_, i) => BigInt(i + 1)));
    const activity = records.flatMap((r) => (r.payload.kind === 'turn_activity' && r.payload.turnId === result.turnId ? [r.payload.event] : []));
    expect(activity.map((e) => e.sequence)).toEqual(activity.map((_, i) => i + 1));
    const text = activity.map((e) => (e.event.kind === 'assistant_prose_delta' ? e.event.text : '')).join('');
    expect(text).toBe(Array.from({ length: PARTS }, (_, i) => `w${i} `).join(''));
    expect(records[records.length - 1]!.payload).toMatchObject({ kind: 'committed', turnId: result.turnId });
    expect(d.feed.pacedTurns).toBe(0);
  });

  it('a cancel ends a turn waiting for the feed; it commits as cancelled and its events arrive once the store recovers', async () => {
    const { model, state } = refusingDomain();
    await d.sessions.open(d.ctx, { sessionId: 'c', openMode: 'resume', policy: {} });
    const running = d.turns.run(d.ctx, say('c', 'go'));
    await until(() => d.feed.pacedTurns === 1);
    expect(await d.turns.cancelRunning(d.ctx, 'c')).toBe(1);
    const result = await running;
    expect(result.outcome).toMatchObject({ type: 'stopped', reason: 'cancelled' });
    expect(model.read).toBeLessThan(PARTS);
    expect(d.feed.pacedTurns).toBe(0);
    state.refusing = false;
    await d.feed.flushed('unit', 'c');
    const records = await d.stores.feed.read('unit', 'c', 0n, 10_000);
    expect(records[records.length - 1]!.payload).toMatchObject({ kind: 'committed', turnId: result.turnId });
  });
});
