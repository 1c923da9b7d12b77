// Ports the domain needs from the outside world. Implementations live in src/store (MikroORM)
// and src/providers; tests may substitute their own.

import type { Principal } from './auth/principal.js';
import type { FeedHead, FeedPayload, FeedRecord } from './feed/types.js';
import type { QueueBatch } from './queue/types.js';
import type { AgentFrame, GraphNode } from './graph.js';
import type { Residency, SessionHead } from './session.js';
import type { UsageDelta } from './usage.js';

/** What a store adapter throws when its driver reports an outage or a conflict. */
export { StoreConflict, StoreUnavailable } from './store-errors.js';

export interface RequestContext {
  tenantId: string;
  /** The authenticated caller; absent for work the server does on its own (drains, wakes, children). */
  principal?: Principal;
  /** Fires when the caller is gone (cancelled, deadline passed); long waits stop on it. */
  signal?: AbortSignal;
}

export type GraphWrite =
  | { kind: 'none' }
  | { kind: 'append'; nodes: GraphNode[] }
  /** Replaces the whole stored graph (fresh open, import, heal, reset). */
  | { kind: 'replace'; nodes: GraphNode[] };

/** Everything one commit writes, applied in one transaction or not at all. */
export interface CommitRequest {
  tenantId: string;
  sessionId: string;
  /** The head revision the writer started from; a different stored revision aborts. */
  expectedRevision: bigint;
  /** What produced the commit (turn, admin, import, heal, fresh, …), kept in the commit log. */
  kind: string;
  head: SessionHead;
  graph: GraphWrite;
  /** Frames to insert or update. */
  frames: AgentFrame[];
  usage: UsageDelta[];
  turnId?: string;
  contentHash?: string;
  result?: unknown;
  /** Queue claims this commit completes; a stale fencing token rejects the whole commit. */
  claims?: { batchId: string; token: bigint }[];
  /** Content-addressed blobs first referenced by this commit (stored once, shared). */
  blobs?: { hash: string; mimeType: string; data: Uint8Array }[];
  /**
   * The writer lease this commit ends, by the same statement when the commit lands: deleted, or
   * with `keep` left to this replica as its idle lease (owner `keep.owner`, expiring `keep.lingerMs`
   * from now; ADR 0079).
   */
  releaseLease?: { owner: string; token: bigint; keep?: { owner: string; lingerMs: number } };
  /**
   * Feed events the commit may store itself, as one batch with the new revision, numbered after
   * everything the session's feed holds (the turn's last deltas and its `committed` marker). A
   * store that cannot carry them in this commit says so with `feed` absent from the outcome.
   */
  feed?: FeedPayload[];
}

export interface CommitOutcome {
  revision: bigint;
  /** The carried feed events as stored, when the commit carried them. */
  feed?: FeedRecord[];
}

export interface CommitRecord {
  revision: bigint;
  kind: string;
  graphWrite: GraphWrite['kind'];
  turnId?: string;
  contentHash?: string;
  result?: unknown;
  createdAt: Date;
}

export interface SessionListFilter {
  parentSessionId?: string;
  metadata: Record<string, string>;
}

export interface SessionStore {
  /** Cheap liveness probe for health checks. */
  ping(): Promise<void>;
  getHead(tenantId: string, sessionId: string): Promise<SessionHead | undefined>;
  /** The head and, when `turnId` is given, the commit that stamped that turn id: one read. */
  headAndTurn(tenantId: string, sessionId: string, turnId: string | undefined): Promise<{ head?: SessionHead; turn?: CommitRecord }>;
  /** The head plus whether a turn holds a live writer lease (admin writes do not count), in one read. */
  describe(tenantId: string, sessionId: string): Promise<{ head: SessionHead; leased: boolean } | undefined>;
  /** Inserts a new session (with its first nodes, if any) at once; false if the id is already taken. */
  create(head: SessionHead, initialFrame: AgentFrame, nodes?: GraphNode[]): Promise<boolean>;
  /** Loads nodes (insertion order) and frames; `active_path_only` loads only the leaf's ancestry. */
  loadGraph(tenantId: string, sessionId: string, leafNodeId: string | undefined, residency: Residency): Promise<{ nodes: GraphNode[]; frames: AgentFrame[] }>;
  /** Applies a commit atomically; returns the new revision or throws an ABORTED conflict. */
  commit(request: CommitRequest): Promise<CommitOutcome>;
  /** Sets the parked/idle flag without a new revision. */
  setStatus(tenantId: string, sessionId: string, status: 'idle' | 'parked'): Promise<void>;
  list(tenantId: string, filter: SessionListFilter, afterSessionId: string | undefined, limit: number): Promise<SessionHead[]>;
  /** Removes every row of the session; returns false if it did not exist. */
  delete(tenantId: string, sessionId: string): Promise<boolean>;
  /** Usage summed per (source, model), including usage rolled up from every descendant session under its usage source. */
  usage(tenantId: string, sessionId: string): Promise<UsageDelta[]>;
  /** The commit that stamped this turn id, if any. */
  findTurn(tenantId: string, sessionId: string, turnId: string): Promise<CommitRecord | undefined>;
  /** The commit log, newest first. */
  commits(tenantId: string, sessionId: string, limit: number): Promise<CommitRecord[]>;
  /** A blob's bytes, only when this session references it (another session's blob stays unseen). */
  /**
   * Bytes [offset, offset + length) of an attachment the session references (fewer at its end),
   * with its size; undefined when the session does not reference it.
   */
  attachment(tenantId: string, sessionId: string, hash: string, range: ByteRange): Promise<AttachmentPiece | undefined>;
}

/** Fan-out of small messages to every replica (cancels, completions, feed wake-ups). */
export interface EventBus {
  publish(topic: string, payload: Record<string, unknown>): Promise<void>;
  subscribe(topic: string, handler: (payload: Record<string, unknown>) => void): () => void;
}

/**
 * Told when renewing a writer lease or a drain's queue claims failed (the store threw, or it
 * refused because the lease was taken over). The work goes on: a lost lease or claim is refused
 * at commit; the report is for the operator, who would otherwise see only that refusal.
 */
export type RenewalFailed = (failure: { what: 'writer lease' | 'queue claims'; tenantId: string; sessionId: string; err?: unknown }) => void;

/** Cross-replica exclusivity for a session's writer (a lease with a fencing token). */
export interface LeaseStore {
  /** Takes the lease if free, expired or already ours; returns the fencing token or undefined. */
  acquire(tenantId: string, sessionId: string, owner: string, ttlMs: number): Promise<bigint | undefined>;
  renew(tenantId: string, sessionId: string, owner: string, token: bigint, ttlMs: number): Promise<boolean>;
  release(tenantId: string, sessionId: string, owner: string, token: bigint): Promise<void>;
  /**
   * Leaves a held lease to its replica as idle (ADR 0079): owner `idleOwner`, same token, expiring
   * `lingerMs` from now. False when `owner`/`token` no longer hold it.
   */
  keep(tenantId: string, sessionId: string, owner: string, token: bigint, idleOwner: string, lingerMs: number): Promise<boolean>;
  /**
   * Without writing: the ms left to the lease when `owner` still holds it with `token` and at
   * least `minLeftMs` left, else undefined. How a writer goes on under its replica's idle lease.
   */
  heldFor(tenantId: string, sessionId: string, owner: string, token: bigint, minLeftMs: number): Promise<number | undefined>;
  /** The current holder, if the lease is live. */
  holder(tenantId: string, sessionId: string): Promise<{ owner: string; token: bigint } | undefined>;
}

/** What a writer starts from, read by the statement that takes its lease. */
export interface Admission {
  /** Fencing token of the writer lease; undefined while another writer holds it. */
  token?: bigint;
  /**
   * Set when the writer goes on under the idle lease it asked about (`held`), which the statement
   * found still its own, unwritten: the ms that lease has left.
   */
  heldLeftMs?: number;
  head?: SessionHead;
  /** The commit stamped with the asked turn id, if any. */
  turn?: CommitRecord;
  /** The asked turn, or every turn of the session since `cancelledSince`, was cancelled. */
  cancelled: boolean;
  /** The turn whose feed events were left open by a crash (see FeedStore.openTurn). */
  openTurnId?: string;
  /** The session's open batches (pending or claimed), in enqueue order. */
  queue: QueueBatch[];
}

/**
 * Turn admission in one statement: takes (or re-takes) the writer lease and reads what a turn
 * starts from, whether or not the lease was free (a cancelled turn may proceed without it).
 */
export interface AdmissionStore {
  admit(req: AdmissionRequest): Promise<Admission>;
}

export interface AdmissionRequest {
  tenantId: string;
  sessionId: string;
  owner: string;
  ttlMs: number;
  turnId?: string;
  cancelledSince?: Date;
  /**
   * The idle lease this replica holds on the session (ADR 0079): when it is still ours with at
   * least `minLeftMs` left, the admission reads without writing and the writer goes on under it;
   * otherwise the lease is taken as usual (our own idle lease counts as ours).
   */
  held?: HeldLease;
}

/** An idle writer lease this replica believes it holds (ADR 0079). */
export interface HeldLease {
  owner: string;
  token: bigint;
  minLeftMs: number;
}

export interface CancelStore {
  request(tenantId: string, sessionId: string, turnId: string): Promise<void>;
  /** True if this turn, or every turn of the session ('*'), was cancelled at or after `since`. */
  isCancelled(tenantId: string, sessionId: string, turnId: string, since: Date): Promise<boolean>;
}

export interface BlobStore {
  load(hash: string): Promise<{ data: Uint8Array; mimeType: string } | undefined>;
}

/** Durable per-session feed: gap-free sequence numbers assigned at append, read in order. */
export interface FeedStore {
  /** True when `append` itself wakes other replicas (the `feed` bus message, sent on commit). */
  readonly wakesReplicas: boolean;
  /** Appends in one transaction; returns the records with their sequence numbers. */
  append(tenantId: string, sessionId: string, revision: bigint, payloads: FeedPayload[]): Promise<FeedRecord[]>;
  read(tenantId: string, sessionId: string, afterSeq: bigint, limit: number): Promise<FeedRecord[]>;
  head(tenantId: string, sessionId: string): Promise<FeedHead>;
  /** The turn whose events were appended last with no commit or interruption after them (a crash victim); set by appending its activity. */
  openTurn(tenantId: string, sessionId: string): Promise<string | undefined>;
  /** Whether a retained `turn_interrupted` event names the turn (one statement, no decoding). */
  reportedInterrupted(tenantId: string, sessionId: string, turnId: string): Promise<boolean>;
  /** Drops events older than `olderThan` or beyond `keepPerSession`, never past the last commit marker. */
  trim(olderThan: Date, keepPerSession: number): Promise<number>;
}

/** Where domain services publish feed events (implemented by the feed appender). */
export interface FeedSink {
  append(tenantId: string, sessionId: string, revision: bigint, payload: FeedPayload): void;
  /** Resolves when everything appended so far for the session is stored. */
  flushed?(tenantId: string, sessionId: string): Promise<void>;
  /**
   * Hands a commit the session's events not yet stored, so its statement can store them; the
   * session's lane writes nothing until `settle`. Undefined when they cannot be handed over now
   * (the lane is retrying a failed write): the commit then leaves the feed to the sink.
   */
  hold?(tenantId: string, sessionId: string): Promise<HeldFeed | undefined>;
  /**
   * Keeps the session's lane from starting a write until the returned `resume` is called (what
   * it accepts meanwhile waits, in order); undefined when the lane is writing or held already.
   * For a wait of a few event-loop turns only: a commit's `hold` waits for `resume`.
   */
  pause?(tenantId: string, sessionId: string): (() => void) | undefined;
  /**
   * Back-pressure: undefined while the session may append more, else resolves once its unstored
   * events drop below the bound (or `signal` aborts). `reserve`: events the caller still holds.
   */
  room?(tenantId: string, sessionId: string, signal?: AbortSignal, reserve?: number): Promise<void> | undefined;
}

/** Events a commit took from the feed sink; settle exactly once. */
export interface HeldFeed {
  payloads: FeedPayload[];
  /** The commit stored them (and whatever it added after them) as `records`. */
  stored(records: FeedRecord[]): void;
  /** The commit failed or did not carry them: they go back to the front of the lane. */
  release(): void;
}

export interface QueueStore {
  /** Inserts the batch unless its idempotency id exists; then returns the existing one. */
  enqueue(batch: QueueBatch): Promise<{ batch: QueueBatch; deduplicated: boolean }>;
  get(tenantId: string, sessionId: string, batchId: string): Promise<QueueBatch | undefined>;
  /** Unclaimed batches (and ones whose claim expired), in enqueue order. */
  listPending(tenantId: string, sessionId: string): Promise<QueueBatch[]>;
  cancel(
    tenantId: string,
    sessionId: string,
    batchId: string,
  ): Promise<{ outcome: 'cancelled' | 'not_found' | 'already_claimed' | 'already_done'; batch?: QueueBatch }>;
  /**
   * Lets `select` choose among the session's claimable batches (pending, or claimed by another
   * owner), in order, and claims exactly the chosen ones, all or none, with new fencing tokens.
   * Call only as the session's writer: claims of other owners are taken over. `known`: the open
   * batches as just read (by the admission), chosen from instead of reading them again.
   */
  claim(
    tenantId: string,
    sessionId: string,
    owner: string,
    ttlMs: number,
    select: (pending: QueueBatch[]) => QueueBatch[],
    known?: QueueBatch[],
  ): Promise<QueueBatch[]>;
  renew(claims: { batchId: string; token: bigint }[], ttlMs: number): Promise<void>;
  /** Gives claims back (the drain ended without a commit). */
  release(claims: { batchId: string; token: bigint }[]): Promise<void>;
  /** Sessions with ready work, skipping sessions whose writer is busy. */
  readySessions(limit: number): Promise<{ tenantId: string; sessionId: string }[]>;
  /** Forgets finished batches (and their ids) older than this. */
  purgeFinished(olderThan: Date): Promise<number>;
}

/** A range of bytes: `length` bytes from `offset` (fewer when the end comes first). */
export interface ByteRange {
  offset: number;
  length: number;
}

/** Part of a stored attachment, as the store reads it. */
export interface AttachmentPiece {
  mimeType: string;
  /** Size of the whole attachment. */
  totalBytes: number;
  data: Uint8Array;
}
