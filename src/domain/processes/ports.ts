// Storage ports of processes and triggers (implemented in src/store, both engines).

import type { JsonValue } from '../messages.js';
import type { Finish, NewProcess, ProcessEvent, ProcessFilter, ProcessRecord } from './types.js';
import type { Subscription } from './trigger-types.js';

export interface ProcessStore {
  /** Inserts the process and its `created` event; an existing idempotency key returns that process instead. */
  create(p: NewProcess): Promise<{ process: ProcessRecord; deduplicated: boolean }>;
  get(tenantId: string, processId: string): Promise<ProcessRecord | undefined>;
  getByKey(tenantId: string, idempotencyKey: string): Promise<ProcessRecord | undefined>;
  list(tenantId: string, filter: ProcessFilter, afterProcessId: string | undefined, limit: number): Promise<ProcessRecord[]>;
  /** Active (pending or running) processes of a scope session, and of the whole tenant. */
  countActive(tenantId: string, scopeSessionId: string | undefined): Promise<{ scope: number; tenant: number }>;
  /**
   * Claims one runnable process of the given kinds (pending, or running with an expired claim:
   * its runner died) with SKIP LOCKED, bumping its fencing token and attempt count.
   */
  claimNext(owner: string, ttlMs: number, kinds: string[]): Promise<ProcessRecord | undefined>;
  /** Extends a live claim; false when the token is no longer ours (taken over or finished). */
  renew(tenantId: string, processId: string, token: bigint, ttlMs: number): Promise<boolean>;
  /**
   * Finishes an active process. With `token`, only while that claim still holds (fencing); without,
   * whatever runs it (cancel, signal, deadline). Appends the finishing event in the same statement.
   * Undefined when it was already finished or the token is stale.
   */
  finish(tenantId: string, processId: string, f: Finish, token: bigint | undefined): Promise<ProcessRecord | undefined>;
  /** Appends an event (no-op for a known idempotency key); returns the stored event. */
  appendEvent(tenantId: string, processId: string, kind: string, idempotencyKey: string, payload: JsonValue): Promise<ProcessEvent | undefined>;
  events(tenantId: string, processId: string, afterSeq: bigint, limit: number): Promise<ProcessEvent[]>;
  /** The event stored under this idempotency key, if any. */
  eventByKey(tenantId: string, processId: string, idempotencyKey: string): Promise<ProcessEvent | undefined>;
  /** Active processes past their run-time deadline, failed; returns them. */
  failOverdue(limit: number): Promise<ProcessRecord[]>;
  /** Finished processes whose wake is still to deliver. */
  pendingWakes(limit: number): Promise<ProcessRecord[]>;
  setWakeState(tenantId: string, processId: string, state: 'delivered' | 'revoked'): Promise<void>;
  /**
   * A session is gone: revokes the wakes aimed at it and detaches the processes it scoped.
   * Returns those still active (orphaned: they keep running) and those already finished (kept).
   */
  detachSession(tenantId: string, sessionId: string): Promise<{ orphaned: string[]; kept: string[] }>;
  /**
   * Retention: deletes up to `limit` processes finished before `finishedBefore` (oldest first),
   * with their event logs, skipping those whose wake is still to deliver. Returns how many went.
   */
  purgeFinished(finishedBefore: Date, limit: number): Promise<number>;
  /** Active session_turn processes whose turn runs in this session (named, or their own `process-{id}`). */
  runningIn(tenantId: string, sessionId: string): Promise<string[]>;
}

export interface TriggerStore {
  /** Inserts or replaces a subscription (same id). */
  put(s: Subscription): Promise<Subscription>;
  get(tenantId: string, subscriptionId: string): Promise<Subscription | undefined>;
  delete(tenantId: string, subscriptionId: string): Promise<boolean>;
  list(tenantId: string, sourceType: string | undefined, afterId: string | undefined, limit: number): Promise<Subscription[]>;
  count(tenantId: string): Promise<number>;
  /** Subscriptions of a source type (matching on the key is done by the domain). */
  bySource(tenantId: string, sourceType: string): Promise<Subscription[]>;
  /**
   * Takes due schedules: moves each one's next due time to `next(subscription, dueAt, now)` (the
   * store's clock; undefined: never again) under row locks taken with SKIP LOCKED, so one replica
   * takes a given due time, and returns the due times taken.
   */
  takeDue(limit: number, next: (s: Subscription, dueAt: Date, now: Date) => Date | undefined): Promise<{ subscription: Subscription; dueAt: Date }[]>;
}
