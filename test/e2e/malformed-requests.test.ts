// Bad input gets a precise status and ErrorInfo reason, never changes stored state and never
// takes the server down.

import { Client, credentials, status, type ClientReadableStream } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthCheckResponse_ServingStatus as Serving } from '../../gen/grpc/health/v1/health.js';
import { MessageRole } from '../../gen/lash/v1/common.js';
import { OpenMode } from '../../gen/lash/v1/session.js';
import { OpenSessionRequest, UpdateSessionConfigRequest, type DeepPartial } from '../../gen/lash/v1/session_service.js';
import { EnqueueTurnInputRequest } from '../../gen/lash/v1/queue_service.js';
import type { TurnInput } from '../../gen/lash/v1/turn.js';
import { StartTurnRequest } from '../../gen/lash/v1/turn_service.js';
import { engines } from '../support/engines.js';
import { sendRaw } from '../support/hostile-requests.js';
import { rejection, startTestServer, type TestServer } from '../support/server.js';

/** Resolves when a server stream ends, rejecting with its error status. */
function streamEnd(call: ClientReadableStream<unknown>): Promise<void> {
  return new Promise((resolve, reject) => {
    call.on('data', () => call.cancel());
    call.on('error', reject);
    call.on('end', resolve);
  });
}

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
      await s.clients.admin.appendMessages({
        sessionId: 'existing',
        messages: [{ id: '', role: MessageRole.MESSAGE_ROLE_USER, parts: [{ kind: { $case: 'text', value: { text: 'hi' } } }] }],
      });
      existingNode = (await s.clients.sessions.getReadView({ sessionId: 'existing', pageSize: 0, pageToken: '' })).messages[0]!.id;
      snapshot = await rowsNow();
    });
    afterAll(async () => {
      // Nothing above may have changed a single stored row, and the server still serves.
      expect(await rowsNow()).toBe(snapshot);
      expect((await s.clients.health.check({ service: '' })).status).toBe(Serving.SERVING);
      await s?.close();
    });

    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const observe = (cursor: string) => streamEnd(s.clients.sessions.raw.observeSession({ sessionId: 'existing', cursor }));
    const startTurn = (input: DeepPartial<TurnInput>) =>
      s.clients.turns.startTurn(
        StartTurnRequest.fromPartial({ sessionId: 'existing', input: { items: [{ item: { $case: 'text', value: { text: 'hi' } } }], ...input } }),
      );
    const deep = (depth: number) => {
      let v: unknown = 'leaf';
      for (let i = 0; i < depth; i++) v = { a: v };
      return v as Record<string, unknown>;
    };
    const exported = () =>
      s.clients.sessions
        .exportSessionState({ sessionId: 'existing' })
        .then((r) => r.state!.document as Record<string, unknown> & { toolState: object; policy: { model: object } });
    const withState = (document: unknown) =>
      open({ sessionId: 'existing', openMode: OpenMode.OPEN_MODE_WITH_STATE, state: { sessionId: 'existing', version: 1, document: document as never } });
    const nulIn = (what: string) => `${what} with NUL`;

    const cases: [string, () => Promise<unknown>, number, string][] = [
      // Forged cursors and page tokens.
      ['a cursor that is base64 of JSON null', () => observe(b64(null)), status.INVALID_ARGUMENT, 'CURSOR_MALFORMED'],
      [
        'a cursor with a sequence beyond 64 bits',
        () => observe(b64({ v: 1, s: 'existing', e: 1, q: '99999999999999999999999', r: '0' })),
        status.INVALID_ARGUMENT,
        'CURSOR_MALFORMED',
      ],
      [
        'a forged read-view token with a negative offset',
        () => s.clients.sessions.getReadView({ sessionId: 'existing', pageSize: 0, pageToken: b64({ l: 'read_view', a: '-3' }) }),
        status.INVALID_ARGUMENT,
        'PAGE_TOKEN_INVALID',
      ],
      [
        'a forged read-view token that is no number',
        () => s.clients.sessions.getReadView({ sessionId: 'existing', pageSize: 0, pageToken: b64({ l: 'read_view', a: 'abc' }) }),
        status.INVALID_ARGUMENT,
        'PAGE_TOKEN_INVALID',
      ],
      [
        'a forged list token holding NUL',
        () => s.clients.sessions.listSessions({ pageSize: 0, pageToken: b64({ l: 'list_sessions', a: 'a\u0000' }), filter: undefined }),
        status.INVALID_ARGUMENT,
        'PAGE_TOKEN_INVALID',
      ],
      // Numbers beyond what the store holds.
      [
        'an imported turn index beyond 64 bits',
        async () => withState({ ...(await exported()), turnIndex: '99999999999999999999999' }),
        status.INVALID_ARGUMENT,
        'STATE_DOCUMENT_INVALID',
      ],
      [
        'an imported tool-state generation beyond 64 bits',
        async () => {
          const d = await exported();
          return withState({ ...d, toolState: { ...d.toolState, generation: '18446744073709551616' } });
        },
        status.INVALID_ARGUMENT,
        'STATE_DOCUMENT_INVALID',
      ],
      [
        'an imported context window of 1e30',
        async () => {
          const d = await exported();
          return withState({ ...d, policy: { ...d.policy, model: { ...d.policy.model, contextWindowTokens: 1e30 } } });
        },
        status.INVALID_ARGUMENT,
        'STATE_DOCUMENT_INVALID',
      ],
      [
        'a restored tool-state generation beyond 2^53',
        () => s.clients.admin.restoreToolState({ sessionId: 'existing', state: { generation: 2n ** 64n - 1n, overrides: {}, knownTools: [] } }),
        status.INVALID_ARGUMENT,
        'GENERATION_OUT_OF_RANGE',
      ],
      [
        'an available_at beyond any date',
        () =>
          s.clients.queue.enqueueTurnInput(
            EnqueueTurnInputRequest.fromPartial({
              sessionId: 'existing',
              availableAt: new Date(8.64e15),
              input: { items: [{ item: { $case: 'text', value: { text: 'hi' } } }] },
            }),
          ),
        status.INVALID_ARGUMENT,
        'AVAILABLE_AT_INVALID',
      ],
      // trace_turn_id is a turn id.
      ['a trace_turn_id with a newline', () => startTurn({ traceTurnId: 'a\nb' }), status.INVALID_ARGUMENT, 'ID_NOT_PRINTABLE'],
      ['a trace_turn_id of 9,000 bytes', () => startTurn({ traceTurnId: 't'.repeat(9000) }), status.INVALID_ARGUMENT, 'ID_TOO_LONG'],
      // NUL and control characters in ids and names, refused before anything runs.
      [nulIn('a metadata key'), () => open({ sessionId: 'existing', metadata: { 'k\u0000': 'v' } }), status.INVALID_ARGUMENT, 'ID_NOT_PRINTABLE'],
      [nulIn('a metadata value'), () => open({ sessionId: 'existing', metadata: { k: 'v\u0000' } }), status.INVALID_ARGUMENT, 'TEXT_NOT_PRINTABLE'],
      [
        nulIn('a ListSessions metadata filter'),
        () => s.clients.sessions.listSessions({ pageSize: 0, pageToken: '', filter: { parentSessionId: '', metadata: { k: '\u0000' } } }),
        status.INVALID_ARGUMENT,
        'TEXT_NOT_PRINTABLE',
      ],
      [
        nulIn('a model id'),
        () => s.clients.sessions.updateSessionConfig(UpdateSessionConfigRequest.fromPartial({ sessionId: 'existing', model: { id: 'echo\u0000' } })),
        status.INVALID_ARGUMENT,
        'ID_NOT_PRINTABLE',
      ],
      [
        nulIn('a prompt contribution'),
        () =>
          s.clients.sessions.updateSessionConfig(
            UpdateSessionConfigRequest.fromPartial({
              sessionId: 'existing',
              prompt: { slots: [{ slot: 1, reset: false, contributions: [{ content: 'x\u0000' }] }] },
            }),
          ),
        status.INVALID_ARGUMENT,
        'TEXT_HAS_NUL',
      ],
      [
        nulIn('a merge key'),
        () =>
          s.clients.queue.enqueueTurnInput(
            EnqueueTurnInputRequest.fromPartial({
              sessionId: 'existing',
              mergeKey: 'm\u0000',
              input: { items: [{ item: { $case: 'text', value: { text: 'hi' } } }] },
            }),
          ),
        status.INVALID_ARGUMENT,
        'ID_NOT_PRINTABLE',
      ],
      [
        nulIn('an appended tool call name'),
        () =>
          s.clients.admin.appendMessages({
            sessionId: 'existing',
            messages: [
              {
                id: '',
                role: MessageRole.MESSAGE_ROLE_ASSISTANT,
                parts: [{ kind: { $case: 'toolCall', value: { callId: 'c1', toolName: 'calc\u0000', args: {} } } }],
              },
            ],
          }),
        status.INVALID_ARGUMENT,
        'ID_NOT_PRINTABLE',
      ],
      [
        nulIn('a reset reason'),
        () => s.clients.admin.resetSession({ sessionId: 'existing', reason: 'r\u0000', idempotencyKey: 'k1' }),
        status.INVALID_ARGUMENT,
        'TEXT_HAS_NUL',
      ],
      // Nesting deeper than the decoder allows.
      [
        "JSON nested 40 levels inside a tool call's args",
        () =>
          s.clients.admin.appendMessages({
            sessionId: 'existing',
            messages: [
              {
                id: '',
                role: MessageRole.MESSAGE_ROLE_ASSISTANT,
                parts: [{ kind: { $case: 'toolCall', value: { callId: 'c1', toolName: 'calc', args: deep(40) } } }],
              },
            ],
          }),
        status.INVALID_ARGUMENT,
        'REQUEST_TOO_DEEP',
      ],
      ['empty session id', () => open({ sessionId: '' }), status.INVALID_ARGUMENT, 'MISSING_ID'],
      ['oversized session id', () => open({ sessionId: 'x'.repeat(257) }), status.INVALID_ARGUMENT, 'ID_TOO_LONG'],
      ['multi-byte id over 256 bytes', () => open({ sessionId: 'é'.repeat(129) }), status.INVALID_ARGUMENT, 'ID_TOO_LONG'],
      ['control characters in the id', () => open({ sessionId: 'a\nb' }), status.INVALID_ARGUMENT, 'ID_NOT_PRINTABLE'],
      ['unknown mode enum value', () => open({ sessionId: 'new-1', mode: 99 as never }), status.INVALID_ARGUMENT, 'ENUM_VALUE_UNKNOWN'],
      ['unknown open mode', () => open({ sessionId: 'new-2', openMode: 42 as never }), status.INVALID_ARGUMENT, 'ENUM_VALUE_UNKNOWN'],
      ['unknown residency', () => open({ sessionId: 'existing', residency: 9 as never }), status.INVALID_ARGUMENT, 'ENUM_VALUE_UNKNOWN'],
      ['with_state without a state', () => open({ sessionId: 'existing', openMode: OpenMode.OPEN_MODE_WITH_STATE }), status.INVALID_ARGUMENT, 'STATE_REQUIRED'],
      [
        'with_state with a wrong document',
        () =>
          open({ sessionId: 'existing', openMode: OpenMode.OPEN_MODE_WITH_STATE, state: { sessionId: 'existing', version: 1, document: { format: 'nope' } } }),
        status.INVALID_ARGUMENT,
        'STATE_DOCUMENT_INVALID',
      ],
      [
        'zero context window',
        () => open({ sessionId: 'existing', spec: { model: { id: 'echo', contextWindowTokens: 0n } } }),
        status.INVALID_ARGUMENT,
        'MODEL_SPEC_INVALID',
      ],
      ['zero max turns', () => open({ sessionId: 'existing', spec: { maxTurns: 0 } }), status.INVALID_ARGUMENT, 'MAX_TURNS_INVALID'],
      [
        'too much metadata',
        () => open({ sessionId: 'existing', metadata: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])) }),
        status.INVALID_ARGUMENT,
        'METADATA_TOO_LARGE',
      ],
      ['parent that does not exist', () => open({ sessionId: 'orphan', parentSessionId: 'nobody' }), status.NOT_FOUND, 'PARENT_NOT_FOUND'],
      ['unknown session', () => s.clients.sessions.getSession({ sessionId: 'nobody' }), status.NOT_FOUND, 'SESSION_NOT_FOUND'],
      [
        'garbage page token',
        () => s.clients.sessions.listSessions({ pageSize: 0, pageToken: 'garbage', filter: undefined }),
        status.INVALID_ARGUMENT,
        'PAGE_TOKEN_INVALID',
      ],
      [
        'negative page size',
        () => s.clients.sessions.getReadView({ sessionId: 'existing', pageSize: -1, pageToken: '' }),
        status.INVALID_ARGUMENT,
        'PAGE_SIZE_INVALID',
      ],
      [
        'bad update mask',
        () => s.clients.sessions.updateSessionConfig(UpdateSessionConfigRequest.fromPartial({ sessionId: 'existing', updateMask: ['policy.secret'] })),
        status.INVALID_ARGUMENT,
        'UPDATE_MASK_INVALID',
      ],
      [
        'empty config update',
        () => s.clients.sessions.updateSessionConfig(UpdateSessionConfigRequest.fromPartial({ sessionId: 'existing' })),
        status.INVALID_ARGUMENT,
        'NOTHING_TO_UPDATE',
      ],
      [
        'message part without a kind',
        () => s.clients.admin.appendMessages({ sessionId: 'existing', messages: [{ id: '', role: MessageRole.MESSAGE_ROLE_USER, parts: [{}] }] }),
        status.INVALID_ARGUMENT,
        'PART_KIND_MISSING',
      ],
      [
        'unknown message role',
        () => s.clients.admin.appendMessages({ sessionId: 'existing', messages: [{ id: '', role: 17 as never, parts: [] }] }),
        status.INVALID_ARGUMENT,
        'ENUM_VALUE_UNKNOWN',
      ],
      [
        'message without a role',
        () => s.clients.admin.appendMessages({ sessionId: 'existing', messages: [{ id: '', role: 0, parts: [] }] }),
        status.INVALID_ARGUMENT,
        'MESSAGE_ROLE_MISSING',
      ],
      [
        'message id that is already a node',
        () => s.clients.admin.appendMessages({ sessionId: 'existing', messages: [{ id: existingNode, role: MessageRole.MESSAGE_ROLE_USER, parts: [] }] }),
        status.ALREADY_EXISTS,
        'MESSAGE_ID_TAKEN',
      ],
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

    it('a value of 4,000 bytes is quoted as a short prefix, so the error still reaches the client', async () => {
      const r = await rejection(
        s.clients.sessions.updateSessionConfig(UpdateSessionConfigRequest.fromPartial({ sessionId: 'existing', providerId: 'p'.repeat(4000) })),
      );
      expect(r.code).toBe(status.FAILED_PRECONDITION);
      expect(r.reason).toBe('PROVIDER_UNAVAILABLE');
      expect(r.message).toContain(`"${'p'.repeat(64)}…"`);
      expect(r.message.length).toBeLessThan(500);
      expect(r.metadata.provider_id!.length).toBeLessThanOrEqual(257);
    });

    // grpc-js answers a body its decoder refuses with INTERNAL unless the server intercepts it.
    for (const [name, kind] of [
      ['GetSession', 'unary'],
      ['ObserveSession', 'server_streaming'],
      ['RunTurn', 'server_streaming'],
      ['ServeTools', 'bidi_streaming'],
      ['AppendMessages', 'unary'],
    ] as const) {
      it(`an undecodable ${name} body (0xff, a length past the end) → INVALID_ARGUMENT REQUEST_MALFORMED`, async () => {
        const raw = new Client(s.app.address, credentials.createInsecure());
        const service = name === 'AppendMessages' ? 'AdminService' : name === 'GetSession' || name === 'ObserveSession' ? 'SessionService' : 'TurnService';
        try {
          for (const body of [Uint8Array.of(0xff), Uint8Array.of(0x0a, 0x05, 0x61, 0x62)]) {
            const o = await sendRaw(raw, { path: `/lash.v1.${service}/${name}`, kind }, [body]);
            expect([status[o.code], o.reason]).toEqual(['INVALID_ARGUMENT', 'REQUEST_MALFORMED']);
          }
        } finally {
          raw.close();
        }
      });
    }

    it('an oversized message is RESOURCE_EXHAUSTED from the transport', async () => {
      const r = await rejection(open({ sessionId: 'huge', metadata: { big: 'x'.repeat(17 * 1024 * 1024) } }));
      expect(r.code).toBe(status.RESOURCE_EXHAUSTED);
    });
  });
}
