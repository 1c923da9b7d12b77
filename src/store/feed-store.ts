// FeedStore on the database: a counter row per session hands out gap-free sequence numbers
// (its row lock orders concurrent appenders, also across replicas) and events are inserted
// in one multi-row statement per batch.

import type { FeedStore } from '../domain/ports.js';
import { payloadFromJson, payloadToJson, type FeedPayload, type FeedRecord } from '../domain/feed/types.js';
import type { Database } from './database.js';

export class DbFeedStore implements FeedStore {
  constructor(private readonly db: Database) {}

  async append(tenantId: string, sessionId: string, revision: bigint, payloads: FeedPayload[]): Promise<FeedRecord[]> {
    if (payloads.length === 0) return [];
    const now = new Date();
    let last = 0n;
    await this.db.em().transactional(async (em) => {
      const conn = em.getConnection();
      const tx = em.getTransactionContext();
      const committedIdx = payloads.map((p) => p.kind === 'committed').lastIndexOf(true);
      const turnMark = [...payloads].reverse().find((p) => p.kind === 'turn_activity' || (p.kind === 'committed' && p.turnId) || p.kind === 'turn_interrupted');
      const rows = await conn.execute<{ last_seq: string }[]>(
        `insert into feed_heads (tenant_id, session_id, last_seq) values (?, ?, ?)
         on conflict (tenant_id, session_id) do update set last_seq = feed_heads.last_seq + excluded.last_seq
         returning last_seq`,
        [tenantId, sessionId, payloads.length], 'all', tx,
      );
      last = BigInt((rows as { last_seq: string }[])[0]!.last_seq);
      const first = last - BigInt(payloads.length) + 1n;
      if (committedIdx >= 0) {
        // The newest durable-through marker is the retention floor.
        await conn.execute('update feed_heads set last_committed_seq = greatest(last_committed_seq, ?) where tenant_id = ? and session_id = ?', [(first + BigInt(committedIdx)).toString(), tenantId, sessionId], 'run', tx);
      }
      if (turnMark) {
        // Track the turn left open: activity opens it; its commit or interruption closes it.
        const turnId = turnMark.kind === 'turn_activity' ? turnMark.turnId : turnMark.kind === 'committed' ? turnMark.turnId! : turnMark.kind === 'turn_interrupted' ? turnMark.turnId : '';
        if (turnMark.kind === 'turn_activity') await conn.execute('update feed_heads set open_turn_id = ? where tenant_id = ? and session_id = ?', [turnId, tenantId, sessionId], 'run', tx);
        else await conn.execute('update feed_heads set open_turn_id = null where tenant_id = ? and session_id = ? and open_turn_id = ?', [tenantId, sessionId, turnId], 'run', tx);
      }
      const values = payloads.map(() => '(?, ?, ?, ?, ?, ?)').join(', ');
      const params = payloads.flatMap((p, i) => [tenantId, sessionId, (first + BigInt(i)).toString(), revision.toString(), now, JSON.stringify(payloadToJson(p))]);
      await conn.execute(`insert into feed_events (tenant_id, session_id, seq, revision, created_at, payload) values ${values}`, params, 'run', tx);
    });
    const first = last - BigInt(payloads.length) + 1n;
    return payloads.map((payload, i) => ({ seq: first + BigInt(i), time: now, revision, payload }));
  }

  async read(tenantId: string, sessionId: string, afterSeq: bigint, limit: number): Promise<FeedRecord[]> {
    const rows = await this.db.em().getConnection().execute<{ seq: string; revision: string; created_at: Date | string; payload: unknown }[]>(
      'select seq, revision, created_at, payload from feed_events where tenant_id = ? and session_id = ? and seq > ? order by seq limit ?',
      [tenantId, sessionId, afterSeq.toString(), limit],
    );
    return (rows as { seq: string; revision: string; created_at: Date | string; payload: unknown }[]).map((r) => ({
      seq: BigInt(r.seq),
      revision: BigInt(r.revision),
      time: new Date(r.created_at),
      payload: payloadFromJson(typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload),
    }));
  }

  async head(tenantId: string, sessionId: string) {
    const rows = await this.db.em().getConnection().execute<{ last_seq: string; trimmed_through: string }[]>(
      'select last_seq, trimmed_through from feed_heads where tenant_id = ? and session_id = ?', [tenantId, sessionId],
    );
    const r = (rows as { last_seq: string; trimmed_through: string }[])[0];
    return { lastSeq: BigInt(r?.last_seq ?? 0), trimmedThrough: BigInt(r?.trimmed_through ?? 0) };
  }

  /** The turn whose events were appended last without a commit or interruption after them. */
  async openTurn(tenantId: string, sessionId: string): Promise<string | undefined> {
    const rows = await this.db.em().getConnection().execute<{ open_turn_id: string | null }[]>('select open_turn_id from feed_heads where tenant_id = ? and session_id = ?', [tenantId, sessionId]);
    return (rows as { open_turn_id: string | null }[])[0]?.open_turn_id ?? undefined;
  }

  async markTurnOpen(tenantId: string, sessionId: string, turnId: string): Promise<void> {
    await this.db.em().getConnection().execute(
      `insert into feed_heads (tenant_id, session_id, open_turn_id) values (?, ?, ?)
       on conflict (tenant_id, session_id) do update set open_turn_id = excluded.open_turn_id`,
      [tenantId, sessionId, turnId], 'run',
    );
  }

  async trim(olderThan: Date, keepPerSession: number): Promise<number> {
    return this.db.em().transactional(async (em) => {
      const conn = em.getConnection();
      const tx = em.getTransactionContext();
      // Never past the last "committed" marker: what a client may still need to replay stays.
      const res = await conn.execute(
        `delete from feed_events e using feed_heads h
          where e.tenant_id = h.tenant_id and e.session_id = h.session_id
            and e.seq < h.last_committed_seq
            and (e.created_at < ? or e.seq <= h.last_seq - ?)`,
        [olderThan, keepPerSession], 'run', tx,
      );
      await conn.execute(
        `update feed_heads h set trimmed_through = coalesce((select min(seq) - 1 from feed_events e where e.tenant_id = h.tenant_id and e.session_id = h.session_id), h.last_seq)
          where h.trimmed_through < coalesce((select min(seq) - 1 from feed_events e where e.tenant_id = h.tenant_id and e.session_id = h.session_id), h.last_seq)`,
        [], 'run', tx,
      );
      return Number((res as { affectedRows?: number }).affectedRows ?? 0);
    });
  }
}
