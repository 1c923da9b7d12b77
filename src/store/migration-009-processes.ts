// Migration 009: background processes (records plus an append-only event log each) and triggers
// (subscriptions, with an optional schedule). Kept in its own file so the migration list only
// gains one line.

import { Migration } from '@mikro-orm/migrations';

export class Migration009Processes extends Migration {
  override name = '009_processes';

  override up(): void {
    // One row per process. The claim columns follow the queue's discipline (ADR 0018): a runner
    // holds the row with an expiring claim and a fencing token that every later write checks.
    this.addSql(`create table processes (
      tenant_id text not null,
      process_id text not null,
      kind text not null,
      input text not null,
      status text not null,
      output text null,
      error text null,
      scope_session_id text null,
      started_by text not null,
      wake_session_id text null,
      wake_state text not null default 'none',
      idem_key text null,
      attempts int not null default 0,
      claim_owner text null,
      claim_token bigint not null default 0,
      claim_expires_at timestamptz null,
      deadline_at timestamptz not null,
      event_seq bigint not null default 0,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      finished_at timestamptz null,
      primary key (tenant_id, process_id))`);
    this.addSql(`create unique index processes_idem_idx on processes (tenant_id, idem_key) where idem_key is not null`);
    this.addSql(`create index processes_runnable_idx on processes (created_at) where status in ('pending', 'running')`);
    this.addSql(`create index processes_scope_idx on processes (tenant_id, scope_session_id) where scope_session_id is not null`);
    this.addSql(`create index processes_wake_idx on processes (finished_at) where wake_state = 'pending'`);
    // The event log: gap-free sequence per process (from processes.event_seq), one idempotency
    // key per event so a retried append (a runner taking over, a retried signal) adds nothing.
    this.addSql(`create table process_events (
      tenant_id text not null,
      process_id text not null,
      seq bigint not null,
      kind text not null,
      idem_key text not null,
      payload text not null,
      created_at timestamptz not null,
      primary key (tenant_id, process_id, seq))`);
    this.addSql(`create unique index process_events_idem_idx on process_events (tenant_id, process_id, idem_key)`);
    this.addSql(`create table trigger_subscriptions (
      tenant_id text not null,
      subscription_id text not null,
      source_type text not null,
      source_key text not null,
      template text not null,
      interval_ms bigint null,
      next_due_at timestamptz null,
      created_at timestamptz not null,
      primary key (tenant_id, subscription_id))`);
    this.addSql(`create index trigger_subscriptions_source_idx on trigger_subscriptions (tenant_id, source_type)`);
    this.addSql(`create index trigger_subscriptions_due_idx on trigger_subscriptions (next_due_at) where next_due_at is not null`);
  }
}
