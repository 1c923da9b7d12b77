// The bounds of ADR 0062 on their own: the refusal budget (one row per distinct refusal per
// minute, at most N rows a minute, the rest counted) and the tenant label table (named tenants,
// then the first N seen, then "_other"; reserved names pass through).

import { describe, expect, it } from 'vitest';
import { RefusalBudget } from '../../src/domain/audit/refusal-budget.js';
import { mechanismOf, UNAUTHENTICATED_TENANT } from '../../src/auth/failures.js';
import { TenantLabels } from '../../src/metrics/tenant-labels.js';

describe('refusal budget', () => {
  it('admits each distinct refusal once a minute and at most N a minute, counting the rest and reporting them once', () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const reported: number[] = [];
    const budget = new RefusalBudget(
      3,
      (n) => reported.push(n),
      () => now,
    );
    expect(['a', 'a', 'b', 'a', 'c', 'd', 'e'].map((k) => budget.admit(k))).toEqual([true, false, true, false, true, false, false]);
    expect(budget.stats()).toEqual({ recorded: 3, suppressed: 4 });
    expect(reported).toEqual([]);
    now += 60_000;
    expect(budget.admit('a')).toBe(true);
    expect(reported).toEqual([4]);
    expect(budget.stats()).toEqual({ recorded: 4, suppressed: 4 });
  });

  it('admits nothing with a budget of 0', () => {
    const budget = new RefusalBudget(0);
    expect(budget.admit('a')).toBe(false);
    expect(budget.stats()).toEqual({ recorded: 0, suppressed: 1 });
  });
});

describe('tenant labels', () => {
  it('names listed tenants and the first N others, folds later ones into _other, passes reserved names', () => {
    const labels = new TenantLabels(['vip'], 2);
    expect(['t1', 'vip', 't2', 't3', 't1', 'vip', UNAUTHENTICATED_TENANT, 't4', 't2'].map((t) => labels.label(t))).toEqual([
      't1',
      'vip',
      't2',
      '_other',
      't1',
      'vip',
      '_unauthenticated',
      '_other',
      't2',
    ]);
  });
});

describe('mechanism of a refusal', () => {
  it('names what the caller tried from the reason alone', () => {
    expect(
      ['CREDENTIALS_MISSING', 'AUTHORIZATION_MALFORMED', 'TOKEN_UNKNOWN', 'TOKEN_EXPIRED', 'CERTIFICATE_UNMAPPED', 'FORWARDED_IDENTITY_UNTRUSTED'].map(
        mechanismOf,
      ),
    ).toEqual(['none', 'bearer', 'bearer', 'jwt', 'mtls', 'forwarded']);
  });
});
