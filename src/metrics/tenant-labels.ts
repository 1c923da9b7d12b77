// The tenant label of metrics, with bounded cardinality: every distinct label value is a set of
// series held in memory and by the scraper forever, and tenants are as many as callers make up.
// Named tenants (LASH_METRICS_TENANTS) always keep their name; after them, the first
// LASH_METRICS_TENANT_LABELS other tenants this process sees keep theirs (first come, so a series
// never changes meaning); every later tenant is "_other". Reserved names (starting with "_", which
// no tenant id can) pass through: they are a fixed few.

export const OTHER_TENANTS = '_other';

export class TenantLabels {
  private readonly named: ReadonlySet<string>;
  private readonly seen = new Set<string>();

  constructor(
    named: readonly string[],
    private readonly firstSeen: number,
  ) {
    this.named = new Set(named);
  }

  label(tenant: string): string {
    if (this.named.has(tenant) || this.seen.has(tenant) || tenant.startsWith('_')) return tenant;
    if (this.seen.size < this.firstSeen) {
      this.seen.add(tenant);
      return tenant;
    }
    return OTHER_TENANTS;
  }
}
