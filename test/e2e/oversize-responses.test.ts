// Responses that grow with a session or a turn stay readable by a default-limit client (issue 12,
// ADR 0053): a session whose state passes 4 MiB exports in pieces through ExportSessionStateChunk
// and imports back from the concatenated JSON text; a turn with many large tool outputs keeps its
// result under the client limit by listing the late calls without their output, with an issue.
// grpc-js fails a call whose message is over 4 MiB, so reading the answers at all is the proof.

import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { MessageRole, type Message } from '../../gen/lash/v1/common.js';
import { OpenMode } from '../../gen/lash/v1/session.js';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { RunTurnRequest, RunTurnResponse } from '../../gen/lash/v1/turn_service.js';
import { ChildStart, CreateChildSessionRequest } from '../../gen/lash/v1/admin_service.js';
import { MAX_TOOL_RESULT_BYTES, STATE_CHUNK_BYTES } from '../../src/domain/limits.js';
import { engines } from '../support/engines.js';
import { fakeModelSuite } from '../support/fake-model-suite.js';
import { rejection } from '../support/server.js';
import { connectToolHost } from '../support/tool-host.js';
import { textInput } from '../support/turns.js';

const CLIENT_LIMIT = 4 * 1024 * 1024;
const text = (bytes: number, seed = 'abcdefg ') => seed.repeat(Math.ceil(bytes / seed.length)).slice(0, bytes);
const msg = (id: string, body: string): Message => ({ id, role: MessageRole.MESSAGE_ROLE_USER, parts: [{ kind: { $case: 'text', value: { text: body } } }] });

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`oversize responses on ${engine.name}`, () => {
    let n = 0;
    const open = async () => {
      const sessionId = `big-${++n}`;
      // Binds the remote tool `big` its host serves (remote tools are bound by the session, ADR 0047).
      await suite.s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId, spec: { remoteTools: { bindings: [{ name: 'big' }] } } }));
      return sessionId;
    };
    /** Every piece of a chunked export, concatenated; each answer was read by a default client. */
    const exportChunks = async (sessionId: string) => {
      const pieces: Buffer[] = [];
      let pageToken = '';
      let total = 0n;
      do {
        const r = await suite.s.clients.sessions.exportSessionStateChunk({ sessionId, pageToken });
        expect(r.chunk.length).toBeLessThanOrEqual(STATE_CHUNK_BYTES);
        pieces.push(Buffer.from(r.chunk));
        total = r.totalBytes;
        pageToken = r.nextPageToken;
      } while (pageToken);
      const json = Buffer.concat(pieces);
      expect(BigInt(json.length)).toBe(total);
      return { json, pieces: pieces.length };
    };
    const readAllText = async (sessionId: string) => {
      const texts: string[] = [];
      let pageToken = '';
      do {
        const page = await suite.s.clients.sessions.getReadView({ sessionId, pageSize: 1000, pageToken });
        for (const m of page.messages) for (const p of m.parts) if (p.kind?.$case === 'text') texts.push(p.kind.value.text);
        pageToken = page.nextPageToken;
      } while (pageToken);
      return texts;
    };

    const suite = fakeModelSuite(engine, {
      prefix: 'oversize-responses',
      env: {
        LASH_QUEUE_WORKERS: '0',
      },
    });

    it('a session of more than 4 MiB exports in pieces and imports back from the concatenated text, unchanged', async () => {
      const sessionId = await open();
      const half = 512 * 1024;
      // Six appends at the 1 MiB request limit: 6 MiB of text, with multi-byte characters so pieces split them.
      for (let i = 0; i < 6; i++)
        await suite.s.clients.admin.appendMessages({ sessionId, messages: [msg(`m${i}a`, text(half / 2, 'héllo wörld ✓ ')), msg(`m${i}b`, text(half))] });
      const before = await readAllText(sessionId);
      expect(before.join('').length).toBeGreaterThan(4 * 1024 * 1024);

      expect(await rejection(suite.s.clients.sessions.exportSessionState({ sessionId }))).toMatchObject({
        code: status.FAILED_PRECONDITION,
        reason: 'STATE_NEEDS_CHUNKS',
      });
      const first = await exportChunks(sessionId);
      expect(first.pieces).toBeGreaterThan(2);
      const doc = JSON.parse(first.json.toString('utf8')) as { sessionId: string; nodes: unknown[] };
      expect(doc.sessionId).toBe(sessionId);
      expect(doc.nodes).toHaveLength(12);

      // Gone, then back from the text: the same messages, and an export identical byte for byte.
      await suite.s.clients.sessions.deleteSession({ sessionId });
      const reopened = await suite.s.clients.sessions.openSession(
        OpenSessionRequest.fromPartial({ sessionId, openMode: OpenMode.OPEN_MODE_WITH_STATE, state: { sessionId, documentJson: first.json } }),
      );
      expect(reopened.created).toBe(true);
      expect(await readAllText(sessionId)).toEqual(before);
      expect((await exportChunks(sessionId)).json.equals(first.json)).toBe(true);

      // A child can start from the same text.
      await suite.s.clients.admin.createChildSession(
        CreateChildSessionRequest.fromPartial({
          sessionId,
          childSessionId: `${sessionId}-kid`,
          start: ChildStart.CHILD_START_SNAPSHOT,
          snapshot: { sessionId, documentJson: first.json },
        }),
      );
      expect((await readAllText(`${sessionId}-kid`)).length).toBe(12);
    }, 240_000);

    it('a session that changes between pieces is STATE_CHANGED_DURING_EXPORT; bad text or both forms are refused and store nothing', async () => {
      const sessionId = await open();
      for (let i = 0; i < 3; i++) await suite.s.clients.admin.appendMessages({ sessionId, messages: [msg(`c${i}`, text(1024 * 1024 - 16))] });
      const firstPiece = await suite.s.clients.sessions.exportSessionStateChunk({ sessionId, pageToken: '' });
      expect(firstPiece.nextPageToken).not.toBe('');
      await suite.s.clients.admin.appendMessages({ sessionId, messages: [msg('late', 'late')] });
      expect(await rejection(suite.s.clients.sessions.exportSessionStateChunk({ sessionId, pageToken: firstPiece.nextPageToken }))).toMatchObject({
        code: status.ABORTED,
        reason: 'STATE_CHANGED_DURING_EXPORT',
      });
      expect(await rejection(suite.s.clients.sessions.exportSessionStateChunk({ sessionId, pageToken: 'abc' }))).toMatchObject({
        code: status.INVALID_ARGUMENT,
        reason: 'PAGE_TOKEN_INVALID',
      });

      const { json } = await exportChunks(sessionId);
      const revision = (await suite.s.clients.sessions.getSession({ sessionId })).session!.headRevision;
      const withState = (state: object) =>
        suite.s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId, openMode: OpenMode.OPEN_MODE_WITH_STATE, state }));
      expect(await rejection(withState({ sessionId, documentJson: json.subarray(0, json.length - 1) }))).toMatchObject({
        code: status.INVALID_ARGUMENT,
        reason: 'STATE_DOCUMENT_INVALID',
      });
      expect(await rejection(withState({ sessionId, documentJson: Buffer.from([0xff, 0xfe]) }))).toMatchObject({
        code: status.INVALID_ARGUMENT,
        reason: 'STATE_DOCUMENT_INVALID',
      });
      expect(await rejection(withState({ sessionId, documentJson: Buffer.from('['.repeat(100_000)) }))).toMatchObject({
        code: status.INVALID_ARGUMENT,
        reason: 'STATE_DOCUMENT_INVALID',
      });
      expect(await rejection(withState({ sessionId, documentJson: json, document: { a: 1 } }))).toMatchObject({
        code: status.INVALID_ARGUMENT,
        reason: 'STATE_DOCUMENT_INVALID',
      });
      // One message larger than a read-view page could hold is refused: the session must stay readable.
      const doc = JSON.parse(json.toString('utf8')) as { nodes: { payload: { message?: { parts: { text?: string }[] } } }[] };
      doc.nodes.find((x) => x.payload.message)!.payload.message!.parts[0]!.text = text(2 * 1024 * 1024 + 1);
      expect(await rejection(withState({ sessionId, documentJson: Buffer.from(JSON.stringify(doc)) }))).toMatchObject({
        code: status.INVALID_ARGUMENT,
        reason: 'STATE_TOO_LARGE',
      });
      expect((await suite.s.clients.sessions.getSession({ sessionId })).session!.headRevision).toBe(revision);
    }, 120_000);

    it('a turn with many large tool outputs answers in messages under 4 MiB; its result lists the late calls without output and says so', async () => {
      const sessionId = await open();
      const output = text(MAX_TOOL_RESULT_BYTES - 64);
      const host = await connectToolHost(suite.s.clients, { sessionId, tools: [{ name: 'big' }], reply: () => ({ success: output }) });
      const calls = 12;
      suite.fake.script(
        { steps: Array.from({ length: calls }, (_, i) => ({ toolCall: { name: 'big', args: { i }, id: `call-${i}` } })) },
        { steps: [{ text: 'done' }] },
      );

      const sizes: number[] = [];
      let result: RunTurnResponse['activities'][number] | undefined;
      await new Promise<void>((resolve, reject) => {
        const call = suite.s.clients.turns.raw.runTurn(RunTurnRequest.fromPartial({ sessionId, turnId: 'many', input: textInput('go') }));
        call.on('data', (m: RunTurnResponse) => {
          sizes.push(RunTurnResponse.encode(m).finish().length);
          for (const a of m.activities) if (a.item?.$case === 'result') result = a;
        });
        call.on('error', reject);
        call.on('end', resolve);
      });
      expect(Math.max(...sizes)).toBeLessThan(CLIENT_LIMIT);
      expect(result?.item?.$case).toBe('result');

      const got = (await suite.s.clients.turns.getTurn({ sessionId, turnId: 'many' })).result!;
      expect(got.outcome?.$case).toBe('finished');
      expect(got.toolCalls).toHaveLength(calls);
      const kept = got.toolCalls.filter((c) => c.output === output);
      const omitted = got.toolCalls.filter((c) => (c.output as { omitted?: string } | undefined)?.omitted === 'TOOL_OUTPUTS_OMITTED');
      expect(kept.length).toBeGreaterThan(0);
      expect(omitted.length).toBe(calls - kept.length);
      expect(omitted.length).toBeGreaterThan(0);
      // Call order is kept: what is listed in full comes first.
      expect(got.toolCalls.slice(0, kept.length).every((c) => c.output === output)).toBe(true);
      expect(got.issues.some((i) => i.code === 'TOOL_OUTPUTS_OMITTED')).toBe(true);
      // Nothing is lost: every output is in the session's messages.
      let stored = 0;
      let pageToken = '';
      do {
        const page = await suite.s.clients.sessions.getReadView({ sessionId, pageSize: 1000, pageToken });
        for (const m of page.messages) for (const p of m.parts) if (p.kind?.$case === 'toolResult' && p.kind.value.output === output) stored++;
        pageToken = page.nextPageToken;
      } while (pageToken);
      expect(stored).toBe(calls);
      // Stored over several messages, the results still reach the model as one tool step.
      const toolMessages = (suite.fake.requests[1]!.body.messages as { role: string }[]).filter((m) => m.role === 'tool');
      expect(toolMessages).toHaveLength(calls);
      host.close();
    }, 120_000);
  });
}
