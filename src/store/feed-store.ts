// FeedStore on the database: a counter row per session hands out gap-free sequence numbers
// (its row lock orders concurrent appenders, also across replicas); a batch of events takes its
// numbers and is inserted as ONE row (a sequence range, its events encoded by the feed codec) in
// the same single statement.

import type { FeedStore } from '../domain/ports.js';
import { decodeBatch, encodeBatch, interruptedEntryText } from '../domain/feed/codec.js';
import type { FeedPayload, FeedRecord } from '../domain/feed/types.js';
import type { Database } from './database.js';
import { withTypedErrors } from './typed-errors.js';

/** One feed append as statement parts; see `DbFeedStore.appendPart`. */
/** Under vitest, the kept append text is checked against the text built anew. */
const CHECK_INTERNED_TEXT = process.env.VITEST !== undefined;

export interface FeedAppendPart {
  ctes: string;
  notify: string;
  records(lastSeq: bigint): FeedRecord[];
}

export class DbFeedStore implements FeedStore {
  readonly wakesReplicas: boolean;
  /** `append`'s statement text, the same for every append of this store. */
  private appendText: string | undefined;

  /**
   * With `notifyChannel` (PostgreSQL with the LISTEN/NOTIFY bus), each append also sends the bus's
   * `feed` wake-up from the same statement: delivered at its commit, never before the rows are
   * visible, and without a second round trip.
   */
  constructor(
    private readonly db: Database,
    private readonly notifyChannel?: string,
  ) {
    this.wakesReplicas = notifyChannel !== undefined;
    return withTypedErrors(this);
  }

  async append(tenantId: string, sessionId: string, revision: bigint, input: FeedPayload[]): Promise<FeedRecord[]> {
    if (input.length === 0) return [];
    const params: unknown[] = [];
    const bind = (v: unknown) => `$${params.push(v)}`;
    const part = this.appendPart(bind, bind(tenantId), bind(sessionId), input, revision, new Date());
    // One statement, so one round trip and its own transaction: the counter row's lock orders
    // concurrent appenders (across replicas too) and the batch row takes the numbers it hands out.
    // The text never varies for a store (only the values do): the first one built is kept, so
    // the same string object goes to the driver each time (hashed and compared once, not per append).
    const sql = `with ${part.ctes} select last_seq${part.notify ? `, ${part.notify}` : ''} from fhead`;
    this.appendText ??= sql;
    if (CHECK_INTERNED_TEXT && this.appendText !== sql) throw new Error('the feed append text varies');
    const { rows } = await this.db.sql.query<{ last_seq: string }>(this.appendText, params);
    return part.records(BigInt(rows[0]!.last_seq));
  }

  /**
   * One append as two CTEs (`fhead` hands out the numbers and returns `last_seq`, `fbatch` stores
   * the batch), for `append` and for a commit statement that stores its turn's last events itself
   * (then `guard` names the commit's CTE that has a row only when the commit lands). `tenant` and
   * `session` are placeholders already bound. `notify` is a select-list item over `fhead` sending the
   * bus's wake-up, empty without a channel.
   */
  appendPart(bind: (v: unknown) => string, tenant: string, session: string, input: FeedPayload[], revision: bigint, now: Date, guard?: string): FeedAppendPart {
    // Encoding cannot fail for one event's sake: an unencodable event becomes an error event.
    const { text, payloads } = encodeBatch(input, now);
    const n = payloads.length;
    // The newest durable-through marker of the batch raises the retention floor.
    const committedIdx = payloads.map((p) => p.kind === 'committed').lastIndexOf(true);
    // Track the turn left open: activity opens it; its commit or interruption closes it.
    const turnMark = [...payloads].reverse().find((p) => p.kind === 'turn_activity' || (p.kind === 'committed' && p.turnId) || p.kind === 'turn_interrupted');
    const turnId = !turnMark
      ? null
      : turnMark.kind === 'turn_activity' || turnMark.kind === 'turn_interrupted'
        ? turnMark.turnId
        : turnMark.kind === 'committed'
          ? turnMark.turnId!
          : null;
    const turnAction = !turnMark ? 'keep' : turnMark.kind === 'turn_activity' ? 'open' : 'close';
    const [count, committed, action, turn] = [bind(n), bind(committedIdx), bind(turnAction), bind(turnId)];
    const ctes = `fhead as (
         insert into feed_heads as fh (tenant_id, session_id, last_seq, last_committed_seq, open_turn_id)
         select ${tenant}, ${session}, ${count}::bigint, case when ${committed}::bigint >= 0 then ${committed}::bigint + 1 else 0 end, case when ${action}::text = 'open' then ${turn}::text end${guard ? ` from ${guard}` : ''}
         on conflict (tenant_id, session_id) do update set
           last_seq = fh.last_seq + excluded.last_seq,
           last_committed_seq = case when ${committed}::bigint >= 0 then greatest(fh.last_committed_seq, fh.last_seq + ${committed}::bigint + 1) else fh.last_committed_seq end,
           open_turn_id = case ${action}::text when 'open' then ${turn}::text when 'close' then (case when fh.open_turn_id = ${turn}::text then null else fh.open_turn_id end) else fh.open_turn_id end
         returning fh.last_seq
       ), fbatch as (
         insert into feed_batches (tenant_id, session_id, first_seq, last_seq, revision, created_at, events)
         select ${tenant}, ${session}, fhead.last_seq - ${count}::bigint + 1, fhead.last_seq, ${bind(revision.toString())}::bigint, ${bind(now)}::timestamptz, ${bind(text)}::text from fhead
       )`;
    const notify =
      this.notifyChannel === undefined
        ? ''
        : `pg_notify(${bind(this.notifyChannel)}, json_build_object('t', 'feed', 'p', json_build_object('tenantId', ${tenant}::text, 'sessionId', ${session}::text, 'upTo', fhead.last_seq::text))::text)`;
    return {
      ctes,
      notify,
      records: (last) => {
        const first = last - BigInt(n) + 1n;
        return payloads.map((payload, i) => ({ seq: first + BigInt(i), time: now, revision, payload }));
      },
    };
  }

  async read(tenantId: string, sessionId: string, afterSeq: bigint, limit: number): Promise<FeedRecord[]> {
    // Sequences are gap-free above the retention floor, so the batches holding (after, after +
    // limit] are exactly the ones needed (from the floor on, if retention passed the cursor).
    const { rows } = await this.db.sql.query<{ first_seq: string; revision: string; created_at: Date | string; events: string }>(
      `select first_seq, revision, created_at, events from feed_batches
        where tenant_id = $1 and session_id = $2 and last_seq > $3::bigint
          and first_seq <= greatest($3::bigint, coalesce((select trimmed_through from feed_heads where tenant_id = $1 and session_id = $2), 0)) + $4::bigint
        order by last_seq`,
      [tenantId, sessionId, afterSeq.toString(), limit],
    );
    const out: FeedRecord[] = [];
    for (const r of rows) {
      for (const record of decodeBatch(r.events, new Date(r.created_at), BigInt(r.first_seq), BigInt(r.revision))) {
        if (record.seq > afterSeq && out.length < limit) out.push(record);
      }
    }
    return out;
  }

  async head(tenantId: string, sessionId: string) {
    const { rows } = await this.db.sql.query<{ last_seq: string; trimmed_through: string }>(
      'select last_seq, trimmed_through from feed_heads where tenant_id = $1 and session_id = $2',
      [tenantId, sessionId],
    );
    const r = rows[0];
    return { lastSeq: BigInt(r?.last_seq ?? 0), trimmedThrough: BigInt(r?.trimmed_through ?? 0) };
  }

  /** The turn whose events were appended last without a commit or interruption after them. */
  async openTurn(tenantId: string, sessionId: string): Promise<string | undefined> {
    const { rows } = await this.db.sql.query<{ open_turn_id: string | null }>('select open_turn_id from feed_heads where tenant_id = $1 and session_id = $2', [
      tenantId,
      sessionId,
    ]);
    return rows[0]?.open_turn_id ?? undefined;
  }

  async reportedInterrupted(tenantId: string, sessionId: string, turnId: string): Promise<boolean> {
    // The codec writes an interrupted-turn entry as one fixed text, so a substring test finds the
    // few batches that may hold it without reading the feed into this process; decoding those
    // confirms it (the same text could sit inside a tool's JSON arguments).
    const { rows } = await this.db.sql.query<{ first_seq: string; revision: string; created_at: Date | string; events: string }>(
      'select first_seq, revision, created_at, events from feed_batches where tenant_id = $1 and session_id = $2 and strpos(events, $3) > 0 order by last_seq desc limit 16',
      [tenantId, sessionId, interruptedEntryText(turnId)],
    );
    return rows.some((r) =>
      decodeBatch(r.events, new Date(r.created_at), BigInt(r.first_seq), BigInt(r.revision)).some(
        (e) => e.payload.kind === 'turn_interrupted' && e.payload.turnId === turnId,
      ),
    );
  }

  async trim(olderThan: Date, keepPerSession: number): Promise<number> {
    return this.db.em().transactional(async (em) => {
      const conn = em.getConnection();
      const tx = em.getTransactionContext();
      // Whole batches, never past the last "committed" marker: what a client may still need to
      // replay stays.
      const res = await conn.execute(
        `delete from feed_batches b using feed_heads h
          where b.tenant_id = h.tenant_id and b.session_id = h.session_id
            and b.last_seq < h.last_committed_seq
            and (b.created_at < ? or b.last_seq <= h.last_seq - ?)`,
        [olderThan, keepPerSession],
        'run',
        tx,
      );
      await conn.execute(
        `update feed_heads h set trimmed_through = coalesce((select min(first_seq) - 1 from feed_batches b where b.tenant_id = h.tenant_id and b.session_id = h.session_id), h.last_seq)
          where h.trimmed_through < coalesce((select min(first_seq) - 1 from feed_batches b where b.tenant_id = h.tenant_id and b.session_id = h.session_id), h.last_seq)`,
        [],
        'run',
        tx,
      );
      return Number((res as { affectedRows?: number }).affectedRows ?? 0);
    });
  }
}
