// Scenario 9: policies never contain credentials — neither the exported state nor any stored row
// holds the configured API key.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { engines } from '../support/engines.js';
import { startTestServer, type TestServer } from '../support/server.js';

const SECRET = 'sk-test-4f1c2b9e-never-persist-me';

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`credentials stay in server config on ${engine.name}`, () => {
    let s: TestServer;
    beforeAll(async () => {
      s = await startTestServer(engine, { OPENAI_API_KEY: SECRET, OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' });
    });
    afterAll(async () => s?.close());

    it('9: export and stored rows of an openai session do not contain the API key', async () => {
      const opened = await s.clients.sessions.openSession(
        OpenSessionRequest.fromPartial({ sessionId: 'cred', spec: { providerId: 'openai', model: { id: 'gpt-x' } } }),
      );
      expect(opened.session?.spec?.providerId).toBe('openai');
      const exported = await s.clients.sessions.exportSessionState({ sessionId: 'cred' });
      const json = JSON.stringify(exported);
      expect(json).toContain('"providerId":"openai"');
      expect(json).not.toContain(SECRET);
      expect(json).not.toContain('127.0.0.1:9');
      const conn = s.app.db.em().getConnection();
      for (const table of ['sessions', 'session_nodes', 'agent_frames', 'session_commits']) {
        const rows = await conn.execute(`select coalesce(string_agg(x::text, '|'), '') as dump from ${table} x`);
        expect(rows[0].dump, table).not.toContain(SECRET);
      }
    });
  });
}
