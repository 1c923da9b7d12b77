// Observer back-pressure counts what the client has not yet taken: a reader that keeps up is
// never cut off by a burst, however large; responses carry at most 256 messages; a stuck reader
// is cut off with OBSERVER_TOO_SLOW (by the event or the byte bound) and resumes by cursor with
// nothing lost.

import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { engines } from '../support/engines.js';
import { startFakeModelServer, type FakeModelServer } from '../support/fake-model-server.js';
import { observe, payloadCase, sequenceProblems } from '../support/observe.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { runTurn, textInput, until } from '../support/turns.js';

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`observer back-pressure on ${engine.name}`, () => {
    let s: TestServer;
    let fake: FakeModelServer;
    let n = 0;
    // The smallest event bound the server accepts, and a short stall time for the stuck reader.
    const env = () => ({ OPENAI_BASE_URL: fake.url, LASH_DEFAULT_PROVIDER: 'openai-compatible', LASH_DEFAULT_MODEL: 'fake-model', LASH_FEED_OBSERVER_BUFFER: '100', LASH_FEED_OBSERVER_STALL_MS: '500' });
    const open = async (server: TestServer) => {
      const sessionId = `bp-${++n}`;
      await server.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId }));
      return sessionId;
    };
    const burst = (count: number, pad = 0) => ({ steps: Array.from({ length: count }, (_, i) => ({ text: `d${i}${'x'.repeat(pad)} ` })) });

    beforeAll(async () => {
      fake = await startFakeModelServer();
      s = await startTestServer(engine, env());
    });
    afterAll(async () => {
      await s?.close();
      await fake?.close();
    });
    beforeEach(() => fake.reset());

    it('a reader that keeps up is not cut off by a burst of thousands of deltas (buffer 100), and no response carries more than 256 messages', async () => {
      const sessionId = await open(s);
      const o = observe(s.clients, sessionId);
      await o.waitFor((m) => m.length >= 1);
      fake.script(burst(4000));
      const t = await runTurn(s.clients, { sessionId, input: textInput('burst') });
      expect(t.result?.outcome?.$case).toBe('finished');
      await o.waitFor((m) => m.some((x) => payloadCase(x) === 'committed'), 60_000);
      expect(o.error).toBeUndefined();
      expect(o.events().filter((m) => payloadCase(m) === 'turnActivity')).toHaveLength(t.events.length);
      expect(sequenceProblems(o.messages)).toEqual([]);
      expect(Math.max(...o.responseSizes)).toBeLessThanOrEqual(256);
      o.close();
    });

    it('a stuck reader is cut off with OBSERVER_TOO_SLOW, and resuming from its last cursor misses nothing', async () => {
      const sessionId = await open(s);
      const slow = observe(s.clients, sessionId);
      await slow.waitFor((m) => m.length >= 1);
      slow.call.pause(); // takes nothing: the transport window fills, then the server's bound
      // Three turns of 3,000 deltas: more than the paused client's own buffers absorb.
      let events = 0;
      for (let i = 0; i < 3; i++) {
        fake.script(burst(3000, 300));
        const t = await runTurn(s.clients, { sessionId, input: textInput(`flood ${i}`) });
        expect(t.result?.outcome?.$case).toBe('finished');
        events += t.events.length;
      }
      slow.call.resume();
      await until(() => slow.error !== undefined || slow.ended, 30_000);
      expect(slow.error?.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(slow.error?.details).toContain('untaken');
      // What this client processed before it saw the error (more may still be buffered): resume from there.
      const received = slow.messages.slice();
      const last = received[received.length - 1]!.cursor;
      const again = observe(s.clients, sessionId, last);
      await again.waitFor((m) => [...received, ...m].filter((x) => payloadCase(x) === 'committed').length >= 3, 60_000);
      expect(again.messages.some((m) => m.kind?.$case === 'gap' || m.kind?.$case === 'snapshot')).toBe(false);
      const all = [...received, ...again.messages];
      expect(sequenceProblems(all)).toEqual([]);
      expect(all.filter((m) => payloadCase(m) === 'turnActivity')).toHaveLength(events);
      again.close();
    });

    it('the byte bound cuts off a stuck reader that the event bound alone would let run on', async () => {
      const other = await startTestServer(engine, { ...env(), LASH_FEED_OBSERVER_BUFFER: '1000000', LASH_FEED_OBSERVER_BUFFER_BYTES: '65536' });
      try {
        const sessionId = await open(other);
        const slow = observe(other.clients, sessionId);
        await slow.waitFor((m) => m.length >= 1);
        slow.call.pause();
        for (let i = 0; i < 3; i++) {
          fake.script(burst(3000, 300));
          await runTurn(other.clients, { sessionId, input: textInput(`flood ${i}`) });
        }
        slow.call.resume();
        await until(() => slow.error !== undefined || slow.ended, 30_000);
        expect(slow.error?.code).toBe(status.RESOURCE_EXHAUSTED);
      } finally {
        await other.close();
      }
    });
  });
}

