// Opens the database: embedded PGlite in a local folder by default, PostgreSQL when a URL is
// given. Runs the migrations at start-up; on PostgreSQL under an advisory lock so replicas that
// start together do not race. Besides MikroORM (entities, migrations, cold paths) it hands out
// `sql`, the hot-path door with real bind parameters (see bound-sql.ts), and counts every
// statement either path sends.

import { join } from 'node:path';
import { MikroORM, type EntityManager } from '@mikro-orm/core';
import { PgliteDriver } from '@mikro-orm/pglite';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { PGlite } from '@electric-sql/pglite';
import { allEntities as entities } from './entities.js';
import { migrationsList } from './migrations.js';
import { lockDataDir, type LockOptions } from './data-dir-lock.js';
import { unreachableStore } from './connection-errors.js';
import { countOrmStatements, pgliteSql, postgresSql, StatementStats, type BoundSql, type Exclusive } from './bound-sql.js';
import { InFlightGate } from './in-flight-gate.js';
import { LaneGate } from './lane-gate.js';
import pg from 'pg';

export type Engine = 'pglite' | 'postgresql';

export interface DatabaseOptions {
  databaseUrl?: string;
  dataDir: string;
  /** Folder-less in-memory PGlite (tests only). */
  inMemory?: boolean;
  poolMax?: number;
  /**
   * PostgreSQL: connections kept apart for the interactive lane (short reads a unary caller waits
   * for), so they never queue behind bulk work waiting for the main pool. 0 shares the main pool.
   */
  interactivePoolMax?: number;
  /**
   * PostgreSQL: most hot-path statements and transactions at the database at once (ADR 0083);
   * 0 leaves it to the pool.
   */
  bulkInFlight?: number;
  /** How long a statement is at the database before it stops counting against `bulkInFlight`. */
  bulkOverdueMs?: number;
  /** PGlite: most milliseconds statements run back to back before the event loop gets a turn. */
  sliceMs?: number;
  log?: (message: string) => void;
  /** The embedded folder's lock: heartbeat and host name (see data-dir-lock.ts). */
  lock?: LockOptions;
}

export interface Database {
  engine: Engine;
  orm: MikroORM;
  /** A fresh EntityManager (own identity map and unit of work), for ORM operations. */
  em(): EntityManager;
  /** The shared connection, for plain SQL: no EntityManager fork per statement. */
  conn(): ReturnType<EntityManager['getConnection']>;
  /** Hot-path SQL with real bind parameters (`$1`…), prepared on PostgreSQL. */
  sql: BoundSql;
  /** PGlite only: the door every statement passes (lanes, time slices; ADR 0063). */
  gate?: LaneGate;
  /** PostgreSQL only: the hold on hot-path statements at the database at once (ADR 0083). */
  inFlight?: InFlightGate;
  /** Statements and writing transactions sent to this database, by either path. */
  stats: StatementStats;
  close(): Promise<void>;
}

const MIGRATION_LOCK_KEY = 4_711_2026;

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  const log = options.log ?? (() => {});
  const common = {
    entities,
    extensions: [Migrator],
    // No schema snapshot files: migrations are hand-written and listed statically.
    migrations: { migrationsList, tableName: 'lash_migrations', transactional: true, snapshot: false },
    debug: false,
    allowGlobalContext: false,
    logger: log,
    // The schema is owned by migrations; never let the ORM discover or diff it at start-up.
    ensureDatabase: false,
  };
  let orm: MikroORM;
  let release: () => void = () => {};
  let pglite: PGlite | undefined;
  let gate: LaneGate | undefined;
  let interactivePool: pg.Pool | undefined;
  let inFlight: InFlightGate | undefined;
  let exclusive: Exclusive | undefined;
  if (options.databaseUrl) {
    try {
      orm = await MikroORM.init({ ...common, driver: PostgreSqlDriver, clientUrl: options.databaseUrl, pool: { min: 0, max: options.poolMax ?? 10 } } as never);
    } catch (err) {
      throw unreachableStore(err, options.databaseUrl);
    }
    try {
      await migratePostgres(orm);
    } catch (err) {
      await orm.close(true).catch(() => {});
      throw unreachableStore(err, options.databaseUrl);
    }
  } else {
    if (!options.inMemory) release = await lockDataDir(options.dataDir, options.lock);
    try {
      pglite = await PGlite.create(options.inMemory ? {} : { dataDir: join(options.dataDir, 'pgdata') });
      const instance = pglite;
      ({ gate, exclusive } = installGate(instance, options.sliceMs ?? DEFAULT_SLICE_MS));
      orm = await MikroORM.init({ ...common, driver: PgliteDriver, dbName: 'lash', driverOptions: { pglite: () => instance } } as never);
      await orm.migrator.up();
    } catch (err) {
      await pglite?.close().catch(() => {});
      release();
      throw err;
    }
  }
  const engine: Engine = options.databaseUrl ? 'postgresql' : 'pglite';
  const stats = new StatementStats();
  countOrmStatements(orm.em.getConnection(), stats);
  let sql: BoundSql;
  if (pglite) sql = pgliteSql(pglite, stats, exclusive!);
  else {
    const main = await (orm.em.getConnection() as unknown as { getNativeClient(): Promise<pg.Pool> }).getNativeClient();
    const lanes = options.interactivePoolMax ?? DEFAULT_INTERACTIVE_POOL;
    if (lanes > 0) {
      // The ORM's own pool options (connection, TLS, type parsers), so rows read the same on both pools.
      const ormOptions = (orm.em.getConnection() as unknown as { mapOptions(o: object): pg.PoolConfig }).mapOptions({
        min: 0,
        max: lanes,
        idleTimeoutMillis: 30_000,
      });
      interactivePool = new pg.Pool(ormOptions);
      interactivePool.on('error', (err) => log(`interactive pool: ${err.message}`));
    }
    const bulk = options.bulkInFlight ?? DEFAULT_BULK_IN_FLIGHT;
    if (bulk > 0) inFlight = new InFlightGate(bulk, options.bulkOverdueMs ?? DEFAULT_BULK_OVERDUE_MS);
    sql = postgresSql(main, stats, interactivePool ?? main, inFlight);
  }
  return {
    engine,
    orm,
    sql,
    stats,
    gate,
    inFlight,
    em: () => orm.em.fork(),
    conn: () => orm.em.getConnection(),
    async close() {
      await orm.close(true);
      await interactivePool?.end().catch(() => {});
      if (pglite && !pglite.closed) await pglite.close();
      release();
    },
  };
}

const DEFAULT_SLICE_MS = 10;
const DEFAULT_INTERACTIVE_POOL = 2;
const DEFAULT_BULK_IN_FLIGHT = 2;
const DEFAULT_BULK_OVERDUE_MS = 100;

/**
 * Puts the gate in front of PGlite's own transaction lock, which every entry point takes (query,
 * exec, transaction, the prepared path, and so MikroORM's driver): by default as bulk work; the
 * interactive lane enters the gate directly (bound-sql.ts). PGlite's lock then never has a queue.
 */
function installGate(db: PGlite, sliceMs: number): { gate: LaneGate; exclusive: Exclusive } {
  const gate = new LaneGate(sliceMs);
  const locks = db as unknown as { _runExclusiveTransaction<T>(fn: () => Promise<T>): Promise<T> };
  const own = locks._runExclusiveTransaction.bind(db);
  locks._runExclusiveTransaction = (fn) => gate.run('bulk', () => own(fn));
  return { gate, exclusive: (lane, fn) => gate.run(lane, () => own(fn)) };
}

async function migratePostgres(orm: MikroORM): Promise<void> {
  // The transaction-scoped advisory lock serialises replicas; the loser finds nothing pending.
  await orm.em.fork().transactional(async (tx) => {
    await tx.getConnection().execute(`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`, [], 'all', tx.getTransactionContext());
    await orm.migrator.up({ transaction: tx.getTransactionContext() });
  });
}
