// TriggerStore on the database (both engines): subscriptions, and due schedules taken with SKIP
// LOCKED so that one replica takes each due time.

import type { TriggerStore } from '../domain/processes/ports.js';
import type { Subscription } from '../domain/processes/trigger-types.js';
import type { Database } from './database.js';
import { withTypedErrors } from './typed-errors.js';

interface Row {
  tenant_id: string; subscription_id: string; source_type: string; source_key: string; template: string;
  interval_ms: string | null; next_due_at: Date | string | null; created_at: Date | string;
}

const COLUMNS = 'tenant_id, subscription_id, source_type, source_key, template, interval_ms, next_due_at, created_at';

const fromRow = (r: Row): Subscription => ({
  tenantId: r.tenant_id, subscriptionId: r.subscription_id, sourceType: r.source_type, sourceKey: r.source_key, template: JSON.parse(r.template) as Subscription['template'],
  intervalMs: r.interval_ms === null ? undefined : Number(r.interval_ms), nextDueAt: r.next_due_at ? new Date(r.next_due_at) : undefined, createdAt: new Date(r.created_at),
});

export class DbTriggerStore implements TriggerStore {
  constructor(private readonly db: Database) {
    return withTypedErrors(this);
  }

  async put(s: Subscription) {
    const { rows } = await this.db.sql.query<Row>(
      `insert into trigger_subscriptions (${COLUMNS}) values ($1, $2, $3, $4, $5, $6::bigint, $7::timestamptz, now())
       on conflict (tenant_id, subscription_id) do update set source_type = excluded.source_type, source_key = excluded.source_key, template = excluded.template,
         interval_ms = excluded.interval_ms, next_due_at = excluded.next_due_at returning ${COLUMNS}`,
      [s.tenantId, s.subscriptionId, s.sourceType, s.sourceKey, JSON.stringify(s.template), s.intervalMs ?? null, s.nextDueAt?.toISOString() ?? null],
    );
    return fromRow(rows[0]!);
  }

  async get(tenantId: string, subscriptionId: string) {
    const { rows } = await this.db.sql.query<Row>(`select ${COLUMNS} from trigger_subscriptions where tenant_id = $1 and subscription_id = $2`, [tenantId, subscriptionId]);
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  async delete(tenantId: string, subscriptionId: string) {
    const { rowCount } = await this.db.sql.query(`delete from trigger_subscriptions where tenant_id = $1 and subscription_id = $2`, [tenantId, subscriptionId]);
    return rowCount > 0;
  }

  async list(tenantId: string, sourceType: string | undefined, after: string | undefined, limit: number) {
    const { rows } = await this.db.sql.query<Row>(
      `select ${COLUMNS} from trigger_subscriptions where tenant_id = $1 and ($2::text is null or source_type = $2) and ($3::text is null or subscription_id > $3) order by subscription_id limit $4::int`,
      [tenantId, sourceType ?? null, after ?? null, limit],
    );
    return rows.map(fromRow);
  }

  async count(tenantId: string) {
    const { rows } = await this.db.sql.query<{ n: number }>(`select count(*)::int as n from trigger_subscriptions where tenant_id = $1`, [tenantId]);
    return Number(rows[0]?.n ?? 0);
  }

  async bySource(tenantId: string, sourceType: string) {
    const { rows } = await this.db.sql.query<Row>(`select ${COLUMNS} from trigger_subscriptions where tenant_id = $1 and source_type = $2 order by subscription_id`, [tenantId, sourceType]);
    return rows.map(fromRow);
  }

  async takeDue(limit: number) {
    // Due times missed while no replica ran are skipped (the next one is the first after now):
    // a schedule fires once for the time it was due, not once per missed interval.
    const { rows } = await this.db.sql.query<Row & { due_at: Date | string }>(
      `with d as (select tenant_id, subscription_id, next_due_at from trigger_subscriptions where next_due_at <= now() order by next_due_at limit $1::int for update skip locked)
       update trigger_subscriptions s set next_due_at = d.next_due_at + make_interval(secs => s.interval_ms / 1000.0
              * greatest(1, ceil(extract(epoch from (now() - d.next_due_at)) * 1000 / s.interval_ms)))
         from d where s.tenant_id = d.tenant_id and s.subscription_id = d.subscription_id
       returning ${COLUMNS.split(', ').map((c) => `s.${c}`).join(', ')}, d.next_due_at as due_at`,
      [limit],
    );
    return rows.map((r) => ({ subscription: fromRow(r), dueAt: new Date(r.due_at) }));
  }
}
