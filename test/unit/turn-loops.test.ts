// Both turn loops on the in-memory store (no server, no database): a RunTurn with the echo model
// (text, a tool call, an idempotent retry), the queue drain (claims completed by the turn's
// commit, one batch per exclusive turn, session commands applied at the head), compaction into
// a new frame, and the tool state document.

import { afterEach, describe, expect, it } from 'vitest';
import type { TurnRequest } from '../../src/domain/turns/types.js';
import { buildDomain, type Domain } from '../support/domain.js';

const say = (sessionId: string, text: string, turnId?: string): TurnRequest => ({
  sessionId,
  turnId,
  input: { items: [{ kind: 'text', text }], imageBlobs: {} },
  overrides: {},
});

describe('turn loops (unit, in memory)', () => {
  let d: Domain;
  afterEach(async () => d?.close());

  const open = async (sessionId: string) => d.sessions.open(d.ctx, { sessionId, openMode: 'resume', policy: {} });

  it('RunTurn: the echo answer is committed with the user message, its usage, and the turn id; a retry returns the stored result', async () => {
    d = buildDomain();
    await open('s');
    const result = await d.turns.run(d.ctx, say('s', 'hello there', 't-1'));
    expect(result).toMatchObject({ turnId: 't-1', turnIndex: 1n, headRevision: 1n, outcome: { type: 'finished' } });
    expect(result.assistantOutput.rawText).toBe('hello there');
    const nodes = (await d.sessions.load(d.ctx, 's')).graph.nodes;
    expect(nodes.map((n) => (n.payload.type === 'message' ? n.payload.message.role : n.payload.type))).toEqual(['user', 'assistant']);
    expect((await d.stores.sessions.findTurn('unit', 's', 't-1'))?.revision).toBe(1n);
    expect((await d.stores.sessions.usage('unit', 's'))[0]?.usage.outputTokens).toBeGreaterThan(0n);
    // Same id, same content: the stored result, no second commit. Same id, other content: refused.
    expect(await d.turns.run(d.ctx, say('s', 'hello there', 't-1'))).toMatchObject({ turnId: 't-1', headRevision: 1n });
    await expect(d.turns.run(d.ctx, say('s', 'something else', 't-1'))).rejects.toMatchObject({ reason: 'TURN_ID_REUSED' });
    expect((await d.stores.sessions.getHead('unit', 's'))?.headRevision).toBe(1n);
  });

  it('RunTurn: a tool call runs the built-in tool and the model answers with its output', async () => {
    d = buildDomain();
    await open('tools');
    const result = await d.turns.run(d.ctx, say('tools', '/tool calculate {"op":"multiply","a":6,"b":7}'));
    expect(result.hadToolCalls).toBe(true);
    expect(result.toolCalls).toMatchObject([{ tool: 'calculate', output: { result: 42 }, isError: false }]);
    expect(result.assistantOutput.rawText).toContain('42');
  });

  it('RunTurn with an image and no text: echo describes the image instead of failing the turn', async () => {
    d = buildDomain();
    await open('img');
    const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
    const result = await d.turns.run(d.ctx, {
      sessionId: 'img',
      input: { items: [{ kind: 'image_ref', id: 'a' }], imageBlobs: { a: { data: png, mimeType: 'image/png' } } },
      overrides: {},
    });
    expect(result.outcome).toMatchObject({ type: 'finished' });
    expect(result.assistantOutput.rawText).toBe('[image image/png, 7 bytes]');
  });

  it('RunTurn on a missing session is NOT_FOUND and writes nothing', async () => {
    d = buildDomain();
    await expect(d.turns.run(d.ctx, say('nobody', 'x'))).rejects.toMatchObject({ reason: 'SESSION_NOT_FOUND' });
    expect(d.stores.tables.sessions.size).toBe(0);
  });

  it('queue drain: each exclusive batch is its own turn, its claim completed by the commit; an empty queue drains nothing', async () => {
    d = buildDomain();
    await open('q');
    const a = await d.queue.enqueue(d.ctx, {
      sessionId: 'q',
      input: { items: [{ kind: 'text', text: 'first' }], imageBlobs: {} },
      deliveryPolicy: 'after_current_turn_commit',
      slotPolicy: 'exclusive',
    });
    const b = await d.queue.enqueue(d.ctx, {
      sessionId: 'q',
      input: { items: [{ kind: 'text', text: 'second' }], imageBlobs: {} },
      deliveryPolicy: 'after_current_turn_commit',
      slotPolicy: 'exclusive',
    });
    // Enqueue is idempotent by id.
    const again = await d.queue.enqueue(d.ctx, {
      sessionId: 'q',
      id: 'client-1',
      input: { items: [{ kind: 'text', text: 'third' }], imageBlobs: {} },
      deliveryPolicy: 'after_current_turn_commit',
      slotPolicy: 'exclusive',
    });
    expect(
      (
        await d.queue.enqueue(d.ctx, {
          sessionId: 'q',
          id: 'client-1',
          input: { items: [{ kind: 'text', text: 'third' }], imageBlobs: {} },
          deliveryPolicy: 'after_current_turn_commit',
          slotPolicy: 'exclusive',
        })
      ).deduplicated,
    ).toBe(true);
    const first = await d.turns.drain(d.ctx, 'q');
    expect(first?.assistantOutput.rawText).toBe('first');
    expect(await d.stores.queue.get('unit', 'q', a.batch.batchId)).toMatchObject({ state: 'done', turnId: first!.turnId });
    expect((await d.stores.queue.get('unit', 'q', b.batch.batchId))?.state).toBe('pending');
    expect((await d.turns.drain(d.ctx, 'q'))?.assistantOutput.rawText).toBe('second');
    expect((await d.turns.drain(d.ctx, 'q'))?.assistantOutput.rawText).toBe('third');
    expect((await d.stores.queue.get('unit', 'q', again.batch.batchId))?.state).toBe('done');
    expect(await d.turns.drain(d.ctx, 'q')).toBeUndefined();
    expect((await d.stores.sessions.getHead('unit', 'q'))?.turnIndex).toBe(3n);
  });

  it('queue drain: join batches are claimed together into one turn', async () => {
    d = buildDomain();
    await open('j');
    for (const text of ['one', 'two'])
      await d.queue.enqueue(d.ctx, {
        sessionId: 'j',
        input: { items: [{ kind: 'text', text }], imageBlobs: {} },
        deliveryPolicy: 'after_current_turn_commit',
        slotPolicy: 'join',
      });
    const r = await d.turns.drain(d.ctx, 'j');
    expect(r?.assistantOutput.rawText).toContain('two');
    expect(await d.stores.queue.listPending('unit', 'j')).toEqual([]);
    expect(await d.turns.drain(d.ctx, 'j')).toBeUndefined();
  });

  it('a queued reset command is applied at the head of the next turn: the graph starts over in a new frame', async () => {
    d = buildDomain();
    const { head } = await open('r');
    await d.turns.run(d.ctx, say('r', 'before'));
    await d.queue.enqueueCommand(d.ctx, 'r', { kind: 'reset', reason: 'unit' }, 'k1');
    await d.turns.run(d.ctx, say('r', 'after'));
    const loaded = await d.sessions.load(d.ctx, 'r');
    expect(loaded.head.currentFrameId).not.toBe(head.currentFrameId);
    expect(loaded.graph.nodes.map((n) => (n.payload.type === 'message' ? n.payload.message.parts : []))).toEqual([
      [{ kind: 'text', text: 'after' }],
      [{ kind: 'text', text: 'after' }],
    ]);
    expect((await d.stores.sessions.commits('unit', 'r', 10)).map((c) => c.kind)).toEqual(['turn', 'reset', 'turn']);
  });

  it('compaction: the current frame is summarised into a new compaction frame; an empty frame is left alone', async () => {
    d = buildDomain();
    const { head } = await open('c');
    expect(await d.turns.compact(d.ctx, 'c', '')).toEqual({ compacted: false, frameId: head.currentFrameId });
    await d.turns.run(d.ctx, say('c', 'remember the number 7'));
    const out = await d.turns.compact(d.ctx, 'c', 'keep numbers');
    expect(out.compacted).toBe(true);
    const loaded = await d.sessions.load(d.ctx, 'c');
    expect(loaded.head.currentFrameId).toBe(out.frameId);
    expect(loaded.frames.map((f) => [f.frameId, f.status, f.reason])).toEqual(
      expect.arrayContaining([
        [head.currentFrameId, 'superseded', 'initial'],
        [out.frameId, 'active', 'compaction'],
      ]),
    );
    expect((await d.stores.sessions.usage('unit', 'c')).map((u) => u.source).sort()).toEqual(['compaction', 'turn']);
  });

  it('tool state: availability overrides bump the generation, a stale generation is refused, and a turn cannot call a tool switched off', async () => {
    d = buildDomain();
    await open('ts');
    const before = await d.tools.get(d.ctx, 'ts');
    const generation = await d.tools.setAvailability(d.ctx, 'ts', { calculate: 'off' });
    expect(generation).toBe(before.generation + 1n);
    await expect(d.tools.apply(d.ctx, 'ts', { calculate: 'callable' }, before.generation)).rejects.toMatchObject({ errorClass: 'ABORTED' });
    expect((await d.tools.get(d.ctx, 'ts')).tools.find((t) => t.manifest.name === 'calculate')).toMatchObject({ effective: 'off', override: 'off' });
    const r = await d.turns.run(d.ctx, say('ts', '/tool calculate {"op":"add","a":1,"b":2}'));
    expect(r.toolCalls).toMatchObject([{ tool: 'calculate', isError: true }]);
    expect(await d.tools.clear(d.ctx, 'ts', ['calculate'])).toBe(generation + 1n);
  });
});
