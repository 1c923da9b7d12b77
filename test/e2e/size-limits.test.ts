// Size limits over real gRPC with default-limit clients (issue 12): each entry point refuses a
// value a little over its documented byte limit with INVALID_ARGUMENT and its reason, storing
// nothing; a value at the limit is accepted and every response and stream message the client then
// reads (turn streams, GetTurn, read-view pages, export) fits the client's default 4 MiB limit —
// grpc-js itself fails a call whose message is bigger.

import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChildStart, CreateChildSessionRequest } from '../../gen/lash/v1/admin_service.js';
import { MessageRole, type Message } from '../../gen/lash/v1/common.js';
import { OpenMode, PromptSlot } from '../../gen/lash/v1/session.js';
import { EnqueueTurnInputRequest } from '../../gen/lash/v1/queue_service.js';
import { OpenSessionRequest, UpdateSessionConfigRequest } from '../../gen/lash/v1/session_service.js';
import { RunTurnRequest, RunTurnResponse, type DeepPartial } from '../../gen/lash/v1/turn_service.js';
import {
  MAX_APPEND_BYTES,
  MAX_INPUT_TEXT_BYTES,
  MAX_PROMPT_LAYER_BYTES,
  MAX_READ_VIEW_PAGE_BYTES,
  MAX_STATE_BYTES,
  MAX_TOOL_RESULT_BYTES,
} from '../../src/domain/limits.js';
import { engines } from '../support/engines.js';
import { rejection, startTestServer, type TestServer } from '../support/server.js';
import { connectToolHost } from '../support/tool-host.js';
import { textInput } from '../support/turns.js';

const CLIENT_LIMIT = 4 * 1024 * 1024;
const msg = (id: string, text: string): Message => ({ id, role: MessageRole.MESSAGE_ROLE_USER, parts: [{ kind: { $case: 'text', value: { text } } }] });
/** ASCII text of exactly `bytes` bytes, with spaces so the echo model streams it in a few deltas. */
const text = (bytes: number) => 'abcdefg '.repeat(Math.ceil(bytes / 8)).slice(0, bytes);
const layer = (bytes: number) => ({
  slots: [{ slot: PromptSlot.PROMPT_SLOT_GUIDANCE, contributions: [{ priority: 0, title: 'big', content: text(bytes - 3) }] }],
});

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`size limits on ${engine.name}`, () => {
    let s: TestServer;
    let n = 0;
    const open = async () => {
      const sessionId = `size-${++n}`;
      // The remote tool "big" is bound, so a session-scoped host may serve it (ADR 0047).
      await s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId, spec: { remoteTools: { bindings: [{ name: 'big' }] } } }));
      return sessionId;
    };
    const revision = async (sessionId: string) => (await s.clients.sessions.getSession({ sessionId })).session!.headRevision;
    /** The call is refused with `reason` and the session's revision does not move. */
    const refused = async (sessionId: string, reason: string, call: () => Promise<unknown>) => {
      const before = await revision(sessionId);
      const r = await rejection(call());
      expect(r).toMatchObject({ code: status.INVALID_ARGUMENT, reason });
      expect(await revision(sessionId)).toBe(before);
    };
    /** Runs a turn and returns its messages' encoded sizes; fails if the stream failed (e.g. a message over the client limit). */
    const runTurnSizes = (req: DeepPartial<RunTurnRequest>) =>
      new Promise<{ sizes: number[]; outcome?: string }>((resolve, reject) => {
        const call = s.clients.turns.raw.runTurn(RunTurnRequest.fromPartial(req));
        const sizes: number[] = [];
        let outcome: string | undefined;
        call.on('data', (m: RunTurnResponse) => {
          sizes.push(RunTurnResponse.encode(m).finish().length);
          for (const a of m.activities) if (a.item?.$case === 'result') outcome = a.item.value.outcome?.$case;
        });
        call.on('error', reject);
        call.on('end', () => resolve({ sizes, outcome }));
      });
    /** Reads the whole read view page by page; each page must fit the client limit. */
    const readAll = async (sessionId: string) => {
      const pages: number[] = [];
      let pageToken = '';
      do {
        const page = await s.clients.sessions.getReadView({ sessionId, pageSize: 1000, pageToken });
        pages.push(page.messages.length);
        pageToken = page.nextPageToken;
      } while (pageToken);
      return pages;
    };

    beforeAll(async () => {
      s = await startTestServer(engine, { LASH_DEFAULT_PROVIDER: 'echo', LASH_QUEUE_WORKERS: '0' });
    });
    afterAll(async () => {
      await s?.close();
    });

    it('turn input over 1 MiB is INPUT_TOO_LARGE on RunTurn and EnqueueTurnInput; at 1 MiB the turn streams and reads back in messages under 4 MiB', async () => {
      const sessionId = await open();
      await refused(sessionId, 'INPUT_TOO_LARGE', () => runTurnSizes({ sessionId, input: textInput(text(MAX_INPUT_TEXT_BYTES + 1)) }));
      await refused(sessionId, 'INPUT_TOO_LARGE', () =>
        s.clients.queue.enqueueTurnInput(EnqueueTurnInputRequest.fromPartial({ sessionId, input: textInput(text(MAX_INPUT_TEXT_BYTES + 1)) })),
      );
      expect((await s.clients.queue.listQueuedWork({ sessionId })).batches).toEqual([]);

      // The echo model answers with the whole input: the result carries that answer three times.
      const t = await runTurnSizes({ sessionId, turnId: 'max', input: textInput(text(MAX_INPUT_TEXT_BYTES)) });
      expect(t.outcome).toBe('finished');
      expect(Math.max(...t.sizes)).toBeLessThan(CLIENT_LIMIT);
      expect((await s.clients.turns.getTurn({ sessionId, turnId: 'max' })).result?.assistantOutput?.rawText).toHaveLength(MAX_INPUT_TEXT_BYTES);
      expect(await readAll(sessionId)).toEqual([2]);
      expect((await s.clients.sessions.exportSessionState({ sessionId })).state).toBeDefined();
      await s.clients.queue.enqueueTurnInput(EnqueueTurnInputRequest.fromPartial({ sessionId, input: textInput(text(MAX_INPUT_TEXT_BYTES)) }));
      expect((await s.clients.queue.listQueuedWork({ sessionId })).batches).toHaveLength(1);
    });

    it('AppendMessages over 1 MiB in one request is MESSAGES_TOO_LARGE; at the limit it lands, and the read view pages by bytes', async () => {
      const sessionId = await open();
      const half = MAX_APPEND_BYTES / 2;
      await refused(sessionId, 'MESSAGES_TOO_LARGE', () =>
        s.clients.admin.appendMessages({ sessionId, messages: [msg('a', text(half)), msg('b', text(half + 1))] }),
      );
      // Four requests at the limit: 4 MiB of messages, more than one response may hold.
      for (let i = 0; i < 4; i++) await s.clients.admin.appendMessages({ sessionId, messages: [msg(`m${i}a`, text(half)), msg(`m${i}b`, text(half))] });
      const pages = await readAll(sessionId);
      expect(pages.reduce((a, b) => a + b, 0)).toBe(8);
      expect(Math.max(...pages)).toBeLessThanOrEqual(MAX_READ_VIEW_PAGE_BYTES / half);
      expect(pages.length).toBeGreaterThan(1);
    });

    it('a prompt layer over 256 KiB is PROMPT_TOO_LARGE in UpdateSessionConfig, OpenSession and turn overrides; at the limit it is kept', async () => {
      const sessionId = await open();
      await refused(sessionId, 'PROMPT_TOO_LARGE', () =>
        s.clients.sessions.updateSessionConfig(UpdateSessionConfigRequest.fromPartial({ sessionId, prompt: layer(MAX_PROMPT_LAYER_BYTES + 1) })),
      );
      await refused(sessionId, 'PROMPT_TOO_LARGE', () =>
        runTurnSizes({ sessionId, input: textInput('hi'), overrides: { prompt: layer(MAX_PROMPT_LAYER_BYTES + 1) } }),
      );
      expect((await s.clients.sessions.getSession({ sessionId })).session!.turnIndex).toBe(0n);
      const fresh = `size-${++n}`;
      expect(
        await rejection(
          s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: fresh, spec: { prompt: layer(MAX_PROMPT_LAYER_BYTES + 1) } })),
        ),
      ).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'PROMPT_TOO_LARGE' });
      expect((await rejection(s.clients.sessions.getSession({ sessionId: fresh }))).code).toBe(status.NOT_FOUND);

      await s.clients.sessions.updateSessionConfig(UpdateSessionConfigRequest.fromPartial({ sessionId, prompt: layer(MAX_PROMPT_LAYER_BYTES) }));
      const t = await runTurnSizes({ sessionId, input: textInput('hi'), overrides: { prompt: layer(MAX_PROMPT_LAYER_BYTES) } });
      expect(t.outcome).toBe('finished');
      expect((await s.clients.sessions.getSession({ sessionId })).session!.turnIndex).toBe(1n);
    });

    it('a state document over 12 MiB is STATE_TOO_LARGE for OpenSession with_state and CreateChildSession; at the limit it imports and reads back', async () => {
      const sessionId = await open();
      await s.clients.admin.appendMessages({ sessionId, messages: [msg('pad', 'PAD')] });
      const state = (await s.clients.sessions.exportSessionState({ sessionId })).state!;
      // The document grown to `bytes` with messages of 1 MiB (one message may hold at most 2 MiB).
      const sized = (bytes: number) => {
        const doc = JSON.parse(JSON.stringify(state.document)) as {
          nodes: { nodeId: string; parentNodeId?: string; payload: { message: { id: string; parts: { text: string }[] } } }[];
          leafNodeId: string;
        };
        const pad = doc.nodes[doc.nodes.length - 1]!;
        for (let i = 0; Buffer.byteLength(JSON.stringify(doc)) < bytes - 1024 * 1024; i++) {
          const prev = doc.nodes[doc.nodes.length - 1]!;
          doc.nodes.push({
            ...pad,
            nodeId: `pad-${i}`,
            parentNodeId: prev.nodeId,
            payload: {
              ...pad.payload,
              message: { ...pad.payload.message, id: `pad-${i}`, parts: [{ ...pad.payload.message.parts[0]!, text: text(1024 * 1024 - 512) }] },
            },
          });
        }
        const last = doc.nodes[doc.nodes.length - 1]!;
        doc.leafNodeId = last.nodeId;
        last.payload.message.parts[0]!.text += text(bytes - Buffer.byteLength(JSON.stringify(doc)));
        return { ...state, document: doc as never };
      };
      expect(Buffer.byteLength(JSON.stringify(sized(MAX_STATE_BYTES).document))).toBe(MAX_STATE_BYTES);

      await refused(sessionId, 'STATE_TOO_LARGE', () =>
        s.clients.sessions.openSession(
          OpenSessionRequest.fromPartial({ sessionId, openMode: OpenMode.OPEN_MODE_WITH_STATE, state: sized(MAX_STATE_BYTES + 1) }),
        ),
      );
      await refused(sessionId, 'STATE_TOO_LARGE', () =>
        s.clients.admin.createChildSession(
          CreateChildSessionRequest.fromPartial({
            sessionId,
            childSessionId: `${sessionId}-kid`,
            start: ChildStart.CHILD_START_SNAPSHOT,
            snapshot: sized(MAX_STATE_BYTES + 1),
          }),
        ),
      );
      expect((await rejection(s.clients.sessions.getSession({ sessionId: `${sessionId}-kid` }))).code).toBe(status.NOT_FOUND);

      await s.clients.sessions.openSession(
        OpenSessionRequest.fromPartial({ sessionId, openMode: OpenMode.OPEN_MODE_WITH_STATE, state: sized(MAX_STATE_BYTES) }),
      );
      await s.clients.admin.createChildSession(
        CreateChildSessionRequest.fromPartial({
          sessionId,
          childSessionId: `${sessionId}-kid`,
          start: ChildStart.CHILD_START_SNAPSHOT,
          snapshot: sized(MAX_STATE_BYTES),
        }),
      );
      expect((await readAll(sessionId)).reduce((a, b) => a + b)).toBeGreaterThan(10);
      expect((await readAll(`${sessionId}-kid`)).reduce((a, b) => a + b)).toBeGreaterThan(10);
      // Too large for one answer: the export comes in pieces (ADR 0053).
      expect(await rejection(s.clients.sessions.exportSessionState({ sessionId }))).toMatchObject({
        code: status.FAILED_PRECONDITION,
        reason: 'STATE_NEEDS_CHUNKS',
      });
      expect((await s.clients.sessions.exportSessionStateChunk({ sessionId, pageToken: '' })).nextPageToken).not.toBe('');
    }, 240_000);

    it('a remote tool result over 512 KiB is TOOL_RESULT_TOO_LARGE on ServeTools and ResolveCompletion; at the limit the turn streams in messages under 4 MiB', async () => {
      const over = { completionKey: 'k-over', resolution: { outcome: { $case: 'value' as const, value: text(MAX_TOOL_RESULT_BYTES - 1) } } };
      expect(await rejection(s.clients.turns.resolveCompletion(over))).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'TOOL_RESULT_TOO_LARGE' });
      // At the limit the value passes the size check (this key names no pending call).
      const at = { completionKey: 'k-at', resolution: { outcome: { $case: 'value' as const, value: text(MAX_TOOL_RESULT_BYTES - 2) } } };
      expect((await s.clients.turns.resolveCompletion(at)).outcome).toBeDefined();

      const sessionId = await open();
      const host = await connectToolHost(s.clients, { sessionId, tools: [{ name: 'big' }], reply: () => ({ success: text(MAX_TOOL_RESULT_BYTES - 2) }) });
      const t = await runTurnSizes({ sessionId, input: textInput('/tool big {}') });
      expect(t.outcome).toBe('finished');
      expect(Math.max(...t.sizes)).toBeLessThan(CLIENT_LIMIT);
      expect((await readAll(sessionId)).length).toBeGreaterThan(0);
      host.close();

      // One byte more: the host's stream is refused with the reason (and the call fails as a tool error).
      const sessionId2 = await open();
      const bad = await connectToolHost(s.clients, {
        sessionId: sessionId2,
        tools: [{ name: 'big' }],
        reply: () => ({ success: text(MAX_TOOL_RESULT_BYTES - 1) }),
      });
      const failed = new Promise<{ code: number }>((resolve) => bad.stream.on('error', resolve));
      const turn = runTurnSizes({ sessionId: sessionId2, input: textInput('/tool big {}') });
      expect(await rejection(failed.then((e) => Promise.reject(e)))).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'TOOL_RESULT_TOO_LARGE' });
      expect((await turn).outcome).toBeDefined();
    });
  });
}
