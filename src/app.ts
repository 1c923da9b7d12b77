// The composition root: config → store → domain services → gRPC handlers → server. main.ts runs
// it as a process; tests start it in-process on port 0.

import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { AdminServiceService } from '../gen/lash/v1/admin_service.js';
import { QueueServiceService } from '../gen/lash/v1/queue_service.js';
import { SessionServiceService } from '../gen/lash/v1/session_service.js';
import { TurnServiceService } from '../gen/lash/v1/turn_service.js';
import { HealthService } from '../gen/grpc/health/v1/health.js';
import type { Config } from './config.js';
import { DEFAULT_CONTEXT_WINDOW } from './domain/policy.js';
import { DomainError } from './domain/errors.js';
import { SESSION_DELETED_TOPIC, SessionService } from './domain/sessions.js';
import { adminServiceHandlers } from './grpc/admin-service.js';
import { guardDecoding } from './grpc/decode-guard.js';
import type { CallEnv } from './grpc/call.js';
import { Authenticator } from './auth/authenticator.js';
import { guardService, principalOf, type GuardEnv } from './auth/guard.js';
import { HealthState, healthHandlers } from './grpc/health.js';
import { addReflection } from './grpc/reflection.js';
import { sessionServiceHandlers } from './grpc/session-service.js';
import { queueServiceHandlers } from './grpc/queue-service.js';
import { DbQueueStore } from './store/queue-store.js';
import { QueueService } from './domain/queue/service.js';
import { QueueWorkers } from './domain/queue/workers.js';
import { turnServiceHandlers } from './grpc/turn-service.js';
import { openDatabase, type Database } from './store/database.js';
import { OrmSessionStore } from './store/session-store.js';
import { DbAdmissionStore } from './store/admission-store.js';
import { OrmBlobStore, OrmCancelStore, OrmCompletionStore, OrmLeaseStore } from './store/turn-store.js';
import { MemoryBus } from './bus/memory-bus.js';
import { BUS_CHANNEL, PgBus } from './bus/pg-bus.js';
import { buildProviders } from './providers/registry.js';
import { BuiltinTools } from './tools/builtin.js';
import { RemoteToolHosts } from './domain/tools/remote-hosts.js';
import { ToolAdmin } from './domain/admin/tool-state.js';
import { ChildSessions } from './domain/admin/children.js';
import { SessionWriters } from './domain/session-writers.js';
import { measuredFeedStore } from './metrics/measured-feed-store.js';
import { LashMetrics } from './metrics/metrics.js';
import { startMetricsServer, type MetricsServer } from './metrics/server.js';
import { startTracing } from './telemetry/otel.js';
import { runChildTool } from './domain/tools/run-child.js';
import { TurnService } from './domain/turns/runner.js';
import { LimitedTurns, TurnSlots } from './domain/turns/turn-slots.js';
import { interruptedTurns } from './domain/turns/interrupted.js';
import { ThreadedRunner } from './sandbox/threaded.js';
import { FeedAppender } from './domain/feed/appender.js';
import { FeedHub } from './domain/feed/hub.js';
import type { FeedStore } from './domain/ports.js';
import { FeedObservations } from './domain/feed/observation.js';
import { DbFeedStore } from './store/feed-store.js';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';

export const LASH_SERVICES = ['lash.v1.SessionService', 'lash.v1.TurnService', 'lash.v1.QueueService', 'lash.v1.AdminService'];

export interface App {
  port: number;
  address: string;
  engine: Database['engine'];
  health: HealthState;
  db: Database;
  sessions: SessionService;
  turns: TurnService;
  /** Slots of RunTurn/StartTurn turns (its stats show turns running, waiting and refused). */
  turnSlots: TurnSlots;
  /** The rlm sandbox's thread pool (its stats show what it holds and refused). */
  sandbox: ThreadedRunner;
  feed: { store: FeedStore; appender: FeedAppender; hub: FeedHub };
  replicaId: string;
  /** Where GET /metrics is served, when LASH_METRICS_LISTEN is set. */
  metricsAddress?: string;
  /** Graceful stop: NOT_SERVING → drain calls → close the store. Idempotent. */
  stop(): Promise<void>;
}

export interface AppOptions {
  /** Embedded engine without a folder (tests). */
  inMemory?: boolean;
}

export async function startApp(config: Config, log: Logger, options: AppOptions = {}): Promise<App> {
  const started = performance.now();
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, inMemory: options.inMemory, log: (m) => log.debug({ component: 'orm' }, m) });
  log.info({ engine: db.engine, ms: Math.round(performance.now() - started) }, 'store ready, migrations applied');
  const store = new OrmSessionStore(db);
  const replicaId = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const leases = new OrmLeaseStore(db);
  const sessions = new SessionService(store, {
    policy: { model: { id: config.defaultModel, contextWindowTokens: DEFAULT_CONTEXT_WINDOW }, providerId: config.defaultProvider, autonomous: false },
    availableModes: config.modes,
    availableProviders: config.availableProviders,
  }, new SessionWriters(leases, replicaId, config.leaseTtlMs));
  const bus = db.engine === 'postgresql'
    ? new PgBus(config.databaseUrl!, async (payload) => void (await db.conn().execute('select pg_notify(?, ?)', [BUS_CHANNEL, payload])), log.child({ component: 'bus' }))
    : new MemoryBus();
  if (bus instanceof PgBus) await bus.whenReady();
  const completions = new OrmCompletionStore(db, bus);
  // On PostgreSQL the feed append sends the bus's wake-up itself (same statement, same format).
  const queueStore = new DbQueueStore(db);
  const dbFeedStore = new DbFeedStore(db, bus instanceof PgBus ? BUS_CHANNEL : undefined);
  const hub = new FeedHub(dbFeedStore);
  // Metrics only when an endpoint is asked for; queue depth and observers are read at scrape time.
  const metrics = config.metricsListen
    ? new LashMetrics({ queueDepth: () => queueStore.depth(), observers: () => hub.listenerCount, feedBacklog: () => ({ events: appender.pendingEvents, failingSessions: appender.failingLanes }), sandbox: () => codeRunner.stats(), turnSlots: () => turnSlots.stats() })
    : undefined;
  const feedStore = metrics ? measuredFeedStore(dbFeedStore, metrics) : dbFeedStore;
  const appender: FeedAppender = new FeedAppender(feedStore, bus, hub, { lingerMs: config.feed.lingerMs, maxBatch: 500, onError: (err) => log.warn({ err }, 'feed append failed; retrying') });
  const offFeed = bus.subscribe('feed', (p) => hub.notify(String(p.tenantId), String(p.sessionId), BigInt(String(p.upTo))));
  // A delete on any replica ends this replica's observers of that session.
  const offDeleted = bus.subscribe(SESSION_DELETED_TOPIC, (p) => hub.deleted(String(p.tenantId), String(p.sessionId), Number(p.epoch)));
  sessions.announceDeleted = (d) => void bus.publish(SESSION_DELETED_TOPIC, { ...d }).catch((err: unknown) => log.warn({ err }, 'announcing a delete failed'));
  sessions.feed = appender;
  const observations = new FeedObservations(sessions, feedStore, hub, { heartbeatMs: config.feed.heartbeatMs, snapshotMessages: 200, replayPage: 1_000 });
  const shutdownHooks = new Set<() => void>();
  const turnSlots = new TurnSlots(config.turnSlots);
  const codeRunner = new ThreadedRunner({ ...config.sandboxPool, idleThreads: Math.min(2, config.sandboxPool.maxThreads) });
  const remoteTools = new RemoteToolHosts();
  const tracing = config.tracing ? startTracing(config.tracing) : undefined;
  const children = new ChildSessions(sessions);
  // run_child needs the turn service, which needs the tool sources: bound once it exists.
  const late: { turns?: TurnService } = {};
  const toolSources = [new BuiltinTools(config.tools, [runChildTool({ sessions, children, turns: () => late.turns!, limits: config.children, onRejected: metrics ? (limit) => metrics.rejected(limit) : undefined })]), remoteTools];
  const turns = new TurnService({
    sessions,
    store,
    leases,
    admissions: new DbAdmissionStore(db),
    cancels: new OrmCancelStore(db),
    blobs: new OrmBlobStore(db),
    completions,
    bus,
    providers: buildProviders(config.providers),
    toolSources,
    serverPrompt: { slots: [{ slot: 'intro', reset: false, contributions: [{ priority: 0, content: 'You are a helpful assistant. Answer accurately and concisely.' }] }] },
    replicaId,
    feed: appender,
    queue: queueStore,
    claimTtlMs: config.queue.claimTtlMs,
    joinLimit: config.queue.joinLimit,
    wasInterrupted: interruptedTurns(feedStore),
    retry: config.providerRetry,
    cancelGraceMs: config.cancelGraceMs,
    maxIterations: config.maxIterations,
    codeRunner,
    sandboxLimits: config.sandbox,
    tracer: tracing?.tracer,
    onCommitted: metrics ? (result, seconds) => metrics.turn(result, seconds) : undefined,
    onError: (err, context) => (err instanceof DomainError ? log.info({ reason: err.reason, ...context }, 'turn rejected') : log.error({ err, ...context }, 'turn failed')),
  });
  late.turns = turns;
  // Admin writers take their lease and read the head in one statement, as turns do.
  const admissions = new DbAdmissionStore(db);
  sessions.admit = (tenantId, sessionId, owner, ttlMs) => admissions.admit({ tenantId, sessionId, owner, ttlMs });
  sessions.runningHere = (tenantId, sessionId) => turns.registry.active(tenantId, sessionId).length > 0;
  // A delete cancels the session's running turns first (they commit as cancelled), see ADR 0033.
  sessions.stopTurns = async (ctx, sessionId) => {
    await turns.cancelRunning(ctx, sessionId).catch((err: unknown) => {
      if (!(err instanceof DomainError && err.reason === 'SESSION_NOT_FOUND')) throw err;
    });
  };
  const queue = new QueueService({ store: queueStore, sessions: store, feed: appender, bus, pollMs: Math.max(config.queue.pollMs, 1_000) });
  const workers = new QueueWorkers(queueStore, bus, {
    workers: config.queueWorkers,
    pollMs: config.queue.pollMs,
    drain: (ctx, sessionId) => turns.drain(ctx, sessionId, { skipIfBusy: true }),
    onError: (err) => log.warn({ err }, 'queue worker drain failed'),
  });
  const health = new HealthState(LASH_SERVICES);
  const observe = metrics ? (method: string, code: string, seconds: number) => metrics.call(method, code, seconds) : undefined;
  const env: CallEnv = { log, principalOf, observe };
  // Every service is registered through the guard: no handler runs before its caller is known.
  const authenticator = new Authenticator(config.auth, log.child({ component: 'auth' }));
  const guard: GuardEnv = { authenticator, log: log.child({ component: 'auth' }), observe };
  if (config.auth.mode === 'anonymous') {
    log.warn({ because: config.auth.anonymousBecause, listen: `${config.listen.host}:${config.listen.port}` }, 'AUTHENTICATION IS OFF: every caller is anonymous with all roles in tenant "default"; configure LASH_AUTH_TOKENS_FILE, LASH_AUTH_JWKS or LASH_AUTH_IDENTITIES_FILE before exposing this server');
  }

  const server = new Server({
    // Keepalives detect half-open connections on long streams; clients may ping every 10 s.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 10_000,
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
  });
  const add = (definition: ServiceDefinition, impl: UntypedServiceImplementation, open = false) => server.addService(definition, guardService(guard, definition, impl, open));
  add(guardDecoding(SessionServiceService), sessionServiceHandlers(env, sessions, observations, { items: config.feed.observerBuffer, bytes: config.feed.observerBufferBytes, stallMs: config.feed.observerStallMs }, (fn) => shutdownHooks.add(fn)));
  add(guardDecoding(TurnServiceService), turnServiceHandlers(env, turns, remoteTools, completions, new LimitedTurns(turns, turnSlots)));
  add(guardDecoding(QueueServiceService), queueServiceHandlers(env, queue, turns));
  add(guardDecoding(AdminServiceService), adminServiceHandlers(env, sessions, queue, new ToolAdmin(sessions, toolSources), children, turns));
  add(HealthService, healthHandlers(health), config.auth.open.health);
  addReflection({ addService: (definition, impl) => add(definition, impl, config.auth.open.reflection) });

  const credentials = config.tls
    ? ServerCredentials.createSsl(config.tls.clientCa ?? null, [{ private_key: config.tls.key, cert_chain: config.tls.cert }], config.tls.clientCa !== undefined)
    : ServerCredentials.createInsecure();
  const target = `${config.listen.host}:${config.listen.port}`;
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => server.bindAsync(target, credentials, (err, p) => (err ? reject(err) : resolve(p))));
  } catch (err) {
    authenticator.close();
    await db.close();
    throw new Error(`cannot listen on ${target}: ${(err as Error).message}; set LASH_LISTEN to a free host:port`);
  }
  const address = `${config.listen.host}:${port}`;
  let metricsServer: MetricsServer | undefined;
  if (metrics && config.metricsListen) {
    try {
      metricsServer = await startMetricsServer(config.metricsListen, metrics.registry, (err) => log.warn({ err }, 'metrics collection failed'));
    } catch (err) {
      server.forceShutdown();
      await db.close();
      throw new Error(`cannot serve metrics on ${config.metricsListen.host}:${config.metricsListen.port}: ${(err as Error).message}; set LASH_METRICS_LISTEN to a free host:port`);
    }
  }

  // Health follows the store: a failed probe flips every service to NOT_SERVING until it recovers.
  const probe = setInterval(() => {
    store.ping().then(
      () => health.setStoreReachable(true),
      (err: unknown) => {
        log.warn({ err: (err as Error).message }, 'store probe failed');
        health.setStoreReachable(false);
      },
    );
  }, config.healthProbeMs);
  probe.unref();

  // Feed retention: trimmed in the background, never past a session's last commit marker.
  const trimmer = setInterval(() => {
    feedStore.trim(new Date(Date.now() - config.feed.retentionHours * 3_600_000), config.feed.retentionEvents).then(
      (n) => n > 0 && log.info({ trimmed: n }, 'feed retention trimmed events'),
      (err: unknown) => log.warn({ err: (err as Error).message }, 'feed trim failed'),
    );
  }, 60_000);
  trimmer.unref();
  workers.start();
  const purger = setInterval(() => void queueStore.purgeFinished(new Date(Date.now() - config.queue.retentionHours * 3_600_000)).catch(() => {}), 600_000);
  purger.unref();

  log.info({ address, metrics: metricsServer?.address, traces: config.tracing?.url, tls: Boolean(config.tls), mtls: Boolean(config.tls?.clientCa), auth: authSummary(config.auth), providers: config.availableProviders, defaultProvider: config.defaultProvider, defaultModel: config.defaultModel, ms: Math.round(performance.now() - started) }, 'lash-grpc serving');

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      log.info({ graceMs: config.shutdownGraceMs }, 'shutting down: health NOT_SERVING, draining calls');
      health.setShuttingDown();
      clearInterval(probe);
      clearInterval(trimmer);
      clearInterval(purger);
      const stoppingWorkers = workers.stop();
      // Observers end cleanly (OK) and resume from their cursor on another replica.
      shutdownHooks.forEach((fn) => fn());
      // The listener stays open while turns run, so health checks read NOT_SERVING rather than
      // a refused connection. Turns still running when the cancel grace plus a second is all that
      // is left are cancelled, so they commit as cancelled and their callers receive that result
      // before the calls are closed.
      const graceEnd = Date.now() + config.shutdownGraceMs;
      // Even an idle server keeps the port open for the notice, so a probe sees NOT_SERVING.
      const noticeEnd = Date.now() + Math.min(config.shutdownNoticeMs, config.shutdownGraceMs);
      const running = () => turns.registry.all();
      const settledOrAt = (deadline: number) => Promise.race([Promise.all(running().map((t) => t.done)), new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())).unref())]);
      await settledOrAt(graceEnd - config.cancelGraceMs - 1_000);
      const toCancel = running();
      if (toCancel.length) log.info({ turns: toCancel.length }, 'cancelling turns still running');
      toCancel.forEach((t) => t.cancel());
      await settledOrAt(graceEnd);
      await new Promise((r) => setTimeout(r, Math.max(0, noticeEnd - Date.now())));
      // Now close: calls that are finishing (a result being written) get the rest of the grace.
      server.drain(address, Math.max(250, graceEnd - Date.now()));
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          log.warn('grace period over: cancelling the remaining calls');
          server.forceShutdown();
          resolve();
        }, Math.max(250, graceEnd - Date.now()));
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      // Turns still running after the drain are cancelled and commit as such.
      const left = turns.registry.all();
      left.forEach((t) => t.cancel());
      await Promise.race([Promise.all(left.map((t) => t.done)), new Promise((r) => setTimeout(r, 5_000).unref())]);
      await stoppingWorkers;
      turns.close();
      await appender.drain();
      offFeed();
      offDeleted();
      await metricsServer?.close();
      await tracing?.shutdown().catch((err: unknown) => log.warn({ err }, 'trace export at shutdown failed'));
      await codeRunner.close();
      await bus.close();
      authenticator.close();
      await db.close();
      log.info('stopped');
    })());

  return { port, address, engine: db.engine, health, db, sessions, turns, sandbox: codeRunner, turnSlots, feed: { store: feedStore, appender, hub }, replicaId, metricsAddress: metricsServer?.address, stop };
}

/** What the start-up log says about authentication (names of mechanisms, never secrets). */
function authSummary(auth: Config['auth']): string[] {
  if (auth.mode === 'anonymous') return [`anonymous (${auth.anonymousBecause})`];
  return [auth.forwarded && 'forwarded', auth.mtls && 'mtls', auth.tokens && `static_tokens(${auth.tokens.entries.length})`, auth.jwt && 'jwt'].filter((x): x is string => Boolean(x));
}
