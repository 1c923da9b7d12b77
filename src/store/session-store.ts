// SessionStore on MikroORM: head rows, graph nodes, frames, the commit log and the usage
// ledger. A commit is one transaction guarded by a compare-and-set on the head revision.

import type { InferEntity } from '@mikro-orm/core';
import { ADMIN_WRITER_KEY, IDLE_WRITER_KEY } from '../domain/session-writers.js';
import type { AgentFrame, GraphNode } from '../domain/graph.js';
import type { AttachmentPiece, ByteRange, CommitOutcome, CommitRecord, CommitRequest, SessionListFilter, SessionStore } from '../domain/ports.js';
import type { Residency, SessionHead } from '../domain/session.js';
import { DomainError, revisionConflict } from '../domain/errors.js';
import type { Usage, UsageDelta } from '../domain/usage.js';
import { CancelRow, CommitRow, CompletionRow, FrameRow, LeaseRow, NodeRow, SessionBlobRow, SessionRow, UsageRow } from './entities.js';
import type { Database } from './database.js';
import type { SqlRunner } from './bound-sql.js';
import type { DbFeedStore } from './feed-store.js';
import { withTypedErrors } from './typed-errors.js';

type SessionRowData = InferEntity<typeof SessionRow>;
type NodeRowData = InferEntity<typeof NodeRow>;
type FrameRowData = InferEntity<typeof FrameRow>;

/** Under vitest, interned statement texts are checked against the text built anew. */
const CHECK_INTERNED_TEXTS = process.env.VITEST !== undefined;

export class OrmSessionStore implements SessionStore {
  /** The commit statement's text by shape (`internCommitText`). */
  private readonly commitTexts: (string | undefined)[] = [];

  /** With a feed store, single-statement commits can carry the turn's last feed events. */
  constructor(
    private readonly db: Database,
    private readonly feed?: Pick<DbFeedStore, 'appendPart'>,
  ) {
    return withTypedErrors(this);
  }

  async ping(): Promise<void> {
    await this.db.conn().execute('select 1');
  }

  // The head read is the hottest query (every RPC): bound SQL, prepared, no unit of work.
  async getHead(tenantId: string, sessionId: string): Promise<SessionHead | undefined> {
    const { rows } = await this.db.sql.query(`select ${HEAD_COLUMNS} from sessions where tenant_id = $1 and session_id = $2`, [tenantId, sessionId]);
    return rows[0] ? headFromRaw(rows[0]) : undefined;
  }

  async headAndTurn(tenantId: string, sessionId: string, turnId: string | undefined): Promise<{ head?: SessionHead; turn?: CommitRecord }> {
    if (turnId === undefined) return { head: await this.getHead(tenantId, sessionId) };
    const { rows } = await this.db.sql.query(
      `select ${HEAD_COLUMNS_S}, ${TURN_COLUMNS_C}
         from sessions s left join session_commits c on c.tenant_id = s.tenant_id and c.session_id = s.session_id and c.turn_id = $3
        where s.tenant_id = $1 and s.session_id = $2`,
      [tenantId, sessionId, turnId],
    );
    const row = rows[0];
    return row ? { head: headFromRaw(row), turn: turnFromRaw(row) } : {};
  }

  async describe(tenantId: string, sessionId: string): Promise<{ head: SessionHead; leased: boolean } | undefined> {
    // GetSession's read: the interactive lane, ahead of queued turn work (ADR 0063).
    const { rows } = await this.db.sql.interactive.query(
      `select ${HEAD_COLUMNS}, exists (select 1 from session_leases l where l.tenant_id = s.tenant_id and l.session_id = s.session_id and l.expires_at >= now() and l.owner not like $1
           and (l.owner not like $4 or exists (select 1 from feed_heads f where f.tenant_id = s.tenant_id and f.session_id = s.session_id and f.open_turn_id is not null
             and not exists (select 1 from session_commits o where o.tenant_id = s.tenant_id and o.session_id = s.session_id and o.turn_id = f.open_turn_id)))) as leased
         from sessions s where s.tenant_id = $2 and s.session_id = $3`,
      // A lease held by an admin write is not a running turn. An idle lease (ADR 0079) is one only
      // while a turn of its replica, going on under it, has its events in the feed uncommitted.
      [`%/${ADMIN_WRITER_KEY}`, tenantId, sessionId, `%/${IDLE_WRITER_KEY}`],
    );
    const row = rows[0];
    return row ? { head: headFromRaw(row), leased: row.leased === true } : undefined;
  }

  async create(head: SessionHead, initialFrame: AgentFrame, nodes: GraphNode[] = []): Promise<boolean> {
    try {
      await this.db.em().transactional(async (em) => {
        await em.insert(SessionRow, headToRow(head));
        await em.insert(FrameRow, frameToRow(head, initialFrame));
        if (nodes.length > 0)
          await em.insertMany(
            NodeRow,
            nodes.map((n) => nodeToRow(head.tenantId, head.sessionId, n)),
          );
      });
      return true;
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
  }

  async loadGraph(tenantId: string, sessionId: string, leafNodeId: string | undefined, residency: Residency) {
    const em = this.db.em();
    const frames = (await em.find(FrameRow, { tenantId, sessionId }, { orderBy: { createdAt: 'asc' }, disableIdentityMap: true })).map(frameFromRow);
    if (residency === 'active_path_only') {
      if (!leafNodeId) return { nodes: [], frames };
      // Walk the ancestry of the leaf in the database; other branches are never read.
      const rows = await em.getConnection().execute<Record<string, unknown>[]>(
        `with recursive path as (
           select * from session_nodes where tenant_id = ? and session_id = ? and node_id = ?
           union all
           select n.* from session_nodes n join path p
             on n.tenant_id = p.tenant_id and n.session_id = p.session_id and n.node_id = p.parent_node_id
         ) select * from path order by seq`,
        [tenantId, sessionId, leafNodeId],
      );
      return { nodes: rows.map(nodeFromRaw), frames };
    }
    const rows = await em.find(NodeRow, { tenantId, sessionId }, { orderBy: { seq: 'asc' }, disableIdentityMap: true });
    return { nodes: rows.map(nodeFromRow), frames };
  }

  /**
   * Every commit is one statement (`commitStatement`). A graph replace alone needs a step before
   * it, in the same transaction: its new nodes usually reuse the old ids, and a statement cannot
   * both delete rows and insert the same keys (its parts see one snapshot, in no set order). So
   * the replace locks the head at the expected revision, deletes the old nodes (and the frames
   * not in the new set), then runs the same statement; a stale revision writes nothing.
   */
  async commit(c: CommitRequest): Promise<CommitOutcome> {
    const revision = c.expectedRevision + 1n;
    const now = new Date();
    if (c.graph.kind !== 'replace') return this.commitStatement(c, revision, now, this.db.sql);
    return this.db.sql.transaction(async (tx) => {
      const locked = await tx.query('select 1 from sessions where tenant_id = $1 and session_id = $2 and head_revision = $3::bigint for update', [
        c.tenantId,
        c.sessionId,
        c.expectedRevision.toString(),
      ]);
      if (locked.rows.length !== 1) throw revisionConflict(c.sessionId, c.expectedRevision);
      await tx.query('delete from session_nodes where tenant_id = $1 and session_id = $2', [c.tenantId, c.sessionId]);
      if (c.frames.length > 0)
        await tx.query('delete from agent_frames where tenant_id = $1 and session_id = $2 and not (frame_id = any($3::text[]))', [
          c.tenantId,
          c.sessionId,
          c.frames.map((f) => f.frameId),
        ]);
      // A replace leaves its feed events to the caller (the appender), as the contract says.
      return this.commitStatement({ ...c, feed: undefined }, revision, now, tx);
    });
  }

  /**
   * A commit (a turn, a drain completing its claims, an admin change, and the rest of a replace)
   * as one statement: the head update is the compare-and-set, guarded also by every claim still
   * being held (those rows are locked first), and every other write selects from it, so on a
   * stale revision or claim nothing is written. One round trip instead of six or more; atomic as
   * one statement. Rows travel as arrays (unnest), so the text depends only on which parts are
   * present and is prepared once per connection.
   */
  private async commitStatement(c: CommitRequest, revision: bigint, now: Date, runner: SqlRunner): Promise<CommitOutcome> {
    const h = headToRow({ ...c.head, headRevision: revision });
    const nodes = c.graph.kind === 'none' ? [] : c.graph.nodes;
    const frames = c.frames;
    const blobs = c.blobs ?? [];
    const params: unknown[] = [];
    const $ = (v: unknown) => `$${params.push(v)}`;
    const claims = c.claims ?? [];
    const now$ = now.toISOString();
    let sql = 'with ';
    if (claims.length > 0) {
      sql += `held as (
        select q.batch_id from queue_batches q join unnest(${$(claims.map((cl) => cl.batchId))}::text[], ${$(claims.map((cl) => cl.token.toString()))}::bigint[]) as k (batch_id, token)
          on q.batch_id = k.batch_id and q.claim_token = k.token
         where q.state = 'claimed' for update of q), `;
    }
    sql += `h as (
        update sessions set mode = ${$(h.mode)}, parent_session_id = ${$(h.parentSessionId)}, usage_source = ${$(h.usageSource)}, policy = ${$(h.policy)},
          residency = ${$(h.residency)}, final_answer_format = ${$(h.finalAnswerFormat)}, metadata = ${$(JSON.stringify(h.metadata))}::jsonb,
          head_revision = ${$(revision.toString())}::bigint, turn_index = ${$(String(h.turnIndex))}::bigint, leaf_node_id = ${$(h.leafNodeId)}, current_frame_id = ${$(h.currentFrameId)},
          status = ${$(h.status)}, tool_generation = ${$(String(h.toolGeneration))}::bigint, tool_overrides = ${$(JSON.stringify(h.toolOverrides))}::jsonb,
          last_prompt_usage = ${$(h.lastPromptUsage === null ? null : JSON.stringify(h.lastPromptUsage))}::jsonb,
          sandbox_state = ${$(h.sandboxState)}, updated_at = ${$((h.updatedAt as Date).toISOString())}::timestamptz
         where tenant_id = ${$(c.tenantId)} and session_id = ${$(c.sessionId)} and head_revision = ${$(c.expectedRevision.toString())}::bigint`;
    sql += claims.length > 0 ? ` and (select count(*) from held) = ${$(claims.length)}::int returning 1)` : ' returning 1)';
    // The session's own key, bound once and reused by every part below.
    const t = $(c.tenantId);
    const s = $(c.sessionId);
    if (claims.length > 0) {
      sql += `, done as (
        update queue_batches set state = 'done', turn_id = ${$(c.turnId ?? null)}, finished_at = now(), claim_expires_at = null
         where batch_id in (select batch_id from held) and exists (select 1 from h))`;
    }
    if (nodes.length > 0) {
      // `order by ord`: node seq (insertion order, the graph's order) follows the given order.
      sql += `, n as (
        insert into session_nodes (tenant_id, session_id, node_id, parent_node_id, caused_by, agent_frame_id, created_at, payload)
        select ${t}, ${s}, v.node_id, v.parent_node_id, v.caused_by, v.agent_frame_id, v.created_at, v.payload
          from h cross join unnest(${$(nodes.map((n) => n.nodeId))}::text[], ${$(nodes.map((n) => n.parentNodeId ?? null))}::text[], ${$(nodes.map((n) => n.causedBy ?? null))}::text[],
            ${$(nodes.map((n) => n.agentFrameId ?? null))}::text[], ${$(nodes.map((n) => n.timestamp.toISOString()))}::timestamptz[], ${$(nodes.map((n) => JSON.stringify(n.payload)))}::text[])
            with ordinality as v (node_id, parent_node_id, caused_by, agent_frame_id, created_at, payload, ord)
         order by v.ord)`;
    }
    if (c.usage.length > 0) {
      const col = (f: (u: CommitRequest['usage'][number]) => unknown) => $(c.usage.map(f));
      sql += `, u as (
        insert into usage_entries (tenant_id, session_id, revision, turn_id, source, model, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, cache_write_tokens, created_at)
        select ${t}, ${s}, ${$(revision.toString())}::bigint, ${$(c.turnId ?? null)}, v.source, v.model, v.i, v.o, v.c, v.r, v.w, ${$(now$)}::timestamptz
          from h cross join unnest(${col((u) => u.source)}::text[], ${col((u) => u.model)}::text[], ${col((u) => u.usage.inputTokens.toString())}::bigint[],
            ${col((u) => u.usage.outputTokens.toString())}::bigint[], ${col((u) => u.usage.cachedInputTokens.toString())}::bigint[], ${col((u) => u.usage.reasoningTokens.toString())}::bigint[],
            ${col((u) => u.usage.cacheWriteTokens.toString())}::bigint[])
            as v (source, model, i, o, c, r, w))`;
    }
    if (frames.length > 0) {
      const col = (f: (fr: AgentFrame) => unknown) => $(frames.map(f));
      sql += `, fr as (
        insert into agent_frames (tenant_id, session_id, frame_id, previous_frame_id, status, reason, created_at)
        select ${t}, ${s}, v.frame_id, v.previous_frame_id, v.status, v.reason, v.created_at
          from h cross join unnest(${col((f) => f.frameId)}::text[], ${col((f) => f.previousFrameId ?? null)}::text[], ${col((f) => f.status)}::text[],
            ${col((f) => f.reason)}::text[], ${col((f) => f.createdAt.toISOString())}::timestamptz[]) as v (frame_id, previous_frame_id, status, reason, created_at)
        on conflict (tenant_id, session_id, frame_id) do update
          set previous_frame_id = excluded.previous_frame_id, status = excluded.status, reason = excluded.reason, created_at = excluded.created_at)`;
    }
    if (blobs.length > 0) {
      // Content-addressed: the same bytes are stored once, whoever references them. The bytes
      // travel as hex text, decoded here: one array type both drivers bind the same way.
      sql += `, b as (
        insert into blobs (hash, mime_type, size, data, created_at)
        select v.hash, v.mime_type, v.size, decode(v.hex, 'hex'), ${$(now$)}::timestamptz
          from h cross join unnest(${$(blobs.map((b) => b.hash))}::text[], ${$(blobs.map((b) => b.mimeType))}::text[], ${$(blobs.map((b) => b.data.byteLength))}::int[],
            ${$(blobs.map((b) => Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength).toString('hex')))}::text[]) as v (hash, mime_type, size, hex)
        on conflict (hash) do nothing)
      , sb as (
        insert into session_blobs (tenant_id, session_id, hash)
        select ${t}, ${s}, v.hash from h cross join unnest(${$(blobs.map((b) => b.hash))}::text[]) as v (hash)
        on conflict do nothing)`;
    }
    if (c.releaseLease) {
      // The writer's lease ends with its commit (same statement): no separate release round trip.
      // With `keep` it stays this replica's, idle, for the next writer here (ADR 0079).
      const { owner, token, keep } = c.releaseLease;
      sql += keep
        ? `, rel as (
        update session_leases set owner = ${$(keep.owner)}, expires_at = now() + make_interval(secs => ${$(keep.lingerMs / 1000)}::float8)
         where tenant_id = ${t} and session_id = ${s} and owner = ${$(owner)} and token = ${$(token.toString())}::bigint and exists (select 1 from h))`
        : `, rel as (
        delete from session_leases where tenant_id = ${t} and session_id = ${s} and owner = ${$(owner)} and token = ${$(token.toString())}::bigint and exists (select 1 from h))`;
    }
    // The turn's last feed events and its `committed` marker ride in the same statement: one
    // write transaction fewer per turn, stored only if the commit lands.
    const feed = c.feed?.length && this.feed ? this.feed.appendPart($, t, s, c.feed, revision, now, 'h') : undefined;
    if (feed) sql += `, ${feed.ctes}`;
    sql += `, log as (
        insert into session_commits (tenant_id, session_id, revision, kind, graph_write, turn_id, content_hash, result, created_at)
        select ${t}, ${s}, ${$(revision.toString())}::bigint, ${$(c.kind)}, ${$(c.graph.kind)}, ${$(c.turnId ?? null)}, ${$(c.contentHash ?? null)},
          ${$(c.result === undefined ? null : JSON.stringify(c.result))}, ${$(now$)}::timestamptz from h)
      select (select count(*) from h)::int as updated${claims.length > 0 ? ', (select count(*) from held)::int as held' : ''}`;
    if (feed) sql += `, (select last_seq from fhead)::text as feed_last_seq${feed.notify ? `, (select ${feed.notify} from fhead) as feed_notified` : ''}`;
    sql = this.internCommitText(c, claims.length, nodes.length, frames.length, blobs.length, feed !== undefined, sql);
    let rows: { updated: number; held?: number; feed_last_seq?: string | null }[];
    try {
      rows = (await runner.query<{ updated: number; held?: number; feed_last_seq?: string | null }>(sql, params)).rows;
    } catch (err) {
      if (isUniqueViolation(err))
        throw new DomainError('NODE_ID_TAKEN', `a node id of this commit already exists in session "${c.sessionId}"; use fresh ids`, {
          session_id: c.sessionId,
        });
      throw err;
    }
    const row = rows[0];
    if (claims.length > 0 && Number(row?.held) !== claims.length) {
      const lost = claims.length - Number(row?.held ?? 0);
      throw new DomainError(
        'STALE_CLAIM',
        `${lost} of the ${claims.length} queued batches this turn claimed are no longer held (a claim expired and the batch was claimed again); nothing was committed`,
        { session_id: c.sessionId, batch_ids: claims.map((cl) => cl.batchId).join(',') },
      );
    }
    if (Number(row?.updated) !== 1) throw revisionConflict(c.sessionId, c.expectedRevision);
    return { revision, feed: feed && row?.feed_last_seq ? feed.records(BigInt(row.feed_last_seq)) : undefined };
  }

  /**
   * The commit's text is a function of its shape alone (which parts are present), so each shape's
   * text is kept once and the same string object is reused: the text just built (a rope of
   * pieces) is dropped unread, never flattened, hashed by the prepared-statement name lookup or
   * compared with the driver's parsed text, which a 4 KB text otherwise costs on every commit.
   */
  private internCommitText(c: CommitRequest, claims: number, nodes: number, frames: number, blobs: number, feed: boolean, sql: string): string {
    const shape =
      (claims > 0 ? 1 : 0) |
      (nodes > 0 ? 2 : 0) |
      (c.usage.length > 0 ? 4 : 0) |
      (frames > 0 ? 8 : 0) |
      (blobs > 0 ? 16 : 0) |
      (c.releaseLease ? (c.releaseLease.keep ? 32 : 64) : 0) |
      (feed ? 128 : 0);
    const known = this.commitTexts[shape];
    if (known === undefined) return (this.commitTexts[shape] = sql);
    // Tests check that a shape's text never varies (this costs the flattening it saves).
    if (CHECK_INTERNED_TEXTS && known !== sql) throw new Error(`commit text of shape ${shape} varies`);
    return known;
  }

  async setStatus(tenantId: string, sessionId: string, status: 'idle' | 'parked'): Promise<void> {
    await this.db.em().nativeUpdate(SessionRow, { tenantId, sessionId }, { status });
  }

  async list(tenantId: string, filter: SessionListFilter, after: string | undefined, limit: number): Promise<SessionHead[]> {
    const where: Record<string, unknown> = { tenantId };
    if (after !== undefined) where.sessionId = { $gt: after };
    if (filter.parentSessionId !== undefined) where.parentSessionId = filter.parentSessionId === '' ? null : filter.parentSessionId;
    if (Object.keys(filter.metadata).length > 0) where.metadata = { $contains: filter.metadata };
    const rows = await this.db.em().find(SessionRow, where as never, { orderBy: { sessionId: 'asc' }, limit, disableIdentityMap: true });
    return rows.map(headFromRow);
  }

  async delete(tenantId: string, sessionId: string): Promise<boolean> {
    let deleted = 0;
    await this.db.em().transactional(async (em) => {
      const key = { tenantId, sessionId };
      await em.nativeDelete(NodeRow, key);
      await em.nativeDelete(FrameRow, key);
      await em.nativeDelete(CommitRow, key);
      await em.nativeDelete(UsageRow, key);
      await em.nativeDelete(SessionBlobRow, key);
      await em.nativeDelete(LeaseRow, key);
      await em.nativeDelete(CancelRow, key);
      await em.nativeDelete(CompletionRow, key);
      const raw = em.getConnection();
      const tx = em.getTransactionContext();
      await raw.execute('delete from feed_batches where tenant_id = ? and session_id = ?', [tenantId, sessionId], 'run', tx);
      await raw.execute('delete from feed_heads where tenant_id = ? and session_id = ?', [tenantId, sessionId], 'run', tx);
      await raw.execute('delete from queue_batches where tenant_id = ? and session_id = ?', [tenantId, sessionId], 'run', tx);
      // Blobs are shared by content; drop the ones nobody references any more.
      await em
        .getConnection()
        .execute('delete from blobs b where not exists (select 1 from session_blobs r where r.hash = b.hash)', [], 'run', em.getTransactionContext());
      deleted = await em.nativeDelete(SessionRow, key);
    });
    return deleted > 0;
  }

  async usage(tenantId: string, sessionId: string): Promise<UsageDelta[]> {
    // Own usage by source, plus the usage of every descendant (children, their children…) under
    // that session's usage source. `union` (not `union all`) keeps the walk finite on any cycle.
    const rows = await this.db.conn().execute<Record<string, unknown>[]>(
      `with recursive descendants (session_id, source) as (
           select s.session_id, coalesce(s.usage_source, 'child') from sessions s
            where s.tenant_id = ? and s.parent_session_id = ?
           union
           select s.session_id, coalesce(s.usage_source, 'child') from sessions s
             join descendants d on s.parent_session_id = d.session_id
            where s.tenant_id = ?
         )
       select source, model, sum(input_tokens) as i, sum(output_tokens) as o, sum(cached_input_tokens) as c, sum(reasoning_tokens) as r, sum(cache_write_tokens) as w
         from (
           select u.source, u.model, u.input_tokens, u.output_tokens, u.cached_input_tokens, u.reasoning_tokens, u.cache_write_tokens
             from usage_entries u where u.tenant_id = ? and u.session_id = ?
           union all
           select d.source, u.model, u.input_tokens, u.output_tokens, u.cached_input_tokens, u.reasoning_tokens, u.cache_write_tokens
             from descendants d join usage_entries u on u.tenant_id = ? and u.session_id = d.session_id
            where d.session_id <> ?
         ) all_usage group by source, model`,
      [tenantId, sessionId, tenantId, tenantId, sessionId, tenantId, sessionId],
    );
    return (rows as Record<string, unknown>[]).map((r) => ({
      source: String(r.source),
      model: String(r.model),
      usage: {
        inputTokens: BigInt(r.i as string),
        outputTokens: BigInt(r.o as string),
        cachedInputTokens: BigInt(r.c as string),
        reasoningTokens: BigInt(r.r as string),
        cacheWriteTokens: BigInt(r.w as string),
      },
    }));
  }

  async commits(tenantId: string, sessionId: string, limit: number): Promise<CommitRecord[]> {
    const rows = await this.db.em().find(CommitRow, { tenantId, sessionId }, { orderBy: { revision: 'desc' }, limit, disableIdentityMap: true });
    return rows.map(commitFromRow);
  }

  async findTurn(tenantId: string, sessionId: string, turnId: string): Promise<CommitRecord | undefined> {
    const { rows } = await this.db.sql.query(
      `select ${TURN_COLUMNS_C} from session_commits c where c.tenant_id = $1 and c.session_id = $2 and c.turn_id = $3`,
      [tenantId, sessionId, turnId],
    );
    return rows[0] ? turnFromRaw(rows[0]) : undefined;
  }

  async attachment(tenantId: string, sessionId: string, hash: string, range: ByteRange): Promise<AttachmentPiece | undefined> {
    // Joined through session_blobs: blobs are shared by content across tenants, the reference is not.
    // Only the range leaves the database (substring on bytea is 1-based).
    const { rows } = await this.db.sql.query(
      'select b.mime_type, octet_length(b.data) as total, substring(b.data from $4::int + 1 for $5::int) as data from session_blobs r join blobs b on b.hash = r.hash where r.tenant_id = $1 and r.session_id = $2 and r.hash = $3',
      [tenantId, sessionId, hash, range.offset, range.length],
    );
    const row = rows[0];
    return row ? { data: new Uint8Array(row.data as Uint8Array), mimeType: row.mime_type as string, totalBytes: Number(row.total) } : undefined;
  }
}

function commitFromRow(r: InferEntity<typeof CommitRow>): CommitRecord {
  return {
    revision: BigInt(r.revision),
    kind: r.kind,
    graphWrite: r.graphWrite as CommitRecord['graphWrite'],
    turnId: r.turnId ?? undefined,
    contentHash: r.contentHash ?? undefined,
    result: r.result == null ? undefined : JSON.parse(r.result),
    createdAt: new Date(r.createdAt),
  };
}

/** The commit columns of a turn read, prefixed so they can sit next to a head row. */
export const TURN_COLUMNS_C =
  'c.revision as c_revision, c.kind as c_kind, c.graph_write as c_graph_write, c.turn_id as c_turn_id, c.content_hash as c_content_hash, c.result as c_result, c.created_at as c_created_at';

export function turnFromRaw(r: Record<string, unknown>): CommitRecord | undefined {
  if (r.c_revision === null || r.c_revision === undefined) return undefined;
  return {
    revision: BigInt(r.c_revision as string),
    kind: String(r.c_kind),
    graphWrite: r.c_graph_write as CommitRecord['graphWrite'],
    turnId: (r.c_turn_id as string | null) ?? undefined,
    contentHash: (r.c_content_hash as string | null) ?? undefined,
    result: r.c_result == null ? undefined : JSON.parse(r.c_result as string),
    createdAt: new Date(r.c_created_at as string),
  };
}

export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; name?: string; cause?: { code?: string } };
  return e?.name === 'UniqueConstraintViolationException' || e?.code === '23505' || e?.cause?.code === '23505';
}

const usageToJson = (u: Usage) => ({
  inputTokens: Number(u.inputTokens),
  outputTokens: Number(u.outputTokens),
  cachedInputTokens: Number(u.cachedInputTokens),
  reasoningTokens: Number(u.reasoningTokens),
  cacheWriteTokens: Number(u.cacheWriteTokens),
});
const usageFromJson = (u: Record<string, number>): Usage => ({
  inputTokens: BigInt(u.inputTokens ?? 0),
  outputTokens: BigInt(u.outputTokens ?? 0),
  cachedInputTokens: BigInt(u.cachedInputTokens ?? 0),
  reasoningTokens: BigInt(u.reasoningTokens ?? 0),
  cacheWriteTokens: BigInt(u.cacheWriteTokens ?? 0),
});

function headToRow(h: SessionHead): SessionRowData {
  return {
    tenantId: h.tenantId,
    sessionId: h.sessionId,
    mode: h.mode,
    parentSessionId: h.parentSessionId ?? null,
    usageSource: h.usageSource ?? null,
    policy: JSON.stringify(h.policy),
    residency: h.residency,
    finalAnswerFormat: JSON.stringify(h.finalAnswerFormat),
    metadata: h.metadata,
    headRevision: h.headRevision,
    turnIndex: h.turnIndex,
    leafNodeId: h.leafNodeId ?? null,
    currentFrameId: h.currentFrameId,
    status: h.status,
    toolGeneration: h.toolState.generation,
    toolOverrides: h.toolState.overrides,
    lastPromptUsage: h.lastPromptUsage ? usageToJson(h.lastPromptUsage) : null,
    sandboxState: h.sandbox ? JSON.stringify(h.sandbox) : null,
    createdAt: h.createdAt,
    updatedAt: h.updatedAt,
  } as SessionRowData;
}

const HEAD_COLUMN_NAMES = [
  'tenant_id',
  'session_id',
  'mode',
  'parent_session_id',
  'usage_source',
  'policy',
  'residency',
  'final_answer_format',
  'metadata',
  'head_revision',
  'turn_index',
  'leaf_node_id',
  'current_frame_id',
  'status',
  'tool_generation',
  'tool_overrides',
  'last_prompt_usage',
  'sandbox_state',
  'created_at',
  'updated_at',
];
/** The head columns of `sessions s`, for reads that join it. */
export const HEAD_COLUMNS_S = HEAD_COLUMN_NAMES.map((c) => `s.${c}`).join(', ');
const HEAD_COLUMNS =
  'tenant_id, session_id, mode, parent_session_id, usage_source, policy, residency, final_answer_format, metadata, head_revision, turn_index, leaf_node_id, current_frame_id, status, tool_generation, tool_overrides, last_prompt_usage, sandbox_state, created_at, updated_at';

const json = <T>(v: unknown): T => (typeof v === 'string' ? JSON.parse(v) : v) as T;

export function headFromRaw(r: Record<string, unknown>): SessionHead {
  return headFromRow({
    tenantId: r.tenant_id,
    sessionId: r.session_id,
    mode: r.mode,
    parentSessionId: r.parent_session_id,
    usageSource: r.usage_source,
    policy: json(r.policy),
    residency: r.residency,
    finalAnswerFormat: json(r.final_answer_format),
    metadata: json(r.metadata),
    headRevision: r.head_revision,
    turnIndex: r.turn_index,
    leafNodeId: r.leaf_node_id,
    currentFrameId: r.current_frame_id,
    status: r.status,
    toolGeneration: r.tool_generation,
    toolOverrides: json(r.tool_overrides),
    lastPromptUsage: r.last_prompt_usage === null ? null : json(r.last_prompt_usage),
    sandboxState: r.sandbox_state === null || r.sandbox_state === undefined ? null : json(r.sandbox_state),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  } as unknown as SessionRowData);
}

function headFromRow(r: SessionRowData): SessionHead {
  return {
    tenantId: r.tenantId,
    sessionId: r.sessionId,
    mode: r.mode as SessionHead['mode'],
    parentSessionId: r.parentSessionId ?? undefined,
    usageSource: r.usageSource ?? undefined,
    policy: json<SessionHead['policy']>(r.policy),
    residency: r.residency as Residency,
    finalAnswerFormat: json<SessionHead['finalAnswerFormat']>(r.finalAnswerFormat),
    metadata: r.metadata ?? {},
    headRevision: BigInt(r.headRevision),
    turnIndex: BigInt(r.turnIndex),
    leafNodeId: r.leafNodeId ?? undefined,
    currentFrameId: r.currentFrameId,
    status: r.status as SessionHead['status'],
    toolState: { generation: BigInt(r.toolGeneration), overrides: r.toolOverrides ?? {} },
    lastPromptUsage: r.lastPromptUsage ? usageFromJson(r.lastPromptUsage) : undefined,
    sandbox: r.sandboxState == null ? undefined : json<SessionHead['sandbox']>(r.sandboxState),
    createdAt: new Date(r.createdAt),
    updatedAt: new Date(r.updatedAt),
  };
}

function nodeToRow(tenantId: string, sessionId: string, n: GraphNode): NodeRowData {
  return {
    tenantId,
    sessionId,
    nodeId: n.nodeId,
    parentNodeId: n.parentNodeId ?? null,
    causedBy: n.causedBy ?? null,
    agentFrameId: n.agentFrameId ?? null,
    createdAt: n.timestamp,
    payload: JSON.stringify(n.payload),
  } as NodeRowData;
}

function nodeFromRow(r: NodeRowData): GraphNode {
  return {
    nodeId: r.nodeId,
    parentNodeId: r.parentNodeId ?? undefined,
    causedBy: r.causedBy ?? undefined,
    agentFrameId: r.agentFrameId ?? undefined,
    timestamp: new Date(r.createdAt),
    payload: JSON.parse(r.payload) as GraphNode['payload'],
  };
}

function nodeFromRaw(r: Record<string, unknown>): GraphNode {
  const payload = typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload;
  return {
    nodeId: r.node_id as string,
    parentNodeId: (r.parent_node_id as string) ?? undefined,
    causedBy: (r.caused_by as string) ?? undefined,
    agentFrameId: (r.agent_frame_id as string) ?? undefined,
    timestamp: new Date(r.created_at as string),
    payload,
  };
}

function frameToRow(head: SessionHead, f: AgentFrame): FrameRowData {
  return {
    tenantId: head.tenantId,
    sessionId: head.sessionId,
    frameId: f.frameId,
    previousFrameId: f.previousFrameId ?? null,
    status: f.status,
    reason: f.reason,
    createdAt: f.createdAt,
  } as FrameRowData;
}

function frameFromRow(r: FrameRowData): AgentFrame {
  return {
    frameId: r.frameId,
    previousFrameId: r.previousFrameId ?? undefined,
    status: r.status as AgentFrame['status'],
    reason: r.reason,
    createdAt: new Date(r.createdAt),
  };
}
