// Per-tenant counts for the tenant limits: one indexed count each (sessions by their primary key
// prefix, open batches by the partial queue_batches_open_idx), read at create/enqueue time only.

import type { TenantUsageStore } from '../domain/tenants/tenant-limits.js';
import type { Database } from './database.js';
import { withTypedErrors } from './typed-errors.js';

export class DbTenantUsageStore implements TenantUsageStore {
  constructor(private readonly db: Database) {
    return withTypedErrors(this);
  }

  async sessions(tenantId: string): Promise<number> {
    const r = await this.db.sql.query<{ n: number }>('select count(*)::int as n from sessions where tenant_id = $1', [tenantId]);
    return Number(r.rows[0]?.n ?? 0);
  }

  async openBatches(tenantId: string): Promise<number> {
    const r = await this.db.sql.query<{ n: number }>(`select count(*)::int as n from queue_batches where tenant_id = $1 and state in ('pending', 'claimed')`, [
      tenantId,
    ]);
    return Number(r.rows[0]?.n ?? 0);
  }
}
