// Turn admission in one statement: the writer lease is taken (or found held) and, in the same
// round trip, everything a turn starts from is read — the head, the commit of the turn id if it
// already landed, a pending cancel, the turn a crash left open in the feed, and the session's
// open queue batches. One prepared statement instead of the five a turn used to send. The open
// turn counts only when it never committed: its commit marker may still be on its way to the
// feed when the next turn starts.

import type { Admission, AdmissionRequest, AdmissionStore } from '../domain/ports.js';
import type { Database } from './database.js';
import { COLUMNS as QUEUE_COLUMNS, fromRow as batchFromRow, type Row as BatchRow } from './queue-store.js';
import { HEAD_COLUMNS_S, TURN_COLUMNS_C, headFromRaw, turnFromRaw } from './session-store.js';
import { heldLeftMs, LEASE_WRITE_NO_FLUSH, TAKE_LEASE } from './turn-store.js';
import { withTypedErrors } from './typed-errors.js';
import { idleOwnerOf } from '../domain/session-writers.js';

// A statement reads one snapshot, taken when it starts. When the lease was held by another
// writer whose commit (which ends its lease in the same transaction) was still in flight, the
// lease insert waits for that commit and then succeeds, but every read here still sees the
// state from before it. `held_by` (the lease row as of the snapshot) tells that case apart: a
// lease won from another owner is taken again in a fresh statement, which sees the commit.
//
// The open-turn check is a CASE, not a NOT EXISTS: the planner may turn a NOT EXISTS into an anti
// join, and the generic plan of this prepared statement — made while the session had few
// commits — then scanned every commit of the session on each turn (a turn at 5,000 turns of
// history took 2.4× as long). In a CASE the lookup is a subplan keyed by the turn id, run only
// when a turn is open.
//
// `(select 1) one left join`: one row whether or not the session exists, so the lease token and
// the other reads come back even for a missing session (the caller reports it).
// What every admission reads besides the lease (the head and the turn id's commit are selected
// by each statement, the rest shares one text).
const READS = `${HEAD_COLUMNS_S}, ${TURN_COLUMNS_C}`;
const REST = `    exists (select 1 from turn_cancels k where k.tenant_id = $1 and k.session_id = $2
             and (k.turn_id = $5 or (k.turn_id = '*' and k.requested_at >= $6::timestamptz))) as cancelled,
    (select case when f.open_turn_id is null then null
                 when exists (select 1 from session_commits o where o.tenant_id = $1 and o.session_id = $2 and o.turn_id = f.open_turn_id) then null
                 else f.open_turn_id end
       from feed_heads f where f.tenant_id = $1 and f.session_id = $2) as open_turn_id,
    (select json_agg(q order by q.enqueue_seq) from (
       select ${QUEUE_COLUMNS} from queue_batches where tenant_id = $1 and session_id = $2 and state in ('pending', 'claimed')) q) as queue
  from (select 1) one
    left join sessions s on s.tenant_id = $1 and s.session_id = $2
    left join session_commits c on c.tenant_id = $1 and c.session_id = $2 and c.turn_id = $5`;

export const ADMIT = `with lease as (${TAKE_LEASE})
  select ${READS},
    (select token from lease) as lease_token, ${LEASE_WRITE_NO_FLUSH},
    (select h.owner from session_leases h where h.tenant_id = $1 and h.session_id = $2) as held_by,
${REST}`;

/**
 * The admission of a writer going on under its replica's idle lease (ADR 0079): the same reads,
 * and instead of the take, a read of that lease (owner $3, token $7, at least $4 seconds left).
 * No write: when the lease is no longer ours the caller sends ADMIT.
 */
export const ADMIT_HELD = `select ${READS},
    ${heldLeftMs('$7')} as held_left_ms,
${REST}`;

export class DbAdmissionStore implements AdmissionStore {
  constructor(private readonly db: Database) {
    return withTypedErrors(this);
  }

  async admit(req: AdmissionRequest): Promise<Admission> {
    if (req.held) {
      const { owner, token, minLeftMs } = req.held;
      const params = [req.tenantId, req.sessionId, owner, minLeftMs / 1000, req.turnId ?? null, req.cancelledSince?.toISOString() ?? null, token.toString()];
      const r = (await this.db.sql.query(ADMIT_HELD, params)).rows[0]!;
      if (r.held_left_ms !== null && r.held_left_ms !== undefined) return { ...admissionOf(r), token, heldLeftMs: Number(r.held_left_ms) };
      // Expired, taken, or too little left: take it as usual (our own idle lease counts as ours).
    }
    const params = [req.tenantId, req.sessionId, req.owner, req.ttlMs / 1000, req.turnId ?? null, req.cancelledSince?.toISOString() ?? null];
    let r = (await this.db.sql.query(ADMIT, params)).rows[0]!;
    const won = r.lease_token !== null && r.lease_token !== undefined;
    // Our replica's own idle lease has no commit in flight (the in-process mutex orders its writers).
    if (won && r.held_by !== null && r.held_by !== undefined && r.held_by !== req.owner && r.held_by !== idleOwnerOf(req.owner)) {
      // The reads may predate the previous writer's commit: ours now, so read again.
      r = (await this.db.sql.query(ADMIT, params)).rows[0]!;
    }
    return { ...admissionOf(r), token: r.lease_token === null || r.lease_token === undefined ? undefined : BigInt(r.lease_token as string) };
  }
}

/** The reads of an admission row (the lease apart). */
function admissionOf(r: Record<string, unknown>): Omit<Admission, 'token'> {
  const queue = typeof r.queue === 'string' ? (JSON.parse(r.queue) as BatchRow[]) : ((r.queue as BatchRow[] | null) ?? []);
  return {
    head: r.session_id === null || r.session_id === undefined ? undefined : headFromRaw(r),
    turn: turnFromRaw(r),
    cancelled: r.cancelled === true,
    openTurnId: (r.open_turn_id as string | null) ?? undefined,
    queue: queue.map(batchFromRow),
  };
}
