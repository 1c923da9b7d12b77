// AdminService over real gRPC: tool state with generations (44), child sessions (45),
// compaction into a new frame (46), and their documented errors.

import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { ChildStart, CreateChildSessionRequest } from '../../gen/lash/v1/admin_service.js';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { ToolAvailability } from '../../gen/lash/v1/tool.js';
import { engines } from '../support/engines.js';
import { fakeModelSuite } from '../support/fake-model-suite.js';
import { observe, payloadCase } from '../support/observe.js';
import { rejection } from '../support/server.js';
import { runTurn, startRunTurn, textInput, until } from '../support/turns.js';

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`admin on ${engine.name}`, () => {
    let n = 0;
    const open = async () => {
      const sessionId = `admin-${++n}`;
      await suite.s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId }));
      return sessionId;
    };
    const suite = fakeModelSuite(engine, {
      prefix: 'admin',
      env: {
        LASH_TOOLS: 'calculate,json_echo',
        LASH_QUEUE_WORKERS: '0',
      },
    });

    it('44: availability set for many tools bumps the generation and gates what the model is offered; a stale apply is ABORTED; restore adopts the generation and orphans unknown tools', async () => {
      const sessionId = await open();
      const initial = await suite.s.clients.admin.getToolState({ sessionId });
      expect(initial.tools.map((t) => t.manifest?.name)).toEqual(['calculate', 'json_echo']);
      expect(initial.tools.every((t) => t.effectiveAvailability === ToolAvailability.TOOL_AVAILABILITY_CALLABLE)).toBe(true);
      const set = await suite.s.clients.admin.setToolAvailability({
        sessionId,
        availability: { calculate: ToolAvailability.TOOL_AVAILABILITY_OFF, json_echo: ToolAvailability.TOOL_AVAILABILITY_SHOWCASED },
      });
      expect(set.generation).toBe(initial.generation + 1n);
      const after = await suite.s.clients.admin.getToolState({ sessionId });
      expect(after.tools.find((t) => t.manifest?.name === 'calculate')).toMatchObject({
        override: ToolAvailability.TOOL_AVAILABILITY_OFF,
        effectiveAvailability: ToolAvailability.TOOL_AVAILABILITY_OFF,
      });
      await runTurn(suite.s.clients, { sessionId, input: textInput('which tools?') });
      const offered = (suite.fake.requests[0]!.body.tools as { function: { name: string } }[]).map((t) => t.function.name);
      expect(offered).toEqual(['json_echo']);
      const stale = await rejection(
        suite.s.clients.admin.applyToolState({ sessionId, state: { generation: 0n, overrides: {}, knownTools: [] }, expectedGeneration: initial.generation }),
      );
      expect(stale.code).toBe(status.ABORTED);
      expect(stale.reason).toBe('GENERATION_CONFLICT');
      const applied = await suite.s.clients.admin.applyToolState({
        sessionId,
        state: { generation: 0n, overrides: { calculate: ToolAvailability.TOOL_AVAILABILITY_CALLABLE }, knownTools: [] },
        expectedGeneration: set.generation,
      });
      expect(applied.generation).toBe(set.generation + 1n);
      const restored = await suite.s.clients.admin.restoreToolState({
        sessionId,
        state: {
          generation: 42n,
          overrides: { calculate: ToolAvailability.TOOL_AVAILABILITY_OFF, retired_tool: ToolAvailability.TOOL_AVAILABILITY_CALLABLE },
          knownTools: ['calculate', 'retired_tool'],
        },
      });
      expect(restored).toEqual({ generation: 42n, orphaned: ['retired_tool'] });
      const view = await suite.s.clients.admin.getToolState({ sessionId });
      expect(view.generation).toBe(42n);
      expect(view.tools.find((t) => t.manifest?.name === 'retired_tool')?.orphaned).toBe(true);
      const cleared = await suite.s.clients.admin.clearToolAvailabilityOverride({ sessionId, names: ['calculate', 'retired_tool'] });
      expect(cleared.generation).toBe(43n);
      expect((await suite.s.clients.admin.getToolState({ sessionId })).tools.map((t) => t.override)).toEqual([undefined, undefined]);
      expect((await rejection(suite.s.clients.admin.setToolAvailability({ sessionId, availability: { calculate: 99 as never } }))).reason).toBe(
        'ENUM_VALUE_UNKNOWN',
      );
      expect((await rejection(suite.s.clients.admin.setToolAvailability({ sessionId, availability: {} }))).reason).toBe('AVAILABILITY_EMPTY');
    });

    it('45: child sessions: create, duplicate id ALREADY_EXISTS, usage rolls into the parent report, list and close; deleting the parent removes its children', async () => {
      const parent = await open();
      const feed = observe(suite.s.clients, parent);
      await feed.waitFor((m) => m.length >= 1);
      const child = await suite.s.clients.admin.createChildSession(
        CreateChildSessionRequest.fromPartial({ sessionId: parent, childSessionId: `${parent}-child`, source: 'research' }),
      );
      expect(child.session).toMatchObject({ sessionId: `${parent}-child`, parentSessionId: parent });
      expect(child.session?.finalAnswerFormat?.kind?.$case).toBe('rawSubmitValue');
      const dup = await rejection(
        suite.s.clients.admin.createChildSession(CreateChildSessionRequest.fromPartial({ sessionId: parent, childSessionId: `${parent}-child` })),
      );
      expect(dup.code).toBe(status.ALREADY_EXISTS);
      expect(dup.reason).toBe('CHILD_ID_TAKEN');
      suite.fake.script({ steps: [{ text: 'child answer' }], usage: { input: 7, output: 3 } });
      await runTurn(suite.s.clients, { sessionId: `${parent}-child`, input: textInput('work') });
      const report = await suite.s.clients.sessions.getUsageReport({ sessionId: parent });
      expect(report.bySource).toEqual([
        { source: 'research', usage: { inputTokens: 7n, outputTokens: 3n, cachedInputTokens: 0n, reasoningTokens: 0n, cacheWriteTokens: 0n } },
      ]);
      const listed = await suite.s.clients.admin.listChildSessions({ sessionId: parent, pageSize: 0, pageToken: '' });
      expect(listed.sessions.map((x) => x.sessionId)).toEqual([`${parent}-child`]);
      const childFeed = observe(suite.s.clients, `${parent}-child`);
      await childFeed.waitFor((m) => m.length >= 1);
      await suite.s.clients.admin.closeChildSession({ sessionId: parent, childSessionId: `${parent}-child` });
      expect((await suite.s.clients.sessions.getSession({ sessionId: `${parent}-child` })).session?.status).toBe(3 /* PARKED */);
      // Creating and closing a child are named in the parent's feed; parking in the child'suite.s.
      const changes = (o: ReturnType<typeof observe>) =>
        o.events().flatMap((m) => (m.kind?.$case === 'event' && m.kind.value.payload?.$case === 'sessionChanged' ? [m.kind.value.payload.value.what] : []));
      await feed.waitFor(() => changes(feed).includes('child_closed'));
      expect(changes(feed)).toEqual(['child_created', 'child_closed']);
      await childFeed.waitFor(() => changes(childFeed).includes('parked'));
      feed.close();
      childFeed.close();
      expect((await rejection(suite.s.clients.admin.closeChildSession({ sessionId: 'someone-else', childSessionId: `${parent}-child` }))).reason).toBe(
        'CHILD_NOT_FOUND',
      );
      expect(
        (await rejection(suite.s.clients.admin.createChildSession(CreateChildSessionRequest.fromPartial({ sessionId: 'no-parent', childSessionId: 'c' }))))
          .code,
      ).toBe(status.NOT_FOUND);
      await suite.s.clients.sessions.deleteSession({ sessionId: parent });
      expect((await rejection(suite.s.clients.sessions.getSession({ sessionId: `${parent}-child` }))).code).toBe(status.NOT_FOUND);
    });

    it("a child can start from the parent's read view or from an exported snapshot", async () => {
      const parent = await open();
      await suite.s.clients.admin.appendMessages({
        sessionId: parent,
        messages: [{ id: '', role: 1, parts: [{ kind: { $case: 'text', value: { text: 'context from the parent' } } }] }],
      });
      const texts = async (sessionId: string) =>
        (await suite.s.clients.sessions.getReadView({ sessionId, pageSize: 0, pageToken: '' })).messages.map((m) => JSON.stringify(m.parts));
      await suite.s.clients.admin.createChildSession(
        CreateChildSessionRequest.fromPartial({ sessionId: parent, childSessionId: `${parent}-copy`, start: ChildStart.CHILD_START_PARENT }),
      );
      expect(await texts(`${parent}-copy`)).toEqual(await texts(parent));
      const other = await open();
      await suite.s.clients.admin.appendMessages({
        sessionId: other,
        messages: [{ id: '', role: 1, parts: [{ kind: { $case: 'text', value: { text: 'from a snapshot' } } }] }],
      });
      const snapshot = (await suite.s.clients.sessions.exportSessionState({ sessionId: other })).state;
      await suite.s.clients.admin.createChildSession(
        CreateChildSessionRequest.fromPartial({
          sessionId: parent,
          childSessionId: `${parent}-snap`,
          start: ChildStart.CHILD_START_SNAPSHOT,
          snapshot: snapshot as never,
        }),
      );
      expect((await texts(`${parent}-snap`)).join()).toContain('from a snapshot');
      const missing = await rejection(
        suite.s.clients.admin.createChildSession(
          CreateChildSessionRequest.fromPartial({ sessionId: parent, childSessionId: `${parent}-none`, start: ChildStart.CHILD_START_SNAPSHOT }),
        ),
      );
      expect(missing.reason).toBe('SNAPSHOT_REQUIRED');
      expect((await rejection(suite.s.clients.sessions.getSession({ sessionId: `${parent}-none` }))).code).toBe(status.NOT_FOUND);
    });

    it('46: compaction opens a compaction frame whose read view is the summary; old content stays in the graph; usage under compaction; the feed shows the frame switch', async () => {
      const sessionId = await open();
      await runTurn(suite.s.clients, { sessionId, input: textInput('My name is Ada and I like graphs.') });
      const o = observe(suite.s.clients, sessionId);
      await o.waitFor((m) => m.length >= 1);
      suite.fake.script({ steps: [{ text: 'User Ada likes graphs.' }], usage: { input: 40, output: 6 } });
      const r = await suite.s.clients.admin.compactContext({ sessionId, instructions: 'Keep names.' });
      expect(r.compacted).toBe(true);
      const session = (await suite.s.clients.sessions.getSession({ sessionId })).session!;
      expect(session.frameId).toBe(r.frameId);
      const view = await suite.s.clients.sessions.getReadView({ sessionId, pageSize: 0, pageToken: '' });
      expect(view.frameId).toBe(r.frameId);
      expect(view.messages).toHaveLength(1);
      expect(JSON.stringify(view.messages[0])).toContain('User Ada likes graphs.');
      expect(JSON.stringify(suite.fake.requests[1]!.body.messages)).toContain('Keep names.'); // [0] was the turn, [1] the compaction
      const exported = await suite.s.clients.sessions.exportSessionState({ sessionId });
      const doc = exported.state!.document as { nodes: unknown[]; frames: { reason: string; status: string }[] };
      expect(JSON.stringify(doc.nodes)).toContain('My name is Ada');
      expect(doc.frames.map((f) => [f.reason, f.status])).toEqual([
        ['initial', 'superseded'],
        ['compaction', 'active'],
      ]);
      const usage = await suite.s.clients.sessions.getUsageReport({ sessionId });
      expect(usage.bySource.find((u) => u.source === 'compaction')?.usage).toMatchObject({ inputTokens: 40n, outputTokens: 6n });
      await o.waitFor((m) => m.some((x) => payloadCase(x) === 'agentFrameSwitched'));
      o.close();
      // The next turn sees the summary, not the old messages.
      suite.fake.script({ steps: [{ text: 'hi Ada' }] });
      await runTurn(suite.s.clients, { sessionId, input: textInput('who am I?') });
      const sent = JSON.stringify(suite.fake.requests[2]!.body.messages);
      expect(sent).toContain('User Ada likes graphs.');
      expect(sent).not.toContain('I like graphs.');
      const empty = await open();
      expect((await suite.s.clients.admin.compactContext({ sessionId: empty, instructions: '' })).compacted).toBe(false);
    });

    it('admin reads answer while a turn is blocked; admin writes wait for the turn', async () => {
      const sessionId = await open();
      suite.fake.script({ steps: [{ delayMs: 400 }, { text: 'slow' }] });
      const running = startRunTurn(suite.s.clients, { sessionId, input: textInput('slow one') });
      await until(() => suite.fake.requests.length === 1);
      await suite.s.clients.admin.getToolState({ sessionId }, { deadlineMs: 2000 });
      const write = suite.s.clients.admin.setToolAvailability({ sessionId, availability: { calculate: ToolAvailability.TOOL_AVAILABILITY_OFF } });
      const t = await running.done;
      const g = await write;
      expect(t.result?.outcome?.$case).toBe('finished');
      // The write landed after the turn's commit: its revision is newer.
      expect((await suite.s.clients.sessions.getSession({ sessionId })).session!.headRevision).toBe(t.result!.headRevision + 1n);
      expect(g.generation).toBe(1n);
    });
  });
}
