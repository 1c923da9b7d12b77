// Fair service under a burst (issue 18, ADR 0063): GetSession's read takes the interactive lane,
// so it does not queue behind the statements of turns that were admitted before it. On PGlite
// the gate grants it before every bulk statement already waiting for the one backend; on
// PostgreSQL it runs on connections of its own while every connection of the main pool is taken.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { engines } from '../support/engines.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { startRunTurn, textInput, until, type StreamedTurn } from '../support/turns.js';

const BURST = 12;

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`fair service under a burst of turns on ${engine.name}`, () => {
    let s: TestServer;

    beforeAll(async () => {
      s = await startTestServer(engine, { LASH_QUEUE_WORKERS: '0', LASH_PROCESS_RUNNERS: '0' });
      await s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'side' }));
      for (let i = 0; i < BURST; i++) await s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: `burst-${i}` }));
    });
    afterAll(async () => {
      await s?.close();
    });

    /** Holds what the burst's statements need (the backend, or every main-pool connection) until released. */
    const hold = async (): Promise<() => Promise<void>> => {
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      let entered = 0;
      // The main pool has 10 connections (PGlite: one backend, one holder is enough).
      const count = engine.name === 'pglite' ? 1 : 10;
      const held = Array.from({ length: count }, () =>
        s.app.db.sql.transaction(async () => {
          entered++;
          await released;
        }),
      );
      await until(() => entered === count);
      return async () => {
        release();
        await Promise.all(held);
      };
    };

    it('a side GetSession answers ahead of the statements of turns admitted before it', async () => {
      const release = await hold();
      const turns: Promise<StreamedTurn>[] = [];
      for (let i = 0; i < BURST; i++) turns.push(startRunTurn(s.clients, { sessionId: `burst-${i}`, turnId: `t-${i}`, input: textInput(`burst ${i}`) }).done);
      // Every turn of the burst is admitted (holds a turn slot) and waits for the store.
      await until(() => s.app.turnSlots.stats().running === BURST);
      const gate = s.app.db.gate;
      const grants: string[] = [];
      if (gate) {
        await until(() => gate.depth('bulk') >= BURST);
        gate.onQueuedGrant = (lane) => grants.push(lane);
      }
      const side = s.clients.sessions.getSession({ sessionId: 'side' });
      let answered = false;
      void side.then(() => (answered = true));
      if (gate) {
        await until(() => gate.depth('interactive') === 1);
        await release();
        await side;
        // The read was the first grant after the holder left, ahead of every queued turn statement.
        expect(grants[0]).toBe('interactive');
      } else {
        // PostgreSQL: the read answers while every main-pool connection is still held.
        await until(() => answered);
        expect(s.app.turnSlots.stats().running).toBe(BURST);
        await release();
      }
      expect((await side).session?.sessionId).toBe('side');
      const done = await Promise.all(turns);
      expect(done.every((t) => t.result?.outcome?.$case === 'finished')).toBe(true);
      if (gate) gate.onQueuedGrant = undefined;
    });
  });
}
