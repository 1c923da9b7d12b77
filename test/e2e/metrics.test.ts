// The Prometheus endpoint over real HTTP next to a real gRPC server: call counts by method and
// code and tenant, committed turns and tokens, queue depth, observers and feed appends, process defaults.

import { describe, expect, it } from 'vitest';
import { SessionMode } from '../../gen/lash/v1/session.js';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { EnqueueTurnInputRequest } from '../../gen/lash/v1/queue_service.js';
import { loadConfig } from '../../src/config.js';
import { engines } from '../support/engines.js';
import { fakeModelSuite } from '../support/fake-model-suite.js';
import { observe } from '../support/observe.js';
import { rejection } from '../support/server.js';
import { runTurn, textInput, until } from '../support/turns.js';

/** The value of one sample line, e.g. sample(text, 'lash_rpc_total{method="…",code="OK"}'). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`metrics on ${engine.name}`, () => {
    const scrape = async () => (await fetch(`http://${suite.s.app.metricsAddress}/metrics`)).text();
    const suite = fakeModelSuite(engine, {
      prefix: 'metrics',
      env: {
        LASH_QUEUE_WORKERS: '0',
        LASH_METRICS_LISTEN: '127.0.0.1:0',
      },
      reset: false,
    });

    it('counts calls by method and code, committed turns and their tokens, open queue batches, observers and feed appends', async () => {
      await suite.s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'm1' }));
      const o = observe(suite.s.clients, 'm1');
      await o.waitFor((m) => m.length >= 1);
      suite.fake.script({ steps: [{ text: 'measured' }], usage: { input: 7, output: 3 } });
      const t = await runTurn(suite.s.clients, { sessionId: 'm1', input: textInput('count me') });
      expect(t.result?.outcome?.$case).toBe('finished');
      await rejection(suite.s.clients.sessions.getSession({ sessionId: 'no-such-session' }));
      await suite.s.clients.queue.enqueueTurnInput(
        EnqueueTurnInputRequest.fromPartial({ sessionId: 'm1', id: 'later', input: textInput('waits in the queue') }),
      );
      await o.waitFor((m) => m.some((x) => x.kind?.$case === 'event' && x.kind.value.payload?.$case === 'queueChanged'));

      const text = await scrape();
      expect(sample(text, 'lash_rpc_total{method="lash.v1.TurnService/RunTurn",code="OK",tenant="default"}')).toBe(1);
      expect(sample(text, 'lash_rpc_total{method="lash.v1.SessionService/GetSession",code="NOT_FOUND",tenant="default"}')).toBe(1);
      expect(sample(text, 'lash_rpc_duration_seconds_count{method="lash.v1.SessionService/OpenSession",tenant="default"}')).toBe(1);
      expect(sample(text, 'lash_turns_total{outcome="finished",reason=""}')).toBe(1);
      expect(sample(text, 'lash_turn_duration_seconds_count')).toBe(1);
      expect(sample(text, 'lash_model_tokens_total{kind="input"}')).toBe(7);
      expect(sample(text, 'lash_model_tokens_total{kind="output"}')).toBe(3);
      expect(sample(text, 'lash_queue_batches{state="pending"}')).toBe(1);
      expect(sample(text, 'lash_queue_batches{state="claimed"}')).toBe(0);
      expect(sample(text, 'lash_feed_observers')).toBe(1);
      expect(sample(text, 'lash_feed_events_total')).toBeGreaterThanOrEqual(t.events.length);
      expect(sample(text, 'lash_feed_lag_seconds_count')).toBe(t.events.length);
      expect(sample(text, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
      o.close();
      await until(async () => sample(await scrape(), 'lash_feed_observers') === 0);
    });

    it('shows resource limits: sandbox threads and admitted turns in use, refusals by limit', async () => {
      await suite.s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'm-rlm', mode: SessionMode.SESSION_MODE_RLM }));
      suite.fake.script({ steps: [{ text: '```js\nglobalThis.big = "y".repeat(2000000);\n```' }] }, { steps: [{ text: '```js\nsubmit(1);\n```' }] });
      const t = await runTurn(suite.s.clients, { sessionId: 'm-rlm', input: textInput('too much') });
      expect(t.result?.outcome?.$case).toBe('finished');
      const text = await scrape();
      expect(sample(text, 'lash_limit_rejections_total{limit="rlm_globals"}')).toBe(1);
      expect(sample(text, 'lash_limit_rejections_total{limit="sandbox_threads"}')).toBe(0);
      expect(sample(text, 'lash_limit_rejections_total{limit="running_turns"}')).toBe(0);
      expect(sample(text, 'lash_sandbox_threads{state="busy"}')).toBe(0);
      expect(sample(text, 'lash_sandbox_threads{state="alive"}')).toBeGreaterThanOrEqual(1);
      expect(sample(text, 'lash_turn_slots{state="running"}')).toBe(0);
      expect(sample(text, 'lash_turn_slots{state="waiting"}')).toBe(0);
      // The embedded engine's gate (ADR 0063): nothing waits once the turn is over; PostgreSQL has none.
      const gated = engine.name === 'pglite' ? 0 : undefined;
      expect(sample(text, 'lash_store_gate_waiting{lane="interactive"}')).toBe(gated);
      expect(sample(text, 'lash_store_gate_waiting{lane="bulk"}')).toBe(gated);
      expect(sample(text, 'lash_store_gate_yields_total')).toSatisfy((n: number | undefined) =>
        engine.name === 'pglite' ? n !== undefined && n >= 0 : n === undefined,
      );
      // PostgreSQL's hold on hot-path statements at the database (ADR 0083): at most the default 2
      // at once (a background statement may be out at the scrape); the embedded engine has none.
      const heldShape = (max: number) => (n: number | undefined) => (engine.name === 'postgresql' ? n !== undefined && n >= 0 && n <= max : n === undefined);
      expect(sample(text, 'lash_store_statements{state="in_flight"}')).toSatisfy(heldShape(2));
      expect(sample(text, 'lash_store_statements{state="waiting"}')).toSatisfy(heldShape(Number.MAX_SAFE_INTEGER));
      for (const counter of ['lash_store_statements_waited_total', 'lash_store_statements_overdue_total'])
        expect(sample(text, counter)).toSatisfy((n: number | undefined) => (engine.name === 'postgresql' ? n !== undefined && n >= 0 : n === undefined));
    });

    it('serves only GET /metrics', async () => {
      const other = await fetch(`http://${suite.s.app.metricsAddress}/other`);
      expect(other.status).toBe(404);
      await other.text();
    });
  });
}

describe('LASH_METRICS_LISTEN', () => {
  it('is off unless set, and a bad value names the variable', () => {
    expect(loadConfig({}).metricsListen).toBeUndefined();
    expect(loadConfig({ LASH_METRICS_LISTEN: '0.0.0.0:9464' }).metricsListen).toEqual({ host: '0.0.0.0', port: 9464 });
    expect(() => loadConfig({ LASH_METRICS_LISTEN: '9464' })).toThrow(/LASH_METRICS_LISTEN must be host:port/);
  });
});
