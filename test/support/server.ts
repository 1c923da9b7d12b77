// Starts a real lash-grpc server on port 0 (in this process) against a fresh database of the
// given engine, with real gRPC clients connected to it.

import { loadConfig } from '../../src/config.js';
import { startApp, type App, type AppOptions } from '../../src/app.js';
import { createLogger } from '../../src/logger.js';
import { connect, type LashClients } from '../../src/client/promised.js';
import type { EngineTarget } from './engines.js';

export interface TestServer {
  app: App;
  clients: LashClients;
  databaseUrl?: string;
  dataDir: string;
  /** Stops the server but keeps its database, so a new server can start on the same data. */
  stop(): Promise<void>;
  /** Starts another server on the same database (after stop, or beside it on PostgreSQL). */
  restart(env?: Record<string, string>): Promise<TestServer>;
  /** Stops everything and drops the database. */
  close(): Promise<void>;
}

/** Options of a test server: the app's, and how its default `clients` connect (e.g. with an identity). */
export interface TestServerOptions extends AppOptions {
  clients?: (address: string) => LashClients;
}

export async function startTestServer(engine: EngineTarget, env: Record<string, string> = {}, options: TestServerOptions = {}): Promise<TestServer> {
  const target = await engine.provision();
  return startOn(target, env, options);
}

async function startOn(
  target: Awaited<ReturnType<EngineTarget['provision']>>,
  env: Record<string, string>,
  options: TestServerOptions = {},
): Promise<TestServer> {
  const config = loadConfig({
    LASH_LISTEN: '127.0.0.1:0',
    LASH_DATA_DIR: target.dataDir,
    LASH_LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error',
    LASH_SHUTDOWN_GRACE_MS: '2000',
    // In-process test servers stop at once when idle (the SIGTERM tests run real processes).
    LASH_SHUTDOWN_NOTICE_MS: '0',
    ...(target.databaseUrl ? { DATABASE_URL: target.databaseUrl } : {}),
    ...env,
  });
  const app = await startApp(config, createLogger(config.logLevel), options);
  const clients = options.clients ? options.clients(app.address) : connect(app.address);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    clients.close();
    await app.stop();
  };
  return {
    app,
    clients,
    databaseUrl: target.databaseUrl,
    dataDir: target.dataDir,
    stop,
    restart: (more = {}) => startOn({ ...target, cleanup: async () => {} }, { ...env, ...more }, options),
    async close() {
      await stop();
      await target.cleanup();
    },
  };
}

/** The gRPC status code and ErrorInfo reason of a rejected call. */
export async function rejection(promise: Promise<unknown>): Promise<{ code: number; reason?: string; message: string; metadata: Record<string, string> }> {
  const { errorInfoOf } = await import('../../src/grpc/errors.js');
  try {
    await promise;
  } catch (err) {
    const e = err as { code: number; details: string; metadata: import('@grpc/grpc-js').Metadata };
    const info = errorInfoOf(e);
    return { code: e.code, reason: info?.reason, message: e.details, metadata: info?.metadata ?? {} };
  }
  throw new Error('expected the call to be rejected, but it succeeded');
}
