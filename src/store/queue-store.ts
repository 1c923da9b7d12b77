// QueueStore on the database. Claims lock the session's open batches with FOR UPDATE SKIP
// LOCKED, so replicas and workers never claim the same batch, and bump a fencing token.

import type { QueueStore } from '../domain/ports.js';
import { isPending, type QueueBatch } from '../domain/queue/types.js';
import type { Database } from './database.js';
import { isUniqueViolation } from './session-store.js';
import { withTypedErrors } from './typed-errors.js';

export interface Row {
  batch_id: string;
  tenant_id: string;
  session_id: string;
  enqueue_seq: string;
  idem_key: string | null;
  source_key: string | null;
  delivery_policy: string;
  slot_policy: string;
  merge_key: string | null;
  available_at: Date | string;
  enqueued_at: Date | string;
  items: unknown;
  state: string;
  claim_owner: string | null;
  claim_token: string;
  claim_expires_at: Date | string | null;
  turn_id: string | null;
}

export const COLUMNS =
  'batch_id, tenant_id, session_id, enqueue_seq, idem_key, source_key, delivery_policy, slot_policy, merge_key, available_at, enqueued_at, items, state, claim_owner, claim_token, claim_expires_at, turn_id';

export function fromRow(r: Row): QueueBatch {
  const items = (typeof r.items === 'string' ? JSON.parse(r.items) : r.items) as QueueBatch['items'];
  for (const item of items) {
    if (item.payload.kind === 'input') {
      // Image bytes travel as base64 inside the JSON column.
      for (const blob of Object.values(item.payload.input.imageBlobs)) blob.data = Buffer.from(blob.data as unknown as string, 'base64');
    }
  }
  return {
    batchId: r.batch_id,
    tenantId: r.tenant_id,
    sessionId: r.session_id,
    enqueueSeq: BigInt(r.enqueue_seq),
    id: r.idem_key ?? undefined,
    sourceKey: r.source_key ?? undefined,
    deliveryPolicy: r.delivery_policy as QueueBatch['deliveryPolicy'],
    slotPolicy: r.slot_policy as QueueBatch['slotPolicy'],
    mergeKey: r.merge_key ?? undefined,
    availableAt: new Date(r.available_at),
    enqueuedAt: new Date(r.enqueued_at),
    items,
    state: r.state as QueueBatch['state'],
    claim: r.claim_owner && r.claim_expires_at ? { owner: r.claim_owner, token: BigInt(r.claim_token), expiresAt: new Date(r.claim_expires_at) } : undefined,
    turnId: r.turn_id ?? undefined,
    version: BigInt(r.claim_token),
  };
}

const itemsJson = (b: QueueBatch) => JSON.stringify(b.items, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v));

export class DbQueueStore implements QueueStore {
  constructor(private readonly db: Database) {
    return withTypedErrors(this);
  }

  private conn() {
    return this.db.conn();
  }

  async enqueue(b: QueueBatch) {
    try {
      const { rows } = await this.db.sql.query<Row>(
        `insert into queue_batches (batch_id, tenant_id, session_id, idem_key, source_key, delivery_policy, slot_policy, merge_key, available_at, enqueued_at, items, state)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9::timestamptz, $10::timestamptz, $11, 'pending') returning ${COLUMNS}`,
        [
          b.batchId,
          b.tenantId,
          b.sessionId,
          b.id ?? null,
          b.sourceKey ?? null,
          b.deliveryPolicy,
          b.slotPolicy,
          b.mergeKey ?? null,
          b.availableAt.toISOString(),
          b.enqueuedAt.toISOString(),
          itemsJson(b),
        ],
      );
      return { batch: fromRow(rows[0]!), deduplicated: false };
    } catch (err) {
      if (!isUniqueViolation(err) || !b.id) throw err;
      const { rows } = await this.db.sql.query<Row>(`select ${COLUMNS} from queue_batches where tenant_id = $1 and session_id = $2 and idem_key = $3`, [
        b.tenantId,
        b.sessionId,
        b.id,
      ]);
      return { batch: fromRow(rows[0]!), deduplicated: true };
    }
  }

  async get(tenantId: string, sessionId: string, batchId: string) {
    const { rows } = await this.db.sql.query<Row>(`select ${COLUMNS} from queue_batches where tenant_id = $1 and session_id = $2 and batch_id = $3`, [
      tenantId,
      sessionId,
      batchId,
    ]);
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  async listPending(tenantId: string, sessionId: string) {
    const { rows } = await this.db.sql.query<Row>(
      `select ${COLUMNS} from queue_batches where tenant_id = $1 and session_id = $2 and (state = 'pending' or (state = 'claimed' and claim_expires_at <= now())) order by enqueue_seq`,
      [tenantId, sessionId],
    );
    return rows.map(fromRow);
  }

  async cancel(tenantId: string, sessionId: string, batchId: string) {
    const { rows } = await this.db.sql.query<Row>(
      `update queue_batches set state = 'cancelled', finished_at = now(), claim_owner = null, claim_expires_at = null
        where tenant_id = $1 and session_id = $2 and batch_id = $3 and (state = 'pending' or (state = 'claimed' and claim_expires_at <= now()))
        returning ${COLUMNS}`,
      [tenantId, sessionId, batchId],
    );
    const r = rows[0];
    if (r) return { outcome: 'cancelled' as const, batch: fromRow(r) };
    const current = await this.get(tenantId, sessionId, batchId);
    if (!current) return { outcome: 'not_found' as const };
    return { outcome: current.state === 'claimed' ? ('already_claimed' as const) : ('already_done' as const), batch: current };
  }

  async claim(tenantId: string, sessionId: string, owner: string, ttlMs: number, select: (pending: QueueBatch[]) => QueueBatch[], known?: QueueBatch[]) {
    // Every turn asks at its start and at each checkpoint, and usually nothing is claimable (the
    // queue is empty, its head is no command, the batches are ours already): the choice is made
    // on an unlocked read (or on `known`, the admission's read). A non-empty choice is then taken
    // in one statement if none of the chosen rows changed since the read (state and claim token
    // as the version); otherwise the locking transaction below chooses again on what it locked.
    // A batch enqueued just after the read is taken at the next checkpoint or start, as it would
    // be had it come after the claim.
    const open = known ?? (await this.openRows(tenantId, sessionId)).map(fromRow);
    const chosenNow = select(this.claimable(open, owner));
    if (chosenNow.length === 0) return [];
    const taken = chosenNow.every((b) => b.version !== undefined) ? await this.claimIfUnchanged(chosenNow, owner, ttlMs) : undefined;
    if (taken) return taken;
    return this.db.sql.transaction(async (tx) => {
      const { rows } = await tx.query<Row>(
        `select ${COLUMNS} from queue_batches where tenant_id = $1 and session_id = $2 and state in ('pending', 'claimed') order by enqueue_seq for update skip locked`,
        [tenantId, sessionId],
      );
      const chosen = select(this.claimable(rows.map(fromRow), owner));
      if (chosen.length === 0) return [];
      const updated = await tx.query<Row>(
        `update queue_batches set state = 'claimed', claim_owner = $1, claim_token = claim_token + 1, claim_expires_at = now() + make_interval(secs => $2::float8)
          where batch_id = any($3::text[]) returning ${COLUMNS}`,
        [owner, ttlMs / 1000, chosen.map((b) => b.batchId)],
      );
      const byId = new Map(updated.rows.map((r) => [r.batch_id, fromRow(r)]));
      return chosen.map((b) => byId.get(b.batchId)!);
    });
  }

  private async openRows(tenantId: string, sessionId: string): Promise<Row[]> {
    const { rows } = await this.db.sql.query<Row>(
      `select ${COLUMNS} from queue_batches where tenant_id = $1 and session_id = $2 and state in ('pending', 'claimed') order by enqueue_seq`,
      [tenantId, sessionId],
    );
    return rows;
  }

  /** Claims exactly these batches if every one is as it was read; undefined (and nothing claimed) otherwise. */
  private async claimIfUnchanged(batches: QueueBatch[], owner: string, ttlMs: number): Promise<QueueBatch[] | undefined> {
    const { rows } = await this.db.sql.query<Row>(
      `with seen as (
         select q.batch_id from queue_batches q join unnest($1::text[], $2::bigint[], $3::text[]) as k (batch_id, token, state)
           on q.batch_id = k.batch_id and q.claim_token = k.token and q.state = k.state
         for update of q)
       update queue_batches set state = 'claimed', claim_owner = $4, claim_token = claim_token + 1, claim_expires_at = now() + make_interval(secs => $5::float8)
        where batch_id in (select batch_id from seen) and (select count(*) from seen) = $6::int
       returning ${COLUMNS}`,
      [batches.map((b) => b.batchId), batches.map((b) => b.version!.toString()), batches.map((b) => b.state), owner, ttlMs / 1000, batches.length],
    );
    if (rows.length !== batches.length) return undefined;
    const byId = new Map(rows.map((r) => [r.batch_id, fromRow(r)]));
    return batches.map((b) => byId.get(b.batchId)!);
  }

  /**
   * Claims are only taken by the session's writer (it holds the lease), so a live claim of
   * another owner belongs to a writer that lost its lease (crashed): it is taken over, keeping
   * the queue order. Our own claims stay ours.
   */
  private claimable(open: QueueBatch[], owner: string): QueueBatch[] {
    const now = new Date();
    return open.filter((b) => isPending(b, now) || (b.state === 'claimed' && b.claim?.owner !== owner));
  }

  /** Open batches of every session by state (for the queue-depth metric). */
  async depth(): Promise<{ state: string; count: number }[]> {
    const rows = await this.conn().execute<{ state: string; n: number }[]>(
      `select state, count(*)::int as n from queue_batches where state in ('pending', 'claimed') group by state`,
    );
    return (rows as { state: string; n: number }[]).map((r) => ({ state: r.state, count: Number(r.n) }));
  }

  async renew(claims: { batchId: string; token: bigint }[], ttlMs: number) {
    if (claims.length === 0) return;
    await this.db.sql.query(
      `update queue_batches q set claim_expires_at = now() + make_interval(secs => $1::float8)
         from unnest($2::text[], $3::bigint[]) as k (batch_id, token) where q.batch_id = k.batch_id and q.claim_token = k.token and q.state = 'claimed'`,
      [ttlMs / 1000, claims.map((c) => c.batchId), claims.map((c) => c.token.toString())],
    );
  }

  async release(claims: { batchId: string; token: bigint }[]) {
    if (claims.length === 0) return;
    await this.db.sql.query(
      `update queue_batches q set state = 'pending', claim_owner = null, claim_expires_at = null
         from unnest($1::text[], $2::bigint[]) as k (batch_id, token) where q.batch_id = k.batch_id and q.claim_token = k.token and q.state = 'claimed'`,
      [claims.map((c) => c.batchId), claims.map((c) => c.token.toString())],
    );
  }

  async readySessions(limit: number) {
    const { rows } = await this.db.sql.query<{ tenant_id: string; session_id: string }>(
      `select distinct q.tenant_id, q.session_id from queue_batches q
        where (q.state = 'pending' or (q.state = 'claimed' and q.claim_expires_at <= now())) and q.available_at <= now()
          and not exists (select 1 from session_leases l where l.tenant_id = q.tenant_id and l.session_id = q.session_id and l.expires_at > now())
        limit $1::int`,
      [limit],
    );
    return rows.map((r) => ({ tenantId: r.tenant_id, sessionId: r.session_id }));
  }

  async purgeFinished(olderThan: Date) {
    const res = await this.conn().execute(`delete from queue_batches where state in ('done', 'cancelled') and finished_at < ?`, [olderThan], 'run');
    return Number((res as { affectedRows?: number }).affectedRows ?? 0);
  }
}
