// A node-postgres query that describes its result only once per statement. node-postgres sends a
// Describe of the portal with every execution of a named statement, and on each RowDescription
// that comes back it parses the field list and rebuilds the row template and per-column parsers
// (for the admission's ~30 columns, a few percent of a turn's CPU). A prepared statement's result
// shape cannot change (PostgreSQL refuses to run it if it would), so the first execution's shape
// is kept by statement name and later executions send bind, execute and sync only — what the
// PGlite door (bound-sql.ts) already does. Written against pg 8's Query (its `prepare` minus the
// describe); the store tests run every statement through it.

import pg, { type Pool, type PoolClient } from 'pg';

/** The row shape of one statement's result, as node-postgres's Result holds it. */
interface RowShape {
  fields: unknown[];
  parsers: unknown[] | undefined;
  empty: object | null;
}

/** node-postgres internals this file relies on (pg 8 `lib/query.js`, `lib/result.js`). */
interface PgResult {
  fields: unknown[];
  rows: unknown[];
  rowCount: number | null;
  _parsers: unknown[] | undefined;
  _prebuiltEmptyResultObject: object | null;
}
interface PgConnection {
  parsedStatements: Record<string, string>;
  submittedNamedStatements: Record<string, string>;
  parse(m: { text: string; name: string; types: unknown }): void;
  bind(m: { portal: string; statement: string; values: unknown; binary: unknown; valueMapper: unknown }): void;
  close(m: { type: 'S'; name: string }): void;
  sync(): void;
}
interface PgQuery {
  name: string;
  text: string;
  types: unknown;
  portal: string;
  values: unknown;
  binary: unknown;
  rows: unknown;
  callback: ((err: Error | null, res?: PgResult) => void) | undefined;
  _result: PgResult;
  _accumulateRows: unknown;
  prepare(connection: PgConnection): void;
  handleRowDescription(msg: unknown): void;
  handleError(err: unknown, connection: PgConnection): void;
  hasBeenParsed(connection: PgConnection): unknown;
  _getRows(connection: PgConnection, rows: unknown): void;
}

const rowShapes = new Map<string, RowShape>();
const prepareValue = (pg as unknown as { utils?: { prepareValue?: unknown } }).utils?.prepareValue;
const QueryBase = pg.Query as unknown as new (config: { name: string; text: string; values: unknown[] }) => PgQuery;

class ShapedQuery extends QueryBase {
  override prepare(connection: PgConnection): void {
    const shape = rowShapes.get(this.name);
    // Unknown shape, or a query that pages its rows: node-postgres's own path, with its describe.
    if (shape === undefined || this.rows || prepareValue === undefined) return super.prepare(connection);
    const r = this._result;
    r.fields = shape.fields;
    r._parsers = shape.parsers;
    r._prebuiltEmptyResultObject = shape.empty;
    // What handleRowDescription would have set for a query with a callback.
    this._accumulateRows = true;
    if (!this.hasBeenParsed(connection)) {
      connection.parse({ text: this.text, name: this.name, types: this.types });
      connection.submittedNamedStatements[this.name] = this.text;
    }
    try {
      connection.bind({ portal: this.portal, statement: this.name, values: this.values, binary: this.binary, valueMapper: prepareValue });
    } catch (err) {
      connection.close({ type: 'S', name: this.name });
      connection.sync();
      this.handleError(err, connection);
      return;
    }
    this._getRows(connection, undefined);
  }

  override handleRowDescription(msg: unknown): void {
    super.handleRowDescription(msg);
    const r = this._result;
    rowShapes.set(this.name, { fields: r.fields, parsers: r._parsers, empty: r._prebuiltEmptyResultObject });
  }
}

/** Runs the named statement `name` (text `text`) on a pool or on one of its checked-out clients. */
export function shapedQuery(client: Pool | PoolClient, viaPool: boolean, name: string, text: string, values: unknown[] | undefined): Promise<PgResult> {
  const q = new ShapedQuery({ name, text, values: values as unknown[] });
  // A pool hands its own callback to the query (and releases its client in it); a client's query
  // object needs ours.
  if (viaPool) return (client as Pool).query(q as never) as unknown as Promise<PgResult>;
  return new Promise((resolve, reject) => {
    q.callback = (err, res) => (err ? reject(err) : resolve(res!));
    (client as PoolClient).query(q as never);
  });
}
