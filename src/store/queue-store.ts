// QueueStore on the database. Claims lock the session's open batches with FOR UPDATE SKIP
// LOCKED, so replicas and workers never claim the same batch, and bump a fencing token.

import type { QueueStore } from '../domain/ports.js';
import { isPending, type QueueBatch } from '../domain/queue/types.js';
import type { Database } from './database.js';
import { isUniqueViolation } from './session-store.js';

interface Row {
  batch_id: string; tenant_id: string; session_id: string; enqueue_seq: string; idem_key: string | null; source_key: string | null;
  delivery_policy: string; slot_policy: string; merge_key: string | null; available_at: Date | string; enqueued_at: Date | string;
  items: unknown; state: string; claim_owner: string | null; claim_token: string; claim_expires_at: Date | string | null; turn_id: string | null;
}

const COLUMNS = 'batch_id, tenant_id, session_id, enqueue_seq, idem_key, source_key, delivery_policy, slot_policy, merge_key, available_at, enqueued_at, items, state, claim_owner, claim_token, claim_expires_at, turn_id';

function fromRow(r: Row): QueueBatch {
  const items = (typeof r.items === 'string' ? JSON.parse(r.items) : r.items) as QueueBatch['items'];
  for (const item of items) {
    if (item.payload.kind === 'input') {
      // Image bytes travel as base64 inside the JSON column.
      for (const blob of Object.values(item.payload.input.imageBlobs)) blob.data = Buffer.from(blob.data as unknown as string, 'base64');
    }
  }
  return {
    batchId: r.batch_id, tenantId: r.tenant_id, sessionId: r.session_id, enqueueSeq: BigInt(r.enqueue_seq), id: r.idem_key ?? undefined, sourceKey: r.source_key ?? undefined,
    deliveryPolicy: r.delivery_policy as QueueBatch['deliveryPolicy'], slotPolicy: r.slot_policy as QueueBatch['slotPolicy'], mergeKey: r.merge_key ?? undefined,
    availableAt: new Date(r.available_at), enqueuedAt: new Date(r.enqueued_at), items, state: r.state as QueueBatch['state'],
    claim: r.claim_owner && r.claim_expires_at ? { owner: r.claim_owner, token: BigInt(r.claim_token), expiresAt: new Date(r.claim_expires_at) } : undefined,
    turnId: r.turn_id ?? undefined,
  };
}

const itemsJson = (b: QueueBatch) =>
  JSON.stringify(b.items, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v));

export class DbQueueStore implements QueueStore {
  constructor(private readonly db: Database) {}

  private conn() {
    return this.db.conn();
  }

  async enqueue(b: QueueBatch) {
    try {
      const rows = await this.conn().execute<Row[]>(
        `insert into queue_batches (batch_id, tenant_id, session_id, idem_key, source_key, delivery_policy, slot_policy, merge_key, available_at, enqueued_at, items, state)
         values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending') returning ${COLUMNS}`,
        [b.batchId, b.tenantId, b.sessionId, b.id ?? null, b.sourceKey ?? null, b.deliveryPolicy, b.slotPolicy, b.mergeKey ?? null, b.availableAt, b.enqueuedAt, itemsJson(b)],
      );
      return { batch: fromRow((rows as Row[])[0]!), deduplicated: false };
    } catch (err) {
      if (!isUniqueViolation(err) || !b.id) throw err;
      const rows = await this.conn().execute<Row[]>(`select ${COLUMNS} from queue_batches where tenant_id = ? and session_id = ? and idem_key = ?`, [b.tenantId, b.sessionId, b.id]);
      return { batch: fromRow((rows as Row[])[0]!), deduplicated: true };
    }
  }

  async get(tenantId: string, sessionId: string, batchId: string) {
    const rows = await this.conn().execute<Row[]>(`select ${COLUMNS} from queue_batches where tenant_id = ? and session_id = ? and batch_id = ?`, [tenantId, sessionId, batchId]);
    const r = (rows as Row[])[0];
    return r ? fromRow(r) : undefined;
  }

  async listPending(tenantId: string, sessionId: string) {
    const rows = await this.conn().execute<Row[]>(
      `select ${COLUMNS} from queue_batches where tenant_id = ? and session_id = ? and (state = 'pending' or (state = 'claimed' and claim_expires_at <= now())) order by enqueue_seq`,
      [tenantId, sessionId],
    );
    return (rows as Row[]).map(fromRow);
  }

  async cancel(tenantId: string, sessionId: string, batchId: string) {
    const rows = await this.conn().execute<Row[]>(
      `update queue_batches set state = 'cancelled', finished_at = now(), claim_owner = null, claim_expires_at = null
        where tenant_id = ? and session_id = ? and batch_id = ? and (state = 'pending' or (state = 'claimed' and claim_expires_at <= now()))
        returning ${COLUMNS}`,
      [tenantId, sessionId, batchId],
    );
    const r = (rows as Row[])[0];
    if (r) return { outcome: 'cancelled' as const, batch: fromRow(r) };
    const current = await this.get(tenantId, sessionId, batchId);
    if (!current) return { outcome: 'not_found' as const };
    return { outcome: current.state === 'claimed' ? ('already_claimed' as const) : ('already_done' as const), batch: current };
  }

  async claim(tenantId: string, sessionId: string, owner: string, ttlMs: number, select: (pending: QueueBatch[]) => QueueBatch[]) {
    // Every turn asks at its start and at each checkpoint, and usually nothing is claimable (the
    // queue is empty, its head is no command, the batches are ours already): the choice is made
    // on an unlocked read. A non-empty choice is then taken in one statement if none of the
    // chosen rows changed since the read (state and claim token as the version); otherwise the
    // locking transaction below chooses again on what it locked. A batch enqueued just after the
    // read is taken at the next checkpoint or start, as it would be had it come after the claim.
    const open = await this.openRows(tenantId, sessionId);
    const chosenNow = select(this.claimable(open.map(fromRow), owner));
    if (chosenNow.length === 0) return [];
    const seen = new Map(open.map((r) => [r.batch_id, r]));
    const taken = await this.claimIfUnchanged(chosenNow.map((b) => seen.get(b.batchId)!), owner, ttlMs);
    if (taken) return taken;
    return this.db.em().transactional(async (em) => {
      const conn = em.getConnection();
      const tx = em.getTransactionContext();
      const rows = await conn.execute<Row[]>(
        `select ${COLUMNS} from queue_batches where tenant_id = ? and session_id = ? and state in ('pending', 'claimed') order by enqueue_seq for update skip locked`,
        [tenantId, sessionId], 'all', tx,
      );
      const chosen = select(this.claimable((rows as Row[]).map(fromRow), owner));
      if (chosen.length === 0) return [];
      const updated = await conn.execute<Row[]>(
        `update queue_batches set state = 'claimed', claim_owner = ?, claim_token = claim_token + 1, claim_expires_at = now() + make_interval(secs => ?)
          where batch_id in (${chosen.map(() => '?').join(', ')}) returning ${COLUMNS}`,
        [owner, ttlMs / 1000, ...chosen.map((b) => b.batchId)], 'all', tx,
      );
      const byId = new Map((updated as Row[]).map((r) => [r.batch_id, fromRow(r)]));
      return chosen.map((b) => byId.get(b.batchId)!);
    });
  }

  private async openRows(tenantId: string, sessionId: string): Promise<Row[]> {
    const rows = await this.conn().execute<Row[]>(
      `select ${COLUMNS} from queue_batches where tenant_id = ? and session_id = ? and state in ('pending', 'claimed') order by enqueue_seq`, [tenantId, sessionId],
    );
    return rows as Row[];
  }

  /** Claims exactly these rows if every one is as it was read; undefined (and nothing claimed) otherwise. */
  private async claimIfUnchanged(rows: Row[], owner: string, ttlMs: number): Promise<QueueBatch[] | undefined> {
    const updated = await this.conn().execute<Row[]>(
      `with seen as (
         select batch_id from queue_batches where (batch_id, claim_token, state) in (${rows.map(() => '(?, ?::bigint, ?)').join(', ')}) for update)
       update queue_batches set state = 'claimed', claim_owner = ?, claim_token = claim_token + 1, claim_expires_at = now() + make_interval(secs => ?)
        where batch_id in (select batch_id from seen) and (select count(*) from seen) = ?
       returning ${COLUMNS}`,
      [...rows.flatMap((r) => [r.batch_id, String(r.claim_token), r.state]), owner, ttlMs / 1000, rows.length],
    );
    if ((updated as Row[]).length !== rows.length) return undefined;
    const byId = new Map((updated as Row[]).map((r) => [r.batch_id, fromRow(r)]));
    return rows.map((r) => byId.get(r.batch_id)!);
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
    const rows = await this.conn().execute<{ state: string; n: number }[]>(`select state, count(*)::int as n from queue_batches where state in ('pending', 'claimed') group by state`);
    return (rows as { state: string; n: number }[]).map((r) => ({ state: r.state, count: Number(r.n) }));
  }

  async renew(claims: { batchId: string; token: bigint }[], ttlMs: number) {
    for (const c of claims) {
      await this.conn().execute(`update queue_batches set claim_expires_at = now() + make_interval(secs => ?) where batch_id = ? and claim_token = ? and state = 'claimed'`, [ttlMs / 1000, c.batchId, c.token.toString()], 'run');
    }
  }

  async release(claims: { batchId: string; token: bigint }[]) {
    for (const c of claims) {
      await this.conn().execute(`update queue_batches set state = 'pending', claim_owner = null, claim_expires_at = null where batch_id = ? and claim_token = ? and state = 'claimed'`, [c.batchId, c.token.toString()], 'run');
    }
  }

  async readySessions(limit: number) {
    const rows = await this.conn().execute<{ tenant_id: string; session_id: string }[]>(
      `select distinct q.tenant_id, q.session_id from queue_batches q
        where (q.state = 'pending' or (q.state = 'claimed' and q.claim_expires_at <= now())) and q.available_at <= now()
          and not exists (select 1 from session_leases l where l.tenant_id = q.tenant_id and l.session_id = q.session_id and l.expires_at > now())
        limit ?`,
      [limit],
    );
    return (rows as { tenant_id: string; session_id: string }[]).map((r) => ({ tenantId: r.tenant_id, sessionId: r.session_id }));
  }

  async purgeFinished(olderThan: Date) {
    const res = await this.conn().execute(`delete from queue_batches where state in ('done', 'cancelled') and finished_at < ?`, [olderThan], 'run');
    return Number((res as { affectedRows?: number }).affectedRows ?? 0);
  }
}
