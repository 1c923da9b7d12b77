// Logs on stdout: JSON lines (pino) with level names, or, for a person at a terminal, one
// readable line per entry (LASH_LOG_FORMAT=auto picks that when stdout is a TTY). One root
// logger, children per request.

import { pino, type Logger } from 'pino';
import type { LogFormat, LogLevel } from './config.js';

export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream, format: LogFormat = 'json'): Logger {
  const out = destination ?? process.stdout;
  const pretty = format === 'pretty' || (format === 'auto' && (out as { isTTY?: boolean }).isTTY === true);
  const options = {
    level,
    base: { service: 'lash-grpc' },
    timestamp: pino.stdTimeFunctions.isoTime,
    // "level":"info" rather than pino's numbers, so logs read without a lookup table.
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return pino(options, (pretty ? prettyStream(out, (out as { isTTY?: boolean }).isTTY === true) : out) as never);
}

const COLOURS: Record<string, string> = { debug: '\x1b[90m', info: '\x1b[32m', warn: '\x1b[33m', error: '\x1b[31m', fatal: '\x1b[35m' };
const OMIT = new Set(['level', 'time', 'msg', 'service']);

/** `12:00:01.234 INFO  lash-grpc serving address=127.0.0.1:50051 …` from each JSON line pino writes. */
export function formatPretty(line: string, colour = false): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const level = String(entry.level ?? 'info');
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 23) : '';
  const label = level.toUpperCase().padEnd(5);
  const fields = Object.entries(entry)
    .filter(([k]) => !OMIT.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
    .join(' ');
  const shownLevel = colour ? `${COLOURS[level] ?? ''}${label}\x1b[0m` : label;
  return `${time} ${shownLevel} ${String(entry.msg ?? '')}${fields ? ` ${fields}` : ''}\n`;
}

function prettyStream(out: NodeJS.WritableStream, colour: boolean): { write(chunk: string): boolean } {
  return { write: (chunk: string) => out.write(formatPretty(chunk.trimEnd(), colour)) };
}

export type { Logger };
