// The exported session state: a versioned, self-contained JSON document that OpenSession
// `with_state` accepts back. It never contains credentials (policies name provider kinds only).

import { z } from 'zod';
import { invalid } from './errors.js';
import type { AgentFrame, GraphNode } from './graph.js';
import type { SessionHead } from './session.js';
import { PROMPT_SLOTS } from './prompt.js';

export const STATE_FORMAT = 'lash-grpc.session-state';
export const STATE_VERSION = 1;

const json: z.ZodType<unknown> = z.lazy(() => z.union([z.null(), z.boolean(), z.number(), z.string(), z.array(json), z.record(z.string(), json)]));

const part = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('text'), text: z.string() }),
  z.object({ kind: z.literal('image'), attachmentId: z.string(), mimeType: z.string() }),
  z.object({ kind: z.literal('code'), language: z.string(), code: z.string() }),
  z.object({ kind: z.literal('output'), text: z.string() }),
  z.object({ kind: z.literal('error'), message: z.string() }),
  z.object({ kind: z.literal('prose'), text: z.string() }),
  z.object({ kind: z.literal('tool_call'), callId: z.string(), toolName: z.string(), args: z.record(z.string(), json) }),
  z.object({ kind: z.literal('tool_result'), callId: z.string(), toolName: z.string(), output: json, isError: z.boolean() }),
  z.object({ kind: z.literal('reasoning'), text: z.string() }),
]);

const message = z.object({ id: z.string().min(1), role: z.enum(['user', 'assistant', 'system', 'event']), parts: z.array(part) });

const node = z.object({
  nodeId: z.string().min(1),
  parentNodeId: z.string().optional(),
  causedBy: z.string().optional(),
  agentFrameId: z.string().optional(),
  timestamp: z.iso.datetime(),
  payload: z.discriminatedUnion('type', [
    z.object({ type: z.literal('message'), message }),
    z.object({ type: z.literal('event'), name: z.string(), data: json.optional() }),
  ]),
});

const frame = z.object({
  frameId: z.string().min(1),
  previousFrameId: z.string().optional(),
  status: z.enum(['active', 'superseded']),
  reason: z.string(),
  createdAt: z.iso.datetime(),
});

const contribution = z.object({ title: z.string().optional(), priority: z.number(), content: z.string(), requiresTool: z.string().optional() });
const promptLayer = z.object({
  template: z.array(z.union([z.object({ text: z.string() }), z.object({ builtin: z.string() }), z.object({ slot: z.enum(PROMPT_SLOTS) })])).optional(),
  slots: z.array(z.object({ slot: z.enum(PROMPT_SLOTS), reset: z.boolean(), contributions: z.array(contribution) })),
});

const documentSchema = z.object({
  format: z.literal(STATE_FORMAT),
  version: z.literal(STATE_VERSION),
  sessionId: z.string().min(1),
  mode: z.enum(['standard', 'rlm']),
  parentSessionId: z.string().optional(),
  residency: z.enum(['keep_all', 'active_path_only']),
  finalAnswerFormat: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('markdown') }),
    z.object({ kind: z.literal('custom'), guidance: z.string() }),
    z.object({ kind: z.literal('raw_submit_value') }),
  ]),
  metadata: z.record(z.string(), z.string()),
  policy: z.object({
    model: z.object({ id: z.string().min(1), variant: z.string().optional(), contextWindowTokens: z.number().positive(), maxOutputTokens: z.number().positive().optional() }),
    providerId: z.string().min(1),
    maxTurns: z.number().int().positive().optional(),
    prompt: promptLayer.optional(),
    autonomous: z.boolean(),
  }),
  turnIndex: z.string().regex(/^\d+$/),
  leafNodeId: z.string().optional(),
  currentFrameId: z.string().min(1),
  toolState: z.object({ generation: z.string().regex(/^\d+$/), overrides: z.record(z.string(), z.string()) }),
  nodes: z.array(node),
  frames: z.array(frame).min(1),
});

export type StateDocument = z.infer<typeof documentSchema>;

/** The importable part of a state document, decoded. */
export interface ImportedState {
  sessionId: string;
  doc: StateDocument;
  nodes: GraphNode[];
  frames: AgentFrame[];
}

const drop = <T extends object>(o: T): T => JSON.parse(JSON.stringify(o)) as T;

export function exportState(head: SessionHead, nodes: GraphNode[], frames: AgentFrame[]): StateDocument {
  return drop({
    format: STATE_FORMAT,
    version: STATE_VERSION,
    sessionId: head.sessionId,
    mode: head.mode,
    parentSessionId: head.parentSessionId,
    residency: head.residency,
    finalAnswerFormat: head.finalAnswerFormat,
    metadata: head.metadata,
    policy: head.policy,
    turnIndex: head.turnIndex.toString(),
    leafNodeId: head.leafNodeId,
    currentFrameId: head.currentFrameId,
    toolState: { generation: head.toolState.generation.toString(), overrides: head.toolState.overrides },
    nodes: nodes.map((n) => ({ ...n, timestamp: n.timestamp.toISOString() })),
    frames: frames.map((f) => ({ ...f, createdAt: f.createdAt.toISOString() })),
  }) as StateDocument;
}

/** Validates a client-supplied document; every problem is INVALID_ARGUMENT naming the field. */
export function parseState(document: unknown): ImportedState {
  const parsed = documentSchema.safeParse(document);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length ? issue.path.join('.') : '(document)';
    throw invalid('STATE_DOCUMENT_INVALID', `state.document is not a valid ${STATE_FORMAT} v${STATE_VERSION} document: ${where}: ${issue.message}; pass back the document ExportSessionState returned, unchanged`, { path: where });
  }
  const doc = parsed.data;
  const ids = new Set<string>();
  for (const n of doc.nodes) {
    if (ids.has(n.nodeId)) throw invalid('STATE_DOCUMENT_INVALID', `state.document.nodes repeats node id "${n.nodeId}"`);
    ids.add(n.nodeId);
  }
  for (const n of doc.nodes) {
    if (n.parentNodeId && !ids.has(n.parentNodeId)) {
      throw invalid('STATE_DOCUMENT_INVALID', `state.document node "${n.nodeId}" names missing parent "${n.parentNodeId}"`);
    }
  }
  if (!doc.frames.some((f) => f.frameId === doc.currentFrameId)) {
    throw invalid('STATE_DOCUMENT_INVALID', `state.document.currentFrameId "${doc.currentFrameId}" is not among its frames`);
  }
  return {
    sessionId: doc.sessionId,
    doc,
    nodes: doc.nodes.map((n) => ({ ...n, timestamp: new Date(n.timestamp) }) as GraphNode),
    frames: doc.frames.map((f) => ({ ...f, createdAt: new Date(f.createdAt) })),
  };
}
