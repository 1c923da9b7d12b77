// What a turn's model call sees of the past — the current frame's messages along the active path,
// converted for the model — computed incrementally. Walking the whole graph and converting every
// message on each turn made a turn's cost grow with the session (11 ms per turn at 5,000 turns on
// this machine, against 0.02 ms on a fresh session). A resident session keeps its graph's node
// objects across commits, so the result for the previous leaf is remembered against that node
// object and a turn only walks and converts the nodes its predecessor appended.

import { activePath, frameMessages, type GraphNode } from '../graph.js';
import type { Message } from '../messages.js';
import { currentFrame, type LoadedSession } from '../session.js';
import { toModelMessages, type ImageLoader } from './conversation.js';
import type { ModelMessage } from './model.js';

export interface FrameHistory {
  messages: Message[];
  model: ModelMessage[];
}

interface Memo extends FrameHistory {
  frameId: string | undefined;
}

/** Nodes walked back from the leaf looking for a remembered ancestor before recomputing in full. */
const MAX_WALK = 256;

// Keyed by the leaf node object: collected with the graph; moved forward (not copied) each turn.
const memos = new WeakMap<GraphNode, Memo>();

/** The current frame's history of `session` (callers may not mutate the arrays). */
export async function frameHistory(session: LoadedSession, loadImage: ImageLoader): Promise<FrameHistory> {
  const frame = currentFrame(session);
  const frameId = frame?.frameId;
  const nodes = session.graph.nodes;
  const leafId = session.graph.leafNodeId;
  if (!leafId) return { messages: [], model: [] };

  // Walk up from the leaf through the nodes appended since the remembered one (each parent is
  // almost always the node just before its child in insertion order).
  const fresh: GraphNode[] = [];
  let index = nodes.length;
  let id: string | undefined = leafId;
  let memo: Memo | undefined;
  let anchor: GraphNode | undefined;
  let leaf: GraphNode | undefined;
  while (id && fresh.length <= MAX_WALK) {
    const at = findBackwards(nodes, id, index);
    if (at < 0) break;
    const node = nodes[at]!;
    leaf ??= node;
    const known = memos.get(node);
    if (known && known.frameId === frameId) {
      memo = known;
      anchor = node;
      break;
    }
    fresh.push(node);
    index = at;
    id = node.parentNodeId;
  }

  let result: FrameHistory;
  if (memo && anchor) {
    const added = frameMessages(fresh.reverse(), frame);
    const images = added.some((m) => m.parts.some((p) => p.kind === 'image'));
    result = { messages: memo.messages.concat(added), model: memo.model.concat(await toModelMessages(added, loadImage)) };
    // Only the newest leaf keeps a memo: older ones would each hold a copy of the history.
    memos.delete(anchor);
    if (images) return result; // image bytes are not kept in memory between turns
  } else {
    const messages = frameMessages(activePath(session.graph), frame);
    result = { messages, model: await toModelMessages(messages, loadImage) };
    if (messages.some((m) => m.parts.some((p) => p.kind === 'image'))) return result;
  }
  // The memo keeps arrays of its own, so a caller that extends the result cannot change it.
  if (leaf) memos.set(leaf, { messages: result.messages.slice(), model: result.model.slice(), frameId });
  return result;
}

/** Index of the node with `nodeId` at or before `before - 1`, searching backwards; -1 if none. */
function findBackwards(nodes: GraphNode[], nodeId: string, before: number): number {
  for (let i = before - 1; i >= 0; i--) if (nodes[i]!.nodeId === nodeId) return i;
  // A parent written after its child (a branch) is rare; look at the rest too.
  for (let i = nodes.length - 1; i >= before; i--) if (nodes[i]!.nodeId === nodeId) return i;
  return -1;
}
