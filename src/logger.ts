// Structured JSON logs (pino) on stdout; one root logger, children per request.

import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.js';

export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream): Logger {
  return pino({ level, base: { service: 'lash-grpc' }, timestamp: pino.stdTimeFunctions.isoTime }, destination as never);
}

export type { Logger };
