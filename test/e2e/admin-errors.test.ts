// AdminService, UpdateSessionConfig and ExportSessionState errors over real gRPC: each documented
// or implemented rejection has its status code and ErrorInfo reason, and changes no stored state.

import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { ChildStart, CreateChildSessionRequest, type DeepPartial } from '../../gen/lash/v1/admin_service.js';
import { MessageRole, type Message } from '../../gen/lash/v1/common.js';
import { OpenMode, SessionMode } from '../../gen/lash/v1/session.js';
import { OpenSessionRequest, UpdateSessionConfigRequest } from '../../gen/lash/v1/session_service.js';
import { ToolAvailability } from '../../gen/lash/v1/tool.js';
import { engines } from '../support/engines.js';
import { fakeModelSuite } from '../support/fake-model-suite.js';
import { rejection } from '../support/server.js';

const { INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION, ABORTED, UNAVAILABLE } = status;
const OFF = ToolAvailability.TOOL_AVAILABILITY_OFF;
const msg = (id: string, text: string): Message => ({ id, role: MessageRole.MESSAGE_ROLE_USER, parts: [{ kind: { $case: 'text', value: { text } } }] });

/** A session `id` with message node `m1`, a tool override (generation 1) and a child `kid`; `x` names no session. */
interface Fixture {
  id: string;
  kid: string;
  x: string;
}
type Case = [rpc: string, why: string, code: status, reason: string, call: (f: Fixture) => Promise<unknown>, prepare?: (f: Fixture) => Promise<unknown> | void];

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`admin errors on ${engine.name}`, () => {
    let n = 0;
    const admin = () => suite.s.clients.admin;
    const child = (req: DeepPartial<CreateChildSessionRequest>) => admin().createChildSession(CreateChildSessionRequest.fromPartial(req));
    const config = (req: DeepPartial<UpdateSessionConfigRequest>) => suite.s.clients.sessions.updateSessionConfig(UpdateSessionConfigRequest.fromPartial(req));
    const fixture = async (): Promise<Fixture> => {
      const id = `err-${++n}`;
      await suite.s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: id }));
      await admin().appendMessages({ sessionId: id, messages: [msg('m1', 'hello')] });
      await admin().setToolAvailability({ sessionId: id, availability: { calculate: OFF } });
      await child({ sessionId: id, childSessionId: `${id}-kid` });
      return { id, kid: `${id}-kid`, x: `${id}-x` };
    };
    // Everything a rejected call could have touched: head (revision, policy, status), tool state,
    // queue, children (with their heads), usage, the exported graph, and whether `x` exists.
    const stateOf = async ({ id, x }: Fixture) => ({
      session: (await suite.s.clients.sessions.getSession({ sessionId: id })).session,
      tools: await admin().getToolState({ sessionId: id }),
      queue: (await suite.s.clients.queue.listQueuedWork({ sessionId: id })).batches,
      children: (await admin().listChildSessions({ sessionId: id, pageSize: 0, pageToken: '' })).sessions,
      usage: await suite.s.clients.sessions.getUsageReport({ sessionId: id }),
      state: (await suite.s.clients.sessions.exportSessionState({ sessionId: id })).state,
      xExists: await suite.s.clients.sessions.getSession({ sessionId: x }).then(
        () => true,
        () => false,
      ),
    });
    // Re-imports the session with a provider this server does not have (a state may name any).
    const withUnknownProvider = async ({ id }: Fixture) => {
      const state = (await suite.s.clients.sessions.exportSessionState({ sessionId: id })).state!;
      (state.document as { policy: { providerId: string } }).policy.providerId = 'gone';
      await suite.s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: id, openMode: OpenMode.OPEN_MODE_WITH_STATE, state }));
    };

    // The session's exported state with its graph nodes edited by `edit`.
    type SnapshotNode = { nodeId: string; parentNodeId?: string; payload: { message: { id: string } } };
    const snapshotWith = async ({ id }: Fixture, edit: (nodes: SnapshotNode[]) => unknown) => {
      const state = (await suite.s.clients.sessions.exportSessionState({ sessionId: id })).state!;
      const document = JSON.parse(JSON.stringify(state.document)) as { nodes: SnapshotNode[]; leafNodeId?: string };
      edit(document.nodes);
      document.leafNodeId = document.nodes[document.nodes.length - 1]!.nodeId;
      return { ...state, document };
    };

    const suite = fakeModelSuite(engine, {
      prefix: 'admin-errors',
      env: {
        LASH_TOOLS: 'calculate,json_echo',
        LASH_QUEUE_WORKERS: '0',
        LASH_MODES: 'standard',
      },
    });

    const cases: Case[] = [
      ['GetToolState', 'unknown session', NOT_FOUND, 'SESSION_NOT_FOUND', (f) => admin().getToolState({ sessionId: f.x })],
      ['GetToolState', 'empty session id', INVALID_ARGUMENT, 'MISSING_ID', () => admin().getToolState({ sessionId: '' })],
      [
        'SetToolAvailability',
        'stale expected_generation',
        ABORTED,
        'GENERATION_CONFLICT',
        (f) => admin().setToolAvailability({ sessionId: f.id, availability: { json_echo: OFF }, expectedGeneration: 0n }),
      ],
      [
        'SetToolAvailability',
        'no tools named',
        INVALID_ARGUMENT,
        'AVAILABILITY_EMPTY',
        (f) => admin().setToolAvailability({ sessionId: f.id, availability: {} }),
      ],
      [
        'SetToolAvailability',
        'unknown availability value',
        INVALID_ARGUMENT,
        'ENUM_VALUE_UNKNOWN',
        (f) => admin().setToolAvailability({ sessionId: f.id, availability: { json_echo: 99 as never } }),
      ],
      [
        'SetToolAvailability',
        'empty tool name',
        INVALID_ARGUMENT,
        'MISSING_ID',
        (f) => admin().setToolAvailability({ sessionId: f.id, availability: { '': OFF } }),
      ],
      [
        'SetToolAvailability',
        'unknown session',
        NOT_FOUND,
        'SESSION_NOT_FOUND',
        (f) => admin().setToolAvailability({ sessionId: f.x, availability: { json_echo: OFF } }),
      ],
      [
        'ClearToolAvailabilityOverride',
        'no names',
        INVALID_ARGUMENT,
        'NAMES_EMPTY',
        (f) => admin().clearToolAvailabilityOverride({ sessionId: f.id, names: [] }),
      ],
      [
        'ClearToolAvailabilityOverride',
        'unknown session',
        NOT_FOUND,
        'SESSION_NOT_FOUND',
        (f) => admin().clearToolAvailabilityOverride({ sessionId: f.x, names: ['calculate'] }),
      ],
      [
        'ApplyToolState',
        'no state',
        INVALID_ARGUMENT,
        'STATE_REQUIRED',
        (f) => admin().applyToolState({ sessionId: f.id, state: undefined, expectedGeneration: 1n }),
      ],
      [
        'ApplyToolState',
        'unknown availability value',
        INVALID_ARGUMENT,
        'ENUM_VALUE_UNKNOWN',
        (f) =>
          admin().applyToolState({ sessionId: f.id, state: { generation: 1n, overrides: { calculate: 99 as never }, knownTools: [] }, expectedGeneration: 1n }),
      ],
      [
        'ApplyToolState',
        'unknown session',
        NOT_FOUND,
        'SESSION_NOT_FOUND',
        (f) => admin().applyToolState({ sessionId: f.x, state: { generation: 0n, overrides: {}, knownTools: [] }, expectedGeneration: 0n }),
      ],
      ['RestoreToolState', 'no state', INVALID_ARGUMENT, 'STATE_REQUIRED', (f) => admin().restoreToolState({ sessionId: f.id, state: undefined })],
      [
        'RestoreToolState',
        'unknown availability value',
        INVALID_ARGUMENT,
        'ENUM_VALUE_UNKNOWN',
        (f) => admin().restoreToolState({ sessionId: f.id, state: { generation: 7n, overrides: { calculate: 99 as never }, knownTools: [] } }),
      ],
      [
        'RestoreToolState',
        'unknown session',
        NOT_FOUND,
        'SESSION_NOT_FOUND',
        (f) => admin().restoreToolState({ sessionId: f.x, state: { generation: 7n, overrides: {}, knownTools: [] } }),
      ],
      [
        'RefreshToolCatalog',
        'empty idempotency key',
        INVALID_ARGUMENT,
        'IDEMPOTENCY_KEY_REQUIRED',
        (f) => admin().refreshToolCatalog({ sessionId: f.id, reason: 'r', idempotencyKey: '' }),
      ],
      [
        'RefreshToolCatalog',
        'idempotency key over 256 bytes',
        INVALID_ARGUMENT,
        'ID_TOO_LONG',
        (f) => admin().refreshToolCatalog({ sessionId: f.id, reason: 'r', idempotencyKey: 'k'.repeat(257) }),
      ],
      [
        'RefreshToolCatalog',
        'unknown session',
        NOT_FOUND,
        'SESSION_NOT_FOUND',
        (f) => admin().refreshToolCatalog({ sessionId: f.x, reason: 'r', idempotencyKey: 'k' }),
      ],
      [
        'ResetSession',
        'empty idempotency key',
        INVALID_ARGUMENT,
        'IDEMPOTENCY_KEY_REQUIRED',
        (f) => admin().resetSession({ sessionId: f.id, reason: 'r', idempotencyKey: '' }),
      ],
      ['ResetSession', 'unknown session', NOT_FOUND, 'SESSION_NOT_FOUND', (f) => admin().resetSession({ sessionId: f.x, reason: 'r', idempotencyKey: 'k' })],
      [
        'AppendMessages',
        'one id twice in the request (nothing lands)',
        ALREADY_EXISTS,
        'MESSAGE_ID_TAKEN',
        (f) => admin().appendMessages({ sessionId: f.id, messages: [msg('dup', 'a'), msg('dup', 'b')] }),
      ],
      ['AppendMessages', 'unknown session', NOT_FOUND, 'SESSION_NOT_FOUND', (f) => admin().appendMessages({ sessionId: f.x, messages: [msg('', 'a')] })],
      ['BranchToNode', 'node of another session', NOT_FOUND, 'NODE_NOT_FOUND', (f) => admin().branchToNode({ sessionId: f.kid, nodeId: 'm1' })],
      ['BranchToNode', 'empty node id', INVALID_ARGUMENT, 'MISSING_ID', (f) => admin().branchToNode({ sessionId: f.id, nodeId: '' })],
      ['BranchToNode', 'unknown session', NOT_FOUND, 'SESSION_NOT_FOUND', (f) => admin().branchToNode({ sessionId: f.x, nodeId: 'm1' })],
      ['CompactContext', 'unknown session', NOT_FOUND, 'SESSION_NOT_FOUND', (f) => admin().compactContext({ sessionId: f.x, instructions: '' })],
      [
        'CompactContext',
        'provider the server lacks',
        FAILED_PRECONDITION,
        'PROVIDER_UNAVAILABLE',
        (f) => admin().compactContext({ sessionId: f.id, instructions: '' }),
        withUnknownProvider,
      ],
      [
        'CompactContext',
        'model returns no summary',
        UNAVAILABLE,
        'COMPACTION_EMPTY',
        (f) => admin().compactContext({ sessionId: f.id, instructions: '' }),
        () => suite.fake.script({ steps: [] }),
      ],
      [
        'CompactContext',
        'model refuses the request (HTTP 400)',
        FAILED_PRECONDITION,
        'COMPACTION_PROVIDER_ERROR',
        (f) => admin().compactContext({ sessionId: f.id, instructions: '' }),
        () => suite.fake.script({ error: { status: 400, message: 'bad summary request' } }),
      ],
      [
        'CreateChildSession',
        'child id taken (the child is untouched)',
        ALREADY_EXISTS,
        'CHILD_ID_TAKEN',
        (f) => child({ sessionId: f.id, childSessionId: f.kid, source: 'other', metadata: { changed: 'yes' } }),
      ],
      ['CreateChildSession', 'unknown parent', NOT_FOUND, 'SESSION_NOT_FOUND', (f) => child({ sessionId: `${f.id}-nobody`, childSessionId: f.x })],
      [
        'CreateChildSession',
        'snapshot start without a snapshot',
        INVALID_ARGUMENT,
        'SNAPSHOT_REQUIRED',
        (f) => child({ sessionId: f.id, childSessionId: f.x, start: ChildStart.CHILD_START_SNAPSHOT }),
      ],
      [
        'CreateChildSession',
        'snapshot that is no state document',
        INVALID_ARGUMENT,
        'STATE_DOCUMENT_INVALID',
        (f) =>
          child({
            sessionId: f.id,
            childSessionId: f.x,
            start: ChildStart.CHILD_START_SNAPSHOT,
            snapshot: { version: 1, sessionId: f.id, document: { format: 'nope' } },
          }),
      ],
      [
        'CreateChildSession',
        'snapshot message id over 256 bytes (no half-made child)',
        INVALID_ARGUMENT,
        'STATE_DOCUMENT_INVALID',
        async (f) =>
          child({
            sessionId: f.id,
            childSessionId: f.x,
            start: ChildStart.CHILD_START_SNAPSHOT,
            snapshot: await snapshotWith(f, (nodes) => (nodes[0]!.payload.message.id = 'x'.repeat(300))),
          }),
      ],
      [
        'CreateChildSession',
        'snapshot with one message id twice (no half-made child)',
        ALREADY_EXISTS,
        'MESSAGE_ID_TAKEN',
        async (f) =>
          child({
            sessionId: f.id,
            childSessionId: f.x,
            start: ChildStart.CHILD_START_SNAPSHOT,
            snapshot: await snapshotWith(f, (nodes) => nodes.push({ ...nodes[0]!, nodeId: 'copy', parentNodeId: nodes[0]!.nodeId })),
          }),
      ],
      [
        'CreateChildSession',
        'unknown start value',
        INVALID_ARGUMENT,
        'ENUM_VALUE_UNKNOWN',
        (f) => child({ sessionId: f.id, childSessionId: f.x, start: 9 as never }),
      ],
      ['CreateChildSession', 'empty child id', INVALID_ARGUMENT, 'MISSING_ID', (f) => child({ sessionId: f.id, childSessionId: '' })],
      [
        'CreateChildSession',
        'mode the server does not offer',
        FAILED_PRECONDITION,
        'MODE_UNAVAILABLE',
        (f) => child({ sessionId: f.id, childSessionId: f.x, mode: SessionMode.SESSION_MODE_RLM }),
      ],
      [
        'CreateChildSession',
        'provider the server lacks',
        FAILED_PRECONDITION,
        'PROVIDER_UNAVAILABLE',
        (f) => child({ sessionId: f.id, childSessionId: f.x, spec: { providerId: 'gone' } }),
      ],
      ['ListChildSessions', 'unknown parent', NOT_FOUND, 'SESSION_NOT_FOUND', (f) => admin().listChildSessions({ sessionId: f.x, pageSize: 0, pageToken: '' })],
      [
        'ListChildSessions',
        'garbage page token',
        INVALID_ARGUMENT,
        'PAGE_TOKEN_INVALID',
        (f) => admin().listChildSessions({ sessionId: f.id, pageSize: 0, pageToken: 'garbage' }),
      ],
      [
        'CloseChildSession',
        'session that is not a child of that parent (nothing parked)',
        NOT_FOUND,
        'CHILD_NOT_FOUND',
        (f) => admin().closeChildSession({ sessionId: f.kid, childSessionId: f.id }),
      ],
      ['CloseChildSession', 'unknown child', NOT_FOUND, 'SESSION_NOT_FOUND', (f) => admin().closeChildSession({ sessionId: f.id, childSessionId: f.x })],
      ['CloseChildSession', 'empty child id', INVALID_ARGUMENT, 'MISSING_ID', (f) => admin().closeChildSession({ sessionId: f.id, childSessionId: '' })],
      ['CloseChildSession', 'empty parent id', INVALID_ARGUMENT, 'MISSING_ID', (f) => admin().closeChildSession({ sessionId: '', childSessionId: f.kid })],
      [
        'UpdateSessionConfig',
        'model in the mask without an id',
        INVALID_ARGUMENT,
        'MODEL_ID_MISSING',
        (f) => config({ sessionId: f.id, model: { id: '', contextWindowTokens: 5000n }, updateMask: ['model'] }),
      ],
      [
        'UpdateSessionConfig',
        'provider_id in the mask but empty',
        INVALID_ARGUMENT,
        'PROVIDER_ID_MISSING',
        (f) => config({ sessionId: f.id, updateMask: ['provider_id'] }),
      ],
      ['UpdateSessionConfig', 'provider the server lacks', FAILED_PRECONDITION, 'PROVIDER_UNAVAILABLE', (f) => config({ sessionId: f.id, providerId: 'gone' })],
      [
        'UpdateSessionConfig',
        'zero context window',
        INVALID_ARGUMENT,
        'MODEL_SPEC_INVALID',
        (f) => config({ sessionId: f.id, model: { id: 'fake-model', contextWindowTokens: 0n } }),
      ],
      [
        'UpdateSessionConfig',
        'template section with no entry',
        INVALID_ARGUMENT,
        'TEMPLATE_SECTION_EMPTY',
        (f) => config({ sessionId: f.id, prompt: { template: { sections: [{}] } } }),
      ],
      ['UpdateSessionConfig', 'unknown session', NOT_FOUND, 'SESSION_NOT_FOUND', (f) => config({ sessionId: f.x, model: { id: 'other-model' } })],
      [
        'UpdateSessionConfig',
        'unknown session and a provider the server lacks: the session is named first',
        NOT_FOUND,
        'SESSION_NOT_FOUND',
        (f) => config({ sessionId: f.x, providerId: 'gone' }),
      ],
      ['ExportSessionState', 'unknown session', NOT_FOUND, 'SESSION_NOT_FOUND', (f) => suite.s.clients.sessions.exportSessionState({ sessionId: f.x })],
      ['ExportSessionState', 'empty session id', INVALID_ARGUMENT, 'MISSING_ID', () => suite.s.clients.sessions.exportSessionState({ sessionId: '' })],
    ];

    for (const [rpc, why, code, reason, call, prepare] of cases) {
      it(`${rpc}: ${why} → ${status[code]} ${reason}`, async () => {
        const f = await fixture();
        await prepare?.(f);
        const before = await stateOf(f);
        const r = await rejection(call(f));
        expect({ code: status[r.code], reason: r.reason }).toEqual({ code: status[code], reason });
        expect(await stateOf(f)).toEqual(before);
      });
    }
  });
}
