// The session head: identity, mode, policy and counters of one session, as stored in one row.

import type { AgentFrame, SessionGraph } from './graph.js';
import type { JsonValue } from './messages.js';
import type { SessionPolicy } from './policy.js';
import type { Usage } from './usage.js';

export type SessionMode = 'standard' | 'rlm';
export type Residency = 'keep_all' | 'active_path_only';
export type SessionStatus = 'idle' | 'running' | 'parked';

export type FinalAnswerFormat = { kind: 'markdown' } | { kind: 'custom'; guidance: string } | { kind: 'raw_submit_value' };

/** Per-session tool availability overrides and the generation guarding them. */
export interface ToolStateDoc {
  generation: bigint;
  overrides: Record<string, string>;
}

export interface SessionHead {
  tenantId: string;
  sessionId: string;
  mode: SessionMode;
  parentSessionId?: string;
  /** Usage source this session's usage rolls up under in its parent's report. */
  usageSource?: string;
  policy: SessionPolicy;
  residency: Residency;
  finalAnswerFormat: FinalAnswerFormat;
  metadata: Record<string, string>;
  headRevision: bigint;
  turnIndex: bigint;
  leafNodeId?: string;
  currentFrameId: string;
  /** Stored as idle or parked; `running` is derived when a turn holds the session's writer. */
  status: SessionStatus;
  toolState: ToolStateDoc;
  lastPromptUsage?: Usage;
  /** rlm sandbox globals of one agent frame (a new frame starts with none). */
  sandbox?: { frameId: string; globals: Record<string, JsonValue> };
  createdAt: Date;
  updatedAt: Date;
}

/** A session as loaded into memory: the head plus the graph the residency policy allows. */
export interface LoadedSession {
  head: SessionHead;
  graph: SessionGraph;
  frames: AgentFrame[];
  /** Set when the active-path read had to fall back to the full graph. */
  healed: boolean;
}

export const defaultFinalAnswerFormat = (parentSessionId: string | undefined): FinalAnswerFormat =>
  parentSessionId ? { kind: 'raw_submit_value' } : { kind: 'markdown' };

export const currentFrame = (s: LoadedSession): AgentFrame | undefined => s.frames.find((f) => f.frameId === s.head.currentFrameId);
