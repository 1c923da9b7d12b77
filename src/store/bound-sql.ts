// The hot-path door to the database: SQL text with `$1`-style placeholders and the values sent
// apart from it, as the protocol's bind parameters. MikroORM's raw `execute` inlines every value
// into the text (so nothing is ever prepared and each call formats its SQL anew); here, on
// PostgreSQL, each distinct text becomes a named prepared statement on every pooled connection
// (parsed and planned once per connection, its result described once: pg-shaped-query.ts), and on
// PGlite the same through its protocol door (pglite-prepared.ts). Also the statement counter every path
// reports to (the ORM's included).

import type { Pool, PoolClient } from 'pg';
import type { PGlite, Transaction as PgliteTransaction } from '@electric-sql/pglite';
import type { InFlightGate } from './in-flight-gate.js';
import { shapedQuery } from './pg-shaped-query.js';
import { pglitePrepared, type Exclusive } from './pglite-prepared.js';

export type { Exclusive } from './pglite-prepared.js';

export interface SqlResult<R> {
  rows: R[];
  /** Rows a write touched (or rows returned by a read). */
  rowCount: number;
}

export interface SqlRunner {
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<SqlResult<R>>;
}

export interface BoundSql extends SqlRunner {
  /**
   * The interactive lane (ADR 0063): for short reads a unary caller is waiting for. On PGlite they
   * are run before any queued bulk statement; on PostgreSQL on connections of their own.
   */
  interactive: SqlRunner;
  /**
   * Runs `fn` in one transaction on one connection. Inside, use only `tx`: PGlite has a single
   * backend, so a statement started elsewhere would wait for this transaction to end.
   */
  transaction<T>(fn: (tx: SqlRunner) => Promise<T>): Promise<T>;
}

/**
 * Statements sent to the database (BEGIN and COMMIT count: each is a round trip), and
 * transactions that wrote (a writing statement on its own is one). Deterministic: counted where
 * the statement is sent, not sampled. Set `trace` to an array to record what each one was.
 */
export class StatementStats {
  statements = 0;
  writeTransactions = 0;
  trace: string[] | undefined;

  /** Whether each bound text writes: those texts are the store's fixed SQL, so this stays small. */
  private readonly boundWrites = new Map<string, boolean>();

  /** Counts one statement; true when it writes. */
  count(text: string, writes = WRITES.test(text)): boolean {
    this.statements++;
    if (this.trace) this.trace.push(text.replace(/\s+/g, ' ').trim().slice(0, 100));
    return writes;
  }

  /**
   * `count` for a text of the bound-SQL door, whose answer is kept per text: the commit's text is
   * some 4 KB, and the pattern ran over all of it on every turn. (ORM texts carry their values
   * inline, so they are not kept.)
   */
  countBound(text: string): boolean {
    let writes = this.boundWrites.get(text);
    if (writes === undefined) this.boundWrites.set(text, (writes = WRITES.test(text)));
    return this.count(text, writes);
  }
}

// A statement writes when it inserts, updates or deletes anywhere (also inside a CTE); `for update`
// locks without writing.
const WRITES = /\binsert\s+into\b|\bupdate\s+(?!of\b)\w+(\s+(as\s+)?\w+)?\s+set\b|\bdelete\s+from\b|\bpg_notify\s*\(/i;

/** Names of prepared statements, one per distinct text (the same on every connection). */
const names = new Map<string, string>();
const texts = new Map<string, string>();

/** The text a prepared statement name stands for (for tools that count statements at the driver). */
export const preparedStatementText = (name: string): string | undefined => texts.get(name);
function statementName(text: string): string {
  let name = names.get(text);
  if (!name) {
    name = `lash_${names.size.toString(36)}`;
    names.set(text, name);
    texts.set(name, text);
  }
  return name;
}

/**
 * `bulk`: how many statements and transactions of the main pool may be at the database at once
 * (ADR 0083); the interactive lane does not wait for it.
 */
export function postgresSql(pool: Pool, stats: StatementStats, interactivePool: Pool = pool, bulk?: InFlightGate): BoundSql {
  const gated = <T>(fn: () => Promise<T>): Promise<T> => (bulk ? bulk.run(fn) : fn());
  // Each statement's result is described once (pg-shaped-query.ts), as on PGlite below.
  const run = async <R>(client: Pool | PoolClient, viaPool: boolean, text: string, params: readonly unknown[] | undefined) => {
    const res = await shapedQuery(client, viaPool, statementName(text), text, params as unknown[]);
    return { rows: res.rows as R[], rowCount: res.rowCount ?? res.rows.length };
  };
  return {
    async query<R>(text: string, params?: readonly unknown[]) {
      if (stats.countBound(text)) stats.writeTransactions++;
      return gated(() => run<R>(pool, true, text, params));
    },
    interactive: {
      async query<R>(text: string, params?: readonly unknown[]) {
        if (stats.countBound(text)) stats.writeTransactions++;
        return run<R>(interactivePool, true, text, params);
      },
    },
    transaction<T>(fn: (tx: SqlRunner) => Promise<T>): Promise<T> {
      return gated(() => transaction(fn));
    },
  };
  async function transaction<T>(fn: (tx: SqlRunner) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    let wrote = false;
    const tx: SqlRunner = {
      query: <R>(text: string, params?: readonly unknown[]) => {
        wrote = stats.countBound(text) || wrote;
        return run<R>(client, false, text, params);
      },
    };
    let broken = false;
    try {
      stats.count('begin');
      await client.query('begin');
      const result = await fn(tx);
      stats.count('commit');
      await client.query('commit');
      if (wrote) stats.writeTransactions++;
      return result;
    } catch (err) {
      stats.count('rollback');
      await client.query('rollback').catch(() => (broken = true));
      throw err;
    } finally {
      client.release(broken);
    }
  }
}

export function pgliteSql(db: PGlite, stats: StatementStats, exclusive: Exclusive): BoundSql {
  const run = async <R>(client: PGlite | PgliteTransaction, text: string, params: readonly unknown[] | undefined) => {
    const res = await client.query<R>(text, params as unknown[]);
    return { rows: res.rows, rowCount: res.affectedRows ?? res.rows.length };
  };
  const prepared = pglitePrepared(db, exclusive, statementName);
  return {
    async query<R>(text: string, params?: readonly unknown[]) {
      if (stats.countBound(text)) stats.writeTransactions++;
      return prepared<R>('bulk', text, params ?? []);
    },
    interactive: {
      async query<R>(text: string, params?: readonly unknown[]) {
        if (stats.countBound(text)) stats.writeTransactions++;
        return prepared<R>('interactive', text, params ?? []);
      },
    },
    async transaction<T>(fn: (tx: SqlRunner) => Promise<T>): Promise<T> {
      let wrote = false;
      stats.count('begin');
      try {
        const result = await db.transaction((t) =>
          fn({
            query: <R>(text: string, params?: readonly unknown[]) => {
              wrote = stats.countBound(text) || wrote;
              return run<R>(t, text, params);
            },
          }),
        );
        stats.count('commit');
        if (wrote) stats.writeTransactions++;
        return result;
      } catch (err) {
        stats.count('rollback');
        throw err;
      }
    },
  };
}

type OrmConnection = {
  execute(query: unknown, params?: unknown, method?: unknown, ctx?: unknown, ...rest: unknown[]): Promise<unknown>;
  begin(options?: { ctx?: unknown }): Promise<unknown>;
  commit(ctx: unknown, ...rest: unknown[]): Promise<void>;
  rollback(ctx: unknown, ...rest: unknown[]): Promise<void>;
  prepareQuery(query: unknown, params?: unknown): { query: unknown };
};

/**
 * Counts what goes through MikroORM's connection too (cold paths, and whatever hot path still
 * uses it), so a count covers every statement. Wraps the one connection object the ORM shares.
 */
export function countOrmStatements(connection: unknown, stats: StatementStats): void {
  const c = connection as OrmConnection;
  const execute = c.execute.bind(c);
  const begin = c.begin.bind(c);
  const commit = c.commit.bind(c);
  const rollback = c.rollback.bind(c);
  c.execute = (query, params, method, ctx, ...rest) => {
    const text = typeof query === 'string' ? query : String(c.prepareQuery(query, params).query);
    // Inside an ORM transaction the write is counted once, at its commit.
    if (stats.count(text) && !ctx) stats.writeTransactions++;
    return execute(query, params, method, ctx, ...rest);
  };
  c.begin = (options) => {
    stats.count('begin');
    return begin(options);
  };
  c.commit = (ctx, ...rest) => {
    stats.count('commit');
    // ORM units of work write through the ORM's own compiled queries: count them as writing.
    if (ctx && typeof ctx === 'object' && !('savepointName' in ctx)) stats.writeTransactions++;
    return commit(ctx, ...rest);
  };
  c.rollback = (ctx, ...rest) => {
    stats.count('rollback');
    return rollback(ctx, ...rest);
  };
}
