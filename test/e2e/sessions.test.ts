// Sessions over real gRPC, on each engine: DOMAIN.md §8 scenarios 1–9 (turn-dependent parts use
// AppendMessages as the commit until turns land).

import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageRole, type Message } from '../../gen/lash/v1/common.js';
import { OpenMode, ResidencyPolicy, SessionMode } from '../../gen/lash/v1/session.js';
import { OpenSessionRequest, type DeepPartial } from '../../gen/lash/v1/session_service.js';
import { engines } from '../support/engines.js';
import { rejection, startTestServer, type TestServer } from '../support/server.js';

const text = (t: string, role = MessageRole.MESSAGE_ROLE_USER): Message => ({ id: '', role, parts: [{ kind: { $case: 'text', value: { text: t } } }] });
const texts = (messages: Message[]) => messages.map((m) => (m.parts[0]?.kind?.$case === 'text' ? m.parts[0].kind.value.text : '?'));

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`sessions over gRPC on ${engine.name}`, () => {
    let s: TestServer;
    beforeAll(async () => {
      // This server offers only the standard mode (scenario 2).
      s = await startTestServer(engine, { LASH_MODES: 'standard' });
    });
    afterAll(async () => s?.close());

    const open = (sessionId: string, extra: DeepPartial<OpenSessionRequest> = {}) =>
      s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId, ...extra }));
    const view = async (sessionId: string) => texts((await s.clients.sessions.getReadView({ sessionId, pageSize: 0, pageToken: '' })).messages);
    const append = (sessionId: string, ...t: string[]) => s.clients.admin.appendMessages({ sessionId, messages: t.map((x) => text(x)) });

    it('1: opens a new id as an empty standard session at turn 0, and the same id again resumes it', async () => {
      const first = await open('s1');
      expect(first.created).toBe(true);
      expect(first.session).toMatchObject({ sessionId: 's1', mode: SessionMode.SESSION_MODE_STANDARD, turnIndex: 0n, headRevision: 0n });
      expect(await view('s1')).toEqual([]);
      const again = await open('s1');
      expect(again.created).toBe(false);
      expect(again.session?.createTime).toEqual(first.session?.createTime);
      expect(again.session?.frameId).toBe(first.session?.frameId);
      const got = await s.clients.sessions.getSession({ sessionId: 's1' });
      expect(got.session?.sessionId).toBe('s1');
    });

    it('2: a mode the server does not offer is FAILED_PRECONDITION and creates nothing', async () => {
      const r = await rejection(open('s2', { mode: SessionMode.SESSION_MODE_RLM }));
      expect(r.code).toBe(status.FAILED_PRECONDITION);
      expect(r.reason).toBe('MODE_UNAVAILABLE');
      expect((await rejection(s.clients.sessions.getSession({ sessionId: 's2' }))).code).toBe(status.NOT_FOUND);
    });

    it('3: open fresh starts empty and replaces the persisted history', async () => {
      await open('s3');
      await append('s3', 'old one', 'old two');
      expect(await view('s3')).toEqual(['old one', 'old two']);
      const fresh = await open('s3', { openMode: OpenMode.OPEN_MODE_FRESH });
      expect(fresh.created).toBe(true);
      expect(fresh.session?.turnIndex).toBe(0n);
      expect(await view('s3')).toEqual([]);
      await append('s3', 'new');
      await open('s3');
      expect(await view('s3')).toEqual(['new']);
    });

    it("4: with_state rejects another session's state and restores the export of the same session", async () => {
      await open('s4a');
      await append('s4a', 'a1', 'a2');
      const exported = await s.clients.sessions.exportSessionState({ sessionId: 's4a' });
      await append('s4a', 'a3 after export');
      const mismatch = await rejection(open('s4b', { openMode: OpenMode.OPEN_MODE_WITH_STATE, state: exported.state as never }));
      expect(mismatch.code).toBe(status.FAILED_PRECONDITION);
      expect(mismatch.reason).toBe('STATE_SESSION_MISMATCH');
      expect(mismatch.message).toContain('s4a');
      expect(mismatch.message).toContain('s4b');
      expect((await rejection(s.clients.sessions.getSession({ sessionId: 's4b' }))).code).toBe(status.NOT_FOUND);
      await open('s4a', { openMode: OpenMode.OPEN_MODE_WITH_STATE, state: exported.state as never });
      expect(await view('s4a')).toEqual(['a1', 'a2']);
      // Importing into a new id works as well (state of that id).
      await s.clients.sessions.deleteSession({ sessionId: 's4a' });
      await open('s4a', { openMode: OpenMode.OPEN_MODE_WITH_STATE, state: exported.state as never });
      expect(await view('s4a')).toEqual(['a1', 'a2']);
    });

    async function twoBranches(sessionId: string, residency: ResidencyPolicy) {
      await open(sessionId, { residency });
      await append(sessionId, 'root');
      // A message id is its node id: branch to it straight from the read view.
      const rootId = (await s.clients.sessions.getReadView({ sessionId, pageSize: 0, pageToken: '' })).messages[0]!.id;
      await append(sessionId, 'branch A');
      await s.clients.admin.branchToNode({ sessionId, nodeId: rootId });
      await append(sessionId, 'branch B');
    }

    it('5: active_path_only reads only the active branch; keep_all keeps both in the graph', async () => {
      await twoBranches('s5a', ResidencyPolicy.RESIDENCY_POLICY_ACTIVE_PATH_ONLY);
      expect(await view('s5a')).toEqual(['root', 'branch B']);
      await twoBranches('s5k', ResidencyPolicy.RESIDENCY_POLICY_KEEP_ALL);
      expect(await view('s5k')).toEqual(['root', 'branch B']);
      const graph = (await s.clients.sessions.exportSessionState({ sessionId: 's5k' })).state?.document?.nodes as {
        payload: { message: { parts: { text: string }[] } };
      }[];
      expect(graph.map((n) => n.payload.message.parts[0]!.text).sort()).toEqual(['branch A', 'branch B', 'root']);
      const session = (await s.clients.sessions.getSession({ sessionId: 's5a' })).session!;
      expect(session.residency).toBe(ResidencyPolicy.RESIDENCY_POLICY_ACTIVE_PATH_ONLY);
    });

    it('6: a leaf pointing at a missing node heals from the full graph with a full-replacement commit', async () => {
      await open('s6', { residency: ResidencyPolicy.RESIDENCY_POLICY_ACTIVE_PATH_ONLY });
      await append('s6', 'm1', 'm2');
      const before = (await s.clients.sessions.getSession({ sessionId: 's6' })).session!;
      // An out-of-band writer (the head revision moves, so resident copies are stale everywhere).
      await s.app.db.em().getConnection().execute(`update sessions set leaf_node_id = 'gone', head_revision = head_revision + 1 where session_id = 's6'`);
      await open('s6');
      expect(await view('s6')).toEqual(['m1', 'm2']);
      const commits = await s.app.sessions['store'].commits('default', 's6', 1);
      expect(commits[0]).toMatchObject({ kind: 'heal', graphWrite: 'replace' });
      const after = (await s.clients.sessions.getSession({ sessionId: 's6' })).session!;
      expect(after.headRevision).toBe(before.headRevision + 2n);
      await append('s6', 'm3');
      expect(await view('s6')).toEqual(['m1', 'm2', 'm3']);
    });

    it('7: delete removes every row of the session; reopening starts empty', async () => {
      await open('s7', { metadata: { team: 'x' } });
      await append('s7', 'hello');
      const deleted = await s.clients.sessions.deleteSession({ sessionId: 's7' });
      expect(deleted.deleted).toBe(true);
      const conn = s.app.db.em().getConnection();
      for (const table of ['sessions', 'session_nodes', 'agent_frames', 'session_commits', 'usage_entries', 'session_blobs']) {
        const [row] = await conn.execute(`select count(*)::int as n from ${table} where session_id = 's7'`);
        expect(row.n, table).toBe(0);
      }
      expect((await s.clients.sessions.deleteSession({ sessionId: 's7' })).deleted).toBe(false);
      const reopened = await open('s7');
      expect(reopened.created).toBe(true);
      expect(await view('s7')).toEqual([]);
    });

    it('8: a provider the server does not have is FAILED_PRECONDITION naming the session and both providers', async () => {
      const r = await rejection(open('s8', { spec: { providerId: 'x', model: { id: 'm', variant: '' } } }));
      expect(r.code).toBe(status.FAILED_PRECONDITION);
      expect(r.reason).toBe('PROVIDER_UNAVAILABLE');
      expect(r.message).toContain('"s8"');
      expect(r.message).toContain('"x"');
      expect(r.message).toContain('echo');
      expect(r.metadata).toMatchObject({ session_id: 's8', provider_id: 'x' });
    });

    it('lists sessions in pages, filtered by parent and metadata', async () => {
      await open('list-p', { metadata: { kind: 'parent' } });
      await open('list-c1', { parentSessionId: 'list-p', metadata: { kind: 'child' } });
      await open('list-c2', { parentSessionId: 'list-p', metadata: { kind: 'child', tier: 'gold' } });
      const children = await s.clients.sessions.listSessions({ pageSize: 1, pageToken: '', filter: { parentSessionId: 'list-p', metadata: {} } });
      expect(children.sessions.map((x) => x.sessionId)).toEqual(['list-c1']);
      const next = await s.clients.sessions.listSessions({
        pageSize: 1,
        pageToken: children.nextPageToken,
        filter: { parentSessionId: 'list-p', metadata: {} },
      });
      expect(next.sessions.map((x) => x.sessionId)).toEqual(['list-c2']);
      expect(next.nextPageToken).toBe('');
      const roots = await s.clients.sessions.listSessions({ pageSize: 500, pageToken: '', filter: { parentSessionId: '', metadata: {} } });
      expect(roots.sessions.map((x) => x.sessionId)).toContain('list-p');
      expect(roots.sessions.map((x) => x.sessionId)).not.toContain('list-c1');
      const gold = await s.clients.sessions.listSessions({ pageSize: 0, pageToken: '', filter: { metadata: { tier: 'gold' } } });
      expect(gold.sessions.map((x) => x.sessionId)).toEqual(['list-c2']);
      const child = (await s.clients.sessions.getSession({ sessionId: 'list-c1' })).session!;
      expect(child.parentSessionId).toBe('list-p');
      expect(child.finalAnswerFormat?.kind?.$case).toBe('rawSubmitValue');
    });

    it('updates the config at once and keeps it on resume; close parks, any read resumes', async () => {
      await open('cfg', { spec: { maxTurns: 3 } });
      const updated = await s.clients.sessions.updateSessionConfig({
        sessionId: 'cfg',
        model: { id: 'echo-2', variant: '', contextWindowTokens: 5000n, reasoningEffort: 0 },
        providerId: '',
        updateMask: ['model'],
      });
      expect(updated.session?.spec?.model).toMatchObject({ id: 'echo-2', contextWindowTokens: 5000n });
      expect(updated.session?.spec?.maxTurns).toBe(3);
      const resumed = await open('cfg');
      expect(resumed.session?.spec?.model?.id).toBe('echo-2');
      await s.clients.sessions.closeSession({ sessionId: 'cfg' });
      expect((await s.clients.sessions.getSession({ sessionId: 'cfg' })).session?.status).toBe(3 /* PARKED */);
      expect((await open('cfg')).session?.status).toBe(1 /* IDLE */);
    });

    it('usage report of a session without turns is all zeros', async () => {
      await open('usage0');
      const r = await s.clients.sessions.getUsageReport({ sessionId: 'usage0' });
      expect(r.total).toEqual({ inputTokens: 0n, outputTokens: 0n, cachedInputTokens: 0n, reasoningTokens: 0n, cacheWriteTokens: 0n });
      expect(r.bySource).toEqual([]);
    });
  });
}
