// The audit trail of writes: one record per finished mutating call — who (principal subject and
// identity source, tenant), what (method, session, turn or batch id), when, and the outcome (gRPC
// code name and ErrorInfo reason). Never request bodies, tokens or metadata values.

export interface AuditRecord {
  tenantId: string;
  subject: string;
  identitySource: string;
  /** "service/Method", e.g. "lash.v1.SessionService/DeleteSession". */
  method: string;
  sessionId?: string;
  turnId?: string;
  batchId?: string;
  /** gRPC status code name of the outcome ("OK", "NOT_FOUND", …). */
  code: string;
  reason?: string;
  requestId: string;
  at: Date;
}

export interface AuditFilter {
  sessionId?: string;
  method?: string;
  since?: Date;
  until?: Date;
}

/** A stored record with its position (newest first; `id` pages). */
export interface StoredAuditRecord extends AuditRecord {
  id: bigint;
}

export interface AuditStore {
  /** Inserts the records in one statement. */
  append(records: AuditRecord[]): Promise<void>;
  /** The tenant's records matching `filter`, newest first, with ids below `beforeId` when given. */
  list(tenantId: string, filter: AuditFilter, beforeId: bigint | undefined, limit: number): Promise<StoredAuditRecord[]>;
  /** Drops records older than `olderThan`; returns how many. */
  trim(olderThan: Date): Promise<number>;
}
