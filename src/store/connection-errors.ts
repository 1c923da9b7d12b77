// Turns the PostgreSQL driver's connection failures into one line an operator can act on: which
// URL (never its password), what went wrong, and what to change. Errors that are not about
// reaching the database pass through unchanged.

import { ConfigError } from '../config.js';

/** The URL as it may be logged: the password replaced by `***`. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/** A ConfigError (exit 2) naming DATABASE_URL when `err` says the database cannot be reached as configured. */
export function unreachableStore(err: unknown, url: string): Error {
  const e = err as { code?: string; message?: string };
  const shown = redactUrl(url);
  let dbName = '';
  let host = '';
  try {
    const u = new URL(url);
    dbName = decodeURIComponent(u.pathname.replace(/^\//, ''));
    host = `${u.hostname}:${u.port || 5432}`;
  } catch {
    // shape is checked in config.ts; nothing more to say here
  }
  const hint = ((): string | undefined => {
    switch (e.code) {
      case 'ECONNREFUSED':
        return `nothing accepts connections at ${host}; check the host and port, and that PostgreSQL is running`;
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        return `the host name does not resolve; check the host part`;
      case 'ETIMEDOUT':
      case 'EHOSTUNREACH':
      case 'ENETUNREACH':
        return `${host} cannot be reached; check the host, the port and the network in between`;
      case '3D000':
        return `the database "${dbName}" does not exist; create it (createdb ${dbName}, or "create database ${dbName}") or fix the name`;
      case '28P01':
      case '28000':
        return `the server refused the credentials; check the user and password`;
      case '42501':
        return `the user lacks a privilege the migrations need (${e.message}); grant it, or run the migrations as the database owner`;
      default:
        return undefined;
    }
  })();
  if (!hint) return err instanceof Error ? err : new Error(String(err));
  return new ConfigError(`DATABASE_URL ${shown}: ${hint} (${e.code})`);
}
