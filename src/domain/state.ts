// The exported session state: a versioned, self-contained JSON document that OpenSession
// `with_state` accepts back. It never contains credentials (policies name provider kinds only).

import { z } from 'zod';
import { invalid } from './errors.js';
import { isId, isLabel } from './ids.js';
import { jsonBytes, MAX_STATE_BYTES, MAX_STATE_MESSAGE_BYTES, messagesBytes, requireWithin } from './limits.js';
import type { AgentFrame, GraphNode } from './graph.js';
import type { Message } from './messages.js';
import type { SessionHead } from './session.js';
import { PROMPT_SLOTS } from './prompt.js';
import { REASONING_EFFORTS } from './policy.js';

export const STATE_FORMAT = 'lash-grpc.session-state';
export const STATE_VERSION = 1;

/** The largest counter (turn index, tool-state generation) a client may set: it still counts up safely. */
export const MAX_CLIENT_COUNTER = BigInt(Number.MAX_SAFE_INTEGER);

// Ids and names inside a document obey the same rules as ids in requests; counters and sizes fit
// the store's 64-bit columns, so a document is refused as a whole before anything is written.
const id = z.string().refine(isId, 'must be a non-empty printable id of at most 256 bytes');
const name = z.string().refine((v) => v === '' || isId(v), 'must be a printable name of at most 256 bytes');
const label = z.string().refine(isLabel, 'must not contain NUL or control characters other than tab and line breaks');
const counter = z
  .string()
  .regex(/^\d{1,16}$/)
  .refine((v) => BigInt(v) <= MAX_CLIENT_COUNTER, `must be at most ${MAX_CLIENT_COUNTER}`);
const size = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

const json: z.ZodType<unknown> = z.lazy(() => z.union([z.null(), z.boolean(), z.number(), z.string(), z.array(json), z.record(z.string(), json)]));

const part = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('text'), text: z.string() }),
  z.object({ kind: z.literal('image'), attachmentId: name, mimeType: name }),
  z.object({ kind: z.literal('code'), language: name, code: z.string() }),
  z.object({ kind: z.literal('output'), text: z.string() }),
  z.object({ kind: z.literal('error'), message: z.string() }),
  z.object({ kind: z.literal('prose'), text: z.string() }),
  z.object({ kind: z.literal('tool_call'), callId: name, toolName: name, args: z.record(z.string(), json) }),
  z.object({ kind: z.literal('tool_result'), callId: name, toolName: name, output: json, isError: z.boolean() }),
  z.object({ kind: z.literal('reasoning'), text: z.string(), replay: z.record(z.string(), z.record(z.string(), json)).optional() }),
]);

const message = z.object({ id, role: z.enum(['user', 'assistant', 'system', 'event']), parts: z.array(part) });

const node = z.object({
  nodeId: id,
  parentNodeId: id.optional(),
  causedBy: id.optional(),
  agentFrameId: id.optional(),
  timestamp: z.iso.datetime(),
  payload: z.discriminatedUnion('type', [
    z.object({ type: z.literal('message'), message }),
    z.object({ type: z.literal('event'), name, data: json.optional() }),
  ]),
});

const frame = z.object({
  frameId: id,
  previousFrameId: id.optional(),
  status: z.enum(['active', 'superseded']),
  reason: z.string(),
  createdAt: z.iso.datetime(),
});

const contribution = z.object({
  title: z.string().optional(),
  priority: z
    .number()
    .int()
    .min(-(2 ** 31))
    .max(2 ** 31 - 1),
  content: z.string(),
  requiresTool: name.optional(),
});
const promptLayer = z.object({
  template: z.array(z.union([z.object({ text: z.string() }), z.object({ builtin: z.string() }), z.object({ slot: z.enum(PROMPT_SLOTS) })])).optional(),
  slots: z.array(z.object({ slot: z.enum(PROMPT_SLOTS), reset: z.boolean(), contributions: z.array(contribution) })),
});

const documentSchema = z.object({
  format: z.literal(STATE_FORMAT),
  version: z.literal(STATE_VERSION),
  sessionId: id,
  mode: z.enum(['standard', 'rlm']),
  parentSessionId: id.optional(),
  residency: z.enum(['keep_all', 'active_path_only']),
  finalAnswerFormat: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('markdown') }),
    z.object({ kind: z.literal('custom'), guidance: z.string() }),
    z.object({ kind: z.literal('raw_submit_value') }),
  ]),
  metadata: z.record(id, label),
  policy: z.object({
    model: z.object({
      id,
      variant: name.optional(),
      contextWindowTokens: size,
      maxOutputTokens: size.optional(),
      reasoningEffort: z.enum(REASONING_EFFORTS).optional(),
      promptCache: z.boolean().optional(),
    }),
    providerId: id,
    maxTurns: z
      .number()
      .int()
      .positive()
      .max(2 ** 32 - 1)
      .optional(),
    prompt: promptLayer.optional(),
    autonomous: z.boolean(),
    remoteTools: z.array(z.object({ name: id, host: id.optional() })).optional(),
  }),
  turnIndex: counter,
  leafNodeId: id.optional(),
  currentFrameId: id,
  toolState: z.object({ generation: counter, overrides: z.record(id, z.enum(['off', 'searchable', 'callable', 'showcased'])) }),
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
  requireWithin('STATE_TOO_LARGE', 'state.document', jsonBytes(document), MAX_STATE_BYTES);
  const parsed = documentSchema.safeParse(document);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length ? issue.path.join('.') : '(document)';
    throw invalid(
      'STATE_DOCUMENT_INVALID',
      `state.document is not a valid ${STATE_FORMAT} v${STATE_VERSION} document: ${where}: ${issue.message}; pass back the document ExportSessionState returned, unchanged`,
      { path: where },
    );
  }
  const doc = parsed.data;
  // Each message must fit a read-view page, so the imported session stays readable.
  doc.nodes.forEach((n, i) => {
    if (n.payload.type === 'message')
      requireWithin('STATE_TOO_LARGE', `state.document.nodes[${i}]`, messagesBytes([n.payload.message as Message]), MAX_STATE_MESSAGE_BYTES);
  });
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
