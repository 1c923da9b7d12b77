// The rows of the in-memory store: one object shared by every in-memory port (sessions, feed,
// queue, leases, cancels, completions, blobs), so that a commit can complete queue claims,
// release its lease and carry feed events as one step, as the database does in one statement.
// JavaScript runs one step at a time, so a method that checks and writes without an `await`
// in between is atomic. Values are copied in and out (structuredClone): a caller never holds a
// reference to a stored row.

import type { Clock } from '../../domain/clock.js';
import { systemClock } from '../../domain/clock.js';
import { idleOwnerOf } from '../../domain/session-writers.js';
import type { AgentFrame, GraphNode } from '../../domain/graph.js';
import type { CommitRecord } from '../../domain/ports.js';
import type { QueueBatch } from '../../domain/queue/types.js';
import type { SessionHead } from '../../domain/session.js';
import type { CompletionResolution } from '../../domain/tools/types.js';
import type { UsageDelta } from '../../domain/usage.js';

export const copy = <T>(value: T): T => structuredClone(value);

/** The key of a session's rows. */
export const sessionKey = (tenantId: string, sessionId: string): string => `${tenantId}\u0000${sessionId}`;

export interface SessionRows {
  head: SessionHead;
  /** Insertion order is the graph's order. */
  nodes: Map<string, GraphNode>;
  frames: Map<string, AgentFrame>;
  /** Newest last. */
  commits: CommitRecord[];
  usage: (UsageDelta & { revision: bigint })[];
  blobs: Set<string>;
}

export interface FeedBatchRow {
  firstSeq: bigint;
  lastSeq: bigint;
  revision: bigint;
  createdAt: Date;
  /** The batch as the feed codec encodes it (the same text the database stores). */
  events: string;
}

export interface FeedHeadRow {
  lastSeq: bigint;
  lastCommittedSeq: bigint;
  trimmedThrough: bigint;
  openTurnId?: string;
  batches: FeedBatchRow[];
}

export interface QueueRow {
  batch: QueueBatch;
  finishedAt?: Date;
  /** Bumped by every claim (the fencing token), kept across releases. */
  token: bigint;
}

export class MemoryTables {
  readonly sessions = new Map<string, SessionRows>();
  readonly feeds = new Map<string, FeedHeadRow>();
  /** By batch id; enqueue order is the map's order. */
  readonly queue = new Map<string, QueueRow>();
  queueSeq = 0n;
  readonly leases = new Map<string, { owner: string; token: bigint; expiresAt: number }>();
  readonly cancels = new Map<string, Date>();
  readonly completions = new Map<string, { sessionId: string; resolution?: CompletionResolution }>();
  readonly blobs = new Map<string, { data: Uint8Array; mimeType: string }>();

  constructor(readonly clock: Clock = systemClock) {}

  feedOf(tenantId: string, sessionId: string): FeedHeadRow {
    const key = sessionKey(tenantId, sessionId);
    let feed = this.feeds.get(key);
    if (!feed) this.feeds.set(key, (feed = { lastSeq: 0n, lastCommittedSeq: 0n, trimmedThrough: 0n, batches: [] }));
    return feed;
  }

  /** Ms left to the lease when `owner` holds it with `token` and at least `minLeftMs` left. */
  heldFor(tenantId: string, sessionId: string, owner: string, token: bigint, minLeftMs: number): number | undefined {
    const lease = this.leases.get(sessionKey(tenantId, sessionId));
    const left = lease ? lease.expiresAt - this.clock.nowMs() : -1;
    return lease && lease.owner === owner && lease.token === token && left >= minLeftMs ? left : undefined;
  }

  /** The live lease of a session, if any. */
  liveLease(tenantId: string, sessionId: string): { owner: string; token: bigint } | undefined {
    const lease = this.leases.get(sessionKey(tenantId, sessionId));
    return lease && lease.expiresAt >= this.clock.nowMs() ? { owner: lease.owner, token: lease.token } : undefined;
  }

  /** Takes the lease when free, expired, already `owner`'s or its replica's idle one; every take bumps the token. */
  takeLease(tenantId: string, sessionId: string, owner: string, ttlMs: number): bigint | undefined {
    const key = sessionKey(tenantId, sessionId);
    const now = this.clock.nowMs();
    const lease = this.leases.get(key);
    if (lease && lease.expiresAt >= now && lease.owner !== owner && lease.owner !== idleOwnerOf(owner)) return undefined;
    const token = (lease?.token ?? 0n) + 1n;
    this.leases.set(key, { owner, token, expiresAt: now + ttlMs });
    return token;
  }
}
