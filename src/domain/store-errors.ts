// The two store failures the domain and the transport may act on, typed by the store adapter
// (src/store/typed-errors.ts) from what its driver reports, so nothing above the store needs to
// know SQLSTATE codes or driver messages. Anything else a store throws stays what it was.

/** The store cannot be reached right now (refused, dropped, shutting down); the call may be retried. */
export class StoreUnavailable extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailable';
  }
}

/**
 * The store gave up a transaction because a concurrent one conflicted with it (serialization
 * failure, deadlock); nothing of it was written and the call may be retried.
 */
export class StoreConflict extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreConflict';
  }
}
