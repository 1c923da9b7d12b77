// Bad input gets a precise status and ErrorInfo reason, never changes stored state and never
// takes the server down.

import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthCheckResponse_ServingStatus as Serving } from '../../gen/grpc/health/v1/health.js';
import { MessageRole } from '../../gen/lash/v1/common.js';
import { OpenMode } from '../../gen/lash/v1/session.js';
import { OpenSessionRequest, UpdateSessionConfigRequest, type DeepPartial } from '../../gen/lash/v1/session_service.js';
import { engines } from '../support/engines.js';
import { rejection, startTestServer, type TestServer } from '../support/server.js';

const TABLES = ['sessions', 'session_nodes', 'agent_frames', 'session_commits', 'usage_entries', 'blobs', 'session_blobs'];

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`malformed requests on ${engine.name}`, () => {
    let s: TestServer;
    let snapshot: string;
    let existingNode = '';
    const open = (req: DeepPartial<OpenSessionRequest>) => s.clients.sessions.openSession(OpenSessionRequest.fromPartial(req));
    const rowsNow = async () => {
      const conn = s.app.db.em().getConnection();
      const parts: string[] = [];
      for (const t of TABLES) {
        const rows = await conn.execute(`select md5(coalesce(string_agg(x::text, '|' order by x::text), '')) as h, count(*)::int as n from ${t} x`);
        parts.push(`${t}:${rows[0].n}:${rows[0].h}`);
      }
      return parts.join(',');
    };

    beforeAll(async () => {
      s = await startTestServer(engine);
      await open({ sessionId: 'existing' });
      await s.clients.admin.appendMessages({ sessionId: 'existing', messages: [{ id: '', role: MessageRole.MESSAGE_ROLE_USER, parts: [{ kind: { $case: 'text', value: { text: 'hi' } } }] }] });
      existingNode = (await s.clients.sessions.getReadView({ sessionId: 'existing', pageSize: 0, pageToken: '' })).messages[0]!.id;
      snapshot = await rowsNow();
    });
    afterAll(async () => {
      // Nothing above may have changed a single stored row, and the server still serves.
      expect(await rowsNow()).toBe(snapshot);
      expect((await s.clients.health.check({ service: '' })).status).toBe(Serving.SERVING);
      await s?.close();
    });

    const cases: [string, () => Promise<unknown>, number, string][] = [
      ['empty session id', () => open({ sessionId: '' }), status.INVALID_ARGUMENT, 'MISSING_ID'],
      ['oversized session id', () => open({ sessionId: 'x'.repeat(257) }), status.INVALID_ARGUMENT, 'ID_TOO_LONG'],
      ['multi-byte id over 256 bytes', () => open({ sessionId: 'é'.repeat(129) }), status.INVALID_ARGUMENT, 'ID_TOO_LONG'],
      ['control characters in the id', () => open({ sessionId: 'a\nb' }), status.INVALID_ARGUMENT, 'ID_NOT_PRINTABLE'],
      ['unknown mode enum value', () => open({ sessionId: 'new-1', mode: 99 as never }), status.INVALID_ARGUMENT, 'ENUM_VALUE_UNKNOWN'],
      ['unknown open mode', () => open({ sessionId: 'new-2', openMode: 42 as never }), status.INVALID_ARGUMENT, 'ENUM_VALUE_UNKNOWN'],
      ['unknown residency', () => open({ sessionId: 'existing', residency: 9 as never }), status.INVALID_ARGUMENT, 'ENUM_VALUE_UNKNOWN'],
      ['with_state without a state', () => open({ sessionId: 'existing', openMode: OpenMode.OPEN_MODE_WITH_STATE }), status.INVALID_ARGUMENT, 'STATE_REQUIRED'],
      ['with_state with a wrong document', () => open({ sessionId: 'existing', openMode: OpenMode.OPEN_MODE_WITH_STATE, state: { sessionId: 'existing', version: 1, document: { format: 'nope' } } }), status.INVALID_ARGUMENT, 'STATE_DOCUMENT_INVALID'],
      ['zero context window', () => open({ sessionId: 'existing', spec: { model: { id: 'echo', contextWindowTokens: 0n } } }), status.INVALID_ARGUMENT, 'MODEL_SPEC_INVALID'],
      ['zero max turns', () => open({ sessionId: 'existing', spec: { maxTurns: 0 } }), status.INVALID_ARGUMENT, 'MAX_TURNS_INVALID'],
      ['too much metadata', () => open({ sessionId: 'existing', metadata: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])) }), status.INVALID_ARGUMENT, 'METADATA_TOO_LARGE'],
      ['parent that does not exist', () => open({ sessionId: 'orphan', parentSessionId: 'nobody' }), status.NOT_FOUND, 'PARENT_NOT_FOUND'],
      ['unknown session', () => s.clients.sessions.getSession({ sessionId: 'nobody' }), status.NOT_FOUND, 'SESSION_NOT_FOUND'],
      ['garbage page token', () => s.clients.sessions.listSessions({ pageSize: 0, pageToken: 'garbage', filter: undefined }), status.INVALID_ARGUMENT, 'PAGE_TOKEN_INVALID'],
      ['negative page size', () => s.clients.sessions.getReadView({ sessionId: 'existing', pageSize: -1, pageToken: '' }), status.INVALID_ARGUMENT, 'PAGE_SIZE_INVALID'],
      ['bad update mask', () => s.clients.sessions.updateSessionConfig(UpdateSessionConfigRequest.fromPartial({ sessionId: 'existing', updateMask: ['policy.secret'] })), status.INVALID_ARGUMENT, 'UPDATE_MASK_INVALID'],
      ['empty config update', () => s.clients.sessions.updateSessionConfig(UpdateSessionConfigRequest.fromPartial({ sessionId: 'existing' })), status.INVALID_ARGUMENT, 'NOTHING_TO_UPDATE'],
      ['message part without a kind', () => s.clients.admin.appendMessages({ sessionId: 'existing', messages: [{ id: '', role: MessageRole.MESSAGE_ROLE_USER, parts: [{}] }] }), status.INVALID_ARGUMENT, 'PART_KIND_MISSING'],
      ['unknown message role', () => s.clients.admin.appendMessages({ sessionId: 'existing', messages: [{ id: '', role: 17 as never, parts: [] }] }), status.INVALID_ARGUMENT, 'ENUM_VALUE_UNKNOWN'],
      ['message without a role', () => s.clients.admin.appendMessages({ sessionId: 'existing', messages: [{ id: '', role: 0, parts: [] }] }), status.INVALID_ARGUMENT, 'MESSAGE_ROLE_MISSING'],
      ['message id that is already a node', () => s.clients.admin.appendMessages({ sessionId: 'existing', messages: [{ id: existingNode, role: MessageRole.MESSAGE_ROLE_USER, parts: [] }] }), status.ALREADY_EXISTS, 'MESSAGE_ID_TAKEN'],
      ['no messages to append', () => s.clients.admin.appendMessages({ sessionId: 'existing', messages: [] }), status.INVALID_ARGUMENT, 'NO_MESSAGES'],
      ['branch to an unknown node', () => s.clients.admin.branchToNode({ sessionId: 'existing', nodeId: 'nope' }), status.NOT_FOUND, 'NODE_NOT_FOUND'],
    ];

    for (const [name, call, code, reason] of cases) {
      it(`${name} → ${status[code]} ${reason}`, async () => {
        const r = await rejection(call());
        expect(r.code).toBe(code);
        expect(r.reason).toBe(reason);
        expect(r.message.length).toBeGreaterThan(10);
      });
    }

    it('an oversized message is RESOURCE_EXHAUSTED from the transport', async () => {
      const r = await rejection(open({ sessionId: 'huge', metadata: { big: 'x'.repeat(17 * 1024 * 1024) } }));
      expect(r.code).toBe(status.RESOURCE_EXHAUSTED);
    });
  });
}
