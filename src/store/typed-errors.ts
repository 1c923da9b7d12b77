// Turns what the database drivers throw into the domain's typed store errors: connection
// failures (node socket codes, SQLSTATE class 08, admin shutdown 57P0x, too many connections,
// a closed PGlite, the pool's connect timeout) become StoreUnavailable; serialization failures and
// deadlocks (40001, 40P01) become StoreConflict. This is the only place that knows those codes
// and messages; each store class returns itself through `withTypedErrors`, so every port call
// rejects with the typed error and the transport maps it without driver knowledge.

import { StoreConflict, StoreUnavailable } from '../domain/store-errors.js';

const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08006', '53300']);
const UNAVAILABLE_MESSAGE = /Connection terminated|connect ECONNREFUSED|PGlite is closed|timeout exceeded when trying to connect/i;
const CONFLICT_CODES = new Set(['40001', '40P01']);

type DriverError = { code?: string; name?: string; cause?: unknown; message?: string };

function classify(err: unknown, depth = 0): 'unavailable' | 'conflict' | undefined {
  const e = err as DriverError | undefined;
  if (!e || typeof e !== 'object' || depth > 5) return undefined;
  if (e.code && UNAVAILABLE_CODES.has(e.code)) return 'unavailable';
  if (e.code && CONFLICT_CODES.has(e.code)) return 'conflict';
  if (e.name === 'ConnectionException') return 'unavailable';
  if (typeof e.message === 'string' && UNAVAILABLE_MESSAGE.test(e.message)) return 'unavailable';
  return e.cause !== undefined && e.cause !== err ? classify(e.cause, depth + 1) : undefined;
}

/** `err` as StoreUnavailable or StoreConflict when the driver says so; otherwise unchanged. */
export function typedStoreError(err: unknown): unknown {
  if (err instanceof StoreUnavailable || err instanceof StoreConflict) return err;
  switch (classify(err)) {
    case 'unavailable':
      return new StoreUnavailable('the store is unreachable', { cause: err });
    case 'conflict':
      return new StoreConflict('a concurrent transaction conflicted; nothing was written', { cause: err });
    default:
      return err;
  }
}

/**
 * `store` with every method's failure typed: a rejected promise or a thrown error passes through
 * `typedStoreError`. Store classes return this from their constructor, so no caller can hold an
 * untyped store.
 */
export function withTypedErrors<T extends object>(store: T): T {
  // One wrapper per method, made at its first use (a store method runs on every call of the hot
  // path; a fresh closure per property read was garbage each time). Kept with the function it
  // wraps, so a property that is reassigned gets a wrapper of its new value.
  const wrappers = new Map<PropertyKey, { fn: unknown; wrapped: unknown }>();
  const typed: T = new Proxy(store, {
    get(target, key, receiver) {
      const value: unknown = Reflect.get(target, key, receiver);
      if (typeof value !== 'function' || key === 'constructor') return value;
      const known = wrappers.get(key);
      if (known !== undefined && known.fn === value) return known.wrapped;
      const wrapped = function (this: unknown, ...args: unknown[]) {
        let result: unknown;
        try {
          // Called on the typed store, the method runs on the store itself: what it reads of its
          // own (`this.db`, its helpers) then skips this proxy, and its failures are still typed
          // here, where they leave it.
          result = (value as (...a: unknown[]) => unknown).apply(this === typed ? store : this, args);
        } catch (err) {
          throw typedStoreError(err);
        }
        return result instanceof Promise ? result.catch((err: unknown) => Promise.reject(typedStoreError(err))) : result;
      };
      wrappers.set(key, { fn: value, wrapped });
      return wrapped;
    },
  });
  return typed;
}
