// MikroORM entity definitions of the session tables. Every row is keyed by tenant and session
// id so that tenant isolation needs no data migration. The schema itself is owned by the
// hand-written migrations in migrations.ts; these definitions must match them.

import { defineEntity, p } from '@mikro-orm/core';

export const SessionRow = defineEntity({
  name: 'SessionRow',
  tableName: 'sessions',
  properties: {
    tenantId: p.string().primary(),
    sessionId: p.string().primary(),
    mode: p.string(),
    parentSessionId: p.string().nullable(),
    usageSource: p.string().nullable(),
    /** JSON text (prompt contributions are client text; see migration 007). */
    policy: p.text(),
    residency: p.string(),
    /** JSON text (schemas carry client text). */
    finalAnswerFormat: p.text(),
    metadata: p.json<Record<string, string>>(),
    headRevision: p.bigint(),
    turnIndex: p.bigint(),
    leafNodeId: p.string().nullable(),
    currentFrameId: p.string(),
    status: p.string(),
    toolGeneration: p.bigint(),
    toolOverrides: p.json<Record<string, string>>(),
    lastPromptUsage: p.json<Record<string, number>>().nullable(),
    /** JSON text (rlm globals hold model and tool values). */
    sandboxState: p.text().nullable(),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
  },
});

export const NodeRow = defineEntity({
  name: 'NodeRow',
  tableName: 'session_nodes',
  properties: {
    tenantId: p.string().primary(),
    sessionId: p.string().primary(),
    nodeId: p.string().primary(),
    // Insertion order; filled by the database (identity column).
    seq: p.bigint().nullable().persist(false),
    parentNodeId: p.string().nullable(),
    causedBy: p.string().nullable(),
    agentFrameId: p.string().nullable(),
    createdAt: p.datetime(),
    /** JSON text (lossless for any string; see migration 006). */
    payload: p.text(),
  },
});

export const FrameRow = defineEntity({
  name: 'FrameRow',
  tableName: 'agent_frames',
  properties: {
    tenantId: p.string().primary(),
    sessionId: p.string().primary(),
    frameId: p.string().primary(),
    previousFrameId: p.string().nullable(),
    status: p.string(),
    reason: p.string(),
    createdAt: p.datetime(),
  },
});

export const CommitRow = defineEntity({
  name: 'CommitRow',
  tableName: 'session_commits',
  properties: {
    tenantId: p.string().primary(),
    sessionId: p.string().primary(),
    revision: p.bigint().primary(),
    kind: p.string(),
    graphWrite: p.string(),
    turnId: p.string().nullable(),
    contentHash: p.string().nullable(),
    /** JSON text. */
    result: p.text().nullable(),
    createdAt: p.datetime(),
  },
});

export const UsageRow = defineEntity({
  name: 'UsageRow',
  tableName: 'usage_entries',
  properties: {
    id: p.bigint().primary().autoincrement(),
    tenantId: p.string(),
    sessionId: p.string(),
    revision: p.bigint(),
    turnId: p.string().nullable(),
    source: p.string(),
    model: p.string(),
    inputTokens: p.bigint(),
    outputTokens: p.bigint(),
    cachedInputTokens: p.bigint(),
    reasoningTokens: p.bigint(),
    cacheWriteTokens: p.bigint(),
    createdAt: p.datetime(),
  },
});

export const BlobRow = defineEntity({
  name: 'BlobRow',
  tableName: 'blobs',
  properties: {
    hash: p.string().primary(),
    mimeType: p.string(),
    size: p.integer(),
    data: p.blob(),
    createdAt: p.datetime(),
  },
});

export const SessionBlobRow = defineEntity({
  name: 'SessionBlobRow',
  tableName: 'session_blobs',
  properties: {
    tenantId: p.string().primary(),
    sessionId: p.string().primary(),
    hash: p.string().primary(),
  },
});

export const entities = [SessionRow, NodeRow, FrameRow, CommitRow, UsageRow, BlobRow, SessionBlobRow];

export const LeaseRow = defineEntity({
  name: 'LeaseRow',
  tableName: 'session_leases',
  properties: {
    tenantId: p.string().primary(),
    sessionId: p.string().primary(),
    owner: p.string(),
    token: p.bigint(),
    expiresAt: p.datetime(),
  },
});

export const CancelRow = defineEntity({
  name: 'CancelRow',
  tableName: 'turn_cancels',
  properties: {
    tenantId: p.string().primary(),
    sessionId: p.string().primary(),
    turnId: p.string().primary(),
    requestedAt: p.datetime(),
  },
});

export const CompletionRow = defineEntity({
  name: 'CompletionRow',
  tableName: 'completions',
  properties: {
    tenantId: p.string().primary(),
    completionKey: p.string().primary(),
    sessionId: p.string(),
    turnId: p.string(),
    callId: p.string(),
    status: p.string(),
    /** JSON text. */
    resolution: p.text().nullable(),
    createdAt: p.datetime(),
    resolvedAt: p.datetime().nullable(),
  },
});

export const allEntities = [...entities, LeaseRow, CancelRow, CompletionRow];
