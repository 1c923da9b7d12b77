// Named prepared statements on PGlite, with the wire work done here rather than by PGlite's
// generic helpers (issue 11: PGlite within 1.5× of PostgreSQL's turn rate). PGlite runs in the
// server's own thread, so every microsecond of JavaScript around a statement is event-loop time.
//
// PGlite's `query` parses and plans the text on every call (an unnamed statement, five protocol
// exchanges). Here each distinct text is parsed once (with its parameter types learnt from a
// describe) and each call sends bind, execute and sync in ONE protocol exchange (ADR 0059). The
// portal is described only at a text's first run: a prepared statement's result type cannot
// change, so later runs reuse that row description. What this file does itself, because the
// profile put it on the turn's path (bench/README, *PGlite against PostgreSQL*):
//
// - **The Bind message** is written straight into one buffer (statement name, text-format
//   values). PGlite's serializer writes through a growable writer whose private fields compile
//   to WeakMap look-ups per byte run, and copies the values twice.
// - **Rows** are built from the statement's kept column names and type parsers. PGlite's
//   `parseResults` copies its whole parser table (~300 entries) into a new object on every
//   call, and builds each row through `Object.fromEntries` over a mapped array.
// - **No file-system sync after each statement** when the file system's sync does nothing (the
//   Node.js folder and the in-memory store: PGlite's NodeFS writes through to the OS with every
//   write call and has nothing to flush). A file system with a real sync keeps it.
//
// Run under PGlite's own locks, as its `query` is, so a statement never lands inside another
// caller's transaction (and through the gate's lane, as every entry is).

import { MemoryFS, parse, protocol, types, type PGlite } from '@electric-sql/pglite';
import type { Lane } from './lane-gate.js';

type BackendMessage = Parameters<typeof parse.parseResults>[0][number];
type Parser = (value: string, typeId: number) => unknown;

/** Runs `fn` holding PGlite's backend, in a lane of the gate (database.ts installs it). */
export type Exclusive = <T>(lane: Lane, fn: () => Promise<T>) => Promise<T>;

export interface PreparedResult<R> {
  rows: R[];
  /** The command tag's count: rows written, or rows a read returned. */
  rowCount: number;
}

/** What is kept per statement text. */
interface Statement {
  /** The statement name, as the Bind message's bytes (NUL-terminated). */
  nameBytes: Buffer;
  /** Serialiser per parameter, from the types the describe reported. */
  serializers: (((v: unknown) => string) | undefined)[];
  /** The result's columns, learnt at the first run (null: the statement returns none). */
  shape: RowShape | null | undefined;
}

interface RowShape {
  names: string[];
  typeIds: number[];
  parsers: (Parser | undefined)[];
  /** A column named `__proto__` cannot be set by assignment: such rows take `Object.fromEntries`. */
  protoKey: boolean;
}

// Execute (unnamed portal, all rows) and Sync; Describe of the unnamed portal.
const EXECUTE_SYNC = Buffer.from([69, 0, 0, 0, 9, 0, 0, 0, 0, 0, 83, 0, 0, 0, 4]);
const DESCRIBE_PORTAL = Buffer.from([68, 0, 0, 0, 6, 80, 0]);

/**
 * Whether `db`'s file system has a sync that does something. PGlite's base file system (what
 * NodeFS and MemoryFS use) has an empty one; a file system that overrides it (IndexedDB, OPFS) is
 * synced after each statement as PGlite's own `query` does.
 */
export function fileSystemSyncs(db: PGlite): boolean {
  const fs = (db as unknown as { fs?: { syncToFs?: unknown } }).fs;
  return fs?.syncToFs !== (MemoryFS.prototype as unknown as { syncToFs: unknown }).syncToFs;
}

/**
 * The prepared-statement runner for `db`. `name(text)` gives the statement name of a text (shared
 * with the PostgreSQL path and the bench's statement meter).
 */
export function pglitePrepared(db: PGlite, exclusive: Exclusive, name: (text: string) => string) {
  const statements = new Map<string, Statement>();
  const syncToFs = fileSystemSyncs(db);
  const parsers = db.parsers as Record<number, Parser | undefined>;
  const defaultParsers = (types as unknown as { parsers?: Record<number, Parser | undefined> }).parsers ?? {};
  const serializers = db.serializers as Record<number, ((v: unknown) => string) | undefined>;

  const prepare = async (text: string): Promise<Statement> => {
    const statementName = name(text);
    const messages = await db.execProtocolStream(
      Buffer.concat([
        protocol.serialize.parse({ name: statementName, text }),
        protocol.serialize.describe({ type: 'S', name: statementName }),
        protocol.serialize.sync(),
      ]),
      { syncToFs },
    );
    const typeIds = parse.parseDescribeStatementResults(messages);
    const statement: Statement = {
      nameBytes: Buffer.from(`${statementName}\0`, 'utf8'),
      serializers: typeIds.map((t) => serializers[t]),
      shape: undefined,
    };
    statements.set(text, statement);
    return statement;
  };

  const shapeOf = (description: BackendMessage | undefined): RowShape | null => {
    if (description === undefined) return null;
    const fields = (description as unknown as { fields: { name: string; dataTypeID: number }[] }).fields;
    const typeIds = fields.map((f) => f.dataTypeID);
    const names = fields.map((f) => f.name);
    return { names, typeIds, parsers: typeIds.map((t) => parsers[t] ?? defaultParsers[t]), protoKey: names.includes('__proto__') };
  };

  return <R>(lane: Lane, text: string, params: readonly unknown[]): Promise<PreparedResult<R>> =>
    exclusive(lane, () =>
      db._runExclusiveQuery(async () => {
        // execProtocol skips PGlite's own closed check; say what `query` would say.
        if (db.closed) throw new Error('PGlite is closed');
        const statement = statements.get(text) ?? (await prepare(text));
        const first = statement.shape === undefined;
        const messages = await db.execProtocolStream(bindMessage(statement, params, first), { syncToFs });
        if (first) statement.shape = shapeOf(messages.find((m) => m.name === 'rowDescription'));
        return resultOf<R>(messages, statement.shape!);
      }),
    );
}

/**
 * Bind (unnamed portal, text format for every parameter and every result column), then Describe
 * of the portal when `describe`, then Execute and Sync: one buffer, written once.
 */
export function bindMessage(statement: Pick<Statement, 'nameBytes' | 'serializers'>, params: readonly unknown[], describe: boolean): Buffer {
  const count = params.length;
  const values: (string | null)[] = new Array(count);
  // Type 'B', length, empty portal name, statement name, a text format code per parameter (as
  // PGlite's serializer writes them), parameter count.
  let size = 1 + 4 + 1 + statement.nameBytes.length + 2 + 2 * count + 2;
  for (let i = 0; i < count; i++) {
    const v = params[i];
    if (v === null || v === undefined) {
      values[i] = null;
      size += 4;
      continue;
    }
    const serialize = statement.serializers[i];
    const s = serialize ? serialize(v) : String(v);
    values[i] = s;
    size += 4 + Buffer.byteLength(s, 'utf8');
  }
  size += 2; // no result format codes (all text)
  const tail = describe ? DESCRIBE_PORTAL.length + EXECUTE_SYNC.length : EXECUTE_SYNC.length;
  const out = Buffer.allocUnsafe(size + tail);
  let at = 0;
  out[at++] = 66;
  out.writeInt32BE(size - 1, at);
  at += 4;
  out[at++] = 0;
  at += statement.nameBytes.copy(out, at);
  out.writeInt16BE(count, at);
  out.fill(0, at + 2, at + 2 + 2 * count);
  at += 2 + 2 * count;
  out.writeInt16BE(count, at);
  at += 2;
  for (let i = 0; i < count; i++) {
    const s = values[i]!;
    if (s === null) {
      out.writeInt32BE(-1, at);
      at += 4;
      continue;
    }
    const n = out.write(s, at + 4, 'utf8');
    out.writeInt32BE(n, at);
    at += 4 + n;
  }
  out.writeInt16BE(0, at);
  at += 2;
  if (describe) at += DESCRIBE_PORTAL.copy(out, at);
  EXECUTE_SYNC.copy(out, at);
  return out;
}

/**
 * Rows and count from the reply to one Bind/Execute: data rows parsed by the shape's parsers (as
 * PGlite's `parseResults` would: null stays null, a type without a parser stays text), the count
 * from the command tag.
 */
export function resultOf<R>(messages: readonly BackendMessage[], shape: RowShape | null): PreparedResult<R> {
  const rows: R[] = [];
  let rowCount: number | undefined;
  for (const m of messages) {
    if (m.name === 'dataRow') {
      if (shape === null) continue;
      rows.push(rowOf(shape, (m as unknown as { fields: (string | null)[] }).fields) as R);
    } else if (m.name === 'commandComplete') {
      // The tag's last word is its count ("INSERT 0 3", "SELECT 2"); a tag without one counts 0.
      const text = (m as unknown as { text: string }).text;
      const n = parseInt(text.slice(text.lastIndexOf(' ') + 1), 10);
      rowCount = Number.isNaN(n) ? 0 : n;
    }
  }
  // No command tag: the statement did not complete (PGlite throws on errors before this), no rows.
  if (rowCount === undefined) return { rows: [], rowCount: 0 };
  return { rows, rowCount };
}

function rowOf(shape: RowShape, fields: (string | null)[]): Record<string, unknown> {
  const { names, typeIds, parsers } = shape;
  if (shape.protoKey) {
    return Object.fromEntries(fields.map((v, i) => [names[i], v === null ? null : parsers[i] ? parsers[i](v, typeIds[i]!) : v]));
  }
  const row: Record<string, unknown> = {};
  for (let i = 0; i < fields.length; i++) {
    const v = fields[i]!;
    const parser = parsers[i];
    row[names[i]!] = v === null ? null : parser ? parser(v, typeIds[i]!) : v;
  }
  return row;
}
