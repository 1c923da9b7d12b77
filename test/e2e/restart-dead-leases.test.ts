// A server restarted after kill -9 finds the writer leases its dead predecessor left: idle ones
// (ADR 0079: kept for the replica after each commit) and the busy one of the turn in flight. The
// predecessor ran on this host and its pid is gone, so the new process releases them at once and
// writes those sessions without waiting out the linger or the TTL (ADR 0081). Both are set to
// 120 s here: without the rule the next turn would block that long, and the log line that names
// the dead replica's lease would be missing.

import { describe, expect, it } from 'vitest';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { TurnStatus } from '../../gen/lash/v1/turn_service.js';
import { engines } from '../support/engines.js';
import { startChildServer, type ChildServer } from '../support/child-server.js';
import { childFixture } from '../support/child-fixture.js';
import { runTurn, startRunTurn, textInput } from '../support/turns.js';
import { observe, payloadCase } from '../support/observe.js';

const RELEASED = 'released the writer lease of a replica that is gone';

/** The replica id a child server logged when it started serving. */
function replicaOf(server: ChildServer): string {
  const m = /"replica":"([^"]+)".*"msg":"lash-grpc serving"/.exec(server.output());
  if (!m) throw new Error(`no replica id in the serving line:\n${server.output()}`);
  return m[1]!;
}

/** The owners of the leases the server's log says it released as a dead replica's. */
function releasedOwners(server: ChildServer): string[] {
  return server
    .output()
    .split('\n')
    .filter((l) => l.includes(RELEASED))
    .map((l) => (JSON.parse(l) as { owner: string }).owner);
}

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`restart after kill -9 on ${engine.name}`, () => {
    const fx = childFixture(engine, { LASH_WRITER_LINGER_MS: '120000', LASH_LEASE_TTL_MS: '120000' });
    const env = fx.env;

    it("the dead predecessor's idle and busy writer leases are released at once, and the next turns run", async () => {
      const a = await startChildServer(env());
      const dead = replicaOf(a);
      await a.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'quiet' }));
      await a.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'busy' }));
      fx.fake.reset();
      // 'quiet': a committed turn leaves the lease idle for A (120 s).
      expect((await runTurn(a.clients, { sessionId: 'quiet', input: textInput('one') })).result?.outcome?.$case).toBe('finished');
      // 'busy': a turn in flight holds the lease (TTL 120 s) when A dies.
      fx.fake.script({ steps: [{ text: 'never finished' }, { hang: true }] });
      const seen = observe(a.clients, 'busy');
      await seen.waitFor((m) => m.length >= 1);
      const inflight = startRunTurn(a.clients, { sessionId: 'busy', turnId: 'lost', input: textInput('go') });
      inflight.call.on('error', () => {});
      await seen.waitFor((m) => m.some((x) => payloadCase(x) === 'turnActivity'));
      seen.close();
      expect((await a.kill('SIGKILL')).signal).toBe('SIGKILL');

      const b = await startChildServer(env());
      try {
        expect(replicaOf(b)).not.toBe(dead);
        fx.fake.reset();
        expect((await runTurn(b.clients, { sessionId: 'quiet', input: textInput('two') })).result?.outcome?.$case).toBe('finished');
        expect(releasedOwners(b)).toEqual([`${dead}/~idle`]);
        fx.fake.reset();
        const next = await runTurn(b.clients, { sessionId: 'busy', input: textInput('again') });
        expect(next.result?.outcome?.$case).toBe('finished');
        expect(releasedOwners(b)).toEqual([`${dead}/~idle`, `${dead}/lost`]);
        // The turn that died with A is reported, as after a lease that expired.
        expect((await b.clients.turns.getTurn({ sessionId: 'busy', turnId: 'lost' })).status).toBe(TurnStatus.TURN_STATUS_INTERRUPTED);
      } finally {
        await b.kill('SIGKILL');
      }
    }, 240_000);
  });
}
