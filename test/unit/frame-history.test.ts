// The incremental history a turn's model call sees equals the full computation (active path,
// current frame, model conversion) after every kind of graph change: appends, a branch to an
// older node, a new frame, a reload with new node objects, and messages with images.

import { describe, expect, it } from 'vitest';
import { activePath, chainMessages, frameMessages, type AgentFrame, type GraphNode } from '../../src/domain/graph.js';
import type { Message } from '../../src/domain/messages.js';
import { currentFrame, type LoadedSession } from '../../src/domain/session.js';
import { toModelMessages } from '../../src/domain/turns/conversation.js';
import { frameHistory } from '../../src/domain/turns/history.js';

const frame = (frameId: string, reason = 'initial'): AgentFrame => ({ frameId, status: 'active', reason, createdAt: new Date(0) });
const loadImage = async (id: string) => ({ data: new Uint8Array([id.length]), mimeType: 'image/png' });
let n = 0;
const turn = (text: string): Message[] => [
  { id: `u${++n}`, role: 'user', parts: [{ kind: 'text', text }] },
  { id: `a${n}`, role: 'assistant', parts: [{ kind: 'text', text: `re ${text}` }] },
];

function session(nodes: GraphNode[], leafNodeId: string | undefined, frames: AgentFrame[], currentFrameId: string): LoadedSession {
  return { head: { currentFrameId, leafNodeId } as LoadedSession['head'], graph: { nodes, leafNodeId }, frames, healed: false };
}

async function full(s: LoadedSession) {
  const messages = frameMessages(activePath(s.graph), currentFrame(s));
  return { messages, model: await toModelMessages(messages, loadImage) };
}

describe('frame history', () => {
  it('matches the full computation after appends, a branch, a new frame, a reload and images', async () => {
    let frames = [frame('f1')];
    let current = 'f1';
    let nodes: GraphNode[] = [];
    let leaf: string | undefined;
    const append = (messages: Message[]) => {
      const added = chainMessages(messages, leaf, current, new Date());
      nodes = [...nodes, ...added]; // what a resident session does after a commit
      leaf = added[added.length - 1]!.nodeId;
    };
    const check = async () => {
      const s = session(nodes, leaf, frames, current);
      const got = await frameHistory(s, loadImage);
      expect(got).toEqual(await full(s));
      // A caller that extends the arrays does not change what the next turn sees.
      got.model.push({ role: 'system', text: 'scratch' });
      got.messages.push(turn('scratch')[0]!);
      expect(await frameHistory(s, loadImage)).toEqual(await full(s));
    };
    for (let i = 0; i < 30; i++) {
      append(turn(`t${i}`));
      await check();
    }
    const branchPoint = nodes[20]!.nodeId; // an older assistant message
    leaf = branchPoint;
    await check();
    append(turn('on the branch'));
    await check();
    frames = [{ ...frames[0]!, status: 'superseded' }, frame('f2', 'compaction')];
    current = 'f2';
    append([{ id: `s${++n}`, role: 'system', parts: [{ kind: 'text', text: 'summary' }] }]);
    await check();
    append(turn('in the new frame'));
    await check();
    nodes = nodes.map((x) => ({ ...x })); // reloaded from the store: new node objects
    await check();
    append([{ id: `img${++n}`, role: 'user', parts: [{ kind: 'image', attachmentId: 'pic', mimeType: 'image/png' }] }]);
    await check();
    append(turn('after the image'));
    await check();
  });

  it('a turn converts only what its predecessor appended (older messages come from the memo)', async () => {
    const f = [frame('m')];
    let nodes = chainMessages(turn('first'), undefined, 'm', new Date());
    await frameHistory(session(nodes, nodes.at(-1)!.nodeId, f, 'm'), loadImage);
    // Changed behind the memo's back: a full recomputation would see this, the memo does not.
    const first = nodes[0]!.payload.type === 'message' ? nodes[0]!.payload.message : undefined;
    first!.parts = [{ kind: 'text', text: 'changed' }];
    const added = chainMessages(turn('second'), nodes.at(-1)!.nodeId, 'm', new Date());
    nodes = [...nodes, ...added];
    const got = await frameHistory(session(nodes, nodes.at(-1)!.nodeId, f, 'm'), loadImage);
    expect(got.model[0]).toEqual({ role: 'user', parts: [{ type: 'text', text: 'first' }] });
    expect(got.model).toHaveLength(4);
  });

  it('an empty session has no history', async () => {
    expect(await frameHistory(session([], undefined, [frame('f')], 'f'), loadImage)).toEqual({ messages: [], model: [] });
  });
});
