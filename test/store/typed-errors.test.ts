// The store adapter types its driver's failures (src/store/typed-errors.ts): on each engine a
// real serialization failure or deadlock reported by the database becomes StoreConflict, a store
// whose database is gone or unreachable rejects with StoreUnavailable, and the gRPC layer maps both
// by type alone (UNAVAILABLE / STORE_UNAVAILABLE and ABORTED / STORE_CONFLICT, both retryable).
// A writer whose lease renewal fails is told (the composition root logs it).

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { StoreConflict, StoreUnavailable } from '../../src/domain/store-errors.js';
import { errorInfoOf, toServiceError } from '../../src/grpc/errors.js';
import type { RenewalFailed } from '../../src/domain/ports.js';
import { SessionWriters } from '../../src/domain/session-writers.js';
import { OrmSessionStore } from '../../src/store/session-store.js';
import { OrmLeaseStore } from '../../src/store/turn-store.js';
import { typedStoreError, withTypedErrors } from '../../src/store/typed-errors.js';
import { engines, openTestDatabase } from '../support/engines.js';

const wire = (err: unknown) => {
  const { error } = toServiceError(err, 'lash.v1.SessionService');
  const info = errorInfoOf(error)!;
  return { code: error.code, reason: info.reason, retryable: info.metadata.retryable };
};

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`typed store errors on ${engine.name}`, () => {
    it('a serialization failure or deadlock the database reports is StoreConflict, mapped to ABORTED / STORE_CONFLICT', async () => {
      const { db, close } = await openTestDatabase(engine);
      try {
        const raise = (errcode: string) =>
          withTypedErrors({ run: () => db.sql.query(`do $$ begin raise exception 'conflict' using errcode = '${errcode}'; end $$`) });
        for (const errcode of ['serialization_failure', 'deadlock_detected']) {
          const err = await raise(errcode)
            .run()
            .then(
              () => undefined,
              (e: unknown) => e,
            );
          expect(err).toBeInstanceOf(StoreConflict);
          expect(wire(err)).toEqual({ code: 10, reason: 'STORE_CONFLICT', retryable: 'true' });
        }
        // Any other database error stays what it was (and is INTERNAL at the edge).
        const other = await raise('check_violation')
          .run()
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        expect(other).not.toBeInstanceOf(StoreConflict);
        expect(other).not.toBeInstanceOf(StoreUnavailable);
        expect(wire(other).reason).toBe('INTERNAL');
      } finally {
        await close();
      }
    });

    it('a store whose database is gone rejects with StoreUnavailable, mapped to UNAVAILABLE / STORE_UNAVAILABLE', async () => {
      const { db, close } = await openTestDatabase(engine);
      const store = new OrmSessionStore(db);
      expect(await store.getHead('t', 'nobody')).toBeUndefined();
      if (engine.name === 'pglite') {
        // The embedded engine stops under the store (as at an abrupt shutdown).
        await (db.orm.config.get('driverOptions') as { pglite: () => { close(): Promise<void> } }).pglite().close();
        const err = await store.getHead('t', 'nobody').then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(StoreUnavailable);
        expect(wire(err)).toEqual({ code: 14, reason: 'STORE_UNAVAILABLE', retryable: 'true' });
        await close().catch(() => {});
      } else {
        await close();
        // What the driver reports when nothing listens where the database should be.
        const refused = await new pg.Client({ host: '127.0.0.1', port: 1, connectionTimeoutMillis: 2000 }).connect().then(
          () => undefined,
          (e: unknown) => e,
        );
        const err = typedStoreError(refused);
        expect(err).toBeInstanceOf(StoreUnavailable);
        expect(wire(err)).toEqual({ code: 14, reason: 'STORE_UNAVAILABLE', retryable: 'true' });
      }
    });

    it.skipIf(engine.name !== 'pglite')('a writer whose lease renewal fails is told so (StoreUnavailable) and its work goes on', async () => {
      const { db, close } = await openTestDatabase(engine);
      let told!: (f: Parameters<RenewalFailed>[0]) => void;
      const failed = new Promise<Parameters<RenewalFailed>[0]>((resolve) => (told = resolve));
      const writers = new SessionWriters(new OrmLeaseStore(db), 'replica-1', 750, (f) => told(f));
      const result = await writers.run('t', 's', async () => {
        // The embedded engine stops under the writer; its next heartbeat cannot renew.
        await (db.orm.config.get('driverOptions') as { pglite: () => { close(): Promise<void> } }).pglite().close();
        const f = await failed;
        return `${f.what} ${f.tenantId}/${f.sessionId} ${f.err instanceof StoreUnavailable ? 'StoreUnavailable' : String(f.err)}`;
      });
      expect(result).toBe('writer lease t/s StoreUnavailable');
      await close().catch(() => {});
    });
  });
}
