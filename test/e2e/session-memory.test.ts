// What a deleted or parked session leaves in this process's memory (issue 18): its resident graph,
// its settled turns in the turn registry, its feed tail and observers (and each observer's drain
// hook), its feed lane, the writer lease kept idle for it (ADR 0079). Counted
// through the app's live-entry seam (also the lash_live_entries metric), all return to what they
// were before the session existed.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { engines } from '../support/engines.js';
import { observe } from '../support/observe.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { runTurn, textInput, until } from '../support/turns.js';

const PER_SESSION = ['resident_sessions', 'turn_registry', 'sessions_running', 'feed_tails', 'feed_lanes', 'observers', 'shutdown_hooks', 'writer_idle_leases'];

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`session memory on ${engine.name}`, () => {
    let s: TestServer;
    const counts = () => Object.fromEntries(PER_SESSION.map((k) => [k, s.app.liveEntries()[k]]));
    const used = async (sessionId: string) => {
      await s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId }));
      const o = observe(s.clients, sessionId);
      await o.waitFor((m) => m.length >= 1);
      const t = await runTurn(s.clients, { sessionId, turnId: `${sessionId}-t1`, input: textInput('remember me') });
      expect(t.result?.outcome?.$case).toBe('finished');
      await o.waitFor((m) => m.some((x) => x.kind?.$case === 'event' && x.kind.value.payload?.$case === 'committed'), 30_000).catch(() => {});
      return o;
    };

    beforeAll(async () => {
      s = await startTestServer(engine, { LASH_DEFAULT_PROVIDER: 'echo', LASH_QUEUE_WORKERS: '0' });
    });
    afterAll(async () => {
      await s?.close();
    });

    it('a deleted session leaves no resident graph, registry entry, feed tail, lane or observer behind', async () => {
      const before = counts();
      const o = await used('gone');
      const during = s.app.liveEntries();
      expect(during.resident_sessions).toBeGreaterThan(before.resident_sessions!);
      expect(during.turn_registry).toBeGreaterThan(before.turn_registry!);
      expect(during.observers).toBe(before.observers! + 1);
      expect(during.shutdown_hooks).toBe(before.shutdown_hooks! + 1);
      expect(during.feed_tails).toBe(before.feed_tails! + 1);

      await s.clients.sessions.deleteSession({ sessionId: 'gone' });
      await until(() => o.error !== undefined || o.ended, 30_000);
      await until(() => JSON.stringify(counts()) === JSON.stringify(before), 30_000).catch(() => {});
      expect(counts()).toEqual(before);
    });

    it('a parked session leaves no resident graph or registry entry behind; its observer keeps its place until it leaves', async () => {
      const before = counts();
      const o = await used('parked');
      expect(s.app.liveEntries().resident_sessions).toBeGreaterThan(before.resident_sessions!);
      await s.clients.sessions.closeSession({ sessionId: 'parked' });
      await until(
        () => s.app.liveEntries().resident_sessions === before.resident_sessions && s.app.liveEntries().turn_registry === before.turn_registry,
        30_000,
      ).catch(() => {});
      expect(s.app.liveEntries()).toMatchObject({
        resident_sessions: before.resident_sessions,
        turn_registry: before.turn_registry,
        sessions_running: before.sessions_running,
      });
      o.close();
      await until(() => JSON.stringify(counts()) === JSON.stringify(before), 30_000).catch(() => {});
      expect(counts()).toEqual(before);
    });
  });
}
