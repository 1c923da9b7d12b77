// The session graph: append-only nodes with a movable leaf. The active path is the ancestry of
// the leaf; branches off it stay in the graph. Agent frames partition what the read view shows.

import type { Message } from './messages.js';

export type NodePayload = { type: 'message'; message: Message } | { type: 'event'; name: string; data?: unknown };

export interface GraphNode {
  nodeId: string;
  parentNodeId?: string;
  causedBy?: string;
  agentFrameId?: string;
  timestamp: Date;
  payload: NodePayload;
}

export type FrameReason = 'initial' | 'compaction' | 'continue_as' | string;

export interface AgentFrame {
  frameId: string;
  previousFrameId?: string;
  status: 'active' | 'superseded';
  reason: FrameReason;
  createdAt: Date;
}

/** Nodes in insertion order plus the leaf. */
export interface SessionGraph {
  nodes: GraphNode[];
  leafNodeId?: string;
}

/** Ancestry of the leaf, root first. Stops (without looping) on a missing parent or a cycle. */
export function activePath(graph: SessionGraph): GraphNode[] {
  if (!graph.leafNodeId) return [];
  const byId = new Map(graph.nodes.map((n) => [n.nodeId, n]));
  const path: GraphNode[] = [];
  const seen = new Set<string>();
  let cursor: string | undefined = graph.leafNodeId;
  while (cursor && !seen.has(cursor)) {
    const node = byId.get(cursor);
    if (!node) break;
    seen.add(cursor);
    path.push(node);
    cursor = node.parentNodeId;
  }
  return path.reverse();
}

/** The latest message node, used to repair a leaf that points at a missing node. */
export function latestMessageNode(nodes: GraphNode[]): GraphNode | undefined {
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i]!;
    if (node.payload.type === 'message') return node;
  }
  return undefined;
}

/** True when the leaf names a node that is not in the (full) graph. */
export const leafIsDangling = (graph: SessionGraph): boolean => graph.leafNodeId !== undefined && !graph.nodes.some((n) => n.nodeId === graph.leafNodeId);

/**
 * Messages the read view shows: the active path restricted to the current frame. The initial
 * frame also sees nodes written before any frame existed.
 */
export function frameMessages(path: GraphNode[], frame: AgentFrame | undefined): Message[] {
  const isInitial = !frame || frame.reason === 'initial';
  return path
    .filter((n) => (frame ? n.agentFrameId === frame.frameId || (isInitial && !n.agentFrameId) : true))
    .flatMap((n) => (n.payload.type === 'message' ? [n.payload.message] : []));
}

/** Links messages into graph nodes under `leaf`, in order, in agent frame `frameId`, stamped `now`. */
export function chainMessages(messages: Message[], leaf: string | undefined, frameId: string, now: Date): GraphNode[] {
  let parent = leaf;
  return messages.map((message) => {
    const node: GraphNode = { nodeId: message.id, parentNodeId: parent, agentFrameId: frameId, timestamp: now, payload: { type: 'message', message } };
    parent = node.nodeId;
    return node;
  });
}
