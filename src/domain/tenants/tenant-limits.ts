// Per-tenant limits, so one tenant cannot starve the others: running client turns and open
// observers are counted in this process (cheap, no store round trip on the turn path; a fleet
// admits replicas × the limit), sessions and open queue batches are counted in the store at
// create/enqueue time (one indexed count, shared by every replica; concurrent creates may pass
// the limit by the few that race). Past a limit the call is RESOURCE_EXHAUSTED with the limit in
// the ErrorInfo metadata, before anything is stored. Separate from the per-process limits
// (turn slots, observer bounds), which protect the process as a whole.

import { ERROR_REASONS } from '../error-reasons.js';
import { DomainError } from '../errors.js';

export type HeldResource = 'running_turns' | 'observers';
export type StoredResource = 'sessions' | 'queued_batches';
export type TenantResource = HeldResource | StoredResource;

export interface TenantLimitConfig {
  runningTurns: number;
  observers: number;
  queuedBatches: number;
  sessions: number;
}

/** Counts the store keeps per tenant (indexed, all replicas). */
export interface TenantUsageStore {
  sessions(tenantId: string): Promise<number>;
  openBatches(tenantId: string): Promise<number>;
}

export interface TenantResourceStats {
  tenantId: string;
  resource: TenantResource;
  /** Held now in this process (turns, observers), or the last count read from the store. */
  inUse: number;
  rejected: number;
}

const SPEC: Record<
  TenantResource,
  {
    reason: 'TENANT_TURN_LIMIT' | 'TENANT_OBSERVER_LIMIT' | 'TENANT_QUEUE_LIMIT' | 'TENANT_SESSION_LIMIT';
    variable: string;
    what: string;
    key: keyof TenantLimitConfig;
  }
> = {
  running_turns: {
    reason: 'TENANT_TURN_LIMIT',
    variable: 'LASH_TENANT_MAX_RUNNING_TURNS',
    what: 'turns are running for this tenant on this server',
    key: 'runningTurns',
  },
  observers: {
    reason: 'TENANT_OBSERVER_LIMIT',
    variable: 'LASH_TENANT_MAX_OBSERVERS',
    what: 'ObserveSession streams are open for this tenant on this server',
    key: 'observers',
  },
  queued_batches: {
    reason: 'TENANT_QUEUE_LIMIT',
    variable: 'LASH_TENANT_MAX_QUEUED_BATCHES',
    what: 'queue batches are open (pending or claimed) for this tenant',
    key: 'queuedBatches',
  },
  sessions: {
    reason: 'TENANT_SESSION_LIMIT',
    variable: 'LASH_TENANT_MAX_SESSIONS',
    what: 'sessions exist for this tenant; delete some first',
    key: 'sessions',
  },
};

const RETRY_AFTER_MS = 1_000;

export class TenantLimits {
  /** `${resource}\0${tenant}` → held now (held resources) or last counted (stored ones). */
  private readonly inUse = new Map<string, number>();
  private readonly rejected = new Map<string, number>();

  constructor(
    readonly limits: TenantLimitConfig,
    private readonly usage: TenantUsageStore,
  ) {}

  /** Takes one unit of a per-process resource for the tenant; call the returned function once to give it back. */
  hold(resource: HeldResource, tenantId: string): () => void {
    const key = `${resource}\u0000${tenantId}`;
    const held = this.inUse.get(key) ?? 0;
    if (held >= this.limits[SPEC[resource].key]) throw this.refuse(resource, tenantId);
    this.inUse.set(key, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const now = (this.inUse.get(key) ?? 1) - 1;
      if (now > 0) this.inUse.set(key, now);
      else this.inUse.delete(key);
    };
  }

  /** Refuses when the tenant already has `limit` of a stored resource (one indexed count). */
  async requireRoom(resource: StoredResource, tenantId: string): Promise<void> {
    const n = resource === 'sessions' ? await this.usage.sessions(tenantId) : await this.usage.openBatches(tenantId);
    this.inUse.set(`${resource}\u0000${tenantId}`, n);
    if (n >= this.limits[SPEC[resource].key]) throw this.refuse(resource, tenantId);
  }

  stats(): TenantResourceStats[] {
    const keys = new Set([...this.inUse.keys(), ...this.rejected.keys()]);
    return [...keys].map((key) => {
      const [resource, tenantId] = key.split('\u0000') as [TenantResource, string];
      return { tenantId, resource, inUse: this.inUse.get(key) ?? 0, rejected: this.rejected.get(key) ?? 0 };
    });
  }

  private refuse(resource: TenantResource, tenantId: string): DomainError {
    const key = `${resource}\u0000${tenantId}`;
    this.rejected.set(key, (this.rejected.get(key) ?? 0) + 1);
    const spec = SPEC[resource];
    const limit = this.limits[spec.key];
    const retryable = ERROR_REASONS[spec.reason].retryable;
    return new DomainError(
      spec.reason,
      `tenant limit reached: ${limit} ${spec.what} (${spec.variable})${retryable ? `; retry after ${RETRY_AFTER_MS} ms` : ''}`,
      {
        resource,
        limit: String(limit),
        limit_variable: spec.variable,
        ...(retryable ? { retry_after_ms: String(RETRY_AFTER_MS) } : {}),
      },
    );
  }
}
