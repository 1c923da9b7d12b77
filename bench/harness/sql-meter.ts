// SQL statements this process sends to the store, counted at the driver (statements, writes,
// transactions begun). The drivers are patched by `installSqlMeter`, which the bench's server
// start calls; nothing is patched by importing this module.

import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { preparedStatementText } from '../../src/store/bound-sql.js';

let statements = 0;
let writes = 0;
let begins = 0;

/** Classifies one statement's SQL text (string or `{ text }` config). */
function classify(arg: unknown): void {
  const text = typeof arg === 'string' ? arg : typeof (arg as { text?: unknown })?.text === 'string' ? (arg as { text: string }).text : '';
  if (/^\s*(begin|start transaction)\b/i.test(text)) begins++;
  else if (/\b(insert|update|delete)\b/i.test(text)) writes++;
}

type Fn = (this: unknown, ...args: unknown[]) => unknown;

function countCalls(proto: object, name: string, wrap?: (original: Fn) => Fn): void {
  const target = proto as Record<string, Fn>;
  const original = target[name]!;
  target[name] = wrap
    ? wrap(original)
    : function (this: unknown, ...args: unknown[]) {
        statements++;
        classify(args[0]);
        return original.apply(this, args);
      };
}

let installed = false;

/**
 * Patches the drivers to count statements; idempotent. Call it before any server starts: MikroORM
 * binds PGlite's `query` once when it builds its dialect. On PostgreSQL every statement, BEGIN and
 * COMMIT included, goes through `pg.Client#query`. On PGlite statements go through `PGlite#query`,
 * or, inside a transaction, through the transaction object's `query`; BEGIN and COMMIT count as two.
 * Hot-path statements on PGlite are prepared once and then run by a bind message sent through
 * `execProtocol` (src/store/bound-sql.ts): each bind counts as one statement, classified by the
 * text its statement name stands for; the one-off parse/describe exchange is not a statement run.
 */
export function installSqlMeter(): void {
  if (installed) return;
  installed = true;
  countCalls(pg.Client.prototype, 'query');
  countCalls(PGlite.prototype, 'query');
  countCalls(PGlite.prototype, 'exec');
  countCalls(
    PGlite.prototype,
    'transaction',
    (original) =>
      function (this: unknown, ...args: unknown[]) {
        statements += 2;
        begins++;
        const [callback, ...rest] = args as [(tx: { query: Fn }) => unknown, ...unknown[]];
        return original.call(
          this,
          (tx: { query: Fn }) => {
            const query = tx.query;
            tx.query = function (this: unknown, ...a: unknown[]) {
              statements++;
              classify(a[0]);
              return query.apply(tx, a);
            };
            return callback(tx);
          },
          ...rest,
        );
      },
  );
  countCalls(
    PGlite.prototype,
    'execProtocol',
    (original) =>
      function (this: unknown, ...args: unknown[]) {
        const message = args[0] as Uint8Array;
        if (message[0] === 0x42 /* 'B' */) {
          // Bind: type, int32 length, portal name (C string), statement name (C string).
          const portalEnd = message.indexOf(0, 5);
          const nameEnd = message.indexOf(0, portalEnd + 1);
          statements++;
          classify(preparedStatementText(Buffer.from(message.subarray(portalEnd + 1, nameEnd)).toString('utf8')) ?? '');
        }
        return original.apply(this, args);
      },
  );
}

/**
 * Statements this process sends to the store over a span: `const stop = statementCounter(); …;
 * stop()`. Counts the bench's own queries too, so keep them out of the span.
 */
export function sqlMeter(): () => { statements: number; writes: number; begins: number } {
  const s0 = statements;
  const w0 = writes;
  const b0 = begins;
  return () => ({ statements: statements - s0, writes: writes - w0, begins: begins - b0 });
}

export function statementCounter(): () => number {
  const start = statements;
  return () => statements - start;
}
