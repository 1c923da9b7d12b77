// SessionStore in memory: heads, graph nodes, frames, the commit log and the usage ledger, with
// the same compare-and-set commit as the database (src/store/session-store.ts): a stale revision
// or claim, or a node id already stored, writes nothing. A commit completes its queue claims,
// releases its writer lease and stores its feed events in the same step.

import { DomainError, revisionConflict } from '../../domain/errors.js';
import type { AgentFrame, GraphNode } from '../../domain/graph.js';
import type { AttachmentPiece, ByteRange, CommitOutcome, CommitRecord, CommitRequest, SessionListFilter, SessionStore } from '../../domain/ports.js';
import type { Residency, SessionHead } from '../../domain/session.js';
import { ADMIN_WRITER_KEY, IDLE_WRITER_KEY } from '../../domain/session-writers.js';
import type { UsageDelta } from '../../domain/usage.js';
import type { MemoryFeedStore } from './feed-store.js';
import type { MemoryQueueStore } from './queue-store.js';
import { copy, sessionKey, type MemoryTables, type SessionRows } from './tables.js';

const USAGE_FIELDS = ['inputTokens', 'outputTokens', 'cachedInputTokens', 'reasoningTokens', 'cacheWriteTokens'] as const;

export class MemorySessionStore implements SessionStore {
  constructor(
    private readonly tables: MemoryTables,
    private readonly feed: MemoryFeedStore,
    private readonly queue: MemoryQueueStore,
  ) {}

  async ping(): Promise<void> {}

  async getHead(tenantId: string, sessionId: string): Promise<SessionHead | undefined> {
    const rows = this.rows(tenantId, sessionId);
    return rows && copy(rows.head);
  }

  async headAndTurn(tenantId: string, sessionId: string, turnId: string | undefined): Promise<{ head?: SessionHead; turn?: CommitRecord }> {
    const rows = this.rows(tenantId, sessionId);
    if (!rows) return {};
    return { head: copy(rows.head), turn: turnId === undefined ? undefined : this.turnOf(rows, turnId) };
  }

  async describe(tenantId: string, sessionId: string): Promise<{ head: SessionHead; leased: boolean } | undefined> {
    const rows = this.rows(tenantId, sessionId);
    if (!rows) return undefined;
    // A lease held by an admin write is not a running turn; an idle one (ADR 0079) only while a
    // turn going on under it has its events in the feed uncommitted.
    const lease = this.tables.liveLease(tenantId, sessionId);
    if (lease === undefined || lease.owner.endsWith(`/${ADMIN_WRITER_KEY}`)) return { head: copy(rows.head), leased: false };
    if (!lease.owner.endsWith(`/${IDLE_WRITER_KEY}`)) return { head: copy(rows.head), leased: true };
    const open = this.tables.feeds.get(sessionKey(tenantId, sessionId))?.openTurnId;
    return { head: copy(rows.head), leased: open !== undefined && this.turnOf(rows, open) === undefined };
  }

  async create(head: SessionHead, initialFrame: AgentFrame, nodes: GraphNode[] = []): Promise<boolean> {
    const key = sessionKey(head.tenantId, head.sessionId);
    if (this.tables.sessions.has(key)) return false;
    this.tables.sessions.set(key, {
      head: copy(head),
      nodes: new Map(nodes.map((n) => [n.nodeId, copy(n)])),
      frames: new Map([[initialFrame.frameId, copy(initialFrame)]]),
      commits: [],
      usage: [],
      blobs: new Set(),
    });
    return true;
  }

  async loadGraph(tenantId: string, sessionId: string, leafNodeId: string | undefined, residency: Residency) {
    const rows = this.rows(tenantId, sessionId);
    if (!rows) return { nodes: [], frames: [] };
    const frames = [...rows.frames.values()].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime()).map(copy);
    if (residency !== 'active_path_only') return { nodes: [...rows.nodes.values()].map(copy), frames };
    // The leaf's ancestry only, in insertion order; a cycle cannot loop (each node once).
    const onPath = new Set<string>();
    for (let id = leafNodeId; id !== undefined && !onPath.has(id); id = rows.nodes.get(id)?.parentNodeId) {
      if (!rows.nodes.has(id)) break;
      onPath.add(id);
    }
    return { nodes: [...rows.nodes.values()].filter((n) => onPath.has(n.nodeId)).map(copy), frames };
  }

  async commit(c: CommitRequest): Promise<CommitOutcome> {
    const rows = this.rows(c.tenantId, c.sessionId);
    const claims = c.claims ?? [];
    // Every check before any write: a refused commit leaves nothing behind.
    const lost = claims.filter((cl) => !this.queue.isHeld(cl));
    if (lost.length > 0) {
      throw new DomainError(
        'STALE_CLAIM',
        `${lost.length} of the ${claims.length} queued batches this turn claimed are no longer held (a claim expired and the batch was claimed again); nothing was committed`,
        { session_id: c.sessionId, batch_ids: claims.map((cl) => cl.batchId).join(',') },
      );
    }
    if (!rows || rows.head.headRevision !== c.expectedRevision) throw revisionConflict(c.sessionId, c.expectedRevision);
    const added = c.graph.kind === 'none' ? [] : c.graph.nodes;
    const ids = new Set<string>();
    for (const n of added) {
      if (ids.has(n.nodeId) || (c.graph.kind === 'append' && rows.nodes.has(n.nodeId))) {
        throw new DomainError('NODE_ID_TAKEN', `a node id of this commit already exists in session "${c.sessionId}"; use fresh ids`, {
          session_id: c.sessionId,
        });
      }
      ids.add(n.nodeId);
    }
    const revision = c.expectedRevision + 1n;
    const now = this.tables.clock.now();
    rows.head = { ...copy(c.head), headRevision: revision };
    if (c.graph.kind === 'replace') rows.nodes.clear();
    for (const n of added) rows.nodes.set(n.nodeId, copy(n));
    if (c.frames.length > 0) {
      if (c.graph.kind === 'replace') for (const id of [...rows.frames.keys()]) if (!c.frames.some((f) => f.frameId === id)) rows.frames.delete(id);
      for (const f of c.frames) rows.frames.set(f.frameId, copy(f));
    }
    for (const u of c.usage) rows.usage.push({ ...copy(u), revision });
    for (const cl of claims) this.queue.complete(cl, c.turnId);
    for (const b of c.blobs ?? []) {
      // Content-addressed: the same bytes are stored once, whoever references them.
      if (!this.tables.blobs.has(b.hash)) this.tables.blobs.set(b.hash, { data: new Uint8Array(b.data), mimeType: b.mimeType });
      rows.blobs.add(b.hash);
    }
    rows.commits.push({
      revision,
      kind: c.kind,
      graphWrite: c.graph.kind,
      turnId: c.turnId,
      contentHash: c.contentHash,
      result: c.result === undefined ? undefined : copy(c.result),
      createdAt: now,
    });
    if (c.releaseLease) {
      const key = sessionKey(c.tenantId, c.sessionId);
      const lease = this.tables.leases.get(key);
      if (lease?.owner === c.releaseLease.owner && lease.token === c.releaseLease.token) {
        const keep = c.releaseLease.keep;
        // Kept, it stays this replica's, idle, for its next writer (ADR 0079).
        if (keep) this.tables.leases.set(key, { owner: keep.owner, token: lease.token, expiresAt: this.tables.clock.nowMs() + keep.lingerMs });
        else this.tables.leases.delete(key);
      }
    }
    // The same shapes as the database's one-statement commit carry their feed events.
    const carries = c.feed?.length && c.graph.kind !== 'replace' && c.frames.length === 0 && !c.blobs?.length;
    return carries ? { revision, feed: this.feed.appendNow(c.tenantId, c.sessionId, revision, c.feed!) } : { revision };
  }

  async setStatus(tenantId: string, sessionId: string, status: 'idle' | 'parked'): Promise<void> {
    const rows = this.rows(tenantId, sessionId);
    if (rows) rows.head.status = status;
  }

  async list(tenantId: string, filter: SessionListFilter, after: string | undefined, limit: number): Promise<SessionHead[]> {
    const parent = filter.parentSessionId === '' ? undefined : filter.parentSessionId;
    return [...this.tables.sessions.values()]
      .map((r) => r.head)
      .filter((h) => h.tenantId === tenantId && (after === undefined || h.sessionId > after))
      .filter((h) => filter.parentSessionId === undefined || h.parentSessionId === parent)
      .filter((h) => Object.entries(filter.metadata).every(([k, v]) => h.metadata[k] === v))
      .sort((a, b) => (a.sessionId < b.sessionId ? -1 : a.sessionId > b.sessionId ? 1 : 0))
      .slice(0, limit)
      .map(copy);
  }

  async delete(tenantId: string, sessionId: string): Promise<boolean> {
    const key = sessionKey(tenantId, sessionId);
    const rows = this.tables.sessions.get(key);
    this.tables.sessions.delete(key);
    this.tables.feeds.delete(key);
    this.tables.leases.delete(key);
    for (const k of [...this.tables.cancels.keys()]) if (k.startsWith(`${key}\u0000`)) this.tables.cancels.delete(k);
    for (const [k, v] of [...this.tables.completions]) if (k.startsWith(`${tenantId}\u0000`) && v.sessionId === sessionId) this.tables.completions.delete(k);
    for (const [id, row] of [...this.tables.queue]) if (row.batch.tenantId === tenantId && row.batch.sessionId === sessionId) this.tables.queue.delete(id);
    // Blobs are shared by content; drop the ones nobody references any more.
    if (rows) for (const hash of rows.blobs) if (![...this.tables.sessions.values()].some((r) => r.blobs.has(hash))) this.tables.blobs.delete(hash);
    return rows !== undefined;
  }

  async usage(tenantId: string, sessionId: string): Promise<UsageDelta[]> {
    // Own usage by source, plus every descendant's under that descendant's usage source.
    const entries: UsageDelta[] = [...(this.rows(tenantId, sessionId)?.usage ?? [])];
    const seen = new Set([sessionId]);
    let level = [sessionId];
    while (level.length > 0) {
      const next: string[] = [];
      for (const r of this.tables.sessions.values()) {
        const h = r.head;
        if (h.tenantId !== tenantId || h.parentSessionId === undefined || !level.includes(h.parentSessionId) || seen.has(h.sessionId)) continue;
        seen.add(h.sessionId);
        next.push(h.sessionId);
        for (const u of r.usage) entries.push({ source: h.usageSource ?? 'child', model: u.model, usage: u.usage });
      }
      level = next;
    }
    const sums = new Map<string, UsageDelta>();
    for (const e of entries) {
      const k = `${e.source}\u0000${e.model}`;
      const sum = sums.get(k) ?? {
        source: e.source,
        model: e.model,
        usage: { inputTokens: 0n, outputTokens: 0n, cachedInputTokens: 0n, reasoningTokens: 0n, cacheWriteTokens: 0n },
      };
      for (const f of USAGE_FIELDS) sum.usage[f] += e.usage[f];
      sums.set(k, sum);
    }
    return [...sums.values()];
  }

  async findTurn(tenantId: string, sessionId: string, turnId: string): Promise<CommitRecord | undefined> {
    const rows = this.rows(tenantId, sessionId);
    return rows && this.turnOf(rows, turnId);
  }

  async commits(tenantId: string, sessionId: string, limit: number): Promise<CommitRecord[]> {
    return [...(this.rows(tenantId, sessionId)?.commits ?? [])].reverse().slice(0, limit).map(copy);
  }

  /** The blob bytes (the BlobStore port reads through this). */
  blob(hash: string): { data: Uint8Array; mimeType: string } | undefined {
    const b = this.tables.blobs.get(hash);
    return b && { data: new Uint8Array(b.data), mimeType: b.mimeType };
  }

  async attachment(tenantId: string, sessionId: string, hash: string, range: ByteRange): Promise<AttachmentPiece | undefined> {
    const blob = this.rows(tenantId, sessionId)?.blobs.has(hash) ? this.blob(hash) : undefined;
    if (!blob) return undefined;
    return { mimeType: blob.mimeType, totalBytes: blob.data.byteLength, data: blob.data.slice(range.offset, range.offset + range.length) };
  }

  private rows(tenantId: string, sessionId: string): SessionRows | undefined {
    return this.tables.sessions.get(sessionKey(tenantId, sessionId));
  }

  private turnOf(rows: SessionRows, turnId: string): CommitRecord | undefined {
    const turn = rows.commits.find((c) => c.turnId === turnId);
    return turn && copy(turn);
  }
}
