// TriggerStore on the database (both engines): subscriptions, and due schedules taken with SKIP
// LOCKED so that one replica takes each due time.

import type { TriggerStore } from '../domain/processes/ports.js';
import type { Subscription } from '../domain/processes/trigger-types.js';
import type { Database } from './database.js';
import { withTypedErrors } from './typed-errors.js';

interface Row {
  tenant_id: string;
  subscription_id: string;
  source_type: string;
  source_key: string;
  template: string;
  interval_ms: string | null;
  next_due_at: Date | string | null;
  created_at: Date | string;
  cron: string | null;
  time_zone: string | null;
}

const COLUMNS = 'tenant_id, subscription_id, source_type, source_key, template, interval_ms, next_due_at, created_at, cron, time_zone';

const fromRow = (r: Row): Subscription => ({
  tenantId: r.tenant_id,
  subscriptionId: r.subscription_id,
  sourceType: r.source_type,
  sourceKey: r.source_key,
  template: JSON.parse(r.template) as Subscription['template'],
  intervalMs: r.interval_ms === null ? undefined : Number(r.interval_ms),
  nextDueAt: r.next_due_at ? new Date(r.next_due_at) : undefined,
  createdAt: new Date(r.created_at),
  cron: r.cron ?? undefined,
  timeZone: r.time_zone ?? undefined,
});

export class DbTriggerStore implements TriggerStore {
  constructor(private readonly db: Database) {
    return withTypedErrors(this);
  }

  async put(s: Subscription) {
    const { rows } = await this.db.sql.query<Row>(
      `insert into trigger_subscriptions (${COLUMNS}) values ($1, $2, $3, $4, $5, $6::bigint, $7::timestamptz, now(), $8, $9)
       on conflict (tenant_id, subscription_id) do update set source_type = excluded.source_type, source_key = excluded.source_key, template = excluded.template,
         interval_ms = excluded.interval_ms, next_due_at = excluded.next_due_at, cron = excluded.cron, time_zone = excluded.time_zone returning ${COLUMNS}`,
      [
        s.tenantId,
        s.subscriptionId,
        s.sourceType,
        s.sourceKey,
        JSON.stringify(s.template),
        s.intervalMs ?? null,
        s.nextDueAt?.toISOString() ?? null,
        s.cron ?? null,
        s.timeZone ?? null,
      ],
    );
    return fromRow(rows[0]!);
  }

  async get(tenantId: string, subscriptionId: string) {
    const { rows } = await this.db.sql.query<Row>(`select ${COLUMNS} from trigger_subscriptions where tenant_id = $1 and subscription_id = $2`, [
      tenantId,
      subscriptionId,
    ]);
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
    const { rows } = await this.db.sql.query<Row>(
      `select ${COLUMNS} from trigger_subscriptions where tenant_id = $1 and source_type = $2 order by subscription_id`,
      [tenantId, sourceType],
    );
    return rows.map(fromRow);
  }

  async takeDue(limit: number, next: (s: Subscription, dueAt: Date, now: Date) => Date | undefined) {
    // The rows stay locked until the transaction ends: another replica skips them, and sees the
    // moved due time afterwards. The next due time is the domain's (interval or cron). Runners
    // call this on every pass: nothing due costs one plain statement, no transaction.
    const { rows: any } = await this.db.sql.query(`select 1 from trigger_subscriptions where next_due_at <= now() limit 1`);
    if (any.length === 0) return [];
    return this.db.sql.transaction(async (tx) => {
      const { rows } = await tx.query<Row & { now: Date | string }>(
        `select ${COLUMNS}, now() as now from trigger_subscriptions where next_due_at <= now() order by next_due_at limit $1::int for update skip locked`,
        [limit],
      );
      const taken: { subscription: Subscription; dueAt: Date }[] = [];
      for (const r of rows) {
        const s = fromRow(r);
        const dueAt = s.nextDueAt!;
        const following = next(s, dueAt, new Date(r.now));
        await tx.query(`update trigger_subscriptions set next_due_at = $3::timestamptz where tenant_id = $1 and subscription_id = $2`, [
          s.tenantId,
          s.subscriptionId,
          following?.toISOString() ?? null,
        ]);
        taken.push({ subscription: { ...s, nextDueAt: following }, dueAt });
      }
      return taken;
    });
  }
}
