// Observer back-pressure counts what the client has not yet taken: a reader that keeps up is
// never cut off by a burst, however large, and gets every event once, in order; responses carry at most 256 messages; a stuck reader
// is cut off with OBSERVER_TOO_SLOW (by the event or the byte bound) and resumes by cursor with
// nothing lost.

import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { engines } from '../support/engines.js';
import { fakeModelSuite } from '../support/fake-model-suite.js';
import { observe, payloadCase, sequenceProblems } from '../support/observe.js';
import { observeRaw } from '../support/raw-observer.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { runTurn, textInput, until } from '../support/turns.js';

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`observer back-pressure on ${engine.name}`, () => {
    // The smallest event and byte bounds the server accepts (a burst's deltas may be coalesced
    // into a few large events, so the byte bound is what a stuck reader hits), and a stall time
    // short enough for the stuck reader, long enough for a busy test process.
    const suite = fakeModelSuite(engine, {
      prefix: 'bp',
      env: { LASH_FEED_OBSERVER_BUFFER: '100', LASH_FEED_OBSERVER_BUFFER_BYTES: '65536', LASH_FEED_OBSERVER_STALL_MS: '2000' },
    });
    const open = (server: TestServer) => suite.open({}, server);
    const burst = (count: number, pad = 0) => ({ steps: Array.from({ length: count }, (_, i) => ({ text: `d${i}${'x'.repeat(pad)} ` })) });

    it('a reader that keeps up is not cut off by a burst of thousands of back-to-back deltas (coalesced by the turn; buffer 100), and no response carries more than 256 messages', async () => {
      const sessionId = await open(suite.s);
      const o = observe(suite.s.clients, sessionId);
      await o.waitFor((m) => m.length >= 1);
      suite.fake.script(burst(4000));
      const t = await runTurn(suite.s.clients, { sessionId, input: textInput('burst') });
      expect(t.result?.outcome?.$case).toBe('finished');
      await o.waitFor((m) => m.some((x) => payloadCase(x) === 'committed'), 60_000);
      expect(o.error).toBeUndefined();
      expect(o.events().filter((m) => payloadCase(m) === 'turnActivity')).toHaveLength(t.events.length);
      expect(sequenceProblems(o.messages)).toEqual([]);
      expect(Math.max(...o.responseSizes)).toBeLessThanOrEqual(256);
      o.close();
    });

    it('a reader that keeps up receives every event of a burst of thousands of separate deltas exactly once, in order, and is not cut off (buffer 100)', async () => {
      // Back-to-back deltas reach the server in a few reads and the turn coalesces them into a few
      // events; one timer tick of the fake model between deltas makes nearly each its own event.
      // The longest linger the server accepts stores them in batches of hundreds, each handed to
      // the observer at once: far past a bound of 100, while the reader keeps taking them.
      const other = await startTestServer(engine, { ...suite.env(), LASH_FEED_LINGER_MS: '1000' });
      try {
        // Batch sizes as handed to local observers: a linger flush, or (when the turn ends within
        // the linger, as on a quiet machine) the commit that carries the waiting events itself.
        const batches: number[] = [];
        const hub = other.app.feed.hub;
        const deliver = hub.deliver.bind(hub);
        hub.deliver = (tenantId, sessionId, records) => (batches.push(records.length), deliver(tenantId, sessionId, records));
        const sessionId = await open(other);
        const o = observe(other.clients, sessionId);
        await o.waitFor((m) => m.length >= 1);
        const deltas = 3000;
        suite.fake.script({ steps: Array.from({ length: deltas }, (_, i) => [{ text: `d${i} ` }, { delayMs: 0 }]).flat() });
        const t = await runTurn(other.clients, { sessionId, input: textInput('spaced burst') });
        expect(t.result?.outcome?.$case).toBe('finished');
        const turnId = t.result!.turnId;
        await o.waitFor(
          (m) => m.some((x) => x.kind?.$case === 'event' && x.kind.value.payload?.$case === 'committed' && x.kind.value.payload.value.turnId === turnId),
          120_000,
        );
        expect(o.error).toBeUndefined();
        expect(o.ended).toBe(false);
        // The burst really was thousands of events, delivered in batches larger than the bound.
        expect(t.events.length).toBeGreaterThan(1000);
        expect(Math.max(...batches)).toBeGreaterThan(100);
        const fed = o.events().flatMap((m) => {
          const p = m.kind?.$case === 'event' ? m.kind.value.payload : undefined;
          return p?.$case === 'turnActivity' && p.value.turnId === turnId ? [p.value.event!] : [];
        });
        // Every event the RunTurn caller got, in the same order, each once, with the same content.
        expect(fed.map((e) => e.id)).toEqual(t.events.map((e) => e.id));
        expect(new Set(fed.map((e) => e.id)).size).toBe(fed.length);
        expect(fed).toEqual(t.events);
        expect(sequenceProblems(o.messages)).toEqual([]);
        expect(Math.max(...o.responseSizes)).toBeLessThanOrEqual(256);
        o.close();
      } finally {
        await other.close();
      }
    }, 240_000);

    it('a stuck reader is cut off with OBSERVER_TOO_SLOW, and resuming from its last cursor misses nothing', async () => {
      const sessionId = await open(suite.s);
      const slow = observeRaw(suite.s.app.address, sessionId);
      await until(() => slow.messages.length >= 1);
      slow.pause(); // stops granting flow-control window: what the server sends stays untaken
      let events = 0;
      for (let i = 0; i < 2; i++) {
        suite.fake.script(burst(2000, 100));
        const t = await runTurn(suite.s.clients, { sessionId, input: textInput(`flood ${i}`) });
        expect(t.result?.outcome?.$case).toBe('finished');
        events += t.events.length;
      }
      // The server gives up on it after the stall time (its subscription ends), then it reads again.
      await until(() => suite.s.app.feed.hub.listenerCount === 0, 30_000);
      slow.resume();
      await until(() => slow.status !== undefined, 30_000);
      expect(slow.status?.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(slow.status?.message).toContain('untaken');
      const received = slow.messages.slice();
      slow.close();
      const again = observe(suite.s.clients, sessionId, received[received.length - 1]!.cursor);
      await again.waitFor((m) => [...received, ...m].filter((x) => payloadCase(x) === 'committed').length >= 2, 60_000);
      expect(again.messages.some((m) => m.kind?.$case === 'gap' || m.kind?.$case === 'snapshot')).toBe(false);
      const all = [...received, ...again.messages];
      expect(sequenceProblems(all)).toEqual([]);
      expect(all.filter((m) => payloadCase(m) === 'turnActivity')).toHaveLength(events);
      again.close();
    });

    it('the byte bound cuts off a stuck reader that the event bound alone would let run on', async () => {
      const other = await startTestServer(engine, { ...suite.env(), LASH_FEED_OBSERVER_BUFFER: '1000000', LASH_FEED_OBSERVER_BUFFER_BYTES: '65536' });
      try {
        const sessionId = await open(other);
        const slow = observeRaw(other.app.address, sessionId);
        await until(() => slow.messages.length >= 1);
        slow.pause();
        for (let i = 0; i < 2; i++) {
          suite.fake.script(burst(2000, 100));
          await runTurn(other.clients, { sessionId, input: textInput(`flood ${i}`) });
        }
        await until(() => other.app.feed.hub.listenerCount === 0, 30_000);
        slow.resume();
        await until(() => slow.status !== undefined, 30_000);
        expect(slow.status?.code).toBe(status.RESOURCE_EXHAUSTED);
        slow.close();
      } finally {
        await other.close();
      }
    });
  });
}
