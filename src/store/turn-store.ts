// Stores the turn machinery needs besides the session itself: writer leases, cancel requests,
// durable pending completions and blob reads. Plain SQL where a conditional upsert says it best.

import type { BlobStore, CancelStore, EventBus, LeaseStore } from '../domain/ports.js';
import type { CompletionResolution, CompletionStore } from '../domain/tools/types.js';
import { waitForCondition } from '../domain/wake.js';
import type { Database } from './database.js';
import { BlobRow, CancelRow, CompletionRow } from './entities.js';
import { withTypedErrors } from './typed-errors.js';

export class OrmLeaseStore implements LeaseStore {
  constructor(private readonly db: Database) {
    return withTypedErrors(this);
  }

  async acquire(tenantId: string, sessionId: string, owner: string, ttlMs: number): Promise<bigint | undefined> {
    const { rows } = await this.db.sql.query<{ token: string }>(`with lease as (${TAKE_LEASE}) select token, ${LEASE_WRITE_NO_FLUSH} from lease`, [
      tenantId,
      sessionId,
      owner,
      ttlMs / 1000,
    ]);
    return rows[0] ? BigInt(rows[0].token) : undefined;
  }

  async renew(tenantId: string, sessionId: string, owner: string, token: bigint, ttlMs: number): Promise<boolean> {
    const { rows } = await this.db.sql.query<{ renewed: number }>(
      `with r as (update session_leases set expires_at = now() + make_interval(secs => $1::float8) where tenant_id = $2 and session_id = $3 and owner = $4 and token = $5::bigint returning 1)
       select (select count(*) from r)::int as renewed, ${LEASE_WRITE_NO_FLUSH}`,
      [ttlMs / 1000, tenantId, sessionId, owner, token.toString()],
    );
    return Number(rows[0]?.renewed) === 1;
  }

  async release(tenantId: string, sessionId: string, owner: string, token: bigint): Promise<void> {
    await this.db.sql.query(
      `with d as (delete from session_leases where tenant_id = $1 and session_id = $2 and owner = $3 and token = $4::bigint returning 1) select (select count(*) from d)::int as released, ${LEASE_WRITE_NO_FLUSH}`,
      [tenantId, sessionId, owner, token.toString()],
    );
  }

  async keep(tenantId: string, sessionId: string, owner: string, token: bigint, idleOwner: string, lingerMs: number): Promise<boolean> {
    const { rows } = await this.db.sql.query<{ kept: number }>(
      `with k as (${KEEP_LEASE}) select (select count(*) from k)::int as kept, ${LEASE_WRITE_NO_FLUSH}`,
      [tenantId, sessionId, owner, token.toString(), idleOwner, lingerMs / 1000],
    );
    return Number(rows[0]?.kept) === 1;
  }

  async heldFor(tenantId: string, sessionId: string, owner: string, token: bigint, minLeftMs: number): Promise<number | undefined> {
    const { rows } = await this.db.sql.query<{ left_ms: number | string | null }>(`select ${heldLeftMs('$5')} as left_ms`, [
      tenantId,
      sessionId,
      owner,
      minLeftMs / 1000,
      token.toString(),
    ]);
    const left = rows[0]?.left_ms;
    return left === null || left === undefined ? undefined : Number(left);
  }

  async holder(tenantId: string, sessionId: string) {
    const { rows } = await this.db.sql.query<{ owner: string; token: string }>(
      'select owner, token from session_leases where tenant_id = $1 and session_id = $2 and expires_at >= now()',
      [tenantId, sessionId],
    );
    const row = rows[0];
    return row ? { owner: row.owner, token: BigInt(row.token) } : undefined;
  }
}

/**
 * Select-list item that lets the statement's own transaction commit without waiting for its WAL
 * to reach disk. Only for writes of the writer lease alone: a lease is coordination, not data —
 * lost in a database crash, it costs at most a model call repeated by another writer, while the
 * commit's compare-and-set on the head revision still decides which turn lands. Waiting for the
 * flush (fdatasync, milliseconds on an ordinary disk) was most of a turn's time to first delta.
 * The setting is local to the transaction (`true`), so it never outlives the statement. See ADR 0068.
 */
export const LEASE_WRITE_NO_FLUSH = `set_config('synchronous_commit', 'off', true) as lease_write_no_flush`;

/**
 * Takes the lease of ($1 tenant, $2 session) for owner $3 and $4 seconds when it is free, expired,
 * ours, or our replica's idle lease (`<replica>/~idle`, ADR 0079: the owner's part before the
 * first `/` names the replica); every take bumps the fencing token. Returns the token, no row
 * when it is held.
 */
export const TAKE_LEASE = `insert into session_leases as l (tenant_id, session_id, owner, token, expires_at)
         values ($1, $2, $3, 1, now() + make_interval(secs => $4::float8))
       on conflict (tenant_id, session_id) do update
         set owner = excluded.owner, token = l.token + 1, expires_at = excluded.expires_at
         where l.expires_at < now() or l.owner = excluded.owner or l.owner = split_part(excluded.owner, '/', 1) || '/~idle'
       returning l.token`;

/**
 * Leaves the lease of ($1, $2) held by $3 with token $4 to idle owner $5, expiring $6 seconds from
 * now, token unchanged (ADR 0079).
 */
export const KEEP_LEASE = `update session_leases set owner = $5, expires_at = now() + make_interval(secs => $6::float8)
         where tenant_id = $1 and session_id = $2 and owner = $3 and token = $4::bigint returning 1`;

/**
 * Read-only: ms left to the lease of ($1, $2) when owner $3 holds it with the token in `token` (a
 * placeholder) and at least $4 seconds left, else null. Reusing an idle lease takes no write (ADR 0079).
 */
export const heldLeftMs = (token: string) => `(select (extract(epoch from (h.expires_at - now())) * 1000)::float8 from session_leases h
         where h.tenant_id = $1 and h.session_id = $2 and h.owner = $3 and h.token = ${token}::bigint
           and h.expires_at >= now() + make_interval(secs => $4::float8))`;

export class OrmCancelStore implements CancelStore {
  constructor(private readonly db: Database) {
    return withTypedErrors(this);
  }

  async request(tenantId: string, sessionId: string, turnId: string): Promise<void> {
    await this.db.em().upsert(CancelRow, { tenantId, sessionId, turnId, requestedAt: new Date() });
  }

  async isCancelled(tenantId: string, sessionId: string, turnId: string, since: Date): Promise<boolean> {
    const rows = await this.db.em().find(CancelRow, { tenantId, sessionId, turnId: { $in: [turnId, '*'] } }, { disableIdentityMap: true });
    return rows.some((r) => (r.turnId === turnId ? true : new Date(r.requestedAt) >= since));
  }
}

export class OrmBlobStore implements BlobStore {
  constructor(private readonly db: Database) {
    return withTypedErrors(this);
  }

  async load(hash: string) {
    const row = await this.db.em().findOne(BlobRow, { hash }, { disableIdentityMap: true });
    return row ? { data: new Uint8Array(row.data as Buffer), mimeType: row.mimeType } : undefined;
  }
}

/** Completions: rows in the store, woken through the bus, with a slow poll as a safety net. */
export class OrmCompletionStore implements CompletionStore {
  constructor(
    private readonly db: Database,
    private readonly bus: EventBus,
    private readonly pollMs = 2000,
  ) {
    return withTypedErrors(this);
  }

  async register(key: string, owner: { tenantId: string; sessionId: string; turnId: string; callId: string }): Promise<void> {
    await this.db
      .conn()
      .execute(
        `insert into completions (tenant_id, completion_key, session_id, turn_id, call_id, status, created_at) values (?, ?, ?, ?, ?, 'pending', now()) on conflict do nothing`,
        [owner.tenantId, key, owner.sessionId, owner.turnId, owner.callId],
        'run',
      );
  }

  async resolve(tenantId: string, key: string, resolution: CompletionResolution) {
    const em = this.db.em();
    const updated = await em.nativeUpdate(
      CompletionRow,
      { tenantId, completionKey: key, status: 'pending' },
      { status: 'resolved', resolution: JSON.stringify(resolution), resolvedAt: new Date() },
    );
    if (updated === 1) {
      await this.bus.publish('completion', { tenantId, key });
      return { outcome: 'accepted' as const };
    }
    const row = await em.findOne(CompletionRow, { tenantId, completionKey: key }, { disableIdentityMap: true });
    if (!row) return { outcome: 'unknown' as const };
    return { outcome: 'already_resolved' as const, first: parseResolution(row.resolution) };
  }

  async wait(tenantId: string, key: string, signal: AbortSignal): Promise<CompletionResolution> {
    const check = async () => {
      const row = await this.db.em().findOne(CompletionRow, { tenantId, completionKey: key }, { disableIdentityMap: true });
      return row?.status === 'resolved' ? parseResolution(row.resolution) : undefined;
    };
    return waitForCondition<CompletionResolution>({
      bus: this.bus,
      topic: 'completion',
      relevant: (p) => p.tenantId === tenantId && p.key === key,
      check,
      pollMs: this.pollMs,
      signal,
      onAbort: () => ({ value: { kind: 'cancelled' } }),
    });
  }
}

// Stored as JSON text (lossless for any string; see migration 006).
const parseResolution = (text: string | null | undefined): CompletionResolution => JSON.parse(text ?? 'null') as CompletionResolution;
