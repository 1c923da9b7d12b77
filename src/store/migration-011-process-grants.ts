// Migration 011: frame-scope grants of process handles, cron schedules of trigger subscriptions,
// and the index the retention sweep of finished processes walks. Kept in its own file so the
// migration list only gains one line.

import { Migration } from '@mikro-orm/migrations';

export class Migration011ProcessGrants extends Migration {
  override name = '011_process_grants';

  override up(): void {
    // A handle granted to one agent frame of its scope session (null: to the whole session).
    this.addSql(`alter table processes add column scope_frame_id text null`);
    // A schedule is an interval or a cron expression (with the time zone it is read in).
    this.addSql(`alter table trigger_subscriptions add column cron text null`);
    this.addSql(`alter table trigger_subscriptions add column time_zone text null`);
    // Retention: finished processes oldest first.
    this.addSql(`create index processes_finished_idx on processes (finished_at) where finished_at is not null`);
  }
}
