// AuditStore on the database: a batch of records in one insert (off the request path, see
// domain/audit/recorder.ts), tenant-scoped listing newest first by id, retention by age.

import type { AuditFilter, AuditRecord, AuditStore, StoredAuditRecord } from '../domain/audit/types.js';
import type { Database } from './database.js';
import { withTypedErrors } from './typed-errors.js';

interface Row {
  id: string | number;
  tenant_id: string;
  at: Date | string;
  subject: string;
  identity_source: string;
  method: string;
  session_id: string | null;
  turn_id: string | null;
  batch_id: string | null;
  code: string;
  reason: string | null;
  request_id: string;
}

const COLUMNS = 'tenant_id, at, subject, identity_source, method, session_id, turn_id, batch_id, code, reason, request_id';

export class DbAuditStore implements AuditStore {
  constructor(private readonly db: Database) {
    return withTypedErrors(this);
  }

  async append(records: AuditRecord[]): Promise<void> {
    if (records.length === 0) return;
    const values = records.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ');
    const params = records.flatMap((r) => [
      r.tenantId,
      r.at,
      r.subject,
      r.identitySource,
      r.method,
      r.sessionId ?? null,
      r.turnId ?? null,
      r.batchId ?? null,
      r.code,
      r.reason ?? null,
      r.requestId,
    ]);
    await this.db.conn().execute(`insert into audit_records (${COLUMNS}) values ${values}`, params, 'run');
  }

  async list(tenantId: string, filter: AuditFilter, beforeId: bigint | undefined, limit: number): Promise<StoredAuditRecord[]> {
    const where = ['tenant_id = ?'];
    const params: unknown[] = [tenantId];
    const add = (condition: string, value: unknown) => {
      where.push(condition);
      params.push(value);
    };
    if (filter.sessionId !== undefined) add('session_id = ?', filter.sessionId);
    if (filter.method !== undefined) add('method = ?', filter.method);
    if (filter.since !== undefined) add('at >= ?', filter.since);
    if (filter.until !== undefined) add('at < ?', filter.until);
    if (beforeId !== undefined) add('id < ?', String(beforeId));
    params.push(limit);
    const rows = (await this.db
      .conn()
      .execute<Row[]>(`select id, ${COLUMNS} from audit_records where ${where.join(' and ')} order by id desc limit ?`, params)) as Row[];
    return rows.map((r) => ({
      id: BigInt(r.id),
      tenantId: r.tenant_id,
      at: new Date(r.at),
      subject: r.subject,
      identitySource: r.identity_source,
      method: r.method,
      sessionId: r.session_id ?? undefined,
      turnId: r.turn_id ?? undefined,
      batchId: r.batch_id ?? undefined,
      code: r.code,
      reason: r.reason ?? undefined,
      requestId: r.request_id,
    }));
  }

  async trim(olderThan: Date): Promise<number> {
    const res = await this.db.conn().execute('delete from audit_records where at < ?', [olderThan], 'run');
    return Number((res as { affectedRows?: number }).affectedRows ?? 0);
  }
}
