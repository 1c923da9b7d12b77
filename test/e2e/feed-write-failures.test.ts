// A feed write the store refuses costs no event (issue 12, bullet 2): while every feed append
// fails, a turn still runs and commits, its events wait in order (the pending and failing gauges
// show it), and once the store takes writes again the observer receives every event of the turn
// exactly once, in order, then its committed marker; the turn is never reported interrupted and
// the next turn's events arrive as usual. Back-pressure (ADR 0078): with LASH_FEED_PENDING_MAX at
// its floor the turn stops reading its model stream once its lane is full, waits (paced-turns
// gauge 1, health service `lash.feed` NOT_SERVING while the overall status stays SERVING) and
// completes only once the store takes writes again. The refusal is made by shadowing FeedStore.append on the
// app's instance (what a database that refuses writes looks like to the appender); everything
// else is the real store of the engine.

import { describe, expect, it } from 'vitest';
import { HealthCheckResponse_ServingStatus as Serving } from '../../gen/grpc/health/v1/health.js';
import type { FeedMessage } from '../../gen/lash/v1/feed.js';
import type { TurnEvent } from '../../gen/lash/v1/turn.js';
import { engines } from '../support/engines.js';
import { fakeModelSuite } from '../support/fake-model-suite.js';
import { observe, payloadCase, sequenceProblems } from '../support/observe.js';
import { runTurn, textInput, until } from '../support/turns.js';

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const turnEvents = (ms: FeedMessage[], turnId: string): TurnEvent[] =>
  ms.flatMap((m) => {
    const p = m.kind?.$case === 'event' ? m.kind.value.payload : undefined;
    return p?.$case === 'turnActivity' && p.value.turnId === turnId ? [p.value.event!] : [];
  });
const committed = (ms: FeedMessage[], turnId: string) =>
  ms.some((m) => m.kind?.$case === 'event' && m.kind.value.payload?.$case === 'committed' && m.kind.value.payload.value.turnId === turnId);

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`feed writes the store refuses on ${engine.name}`, () => {
    const suite = fakeModelSuite(engine, {
      prefix: 'fw',
      env: { LASH_METRICS_LISTEN: '127.0.0.1:0', LASH_FEED_PENDING_MAX: '10', LASH_HEALTH_PROBE_MS: '100' },
    });
    const feedHealth = async () => (await suite.s.clients.health.check({ service: 'lash.feed' })).status;
    const scrape = async () => (await fetch(`http://${suite.s.app.metricsAddress}/metrics`)).text();

    it('events wait while the store refuses and the turn waits with them (health and metrics say so), then all arrive once and in order with the committed marker; nothing is reported interrupted', async () => {
      const sessionId = await suite.open();
      const o = observe(suite.s.clients, sessionId);
      await o.waitFor((m) => m.length >= 1);
      const store = suite.s.app.feed.store as { append: (typeof suite.s.app.feed.store)['append'] };
      const append = store.append.bind(store);
      let refusals = 0;
      let refusing = true;
      store.append = async (...args) => {
        if (refusing) {
          refusals++;
          throw new Error('connection refused (test)');
        }
        return append(...args);
      };
      try {
        // Deltas a tick apart: many events, several batches, all refused.
        suite.fake.script({ steps: Array.from({ length: 200 }, (_, i) => [{ text: `w${i} ` }, { delayMs: 0 }]).flat() });
        let finished = false;
        const running = runTurn(suite.s.clients, { sessionId, input: textInput('while refused') }).finally(() => (finished = true));
        // The turn fills its lane and waits: the paced gauge and the feed's health service say so.
        await until(async () => sample(await scrape(), 'lash_feed_paced_turns') === 1, 60_000);
        await until(async () => (await feedHealth()) === Serving.NOT_SERVING, 30_000);
        expect((await suite.s.clients.health.check({ service: '' })).status).toBe(Serving.SERVING);
        // More refusals than the six retries after which the store once dropped a batch; the turn
        // is still waiting and holds no more than the bound.
        const refusalsPaced = refusals;
        await until(() => refusals >= Math.max(8, refusalsPaced + 3), 60_000);
        const metrics = await scrape();
        expect(finished).toBe(false);
        expect(sample(metrics, 'lash_feed_paced_turns')).toBe(1);
        expect(sample(metrics, 'lash_feed_failing_sessions')).toBeGreaterThanOrEqual(1);
        expect(sample(metrics, 'lash_feed_pending_events')).toBeGreaterThan(0);
        expect(sample(metrics, 'lash_feed_pending_events')).toBeLessThanOrEqual(10);
        // Held, in order, and visible: nothing of the turn reached the observer yet.
        expect(o.messages.filter((m) => m.kind?.$case === 'event' && m.kind.value.payload?.$case === 'turnActivity')).toEqual([]);
        refusing = false;
        const t = await running;
        expect(t.result?.outcome?.$case).toBe('finished');
        const turnId = t.result!.turnId;
        await o.waitFor((m) => committed(m, turnId), 60_000);
        await until(async () => (await feedHealth()) === Serving.SERVING, 30_000);
        expect(turnEvents(o.messages, turnId)).toEqual(t.events);
        expect(t.events.length).toBeGreaterThan(10);
        const after = await scrape();
        expect(sample(after, 'lash_feed_failing_sessions')).toBe(0);
        expect(sample(after, 'lash_feed_paced_turns')).toBe(0);
        // The next, ordinary turn streams to the observer as usual.
        suite.fake.script({ steps: [{ text: 'after' }] });
        const next = await runTurn(suite.s.clients, { sessionId, input: textInput('next') });
        await o.waitFor((m) => committed(m, next.result!.turnId), 30_000);
        expect(turnEvents(o.messages, next.result!.turnId)).toEqual(next.events);
        expect(o.messages.map(payloadCase)).not.toContain('turnInterrupted');
        expect(sequenceProblems(o.messages)).toEqual([]);
        expect(o.error).toBeUndefined();
      } finally {
        store.append = append;
        o.close();
      }
    }, 120_000);
  });
}
