// ProcessStore on the database (both engines): process rows with claims and fencing tokens (the
// queue's discipline, ADR 0018) and the per-process event log, whose sequence comes from the
// process row (so events of one process are gap-free in commit order).

import type { JsonValue } from '../domain/messages.js';
import type { ProcessStore } from '../domain/processes/ports.js';
import type { Finish, NewProcess, ProcessEvent, ProcessFilter, ProcessRecord } from '../domain/processes/types.js';
import type { Database } from './database.js';
import { withTypedErrors } from './typed-errors.js';

interface Row {
  tenant_id: string;
  process_id: string;
  kind: string;
  input: string;
  status: string;
  output: string | null;
  error: string | null;
  scope_session_id: string | null;
  scope_frame_id: string | null;
  started_by: string;
  wake_session_id: string | null;
  wake_state: string;
  idem_key: string | null;
  attempts: number;
  claim_owner: string | null;
  claim_token: string;
  claim_expires_at: Date | string | null;
  deadline_at: Date | string;
  event_seq: string;
  created_at: Date | string;
  updated_at: Date | string;
  finished_at: Date | string | null;
}

interface EventRow {
  process_id: string;
  seq: string;
  kind: string;
  idem_key: string;
  payload: string;
  created_at: Date | string;
}

const COLUMNS =
  'tenant_id, process_id, kind, input, status, output, error, scope_session_id, scope_frame_id, started_by, wake_session_id, wake_state, idem_key, attempts, claim_owner, claim_token, claim_expires_at, deadline_at, event_seq, created_at, updated_at, finished_at';
const P_COLUMNS = COLUMNS.split(', ')
  .map((c) => `p.${c}`)
  .join(', ');
const ACTIVE = `status in ('pending', 'running')`;

function fromRow(r: Row): ProcessRecord {
  return {
    tenantId: r.tenant_id,
    processId: r.process_id,
    kind: r.kind as ProcessRecord['kind'],
    input: JSON.parse(r.input) as ProcessRecord['input'],
    status: r.status as ProcessRecord['status'],
    output: r.output === null ? undefined : (JSON.parse(r.output) as JsonValue),
    error: r.error ?? undefined,
    scopeSessionId: r.scope_session_id ?? undefined,
    scopeFrameId: r.scope_frame_id ?? undefined,
    startedBy: r.started_by as ProcessRecord['startedBy'],
    wakeSessionId: r.wake_session_id ?? undefined,
    wakeState: r.wake_state as ProcessRecord['wakeState'],
    idempotencyKey: r.idem_key ?? undefined,
    attempts: Number(r.attempts),
    claim: r.claim_owner && r.claim_expires_at ? { owner: r.claim_owner, token: BigInt(r.claim_token), expiresAt: new Date(r.claim_expires_at) } : undefined,
    deadlineAt: new Date(r.deadline_at),
    eventSeq: BigInt(r.event_seq),
    createdAt: new Date(r.created_at),
    updatedAt: new Date(r.updated_at),
    finishedAt: r.finished_at ? new Date(r.finished_at) : undefined,
  };
}

const eventFromRow = (r: EventRow): ProcessEvent => ({
  processId: r.process_id,
  seq: BigInt(r.seq),
  kind: r.kind,
  idempotencyKey: r.idem_key,
  payload: JSON.parse(r.payload) as JsonValue,
  createdAt: new Date(r.created_at),
});

/** SQL that finishes the processes selected by `target` (a CTE named t of tenant_id, process_id) and logs the finishing event. */
const finishSql = (target: string, guard: string) => `with t as (${target}),
  f as (update processes p set status = $3, output = $4, error = $5, finished_at = now(), updated_at = now(), claim_owner = null, claim_expires_at = null,
          wake_state = case when p.wake_session_id is not null and p.wake_state = 'none' then 'pending' else p.wake_state end, event_seq = p.event_seq + 1
        from t where p.tenant_id = t.tenant_id and p.process_id = t.process_id and p.${ACTIVE} ${guard}
        returning ${P_COLUMNS}),
  e as (insert into process_events (tenant_id, process_id, seq, kind, idem_key, payload, created_at)
        select tenant_id, process_id, event_seq, status, 'finished', $6, now() from f)
  select * from f`;

export class DbProcessStore implements ProcessStore {
  constructor(private readonly db: Database) {
    return withTypedErrors(this);
  }

  async create(p: NewProcess) {
    const created = JSON.stringify({ kind: p.kind, started_by: p.startedBy });
    const { rows } = await this.db.sql.query<Row>(
      `with p as (insert into processes (tenant_id, process_id, kind, input, status, scope_session_id, started_by, wake_session_id, idem_key, deadline_at, event_seq, created_at, updated_at, scope_frame_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::timestamptz, 1, now(), now(), $12) on conflict do nothing returning ${COLUMNS}),
       e as (insert into process_events (tenant_id, process_id, seq, kind, idem_key, payload, created_at) select tenant_id, process_id, 1, 'created', 'created', $11, now() from p)
       select * from p`,
      [
        p.tenantId,
        p.processId,
        p.kind,
        JSON.stringify(p.input),
        p.status,
        p.scopeSessionId ?? null,
        p.startedBy,
        p.wakeSessionId ?? null,
        p.idempotencyKey ?? null,
        p.deadlineAt.toISOString(),
        created,
        p.scopeFrameId ?? null,
      ],
    );
    if (rows[0]) return { process: fromRow(rows[0]), deduplicated: false };
    const { rows: existing } = await this.db.sql.query<Row>(`select ${COLUMNS} from processes where tenant_id = $1 and idem_key = $2`, [
      p.tenantId,
      p.idempotencyKey ?? null,
    ]);
    if (!existing[0]) throw new Error(`process id ${p.processId} collided`);
    return { process: fromRow(existing[0]), deduplicated: true };
  }

  async get(tenantId: string, processId: string) {
    const { rows } = await this.db.sql.query<Row>(`select ${COLUMNS} from processes where tenant_id = $1 and process_id = $2`, [tenantId, processId]);
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  async getByKey(tenantId: string, key: string) {
    const { rows } = await this.db.sql.query<Row>(`select ${COLUMNS} from processes where tenant_id = $1 and idem_key = $2`, [tenantId, key]);
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  async list(tenantId: string, f: ProcessFilter, after: string | undefined, limit: number) {
    const { rows } = await this.db.sql.query<Row>(
      `select ${COLUMNS} from processes where tenant_id = $1 and ($2::text is null or status = $2) and ($3::text is null or scope_session_id = $3)
         and ($4::text is null or scope_session_id = $4 or wake_session_id = $4) and ($5::text is null or process_id > $5) and ($7::text is null or scope_frame_id is null or scope_frame_id = $7) order by process_id limit $6::int`,
      [tenantId, f.status ?? null, f.scopeSessionId ?? null, f.sessionId ?? null, after ?? null, limit, f.visibleInFrameId ?? null],
    );
    return rows.map(fromRow);
  }

  async countActive(tenantId: string, scopeSessionId: string | undefined) {
    const { rows } = await this.db.sql.query<{ scope: number; tenant: number }>(
      `select count(*) filter (where scope_session_id = $2)::int as scope, count(*)::int as tenant from processes where tenant_id = $1 and ${ACTIVE}`,
      [tenantId, scopeSessionId ?? null],
    );
    return { scope: Number(rows[0]?.scope ?? 0), tenant: Number(rows[0]?.tenant ?? 0) };
  }

  async claimNext(owner: string, ttlMs: number, kinds: string[]) {
    // A running row whose claim expired lost its runner (crash, stall): it is taken over, with a
    // new token, so the old runner's late writes are refused.
    const { rows } = await this.db.sql.query<Row>(
      `with c as (select tenant_id, process_id from processes
                   where kind = any($3::text[]) and (status = 'pending' or (status = 'running' and claim_expires_at <= now())) and deadline_at > now()
                   order by created_at limit 1 for update skip locked)
       update processes p set status = 'running', claim_owner = $1, claim_token = p.claim_token + 1, claim_expires_at = now() + make_interval(secs => $2::float8),
              attempts = p.attempts + 1, updated_at = now()
         from c where p.tenant_id = c.tenant_id and p.process_id = c.process_id returning ${P_COLUMNS}`,
      [owner, ttlMs / 1000, kinds],
    );
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  async renew(tenantId: string, processId: string, token: bigint, ttlMs: number) {
    const { rowCount } = await this.db.sql.query(
      `update processes set claim_expires_at = now() + make_interval(secs => $4::float8) where tenant_id = $1 and process_id = $2 and claim_token = $3::bigint and status = 'running'`,
      [tenantId, processId, token.toString(), ttlMs / 1000],
    );
    return rowCount > 0;
  }

  async finish(tenantId: string, processId: string, f: Finish, token: bigint | undefined) {
    const { rows } = await this.db.sql.query<Row>(
      finishSql(`select $1::text as tenant_id, $2::text as process_id`, `and ($7::bigint is null or p.claim_token = $7::bigint)`),
      [
        tenantId,
        processId,
        f.status,
        f.output === undefined ? null : JSON.stringify(f.output),
        f.error ?? null,
        JSON.stringify({ status: f.status, output: f.output ?? null, error: f.error ?? null }),
        token?.toString() ?? null,
      ],
    );
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  async appendEvent(tenantId: string, processId: string, kind: string, idempotencyKey: string, payload: JsonValue) {
    // The process row is locked first, so concurrent appends (a retried signal racing the first)
    // see each other's events: the sequence stays gap-free and a known key adds nothing.
    return this.db.sql.transaction(async (tx) => {
      const locked = await tx.query(`select event_seq from processes where tenant_id = $1 and process_id = $2 for update`, [tenantId, processId]);
      if (locked.rows.length === 0) return undefined;
      const known = await tx.query<EventRow>(
        `select process_id, seq, kind, idem_key, payload, created_at from process_events where tenant_id = $1 and process_id = $2 and idem_key = $3`,
        [tenantId, processId, idempotencyKey],
      );
      if (known.rows[0]) return eventFromRow(known.rows[0]);
      const { rows } = await tx.query<EventRow>(
        `with s as (update processes set event_seq = event_seq + 1, updated_at = now() where tenant_id = $1 and process_id = $2 returning event_seq)
         insert into process_events (tenant_id, process_id, seq, kind, idem_key, payload, created_at) select $1, $2, s.event_seq, $3, $4, $5, now() from s
         returning process_id, seq, kind, idem_key, payload, created_at`,
        [tenantId, processId, kind, idempotencyKey, JSON.stringify(payload)],
      );
      return eventFromRow(rows[0]!);
    });
  }

  async events(tenantId: string, processId: string, afterSeq: bigint, limit: number) {
    const { rows } = await this.db.sql.query<EventRow>(
      `select process_id, seq, kind, idem_key, payload, created_at from process_events where tenant_id = $1 and process_id = $2 and seq > $3::bigint order by seq limit $4::int`,
      [tenantId, processId, afterSeq.toString(), limit],
    );
    return rows.map(eventFromRow);
  }

  async eventByKey(tenantId: string, processId: string, key: string) {
    const { rows } = await this.db.sql.query<EventRow>(
      `select process_id, seq, kind, idem_key, payload, created_at from process_events where tenant_id = $1 and process_id = $2 and idem_key = $3`,
      [tenantId, processId, key],
    );
    return rows[0] ? eventFromRow(rows[0]) : undefined;
  }

  async failOverdue(limit: number) {
    const error = 'the process ran past its run-time limit';
    const { rows } = await this.db.sql.query<Row>(
      finishSql(
        `select tenant_id, process_id from processes where ${ACTIVE} and deadline_at <= now() order by deadline_at limit $1::int for update skip locked`,
        `and $2::text is null and $7::text is null`,
      ),
      [limit, null, 'failed', null, error, JSON.stringify({ status: 'failed', output: null, error }), null],
    );
    return rows.map(fromRow);
  }

  async pendingWakes(limit: number) {
    const { rows } = await this.db.sql.query<Row>(`select ${COLUMNS} from processes where wake_state = 'pending' order by finished_at limit $1::int`, [limit]);
    return rows.map(fromRow);
  }

  async setWakeState(tenantId: string, processId: string, state: 'delivered' | 'revoked') {
    await this.db.sql.query(`update processes set wake_state = $3 where tenant_id = $1 and process_id = $2 and wake_state = 'pending'`, [
      tenantId,
      processId,
      state,
    ]);
  }

  async detachSession(tenantId: string, sessionId: string) {
    return this.db.sql.transaction(async (tx) => {
      await tx.query(`update processes set wake_state = 'revoked' where tenant_id = $1 and wake_session_id = $2 and wake_state in ('none', 'pending')`, [
        tenantId,
        sessionId,
      ]);
      // The session's grants go with it: the handles are no longer in any session's scope.
      const { rows } = await tx.query<{ process_id: string; status: string }>(
        `update processes set scope_session_id = null, scope_frame_id = null, updated_at = now() where tenant_id = $1 and scope_session_id = $2 returning process_id, status`,
        [tenantId, sessionId],
      );
      const ids = (active: boolean) =>
        rows
          .filter((r) => (r.status === 'pending' || r.status === 'running') === active)
          .map((r) => r.process_id)
          .sort();
      return { orphaned: ids(true), kept: ids(false) };
    });
  }

  async runningIn(tenantId: string, sessionId: string) {
    // The session is read from the input here, not with `input::jsonb` in SQL: a payload string
    // holding NUL (stored as the JSON escape \u0000) makes that cast fail for the whole query. The
    // rows are the tenant's active session turns, which the per-tenant process limit bounds.
    const { rows } = await this.db.sql.query<{ process_id: string; input: string }>(
      `select process_id, input from processes where tenant_id = $1 and kind = 'session_turn' and ${ACTIVE} order by process_id`,
      [tenantId],
    );
    return rows.filter((r) => ((JSON.parse(r.input) as ProcessRecord['input']).sessionId ?? `process-${r.process_id}`) === sessionId).map((r) => r.process_id);
  }

  async purgeFinished(finishedBefore: Date, limit: number) {
    // SKIP LOCKED: replicas sweeping at once delete different rows; the events go in the same statement.
    const { rows } = await this.db.sql.query<{ n: number }>(
      `with d as (select tenant_id, process_id from processes where finished_at < $1::timestamptz and wake_state <> 'pending' order by finished_at limit $2::int for update skip locked),
         e as (delete from process_events pe using d where pe.tenant_id = d.tenant_id and pe.process_id = d.process_id),
         p as (delete from processes p using d where p.tenant_id = d.tenant_id and p.process_id = d.process_id returning 1)
       select count(*)::int as n from p`,
      [finishedBefore.toISOString(), limit],
    );
    return Number(rows[0]?.n ?? 0);
  }
}
