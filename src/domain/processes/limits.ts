// Limits on what processes may hold: active processes per scope session and per tenant, the run
// time a process gets, and the sizes of what clients hand in.

export interface ProcessLimits {
  /** Active (pending or running) processes one session may have in its scope. */
  perSession: number;
  /** Active processes of one tenant. */
  perTenant: number;
  /** Run time a process gets when the caller names none, and the most it may ask for. */
  defaultRunMs: number;
  maxRunMs: number;
  /** Trigger subscriptions per tenant. */
  subscriptionsPerTenant: number;
}

export const DEFAULT_PROCESS_LIMITS: ProcessLimits = {
  perSession: 16,
  perTenant: 1_000,
  defaultRunMs: 3_600_000,
  maxRunMs: 86_400_000,
  subscriptionsPerTenant: 1_000,
};

/** Bytes of a task text, and of a payload or signal payload as JSON. */
export const MAX_TASK_BYTES = 64 * 1024;
export const MAX_PAYLOAD_BYTES = 256 * 1024;
/** Shortest schedule interval (a subscription cannot fire more often). */
export const MIN_INTERVAL_MS = 1_000;
/** Longest schedule interval, and how far from now a first due time may be. */
export const MAX_INTERVAL_MS = 366 * 86_400_000;
