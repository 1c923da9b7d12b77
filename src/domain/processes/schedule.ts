// When a scheduled subscription is next due: every interval, or at the times of a cron
// expression (croner: 5 fields, or 6 with seconds first) read in an IANA time zone (default UTC).
// Due times missed while no replica ran collapse into one: the next due time is the first one
// after now, so a schedule fires once for the time it was due, not once per missed occurrence.

import { Cron } from 'croner';
import { invalid } from '../errors.js';
import { MAX_INTERVAL_MS } from './limits.js';
import type { Subscription } from './trigger-types.js';

/** Longest cron expression accepted (a real one is far shorter). */
const MAX_CRON_CHARS = 200;

function cronOf(expr: string, timeZone: string | undefined): Cron {
  return new Cron(expr, { paused: true, mode: '5-or-6-parts', timezone: timeZone ?? 'UTC' });
}

/** Checks a cron expression and time zone; answers its first due time after `now`. */
export function firstCronDue(expr: string, timeZone: string | undefined, now: Date): Date {
  if (expr.length > MAX_CRON_CHARS) throw invalid('CRON_INVALID', `cron must be at most ${MAX_CRON_CHARS} characters`, { field: 'subscription.cron' });
  if (timeZone !== undefined) {
    try {
      new Intl.DateTimeFormat('en', { timeZone });
    } catch {
      throw invalid('TIME_ZONE_INVALID', `time_zone "${timeZone}" is not an IANA time zone (e.g. "Europe/Berlin"); leave it empty for UTC`, {
        field: 'subscription.time_zone',
      });
    }
  }
  let next: Date | null;
  try {
    next = cronOf(expr, timeZone).nextRun(now);
  } catch (err) {
    throw invalid(
      'CRON_INVALID',
      `cron "${expr}" is not a cron expression of 5 fields (minute hour day month weekday) or 6 (seconds first): ${err instanceof Error ? err.message : String(err)}`,
      { field: 'subscription.cron' },
    );
  }
  if (!next || next.getTime() - now.getTime() > MAX_INTERVAL_MS)
    throw invalid('CRON_NEVER_DUE', `cron "${expr}" is not due within 366 days`, { field: 'subscription.cron' });
  return next;
}

/** The due time after `dueAt` was taken at `now`: the first one after now. */
export function nextDue(s: Subscription, dueAt: Date, now: Date): Date | undefined {
  if (s.cron) return cronOf(s.cron, s.timeZone).nextRun(now) ?? undefined;
  if (!s.intervalMs) return undefined;
  const missed = Math.max(1, Math.ceil((now.getTime() - dueAt.getTime()) / s.intervalMs));
  return new Date(dueAt.getTime() + missed * s.intervalMs);
}
