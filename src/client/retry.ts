// When and how the client retries: only calls that are safe to repeat (reads, and writes that
// carry an idempotency id the server deduplicates on), only after UNAVAILABLE, with exponential
// backoff and full jitter, and never past the call's deadline or its AbortSignal.

import { status } from '@grpc/grpc-js';
import { abortError, LashError } from './errors.js';

export interface RetryPolicy {
  /** Attempts in all, the first included (1 disables retries). */
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 4, initialBackoffMs: 100, maxBackoffMs: 2_000 };

/** Method paths that are safe to send twice, or that are when `idField` of the request is set. */
const ALWAYS = new Set([
  'SessionService/GetSession',
  'SessionService/ListSessions',
  'SessionService/GetReadView',
  'SessionService/GetAttachment',
  'SessionService/GetUsageReport',
  'SessionService/ExportSessionState',
  'SessionService/CloseSession',
  'SessionService/DeleteSession',
  'SessionService/UpdateSessionConfig',
  'TurnService/GetTurn',
  'TurnService/CancelTurn',
  'QueueService/ListQueuedWork',
  'QueueService/AwaitQueuedWorkBatch',
  'AdminService/GetToolState',
  'AdminService/ListChildSessions',
  'AdminService/ClearToolAvailabilityOverride',
  'AdminService/BranchToNode',
]);
const WITH_ID: Record<string, string> = {
  'SessionService/OpenSession': 'sessionId', // resume is idempotent; a fresh open is not (checked below)
  'TurnService/StartTurn': 'turnId',
  'QueueService/EnqueueTurnInput': 'id',
  'AdminService/RefreshToolCatalog': 'idempotencyKey',
  'AdminService/ResetSession': 'idempotencyKey',
};

/** Whether a request to `path` ("/lash.v1.Service/Method") may be retried. */
export function isIdempotent(path: string, request: Record<string, unknown>): boolean {
  const key = path.replace(/^\/[^.]+\.v1\./, '');
  if (ALWAYS.has(key)) return true;
  const idField = WITH_ID[key];
  if (!idField || !request[idField]) return false;
  // OpenSession with OPEN_MODE_FRESH (2) or WITH_STATE (3) replaces state: not repeatable.
  return key !== 'SessionService/OpenSession' || !request.openMode || request.openMode === 1;
}

/** Waits the backoff of `attempt` (1-based), or rejects when the signal aborts first. */
export function backoff(policy: RetryPolicy, attempt: number, signal?: AbortSignal): Promise<void> {
  const ceiling = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** (attempt - 1));
  const ms = Math.random() * ceiling;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export const shouldRetry = (err: LashError, attempt: number, policy: RetryPolicy, deadline?: number) =>
  err.code === status.UNAVAILABLE && attempt < policy.maxAttempts && (deadline === undefined || Date.now() < deadline);
