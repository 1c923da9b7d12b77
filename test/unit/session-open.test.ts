// Session open and heal on the in-memory store (no server, no database): create, resume without
// a write, fresh replaces the graph, a dangling leaf is healed and the heal persisted, and every
// id and timestamp comes from the ports the service was given.

import { afterEach, describe, expect, it } from 'vitest';
import { CountingIds, ManualClock } from '../../src/domain/clock.js';
import type { GraphNode } from '../../src/domain/graph.js';
import { buildDomain, type Domain } from '../support/domain.js';

const text = (id: string, parent?: string): GraphNode => ({
  nodeId: id,
  parentNodeId: parent,
  timestamp: new Date(0),
  payload: { type: 'message', message: { id, role: 'user', parts: [{ kind: 'text', text: id }] } },
});

describe('session open and heal (unit, in memory)', () => {
  let d: Domain;
  afterEach(async () => d?.close());

  it('creates on the first open, resumes without a new revision, and fresh starts a new frame with an empty graph', async () => {
    d = buildDomain();
    const first = await d.sessions.open(d.ctx, {
      sessionId: 's',
      openMode: 'resume',
      policy: {},
      seed: [{ id: 'm1', role: 'user', parts: [{ kind: 'text', text: 'hi' }] }],
    });
    expect(first).toMatchObject({ created: true, head: { headRevision: 0n, leafNodeId: 'm1' } });
    const again = await d.sessions.open(d.ctx, { sessionId: 's', openMode: 'resume', policy: {} });
    expect(again).toMatchObject({ created: false, head: { headRevision: 0n, leafNodeId: 'm1' } });
    expect(await d.stores.sessions.commits('unit', 's', 10)).toEqual([]);
    const fresh = await d.sessions.open(d.ctx, { sessionId: 's', openMode: 'fresh', policy: {} });
    expect(fresh.head.headRevision).toBe(1n);
    expect(fresh.head.leafNodeId).toBeUndefined();
    expect(fresh.head.currentFrameId).not.toBe(first.head.currentFrameId);
    expect((await d.sessions.load(d.ctx, 's')).graph.nodes).toEqual([]);
  });

  it('takes its clock and ids from the ports: the frame id, the times and the node stamps are the given ones', async () => {
    const clock = new ManualClock(Date.UTC(2030, 0, 2));
    d = buildDomain({ runtime: { clock, ids: new CountingIds('u') } });
    const { head } = await d.sessions.open(d.ctx, { sessionId: 'c', openMode: 'resume', policy: {} });
    expect(head.currentFrameId).toBe('u-1');
    expect(head.createdAt.toISOString()).toBe('2030-01-02T00:00:00.000Z');
    await d.sessions.appendMessages(d.ctx, 'c', [{ id: '', role: 'user', parts: [{ kind: 'text', text: 'x' }] }]);
    clock.advance(90_000);
    const later = await d.sessions.appendMessages(d.ctx, 'c', [{ id: '', role: 'user', parts: [{ kind: 'text', text: 'y' }] }]);
    expect(later.updatedAt.toISOString()).toBe('2030-01-02T00:01:30.000Z');
    const nodes = (await d.sessions.load(d.ctx, 'c')).graph.nodes;
    expect(nodes.map((n) => [n.nodeId, n.timestamp.toISOString()])).toEqual([
      ['u-2', '2030-01-02T00:00:00.000Z'],
      ['u-3', '2030-01-02T00:01:30.000Z'],
    ]);
  });

  it('heals a dangling leaf on open: the leaf moves to the latest message and the heal is committed once', async () => {
    d = buildDomain();
    await d.sessions.open(d.ctx, { sessionId: 'h', openMode: 'resume', policy: {} });
    const head = (await d.stores.sessions.getHead('unit', 'h'))!;
    // A leaf naming a node that is not stored (a store that lost it, an import gone wrong).
    await d.stores.sessions.commit({
      tenantId: 'unit',
      sessionId: 'h',
      expectedRevision: 0n,
      kind: 'test',
      head: { ...head, leafNodeId: 'ghost' },
      graph: { kind: 'append', nodes: [text('a'), text('b', 'a')] },
      frames: [],
      usage: [],
    });
    const { head: healed } = await d.sessions.open(d.ctx, { sessionId: 'h', openMode: 'resume', policy: {} });
    expect(healed).toMatchObject({ leafNodeId: 'b', headRevision: 2n });
    expect((await d.stores.sessions.commits('unit', 'h', 10)).map((c) => c.kind)).toEqual(['heal', 'test']);
    // Healed once: the next open reads a sound session and writes nothing.
    await d.sessions.open(d.ctx, { sessionId: 'h', openMode: 'resume', policy: {} });
    expect((await d.stores.sessions.getHead('unit', 'h'))?.headRevision).toBe(2n);
  });

  it('refuses an unknown parent and a parent cycle before writing anything', async () => {
    d = buildDomain();
    await expect(d.sessions.open(d.ctx, { sessionId: 'kid', openMode: 'resume', policy: {}, parentSessionId: 'nobody' })).rejects.toMatchObject({
      reason: 'PARENT_NOT_FOUND',
    });
    expect(await d.stores.sessions.getHead('unit', 'kid')).toBeUndefined();
    await d.sessions.open(d.ctx, { sessionId: 'p', openMode: 'resume', policy: {} });
    await d.sessions.open(d.ctx, { sessionId: 'q', openMode: 'resume', policy: {}, parentSessionId: 'p' });
    await expect(d.sessions.open(d.ctx, { sessionId: 'p', openMode: 'resume', policy: {}, parentSessionId: 'q' })).rejects.toMatchObject({
      errorClass: 'FAILED_PRECONDITION',
    });
  });
});
