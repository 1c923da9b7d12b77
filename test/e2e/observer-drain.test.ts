// A draining server ends its observers with UNAVAILABLE SERVER_DRAINING so they resume elsewhere.
// Clients reconnect within a fraction of a second, and during the shutdown notice the port (and a
// client's open connection) still take calls, so a resume often lands on the draining server
// again. That observation must be told the same at once, not be kept until the grace runs out and
// the server cuts every call (which also held the shutdown for the whole grace).

import { status, type Metadata } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { connect } from '../../src/client/promised.js';
import { errorInfoOf } from '../../src/grpc/errors.js';
import { engines } from '../support/engines.js';
import { observe, type Observed } from '../support/observe.js';
import { startTestServer } from '../support/server.js';
import { until } from '../support/turns.js';

const ending = (o: Observed) => ({ code: o.error?.code, reason: o.error ? errorInfoOf(o.error as { metadata?: Metadata })?.reason : undefined });

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`observers of a draining server on ${engine.name}`, () => {
    it('an observation opened while the server drains ends at once with UNAVAILABLE SERVER_DRAINING, like the ones it had', async () => {
      // A notice long enough that the reconnect surely lands inside it; a grace longer still.
      const s = await startTestServer(engine, { LASH_SHUTDOWN_NOTICE_MS: '3000', LASH_SHUTDOWN_GRACE_MS: '20000' });
      const clients = connect(s.app.address);
      try {
        await clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'drain-late' }));
        const first = observe(clients, 'drain-late');
        await first.waitFor((m) => m.length > 0);
        const stopping = s.stop();
        await until(() => first.error !== undefined || first.ended, 30_000);
        expect(ending(first)).toEqual({ code: status.UNAVAILABLE, reason: 'SERVER_DRAINING' });

        const late = observe(clients, 'drain-late');
        await until(() => late.error !== undefined || late.ended, 60_000);
        expect(ending(late)).toEqual({ code: status.UNAVAILABLE, reason: 'SERVER_DRAINING' });
        await stopping;
      } finally {
        clients.close();
        await s.close();
      }
    }, 120_000);
  });
}
