// Triggers: subscriptions that start processes when a matching occurrence is emitted, or on a
// schedule (an interval or a cron expression), once per occurrence.

import type { JsonValue } from '../messages.js';
import type { ProcessKind } from './types.js';

/** What a matching occurrence starts. `{{payload}}` in the task is replaced by the occurrence's payload (JSON). */
export interface ProcessTemplate {
  kind: ProcessKind;
  task?: string;
  /** session_turn: run in this existing session. */
  sessionId?: string;
  /** Wake this session when the started process finishes. */
  wakeSessionId?: string;
  awaitSignal?: string;
}

export interface Subscription {
  tenantId: string;
  subscriptionId: string;
  sourceType: string;
  /** Exact key, or a pattern with `*` (any run of characters). */
  sourceKey: string;
  template: ProcessTemplate;
  /** Schedule: an occurrence every interval, the first at `nextDueAt`. */
  intervalMs?: number;
  /** Schedule: at the times of this cron expression (instead of an interval), read in `timeZone` (default UTC). */
  cron?: string;
  timeZone?: string;
  nextDueAt?: Date;
  createdAt: Date;
}

export interface Occurrence {
  sourceType: string;
  sourceKey: string;
  payload?: JsonValue;
  idempotencyKey: string;
}

/** Whether a subscription's key pattern matches an occurrence's key. */
export function keyMatches(pattern: string, key: string): boolean {
  if (!pattern.includes('*')) return pattern === key;
  const re = new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
    's',
  );
  return re.test(key);
}
