// Contract of the SessionStore port, run against every store: in memory, PGlite and PostgreSQL
// (see session-store.test.ts).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeedStore, SessionStore } from '../../src/domain/ports.js';
import type { SessionHead } from '../../src/domain/session.js';
import { testHead } from '../support/heads.js';
import type { GraphNode } from '../../src/domain/graph.js';
import type { FeedPayload } from '../../src/domain/feed/types.js';
import type { StoreEngine } from '../support/store-engines.js';

const tenant = 't1';
const head = (sessionId: string, extra: Partial<SessionHead> = {}) => testHead(sessionId, { tenantId: tenant, ...extra });

const msg = (id: string, parent?: string): GraphNode => ({
  nodeId: id,
  parentNodeId: parent,
  timestamp: new Date(),
  payload: { type: 'message', message: { id, role: 'user', parts: [{ kind: 'text', text: id }] } },
});

export function describeSessionStoreContract(engine: StoreEngine) {
  describe.skipIf(!engine.enabled)(`SessionStore contract on ${engine.name}`, () => {
    let store: SessionStore;
    let feed: FeedStore;
    let close: () => Promise<void>;
    beforeAll(async () => {
      const opened = await engine.open();
      feed = opened.feed;
      store = opened.sessions;
      close = opened.close;
    });

    it("a commit carries feed events: stored after the feed's own, with the new revision, and only if the commit lands", async () => {
      const t = 't-carry';
      const h = head('s-carry', { tenantId: t });
      await store.create(h, { frameId: h.currentFrameId, status: 'active', reason: 'initial', createdAt: new Date() });
      await feed.append(t, 's-carry', 0n, [{ kind: 'session_changed', what: 'open' }]);
      const carried: FeedPayload[] = [
        { kind: 'session_changed', what: 'config' },
        { kind: 'committed', revision: 1n, turnId: 'turn-c' },
      ];
      const out = await store.commit({
        tenantId: t,
        sessionId: 's-carry',
        expectedRevision: 0n,
        kind: 'turn',
        head: { ...h, leafNodeId: 'a' },
        graph: { kind: 'append', nodes: [msg('a')] },
        frames: [],
        usage: [],
        turnId: 'turn-c',
        feed: carried,
      });
      expect(out.revision).toBe(1n);
      expect(out.feed?.map((r) => [r.seq, r.revision, r.payload.kind])).toEqual([
        [2n, 1n, 'session_changed'],
        [3n, 1n, 'committed'],
      ]);
      const read = await feed.read(t, 's-carry', 0n, 10);
      expect(read.map((r) => [r.seq, r.payload])).toEqual([
        [1n, { kind: 'session_changed', what: 'open' }],
        [2n, carried[0]],
        [3n, carried[1]],
      ]);
      expect(await feed.openTurn(t, 's-carry')).toBeUndefined();
      // A stale revision writes nothing, the carried events included.
      await expect(
        store.commit({
          tenantId: t,
          sessionId: 's-carry',
          expectedRevision: 0n,
          kind: 'turn',
          head: { ...h, leafNodeId: 'b' },
          graph: { kind: 'append', nodes: [msg('b', 'a')] },
          frames: [],
          usage: [],
          turnId: 'turn-d',
          feed: carried,
        }),
      ).rejects.toMatchObject({ reason: 'REVISION_CONFLICT' });
      expect((await feed.head(t, 's-carry')).lastSeq).toBe(3n);
      // A commit the single statement cannot take (a replace) leaves the events to the caller.
      const replaced = await store.commit({
        tenantId: t,
        sessionId: 's-carry',
        expectedRevision: 1n,
        kind: 'heal',
        head: { ...h, leafNodeId: 'x' },
        graph: { kind: 'replace', nodes: [msg('x')] },
        frames: [],
        usage: [],
        feed: carried,
      });
      expect(replaced).toEqual({ revision: 2n });
      expect((await feed.head(t, 's-carry')).lastSeq).toBe(3n);
    });
    afterAll(async () => close?.());

    it('creates a session once and reads it back', async () => {
      const h = head('s1', { metadata: { team: 'a' } });
      expect(await store.create(h, { frameId: h.currentFrameId, status: 'active', reason: 'initial', createdAt: new Date() })).toBe(true);
      expect(await store.create(h, { frameId: h.currentFrameId, status: 'active', reason: 'initial', createdAt: new Date() })).toBe(false);
      const read = await store.getHead(tenant, 's1');
      expect(read?.metadata).toEqual({ team: 'a' });
      expect(read?.headRevision).toBe(0n);
      expect(await store.getHead('other-tenant', 's1')).toBeUndefined();
    });

    it('creates a session together with its first nodes, in order', async () => {
      const t = 't-seed'; // its own tenant: other cases list the tenant's sessions
      const h = head('seeded', { tenantId: t, leafNodeId: 'n2' });
      expect(
        await store.create(h, { frameId: h.currentFrameId, status: 'active', reason: 'initial', createdAt: new Date() }, [msg('n1'), msg('n2', 'n1')]),
      ).toBe(true);
      expect((await store.getHead(t, 'seeded'))?.headRevision).toBe(0n);
      expect((await store.loadGraph(t, 'seeded', 'n2', 'keep_all')).nodes.map((n) => n.nodeId)).toEqual(['n1', 'n2']);
      // A taken id inserts nothing, nodes included.
      expect(
        await store.create({ ...h, leafNodeId: 'n3' }, { frameId: h.currentFrameId, status: 'active', reason: 'initial', createdAt: new Date() }, [msg('n3')]),
      ).toBe(false);
      expect((await store.loadGraph(t, 'seeded', 'n2', 'keep_all')).nodes.map((n) => n.nodeId)).toEqual(['n1', 'n2']);
    });

    it('an attachment is readable only through a session that references it', async () => {
      const bytes = new Uint8Array([137, 80, 78, 71, 0, 255, 1, 2]);
      const hash = 'h-attach';
      for (const [t, id] of [
        ['t-att', 's-att'],
        ['t-att', 's-att-other'],
        ['t-att-2', 's-att'],
      ] as const) {
        const h = head(id, { tenantId: t });
        await store.create(h, { frameId: h.currentFrameId, status: 'active', reason: 'initial', createdAt: new Date() });
      }
      const h = (await store.getHead('t-att', 's-att'))!;
      await store.commit({
        tenantId: 't-att',
        sessionId: 's-att',
        expectedRevision: 0n,
        kind: 'test',
        head: { ...h, leafNodeId: 'img' },
        graph: { kind: 'append', nodes: [msg('img')] },
        frames: [],
        usage: [],
        blobs: [{ hash, mimeType: 'image/png', data: bytes }],
      });
      const all = { offset: 0, length: 100 };
      expect(await store.attachment('t-att', 's-att', hash, all)).toEqual({ data: bytes, mimeType: 'image/png', totalBytes: 8 });
      // A range reads only its bytes (fewer at the end, none past it) and still tells the size.
      expect(await store.attachment('t-att', 's-att', hash, { offset: 3, length: 3 })).toEqual({
        data: bytes.slice(3, 6),
        mimeType: 'image/png',
        totalBytes: 8,
      });
      expect(await store.attachment('t-att', 's-att', hash, { offset: 6, length: 5 })).toEqual({ data: bytes.slice(6), mimeType: 'image/png', totalBytes: 8 });
      expect(await store.attachment('t-att', 's-att', hash, { offset: 9, length: 5 })).toEqual({
        data: new Uint8Array(),
        mimeType: 'image/png',
        totalBytes: 8,
      });
      // Same tenant, other session; same session id, other tenant; unknown hash; unknown session.
      expect(await store.attachment('t-att', 's-att-other', hash, all)).toBeUndefined();
      expect(await store.attachment('t-att-2', 's-att', hash, all)).toBeUndefined();
      expect(await store.attachment('t-att', 's-att', 'h-none', all)).toBeUndefined();
      expect(await store.attachment('t-att', 's-none', hash, all)).toBeUndefined();
      // Deleting the session drops its reference.
      await store.delete('t-att', 's-att');
      expect(await store.attachment('t-att', 's-att', hash, all)).toBeUndefined();
    });

    it('a commit repeating a stored node id is ALREADY_EXISTS NODE_ID_TAKEN and writes nothing', async () => {
      const t = 't-dup'; // its own tenant: other cases list the tenant's sessions
      const h = head('s-dup', { tenantId: t });
      await store.create(h, { frameId: h.currentFrameId, status: 'active', reason: 'initial', createdAt: new Date() });
      await store.commit({
        tenantId: t,
        sessionId: 's-dup',
        expectedRevision: 0n,
        kind: 'test',
        head: { ...h, leafNodeId: 'a' },
        graph: { kind: 'append', nodes: [msg('a')] },
        frames: [],
        usage: [],
      });
      const usage = [
        { source: 'turn', model: 'echo', usage: { inputTokens: 1n, outputTokens: 1n, cachedInputTokens: 0n, reasoningTokens: 0n, cacheWriteTokens: 0n } },
      ];
      await expect(
        store.commit({
          tenantId: t,
          sessionId: 's-dup',
          expectedRevision: 1n,
          kind: 'test',
          head: { ...h, leafNodeId: 'a' },
          graph: { kind: 'append', nodes: [msg('b', 'a'), msg('a', 'b')] },
          frames: [],
          usage,
          turnId: 'dup',
        }),
      ).rejects.toMatchObject({ reason: 'NODE_ID_TAKEN' });
      expect((await store.getHead(t, 's-dup'))?.headRevision).toBe(1n);
      expect((await store.loadGraph(t, 's-dup', 'a', 'keep_all')).nodes.map((n) => n.nodeId)).toEqual(['a']);
      expect(await store.usage(t, 's-dup')).toEqual([]);
      expect(await store.findTurn(t, 's-dup', 'dup')).toBeUndefined();
    });

    it('commits atomically and rejects a stale revision without writing', async () => {
      const h = (await store.getHead(tenant, 's1'))!;
      const r1 = await store.commit({
        tenantId: tenant,
        sessionId: 's1',
        expectedRevision: 0n,
        kind: 'test',
        head: { ...h, leafNodeId: 'b' },
        graph: { kind: 'append', nodes: [msg('a'), msg('b', 'a')] },
        frames: [],
        usage: [
          { source: 'turn', model: 'echo', usage: { inputTokens: 3n, outputTokens: 4n, cachedInputTokens: 2n, reasoningTokens: 1n, cacheWriteTokens: 1n } },
        ],
        turnId: 'turn-1',
      });
      expect(r1.revision).toBe(1n);
      await expect(
        store.commit({
          tenantId: tenant,
          sessionId: 's1',
          expectedRevision: 0n,
          kind: 'test',
          head: h,
          graph: { kind: 'append', nodes: [msg('zzz')] },
          frames: [],
          usage: [],
        }),
      ).rejects.toMatchObject({ reason: 'REVISION_CONFLICT' });
      const { nodes } = await store.loadGraph(tenant, 's1', 'b', 'keep_all');
      expect(nodes.map((n) => n.nodeId)).toEqual(['a', 'b']);
      expect((await store.getHead(tenant, 's1'))?.headRevision).toBe(1n);
      const usage = await store.usage(tenant, 's1');
      expect(usage).toEqual([
        { source: 'turn', model: 'echo', usage: { inputTokens: 3n, outputTokens: 4n, cachedInputTokens: 2n, reasoningTokens: 1n, cacheWriteTokens: 1n } },
      ]);
      expect((await store.commits(tenant, 's1', 10))[0]).toMatchObject({ revision: 1n, kind: 'test', graphWrite: 'append', turnId: 'turn-1' });
    });

    it('loads only the active path under active_path_only', async () => {
      const h = (await store.getHead(tenant, 's1'))!;
      // a → b (existing), a → c (new branch, becomes leaf)
      await store.commit({
        tenantId: tenant,
        sessionId: 's1',
        expectedRevision: 1n,
        kind: 'test',
        head: { ...h, leafNodeId: 'c' },
        graph: { kind: 'append', nodes: [msg('c', 'a')] },
        frames: [],
        usage: [],
      });
      const active = await store.loadGraph(tenant, 's1', 'c', 'active_path_only');
      expect(active.nodes.map((n) => n.nodeId)).toEqual(['a', 'c']);
      const all = await store.loadGraph(tenant, 's1', 'c', 'keep_all');
      expect(all.nodes.map((n) => n.nodeId)).toEqual(['a', 'b', 'c']);
      expect((await store.loadGraph(tenant, 's1', 'missing', 'active_path_only')).nodes).toEqual([]);
    });

    it('replaces the graph on a full replacement', async () => {
      const h = (await store.getHead(tenant, 's1'))!;
      await store.commit({
        tenantId: tenant,
        sessionId: 's1',
        expectedRevision: h.headRevision,
        kind: 'fresh',
        head: { ...h, leafNodeId: 'x' },
        graph: { kind: 'replace', nodes: [msg('x')] },
        frames: [],
        usage: [],
      });
      expect((await store.loadGraph(tenant, 's1', 'x', 'keep_all')).nodes.map((n) => n.nodeId)).toEqual(['x']);
    });

    it('lists by id with filters on parent and metadata', async () => {
      await store.create(head('s2', { parentSessionId: 's1', metadata: { team: 'a', tier: 'gold' } }), {
        frameId: 'f-s2',
        status: 'active',
        reason: 'initial',
        createdAt: new Date(),
      });
      await store.create(head('s3', { metadata: { team: 'b' } }), { frameId: 'f-s3', status: 'active', reason: 'initial', createdAt: new Date() });
      expect((await store.list(tenant, { metadata: {} }, undefined, 10)).map((s) => s.sessionId)).toEqual(['s1', 's2', 's3']);
      expect((await store.list(tenant, { metadata: {} }, 's1', 10)).map((s) => s.sessionId)).toEqual(['s2', 's3']);
      expect((await store.list(tenant, { parentSessionId: 's1', metadata: {} }, undefined, 10)).map((s) => s.sessionId)).toEqual(['s2']);
      expect((await store.list(tenant, { metadata: { team: 'a' } }, undefined, 10)).map((s) => s.sessionId)).toEqual(['s1', 's2']);
    });

    it('rolls child usage into the parent under the child source', async () => {
      const child = (await store.getHead(tenant, 's2'))!;
      await store.commit({
        tenantId: tenant,
        sessionId: 's2',
        expectedRevision: 0n,
        kind: 'turn',
        head: child,
        graph: { kind: 'none' },
        frames: [],
        usage: [
          { source: 'turn', model: 'm2', usage: { inputTokens: 1n, outputTokens: 1n, cachedInputTokens: 0n, reasoningTokens: 0n, cacheWriteTokens: 5n } },
        ],
      });
      const usage = await store.usage(tenant, 's1');
      expect(usage.find((u) => u.source === 'child')).toMatchObject({ model: 'm2', usage: { inputTokens: 1n, cacheWriteTokens: 5n } });
    });

    it('deletes every row of a session and nothing of others', async () => {
      expect(await store.delete(tenant, 's1')).toBe(true);
      expect(await store.getHead(tenant, 's1')).toBeUndefined();
      expect((await store.loadGraph(tenant, 's1', 'x', 'keep_all')).nodes).toEqual([]);
      expect(await store.commits(tenant, 's1', 10)).toEqual([]);
      expect((await store.usage(tenant, 's1')).filter((u) => u.source !== 'child')).toEqual([]);
      expect(await store.getHead(tenant, 's2')).toBeDefined();
      expect(await store.delete(tenant, 's1')).toBe(false);
    });

    it('stores any string losslessly: NUL and lone surrogates round-trip through a commit, the graph, the turn lookup and the one-statement and transactional paths', async () => {
      const t = 't-text'; // its own tenant: other cases list the tenant's sessions
      const hard = 'nul:\u0000 lone-high:\ud83d lone-low:\udc68 pair:\u{1F468} end';
      const node = (id: string, parent?: string): GraphNode => ({
        ...msg(id, parent),
        payload: { type: 'message', message: { id, role: 'user', parts: [{ kind: 'text', text: `${id} ${hard}` }] } },
      });
      const h = head('s-text', { tenantId: t });
      await store.create(h, { frameId: h.currentFrameId, status: 'active', reason: 'initial', createdAt: new Date() }, [node('a')]);
      // One statement (append) and the transactional path (replace).
      await store.commit({
        tenantId: t,
        sessionId: 's-text',
        expectedRevision: 0n,
        kind: 'turn',
        head: { ...h, leafNodeId: 'b', headRevision: 1n },
        graph: { kind: 'append', nodes: [node('b', 'a')] },
        frames: [],
        usage: [],
        turnId: 'turn-1',
        result: { text: hard },
      });
      expect((await store.findTurn(t, 's-text', 'turn-1'))?.result).toEqual({ text: hard });
      const texts = async () =>
        (await store.loadGraph(t, 's-text', 'b', 'keep_all')).nodes.map(
          (n) => (n.payload as { message: { parts: { text: string }[] } }).message.parts[0]!.text,
        );
      expect(await texts()).toEqual([`a ${hard}`, `b ${hard}`]);
      await store.commit({
        tenantId: t,
        sessionId: 's-text',
        expectedRevision: 1n,
        kind: 'heal',
        head: { ...h, leafNodeId: 'b', headRevision: 2n },
        graph: { kind: 'replace', nodes: [node('a'), node('b', 'a')] },
        frames: [],
        usage: [],
        turnId: 'turn-2',
        result: { text: hard },
      });
      expect(await texts()).toEqual([`a ${hard}`, `b ${hard}`]);
      expect((await store.headAndTurn(t, 's-text', 'turn-2')).turn?.result).toEqual({ text: hard });
      expect((await store.loadGraph(t, 's-text', 'b', 'active_path_only')).nodes.map((n) => n.nodeId)).toEqual(['a', 'b']);
    });
  });
}
