// A reasoning block's provider replay data (Anthropic's thinking signature) survives a state
// export and import, so a session moved between servers can still continue a tool round with
// thinking on; it also counts toward the message's bytes.

import { describe, expect, it } from 'vitest';
import type { GraphNode } from '../../src/domain/graph.js';
import { partBytes } from '../../src/domain/limits.js';
import type { Part } from '../../src/domain/messages.js';
import { exportState, parseState } from '../../src/domain/state.js';
import { testHead } from '../support/heads.js';

describe('reasoning replay data in a state document', () => {
  const reasoning: Part = { kind: 'reasoning', text: 'think', replay: { anthropic: { signature: 'sig-abc' } } };

  it('is exported and imported with the part', () => {
    const head = testHead('s-replay', { leafNodeId: 'n1' });
    const node: GraphNode = {
      nodeId: 'n1',
      agentFrameId: head.currentFrameId,
      timestamp: new Date(),
      payload: { type: 'message', message: { id: 'm1', role: 'assistant', parts: [reasoning, { kind: 'text', text: 'hi' }] } },
    };
    const frame = { frameId: head.currentFrameId, status: 'active' as const, reason: 'initial', createdAt: new Date() };
    const imported = parseState(JSON.parse(JSON.stringify(exportState(head, [node], [frame]))));
    const payload = imported.nodes[0]!.payload;
    expect(payload.type === 'message' && payload.message.parts[0]).toEqual(reasoning);
  });

  it('counts toward the bytes of the part', () => {
    expect(partBytes(reasoning)).toBeGreaterThan(partBytes({ kind: 'reasoning', text: 'think' }));
  });
});
