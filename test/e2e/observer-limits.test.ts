// Per-process limits on ObserveSession (issue 18, ADR 0054): past LASH_MAX_OBSERVERS open
// subscriptions a new one is RESOURCE_EXHAUSTED / TOO_MANY_OBSERVERS, past LASH_OBSERVE_RATE (with
// bursts of LASH_OBSERVE_BURST) it is OBSERVE_RATE_EXCEEDED, both with a retry hint and before any
// work; an ended subscription gives its place back. Metrics show use and refusals, and the child
// turns run_child runs.

import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { engines } from '../support/engines.js';
import { observe, type Observed } from '../support/observe.js';
import { rejection, startTestServer, type TestServer } from '../support/server.js';
import { runTurn, textInput, until } from '../support/turns.js';

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`observer limits on ${engine.name}`, () => {
    let s: TestServer;
    const scrape = async () => (await fetch(`http://${s.app.metricsAddress}/metrics`)).text();
    /** How a subscription that is refused at once ends. */
    const refusal = (o: Observed) => rejection(new Promise((_, reject) => o.call.on('error', reject)));

    beforeAll(async () => {
      s = await startTestServer(engine, {
        LASH_DEFAULT_PROVIDER: 'echo',
        LASH_TOOLS: 'run_child',
        LASH_QUEUE_WORKERS: '0',
        LASH_METRICS_LISTEN: '127.0.0.1:0',
        LASH_MAX_OBSERVERS: '3',
        LASH_OBSERVE_RATE: '1',
        LASH_OBSERVE_BURST: '6',
      });
    });
    afterAll(async () => {
      await s?.close();
    });

    it('a fourth observer is TOO_MANY_OBSERVERS with a retry hint; closing one frees its place', async () => {
      await s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'o1' }));
      const open = [observe(s.clients, 'o1'), observe(s.clients, 'o1'), observe(s.clients, 'o1')];
      for (const o of open) await o.waitFor((m) => m.length >= 1);
      const fourth = observe(s.clients, 'o1');
      const r = await refusal(fourth);
      expect(r).toMatchObject({ code: status.RESOURCE_EXHAUSTED, reason: 'TOO_MANY_OBSERVERS' });
      expect(Number(r.metadata.retry_after_ms)).toBeGreaterThan(0);
      expect(fourth.messages).toEqual([]);
      let text = await scrape();
      expect(sample(text, 'lash_observe_subscriptions')).toBe(3);
      expect(sample(text, 'lash_limit_rejections_total{limit="observers"}')).toBe(1);

      open[0]!.close();
      await until(async () => sample(await scrape(), 'lash_observe_subscriptions') === 2, 30_000);
      const again = observe(s.clients, 'o1');
      await again.waitFor((m) => m.length >= 1);
      for (const o of [...open, again]) o.close();
      await until(async () => sample(await scrape(), 'lash_observe_subscriptions') === 0, 30_000);
      // A refused or failed subscription (unknown session) holds no place either.
      expect(await refusal(observe(s.clients, 'no-such-session'))).toMatchObject({ code: status.NOT_FOUND });
      text = await scrape();
      expect(sample(text, 'lash_observe_subscriptions')).toBe(0);
    });

    it('subscriptions faster than LASH_OBSERVE_RATE are OBSERVE_RATE_EXCEEDED with a retry hint', async () => {
      // Forty at once against one new subscription per second: the bucket runs dry.
      const burst = Array.from({ length: 40 }, () => observe(s.clients, 'no-such-session'));
      const outcomes = await Promise.all(burst.map(refusal));
      const limited = outcomes.filter((r) => r.reason === 'OBSERVE_RATE_EXCEEDED');
      expect(limited.length).toBeGreaterThan(0);
      expect(limited[0]).toMatchObject({ code: status.RESOURCE_EXHAUSTED });
      expect(Number(limited[0]!.metadata.retry_after_ms)).toBeGreaterThan(0);
      // The others were admitted and answered on their own terms.
      expect(outcomes.every((r) => r.reason === 'OBSERVE_RATE_EXCEEDED' || r.code === status.NOT_FOUND)).toBe(true);
      expect(sample(await scrape(), 'lash_limit_rejections_total{limit="observe_rate"}')).toBe(limited.length);
    });

    it('child turns run by run_child are counted while running and in all', async () => {
      await s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'parent' }));
      const t = await runTurn(s.clients, { sessionId: 'parent', input: textInput('/tool run_child {"child_session_id":"kid","task":"hello child"}') });
      expect(t.result?.outcome?.$case).toBe('finished');
      const text = await scrape();
      expect(sample(text, 'lash_child_turns_total')).toBe(1);
      expect(sample(text, 'lash_child_turns_running')).toBe(0);
    });
  });
}
