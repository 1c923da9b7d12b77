// Session use cases: open (resume / fresh / with_state), read, list, config, park, delete,
// export, append messages and branch. Every mutation is one commit guarded by the head revision.

import { systemRuntime, type Ids, type Runtime } from './clock.js';
import { DomainError, invalid, notFound, precondition, sessionNotFound } from './errors.js';
import { requireSession } from './require-session.js';
import { readAttachment, type Attachment, type AttachmentRange } from './attachments.js';
import { activePath, chainMessages, frameMessages, latestMessageNode, leafIsDangling, type AgentFrame } from './graph.js';
import { isId, optionalId, requireId, requireLabel, requireNoNul } from './ids.js';
import { requirePartNames, type Message } from './messages.js';
import { countWithin, jsonBytes, MAX_APPEND_BYTES, MAX_READ_VIEW_PAGE_BYTES, MAX_UNCHUNKED_STATE_BYTES, messagesBytes, requireWithin } from './limits.js';
import { applyPolicyPatch, type PolicyPatch, type SessionPolicy } from './policy.js';
import type { FeedPayload } from './feed/types.js';
import type { AdmissionRequest, CommitRequest, FeedSink, HeldLease, RequestContext, SessionListFilter, SessionStore } from './ports.js';
import { ResidentCache } from './resident-cache.js';
import type { SessionWriters, WriterLease } from './session-writers.js';
import {
  currentFrame,
  defaultFinalAnswerFormat,
  type FinalAnswerFormat,
  type LoadedSession,
  type Residency,
  type SessionHead,
  type SessionMode,
} from './session.js';
import { exportState, parseState, type StateDocument } from './state.js';
import { chunkAt, decodeChunkToken, type StateChunk } from './state-chunks.js';
import { buildUsageReport, type UsageReport } from './usage.js';
import { decodeOffsetToken, decodePageToken, encodePageToken, pageSizeOf } from './paging.js';

export interface SessionDefaults {
  policy: SessionPolicy;
  availableModes: SessionMode[];
  availableProviders: string[];
}

export type OpenMode = 'resume' | 'fresh' | 'with_state';

export interface OpenRequest {
  sessionId: string;
  mode?: SessionMode;
  openMode: OpenMode;
  state?: { sessionId: string; document: unknown };
  parentSessionId?: string;
  policy: PolicyPatch;
  residency?: Residency;
  finalAnswerFormat?: FinalAnswerFormat;
  metadata?: Record<string, string>;
  /** Usage source under which a child's usage rolls up into its parent. */
  usageSource?: string;
  /** Messages a newly created session starts with (ids already checked); ignored if it exists. */
  seed?: Message[];
}

/** Bus topic of SessionDeleted messages (observers and queue waiters of every replica end). */
export const SESSION_DELETED_TOPIC = 'session.deleted';

/** A session that was deleted: its id and the creation time of the incarnation that is gone. */
export interface SessionDeleted {
  tenantId: string;
  sessionId: string;
  epoch: number;
}

export interface ReadView {
  messages: Message[];
  nextPageToken: string;
  turnIndex: bigint;
  lastPromptUsage?: SessionHead['lastPromptUsage'];
  frameId: string;
  policy: SessionPolicy;
}

/**
 * The graph node ids of messages to append (a message's id is its node id, so clients can branch
 * to it): the given id, checked, or a fresh one. Throws before anything is written.
 */
export function messageIds(sessionId: string, messages: Message[], taken: ReadonlySet<string>, ids: Ids): string[] {
  const seen = new Set(taken);
  return messages.map((message, i) => {
    const id = message.id ? requireId(`messages[${i}].id`, message.id) : ids.uuid();
    if (seen.has(id))
      throw new DomainError('MESSAGE_ID_TAKEN', `messages[${i}].id "${id}" is already a node of session "${sessionId}"; omit the id to get a fresh one`, {
        session_id: sessionId,
        node_id: id,
      });
    seen.add(id);
    return id;
  });
}

const createdConcurrently = (sessionId: string) =>
  new DomainError('SESSION_CREATED_CONCURRENTLY', `session "${sessionId}" was created concurrently; retry the request`, { session_id: sessionId });

export const MAX_METADATA_ENTRIES = 64;
export const MAX_METADATA_BYTES = 4096;

export class SessionService {
  private readonly resident: ResidentCache;

  constructor(
    private readonly store: SessionStore,
    private readonly defaults: SessionDefaults,
    readonly writers: SessionWriters,
    residentCapacity = 1000,
    /** The clock and id source of every head, frame and node this service writes. */
    readonly runtime: Runtime = systemRuntime,
  ) {
    // A session pushed out of memory here keeps no idle writer lease here either (ADR 0079).
    this.resident = new ResidentCache(residentCapacity, (tenantId, sessionId) => void writers.letGo(tenantId, sessionId));
  }

  /**
   * Runs an admin mutation as the only writer of the session on every replica: it waits for a
   * running turn (here or elsewhere) and fails with CANCELLED if the call ends while waiting.
   */
  withWriter<T>(
    ctx: RequestContext,
    sessionId: string,
    fn: (lease: WriterLease, current: () => Promise<SessionHead>) => Promise<T>,
    options: { linger?: boolean } = {},
  ): Promise<T> {
    const admit = this.admit;
    let admitted: SessionHead | undefined;
    let read = false;
    // With the admission statement, the head comes with the lease (one round trip, not two).
    const take = admit
      ? async (owner: string, ttlMs: number, held?: HeldLease) => {
          const a = await admit({ tenantId: ctx.tenantId, sessionId, owner, ttlMs, held });
          admitted = a.head;
          read = true;
          return a;
        }
      : undefined;
    const current = async () => {
      if (!read) return this.get(ctx, sessionId);
      if (!admitted) throw sessionNotFound(sessionId);
      return admitted;
    };
    return this.writers.run(ctx.tenantId, sessionId, (lease) => fn(lease, current), { signal: ctx.signal, onAbort: 'throw', take, linger: options.linger });
  }

  /** Set by the composition root: takes a writer lease (or goes on under the idle one held) and reads the head in one statement. */
  admit?: (req: AdmissionRequest) => Promise<{ token?: bigint; heldLeftMs?: number; head?: SessionHead }>;

  async open(ctx: RequestContext, req: OpenRequest): Promise<{ head: SessionHead; created: boolean }> {
    const sessionId = requireId('session_id', req.sessionId);
    const parentSessionId = optionalId('parent_session_id', req.parentSessionId);
    if (parentSessionId === sessionId) throw invalid('PARENT_IS_SELF', 'parent_session_id must name another session');
    if (req.mode && !this.defaults.availableModes.includes(req.mode)) {
      throw precondition('MODE_UNAVAILABLE', `mode "${req.mode}" is not offered by this server; available modes: ${this.defaults.availableModes.join(', ')}`, {
        session_id: sessionId,
        mode: req.mode,
      });
    }
    if (req.policy.providerId) this.requireProvider(sessionId, req.policy.providerId);
    validateMetadata(req.metadata);
    if (req.finalAnswerFormat?.kind === 'custom') requireNoNul('final_answer_format.custom.guidance', req.finalAnswerFormat.guidance);
    const imported = req.openMode === 'with_state' ? this.decodeState(sessionId, req.state) : undefined;
    if (parentSessionId && !(await this.store.getHead(ctx.tenantId, parentSessionId))) {
      throw notFound('PARENT_NOT_FOUND', `parent session "${parentSessionId}" does not exist; open it first`, {
        session_id: sessionId,
        parent_session_id: parentSessionId,
      });
    }

    // Two common cases need no writer (and so never wait for a running turn): creating a session
    // (the insert is the guard; nobody else writes a session that does not exist yet), and a
    // resume that changes nothing (no revision is written, as for any read).
    if (!imported) {
      const existing = await this.store.getHead(ctx.tenantId, sessionId);
      if (!existing) {
        const head = await this.createNew(ctx, sessionId, req, parentSessionId);
        if (head) return { head, created: true };
        // Another call created it meanwhile: go on as for an existing session.
      } else if (req.openMode === 'resume' && !this.resumeChanges(existing, req, parentSessionId)) {
        return { head: await this.makeResident(ctx, existing), created: false };
      }
    }

    return this.withWriter(ctx, sessionId, async () => {
      const existing = await this.store.getHead(ctx.tenantId, sessionId);
      if (req.openMode === 'resume' && existing) {
        const head = this.resumeChanges(existing, req, parentSessionId);
        const current = head
          ? await this.commit(ctx, { expectedRevision: existing.headRevision, kind: 'open', head, graph: { kind: 'none' }, frames: [] })
          : existing;
        return { head: await this.makeResident(ctx, current), created: false };
      }
      if (existing && parentSessionId && existing.parentSessionId !== parentSessionId) await this.refuseParentCycle(ctx, sessionId, parentSessionId);
      const base = imported ? this.headFromState(ctx, imported.doc, existing) : this.emptyHead(ctx, sessionId, existing, req.mode, parentSessionId);
      const head = this.applyOpenFields(base, req, parentSessionId);
      const frame = imported ? undefined : this.initialFrame(head.currentFrameId);
      // fresh and with_state start a new session (over the old one, if any).
      const created = req.openMode !== 'resume';
      let expected = existing?.headRevision;
      if (!existing && !imported) {
        const fresh = await this.createNew(ctx, sessionId, req, parentSessionId);
        if (!fresh) throw createdConcurrently(sessionId);
        return { head: fresh, created: true };
      }
      if (!existing) {
        // with_state of a new id: an empty row first, then the import replaces its graph.
        const initial = this.initialFrame(head.currentFrameId);
        if (!(await this.store.create({ ...head, currentFrameId: initial.frameId, leafNodeId: undefined, turnIndex: 0n }, initial)))
          throw createdConcurrently(sessionId);
        expected = 0n;
      }
      // fresh or with_state: one commit replaces the stored graph entirely.
      const nodes = imported?.nodes ?? [];
      const frames = imported?.frames ?? [frame!];
      const next = await this.commit(ctx, {
        expectedRevision: expected!,
        kind: imported ? 'import' : 'fresh',
        head,
        graph: { kind: 'replace', nodes },
        frames,
      });
      return { head: next, created };
    });
  }

  /** A session cannot become a descendant of itself (deletes and usage roll-ups walk the tree). */
  private async refuseParentCycle(ctx: RequestContext, sessionId: string, parentSessionId: string): Promise<void> {
    for (let id: string | undefined = parentSessionId, depth = 0; id && depth < 1000; depth++) {
      if (id === sessionId)
        throw precondition('PARENT_CYCLE', `session "${parentSessionId}" descends from "${sessionId}"; choose a parent outside its subtree`, {
          session_id: sessionId,
          parent_session_id: parentSessionId,
        });
      id = (await this.store.getHead(ctx.tenantId, id))?.parentSessionId;
    }
  }

  async get(ctx: RequestContext, sessionId: string): Promise<SessionHead> {
    requireId('session_id', sessionId);
    return requireSession(this.store, ctx.tenantId, sessionId);
  }

  /** Like get, with status `running` while a turn of the session runs on any replica. */
  async describe(ctx: RequestContext, sessionId: string): Promise<SessionHead> {
    requireId('session_id', sessionId);
    const found = await this.store.describe(ctx.tenantId, sessionId);
    if (!found) throw sessionNotFound(sessionId);
    return found.leased || this.runningHere(ctx.tenantId, sessionId) ? { ...found.head, status: 'running' } : found.head;
  }

  /** Set by the composition root: receives a `committed` marker after every commit. */
  feed: FeedSink = { append: () => {} };

  /** Set by the composition root: whether a turn of the session is running or waiting in this process. */
  runningHere: (tenantId: string, sessionId: string) => boolean = () => false;

  /** Set by the composition root: cancels the session's running turns on every replica (before a delete). */
  stopTurns: (ctx: RequestContext, sessionId: string) => Promise<void> = async () => {};

  /** Set by the composition root: tells every replica that a session is gone (its observers and waiters end). */
  announceDeleted: (deleted: SessionDeleted) => void = () => {};
  /** Sessions whose graphs are held in memory (the resident cache). */
  get residentCount(): number {
    return this.resident.size;
  }

  /** Told when a session was parked or deleted here, so per-session memory elsewhere is dropped. */
  released: (tenantId: string, sessionId: string) => void = () => {};

  async list(ctx: RequestContext, filter: SessionListFilter, pageSize: number, pageToken: string): Promise<{ sessions: SessionHead[]; nextPageToken: string }> {
    const size = pageSizeOf(pageSize);
    const after = decodePageToken(pageToken, 'list_sessions', isId);
    // An empty parent id lists root sessions only.
    if (filter.parentSessionId) requireId('filter.parent_session_id', filter.parentSessionId);
    validateMetadata(filter.metadata);
    const rows = await this.store.list(ctx.tenantId, filter, after, size + 1);
    const sessions = rows.slice(0, size);
    const nextPageToken = rows.length > size ? encodePageToken('list_sessions', sessions[sessions.length - 1]!.sessionId) : '';
    return { sessions, nextPageToken };
  }

  async close(ctx: RequestContext, sessionId: string): Promise<void> {
    await this.get(ctx, sessionId);
    // A parked session keeps no idle writer lease here (ADR 0079).
    await this.withWriter(
      ctx,
      sessionId,
      async (_lease, current) => {
        const head = await current();
        await this.store.setStatus(ctx.tenantId, sessionId, 'parked');
        this.resident.evict(ResidentCache.key(ctx.tenantId, sessionId));
        this.released(ctx.tenantId, sessionId);
        this.announce(ctx, head, 'parked');
      },
      { linger: false },
    );
  }

  /** Names a change that is no commit of the session (parking, a child created or closed) in its feed. */
  announce(ctx: RequestContext, head: SessionHead, what: string): void {
    this.feed.append(ctx.tenantId, head.sessionId, head.headRevision, { kind: 'session_changed', what });
  }

  /**
   * Removes everything of the session, and of its child sessions (recursively): a child has no
   * meaning without its parent. False when there was nothing to delete (retry-safe).
   */
  /**
   * Deletes the session and its child sessions (children first). `beforeEach` runs for every
   * session that goes, before its turns are stopped: what depends on it (background processes)
   * is detached while it still exists, so nothing learns of the delete from a cancelled turn.
   */
  async delete(ctx: RequestContext, sessionId: string, beforeEach?: (sessionId: string) => Promise<void>): Promise<boolean> {
    requireId('session_id', sessionId);
    for (;;) {
      const children = await this.store.list(ctx.tenantId, { parentSessionId: sessionId, metadata: {} }, undefined, 100);
      if (children.length === 0) break;
      for (const child of children) await this.delete(ctx, child.sessionId, beforeEach);
    }
    await beforeEach?.(sessionId);
    // A running turn is cancelled rather than waited for: it commits as cancelled (its caller
    // gets that result), then the delete takes the writer. See docs/adr/0033.
    await this.stopTurns(ctx, sessionId);
    return this.withWriter(
      ctx,
      sessionId,
      async (_lease, current) => {
        // The head (from the writer's admission, when there is one) names the incarnation that goes.
        const head = await current().catch((err: unknown) => {
          if (err instanceof DomainError && err.reason === 'SESSION_NOT_FOUND') return undefined;
          throw err;
        });
        // Events still on their way to the feed (the cancelled turn's last ones) land before the
        // rows go, so none is written afterwards for a session that no longer exists.
        await this.feed.flushed?.(ctx.tenantId, sessionId);
        const deleted = await this.store.delete(ctx.tenantId, sessionId);
        this.resident.evict(ResidentCache.key(ctx.tenantId, sessionId));
        this.released(ctx.tenantId, sessionId);
        // The epoch tells a re-created session's observers that the message is not about them.
        if (head) this.announceDeleted({ tenantId: ctx.tenantId, sessionId, epoch: head.createdAt.getTime() });
        return deleted;
      },
      { linger: false },
    );
  }

  /** Loads the session under its residency policy, healing a dangling leaf. */
  async load(ctx: RequestContext, sessionId: string): Promise<LoadedSession> {
    return this.loadAt(ctx, await this.get(ctx, sessionId));
  }

  /** Loads the session whose head was just read (by a writer's admission): no second head read. */
  async loadAt(ctx: RequestContext, stored: SessionHead): Promise<LoadedSession> {
    const sessionId = stored.sessionId;
    let head = stored;
    if (head.status === 'parked') {
      // Any RPC that needs a parked session makes it resident again.
      await this.store.setStatus(ctx.tenantId, sessionId, 'idle');
      head = { ...head, status: 'idle' };
    }
    const key = ResidentCache.key(ctx.tenantId, sessionId);
    const cached = this.resident.get(key, head.headRevision);
    if (cached) return cached;
    const loaded = await this.loadFromStore(ctx, head);
    if (loaded.healed) return this.healOrKeep(ctx, loaded);
    this.resident.put(key, loaded);
    return loaded;
  }

  async readView(ctx: RequestContext, sessionId: string, pageSize: number, pageToken: string): Promise<ReadView> {
    const size = pageSizeOf(pageSize, 1000);
    const offset = decodeOffsetToken(pageToken, 'read_view');
    const session = await this.load(ctx, sessionId);
    const frame = currentFrame(session);
    const all = frameMessages(activePath(session.graph), frame);
    // A page ends at page_size messages or at about MAX_READ_VIEW_PAGE_BYTES, whichever comes first.
    const taken = countWithin(all.slice(offset), size, MAX_READ_VIEW_PAGE_BYTES);
    const messages = all.slice(offset, offset + taken);
    const nextPageToken = offset + taken < all.length ? encodePageToken('read_view', String(offset + taken)) : '';
    return {
      messages,
      nextPageToken,
      turnIndex: session.head.turnIndex,
      lastPromptUsage: session.head.lastPromptUsage,
      frameId: session.head.currentFrameId,
      policy: session.head.policy,
    };
  }

  /** The bytes of an attachment this session references (GetAttachment). */
  attachment(ctx: RequestContext, sessionId: string, attachmentId: string, range?: AttachmentRange): Promise<Attachment> {
    return readAttachment(this.store, ctx, sessionId, attachmentId, range);
  }

  async usageReport(ctx: RequestContext, sessionId: string): Promise<UsageReport> {
    await this.get(ctx, sessionId);
    return buildUsageReport(await this.store.usage(ctx.tenantId, sessionId));
  }

  async updateConfig(ctx: RequestContext, sessionId: string, patch: PolicyPatch): Promise<SessionHead> {
    await this.get(ctx, sessionId);
    if (patch.providerId) this.requireProvider(sessionId, patch.providerId);
    return this.withWriter(ctx, sessionId, async (lease, current) => {
      const head = await current();
      const policy = applyPolicyPatch(head.policy, patch);
      return this.commit(ctx, { expectedRevision: head.headRevision, kind: 'config', head: { ...head, policy }, graph: { kind: 'none' }, frames: [] }, lease);
    });
  }

  /** The whole document in one answer, while it fits one client message (else STATE_NEEDS_CHUNKS). */
  async exportState(ctx: RequestContext, sessionId: string): Promise<StateDocument> {
    const { document } = await this.exportDocument(ctx, sessionId);
    const bytes = jsonBytes(document);
    if (bytes > MAX_UNCHUNKED_STATE_BYTES) {
      throw precondition(
        'STATE_NEEDS_CHUNKS',
        `the state document of session "${sessionId}" is ${bytes} bytes, more than one answer holds (${MAX_UNCHUNKED_STATE_BYTES}); export it with ExportSessionStateChunk`,
        { session_id: sessionId, limit_bytes: String(MAX_UNCHUNKED_STATE_BYTES) },
      );
    }
    return document;
  }

  /** One piece of the document's JSON text, continued with the returned page token (ADR 0053). */
  async exportStateChunk(ctx: RequestContext, sessionId: string, pageToken: string): Promise<StateChunk & { version: number }> {
    const from = decodeChunkToken(pageToken);
    const { revision, document } = await this.exportDocument(ctx, sessionId);
    return { version: document.version, ...chunkAt(sessionId, Buffer.from(JSON.stringify(document), 'utf8'), revision, from) };
  }

  private async exportDocument(ctx: RequestContext, sessionId: string): Promise<{ revision: bigint; document: StateDocument }> {
    const head = await this.get(ctx, sessionId);
    // Export is self-contained: always the full graph, whatever the residency policy.
    const { nodes, frames } = await this.store.loadGraph(ctx.tenantId, sessionId, head.leafNodeId, 'keep_all');
    return { revision: head.headRevision, document: exportState(head, nodes, frames) };
  }

  async appendMessages(ctx: RequestContext, sessionId: string, messages: Message[]): Promise<SessionHead> {
    requireId('session_id', sessionId);
    if (messages.length === 0) throw invalid('NO_MESSAGES', 'messages must contain at least one message');
    requirePartNames(messages);
    requireWithin('MESSAGES_TOO_LARGE', 'messages', messagesBytes(messages), MAX_APPEND_BYTES);
    return this.withWriter(ctx, sessionId, async (lease, current) => {
      const session = await this.loadAt(ctx, await current());
      const ids = messageIds(sessionId, messages, new Set(session.graph.nodes.map((n) => n.nodeId)), this.runtime.ids);
      const nodes = chainMessages(
        messages.map((message, i) => ({ ...message, id: ids[i]! })),
        session.head.leafNodeId,
        session.head.currentFrameId,
        this.runtime.clock.now(),
      );
      const parent = nodes[nodes.length - 1]!.nodeId;
      // The writer's only write: it also ends the writer lease.
      return this.commit(
        ctx,
        {
          expectedRevision: session.head.headRevision,
          kind: 'append_messages',
          head: { ...session.head, leafNodeId: parent },
          graph: { kind: 'append', nodes },
          frames: [],
        },
        lease,
      );
    });
  }

  async branchToNode(ctx: RequestContext, sessionId: string, nodeId: string): Promise<SessionHead> {
    requireId('session_id', sessionId);
    requireId('node_id', nodeId);
    return this.withWriter(ctx, sessionId, async (lease, current) => {
      const head = await current();
      const { nodes } = await this.store.loadGraph(ctx.tenantId, sessionId, head.leafNodeId, 'keep_all');
      if (!nodes.some((n) => n.nodeId === nodeId)) {
        throw notFound('NODE_NOT_FOUND', `node "${nodeId}" is not in the graph of session "${sessionId}"`, { session_id: sessionId, node_id: nodeId });
      }
      return this.commit(
        ctx,
        { expectedRevision: head.headRevision, kind: 'branch', head: { ...head, leafNodeId: nodeId }, graph: { kind: 'none' }, frames: [] },
        lease,
      );
    });
  }

  /** Names the providers this server has; a session recording another one cannot run turns. */
  requireProvider(sessionId: string, providerId: string): void {
    if (!this.defaults.availableProviders.includes(providerId)) {
      throw precondition(
        'PROVIDER_UNAVAILABLE',
        `session "${sessionId}" uses provider "${providerId}", which this server does not have; available providers: ${this.defaults.availableProviders.join(', ')}; configure its credentials or update the session's provider_id`,
        { session_id: sessionId, provider_id: providerId, available_providers: this.defaults.availableProviders.join(',') },
      );
    }
  }

  /**
   * Commits and refreshes the resident copy's head. With `lease` (the writer's last write), the
   * same statement ends the writer lease.
   */
  async commit(
    ctx: RequestContext,
    c: Omit<CommitRequest, 'tenantId' | 'sessionId' | 'usage' | 'releaseLease'> & Partial<Pick<CommitRequest, 'usage'>>,
    lease?: WriterLease,
    /**
     * Awaited after the feed's waiting events are taken for the commit (so none is written on its
     * own meanwhile) and before the statement is sent: a turn alone lets its stream write (ADR 0082).
     */
    beforeWrite?: () => Promise<void>,
  ): Promise<SessionHead> {
    const head = { ...c.head, updatedAt: this.runtime.clock.now(), status: 'idle' as const };
    // The lease ends with the commit: deleted, or kept idle for this replica's next writer (ADR 0079).
    const keep = lease?.keep?.();
    const releaseLease = lease?.token !== undefined && !lease.released ? { owner: lease.owner, token: lease.token, keep } : undefined;
    const next = c.expectedRevision + 1n;
    // Changes other than turns are named in the feed, so observers know what to refetch.
    const marks: FeedPayload[] = [
      { kind: 'committed', revision: next, turnId: c.turnId },
      ...(c.kind !== 'turn' ? [{ kind: 'session_changed' as const, what: c.kind }] : []),
    ];
    // The events still waiting in the feed (a turn's last deltas) and the markers are stored by
    // the commit statement itself when the store can: one write fewer per turn.
    const held = await this.feed.hold?.(ctx.tenantId, head.sessionId);
    let outcome;
    try {
      await beforeWrite?.();
      outcome = await this.store.commit({
        ...c,
        usage: c.usage ?? [],
        head,
        tenantId: ctx.tenantId,
        sessionId: head.sessionId,
        releaseLease,
        feed: held ? [...held.payloads, ...marks] : undefined,
      });
    } catch (err) {
      held?.release();
      throw err;
    }
    const { revision } = outcome;
    if (releaseLease) {
      lease!.released = true;
      lease!.kept = keep !== undefined;
      // What the session holds now, with nothing else able to write it while the lease is kept.
      if (keep) lease!.committedHead = { ...head, headRevision: revision };
    }
    // The held lane is settled first: nothing after the commit may leave it held.
    if (held && outcome.feed) held.stored(outcome.feed);
    else {
      held?.release();
      for (const mark of marks) this.feed.append(ctx.tenantId, head.sessionId, revision, mark);
    }
    this.advanceResident(ctx.tenantId, c, { ...head, headRevision: revision });
    return { ...head, headRevision: revision };
  }

  /**
   * Carries the resident copy over a commit instead of dropping it, so the next turn does not
   * reload the whole graph. Only for the shapes where the new state is certain from the commit
   * alone (an append that extends the leaf, or a head-only change that keeps it); anything else
   * (replace, branch) evicts and the next use reloads.
   */
  private advanceResident(tenantId: string, c: Pick<CommitRequest, 'expectedRevision' | 'graph' | 'frames'>, head: SessionHead): void {
    const key = ResidentCache.key(tenantId, head.sessionId);
    const before = this.resident.get(key, c.expectedRevision);
    const extendsLeaf =
      c.graph.kind === 'append' &&
      c.graph.nodes.length > 0 &&
      c.graph.nodes[0]!.parentNodeId === before?.head.leafNodeId &&
      c.graph.nodes[c.graph.nodes.length - 1]!.nodeId === head.leafNodeId;
    const keepsLeaf = c.graph.kind === 'none' && before?.head.leafNodeId === head.leafNodeId;
    if (!before || before.healed || !(extendsLeaf || keepsLeaf)) {
      this.resident.evict(key);
      return;
    }
    const nodes = c.graph.kind === 'append' ? [...before.graph.nodes, ...c.graph.nodes] : before.graph.nodes;
    const changed = new Map(c.frames.map((f) => [f.frameId, f]));
    const frames = [...before.frames.map((f) => changed.get(f.frameId) ?? f), ...c.frames.filter((f) => !before.frames.some((b) => b.frameId === f.frameId))];
    this.resident.put(key, { head, graph: { nodes, leafNodeId: head.leafNodeId }, frames, healed: false });
  }

  /** Inserts a new session at revision 0, with its seed messages; undefined if the id was taken meanwhile. */
  private async createNew(ctx: RequestContext, sessionId: string, req: OpenRequest, parentSessionId: string | undefined): Promise<SessionHead | undefined> {
    const empty = this.applyOpenFields(this.emptyHead(ctx, sessionId, undefined, req.mode, parentSessionId), req, parentSessionId);
    const nodes = chainMessages(req.seed ?? [], undefined, empty.currentFrameId, this.runtime.clock.now());
    const head = nodes.length ? { ...empty, leafNodeId: nodes[nodes.length - 1]!.nodeId } : empty;
    const frame = this.initialFrame(head.currentFrameId);
    if (!(await this.store.create(head, frame, nodes))) return undefined;
    // Resident at once, exactly as stored: the first turn loads nothing.
    this.resident.put(ResidentCache.key(ctx.tenantId, sessionId), { head, graph: { nodes, leafNodeId: head.leafNodeId }, frames: [frame], healed: false });
    return head;
  }

  /**
   * The head a resume would commit, or undefined when it changes nothing. Refuses a resume that
   * names another mode or parent than the session has.
   */
  private resumeChanges(existing: SessionHead, req: OpenRequest, parentSessionId: string | undefined): SessionHead | undefined {
    const sessionId = existing.sessionId;
    if (req.mode && existing.mode !== req.mode) {
      throw precondition('MODE_MISMATCH', `session "${sessionId}" was created in mode ${existing.mode}; open it with that mode or open it fresh`, {
        session_id: sessionId,
      });
    }
    if (parentSessionId && existing.parentSessionId !== parentSessionId) {
      throw precondition('PARENT_MISMATCH', `session "${sessionId}" has parent "${existing.parentSessionId ?? ''}", not "${parentSessionId}"`, {
        session_id: sessionId,
      });
    }
    const head = this.applyOpenFields(existing, req, existing.parentSessionId);
    return stableJson(stripVolatile(head)) !== stableJson(stripVolatile(existing)) ? head : undefined;
  }

  /** Makes the session resident (unparking it, healing a dangling leaf) and returns its head. */
  private async makeResident(ctx: RequestContext, head: SessionHead): Promise<SessionHead> {
    let current = head;
    if (current.status === 'parked') {
      await this.store.setStatus(ctx.tenantId, current.sessionId, 'idle');
      current = { ...current, status: 'idle' };
    }
    // A resident copy at this revision is already healed.
    const cached = this.resident.get(ResidentCache.key(ctx.tenantId, current.sessionId), current.headRevision);
    if (cached) return { ...cached.head, status: current.status };
    const loaded = await this.loadFromStore(ctx, current);
    if (loaded.healed) return (await this.healOrKeep(ctx, loaded)).head;
    this.resident.put(ResidentCache.key(ctx.tenantId, current.sessionId), loaded);
    return loaded.head;
  }

  /**
   * Readers may hold no writer (and writers may not take theirs twice), so a heal found by a load
   * relies on the revision check alone: if another writer moved the head meanwhile, the healed
   * copy is returned unpersisted and the next load looks again.
   */
  private async healOrKeep(ctx: RequestContext, loaded: LoadedSession): Promise<LoadedSession> {
    try {
      return await this.persistHeal(ctx, loaded);
    } catch (err) {
      if (err instanceof DomainError && err.reason === 'REVISION_CONFLICT') return loaded;
      throw err;
    }
  }

  /** Persists a healed load at once (a full replacement) so every replica sees the same leaf. */
  private async persistHeal(ctx: RequestContext, loaded: LoadedSession): Promise<LoadedSession> {
    const next = await this.commit(ctx, {
      expectedRevision: loaded.head.headRevision,
      kind: 'heal',
      head: loaded.head,
      graph: { kind: 'replace', nodes: loaded.graph.nodes },
      frames: [],
    });
    const healed = { ...loaded, head: next, healed: false };
    this.resident.put(ResidentCache.key(ctx.tenantId, next.sessionId), healed);
    return healed;
  }

  private async loadFromStore(ctx: RequestContext, head: SessionHead): Promise<LoadedSession> {
    const { tenantId, sessionId } = head;
    let { nodes, frames } = await this.store.loadGraph(tenantId, sessionId, head.leafNodeId, head.residency);
    let healed = false;
    let leaf = head.leafNodeId;
    if (head.residency === 'active_path_only' && leaf && nodes.length === 0) {
      // Heal: the active-path read found nothing although the session has a leaf.
      ({ nodes, frames } = await this.store.loadGraph(tenantId, sessionId, leaf, 'keep_all'));
      healed = true;
    }
    if (leaf && leafIsDangling({ nodes, leafNodeId: leaf })) {
      leaf = latestMessageNode(nodes)?.nodeId;
      healed = true;
    }
    return { head: { ...head, leafNodeId: leaf }, graph: { nodes, leafNodeId: leaf }, frames, healed };
  }

  private decodeState(sessionId: string, state: OpenRequest['state']) {
    if (!state || state.document === undefined) {
      throw invalid('STATE_REQUIRED', 'open_mode OPEN_MODE_WITH_STATE needs `state` (a document from ExportSessionState)', { session_id: sessionId });
    }
    const parsed = parseState(state.document);
    const claimed = state.sessionId || parsed.sessionId;
    if (claimed !== parsed.sessionId) {
      throw invalid('STATE_DOCUMENT_INVALID', `state.session_id "${claimed}" differs from the document's session id "${parsed.sessionId}"`);
    }
    if (parsed.sessionId !== sessionId) {
      throw precondition(
        'STATE_SESSION_MISMATCH',
        `the state belongs to session "${parsed.sessionId}", not "${sessionId}"; open "${parsed.sessionId}" with it, or export "${sessionId}" instead`,
        { session_id: sessionId, state_session_id: parsed.sessionId },
      );
    }
    return parsed;
  }

  private emptyHead(
    ctx: RequestContext,
    sessionId: string,
    existing: SessionHead | undefined,
    mode: SessionMode | undefined,
    parentSessionId: string | undefined,
  ): SessionHead {
    const now = this.runtime.clock.now();
    return {
      tenantId: ctx.tenantId,
      sessionId,
      mode: mode ?? 'standard',
      parentSessionId,
      policy: this.defaults.policy,
      residency: 'keep_all',
      finalAnswerFormat: defaultFinalAnswerFormat(parentSessionId),
      metadata: {},
      headRevision: existing?.headRevision ?? 0n,
      turnIndex: 0n,
      leafNodeId: undefined,
      currentFrameId: this.runtime.ids.uuid(),
      status: 'idle',
      toolState: { generation: (existing?.toolState.generation ?? 0n) + (existing ? 1n : 0n), overrides: {} },
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    };
  }

  private headFromState(ctx: RequestContext, doc: StateDocument, existing: SessionHead | undefined): SessionHead {
    const now = this.runtime.clock.now();
    return {
      tenantId: ctx.tenantId,
      sessionId: doc.sessionId,
      mode: doc.mode,
      parentSessionId: doc.parentSessionId,
      policy: doc.policy as SessionPolicy,
      residency: doc.residency,
      finalAnswerFormat: doc.finalAnswerFormat,
      metadata: doc.metadata,
      headRevision: existing?.headRevision ?? 0n,
      turnIndex: BigInt(doc.turnIndex),
      leafNodeId: doc.leafNodeId,
      currentFrameId: doc.currentFrameId,
      status: 'idle',
      toolState: { generation: BigInt(doc.toolState.generation), overrides: doc.toolState.overrides },
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    };
  }

  private applyOpenFields(head: SessionHead, req: OpenRequest, parentSessionId: string | undefined): SessionHead {
    const next: SessionHead = { ...head, status: 'idle', parentSessionId: parentSessionId ?? head.parentSessionId };
    next.policy = applyPolicyPatch(head.policy, req.policy);
    if (req.residency) next.residency = req.residency;
    if (req.finalAnswerFormat) next.finalAnswerFormat = req.finalAnswerFormat;
    else if (!head.parentSessionId && next.parentSessionId && next.finalAnswerFormat.kind === 'markdown')
      next.finalAnswerFormat = defaultFinalAnswerFormat(next.parentSessionId);
    // Labels given on open are merged over the stored ones.
    if (req.metadata && Object.keys(req.metadata).length > 0) next.metadata = { ...head.metadata, ...req.metadata };
    if (req.usageSource) next.usageSource = req.usageSource;
    return next;
  }

  private initialFrame(frameId: string): AgentFrame {
    return { frameId, status: 'active', reason: 'initial', createdAt: this.runtime.clock.now() };
  }
}

function stripVolatile(head: SessionHead) {
  const { updatedAt: _u, status: _s, ...rest } = head;
  return rest;
}

const stableJson = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));

function validateMetadata(metadata: Record<string, string> | undefined): void {
  if (!metadata) return;
  const entries = Object.entries(metadata);
  if (entries.length > MAX_METADATA_ENTRIES) throw invalid('METADATA_TOO_LARGE', `metadata has ${entries.length} entries; use at most ${MAX_METADATA_ENTRIES}`);
  let bytes = 0;
  for (const [k, v] of entries) {
    if (!k) throw invalid('METADATA_KEY_EMPTY', 'metadata keys must not be empty');
    requireId('metadata key', k);
    requireLabel('metadata value', v);
    bytes += Buffer.byteLength(k) + Buffer.byteLength(v);
  }
  if (bytes > MAX_METADATA_BYTES) throw invalid('METADATA_TOO_LARGE', `metadata is ${bytes} bytes; use at most ${MAX_METADATA_BYTES}`);
}
