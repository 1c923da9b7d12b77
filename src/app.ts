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
import { systemClock, systemIds, type Runtime } from './domain/clock.js';
import { DEFAULT_CONTEXT_WINDOW } from './domain/policy.js';
import { DomainError } from './domain/errors.js';
import { SESSION_DELETED_TOPIC, SessionService } from './domain/sessions.js';
import { adminServiceHandlers } from './grpc/admin-service.js';
import { CallPacer } from './grpc/call-pacer.js';
import { guardDecoding } from './grpc/decode-guard.js';
import { servePreEncoded } from './grpc/pre-encoded.js';
import { requestIdOf, type CallEnv } from './grpc/call.js';
import { Authenticator } from './auth/authenticator.js';
import { guardService, principalOf, type GuardEnv } from './auth/guard.js';
import { HealthState, healthHandlers } from './grpc/health.js';
import { addReflection } from './grpc/reflection.js';
import { ShutdownNotice } from './grpc/shutdown-notice.js';
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
import { deadReplicaProbe, newReplicaId, pidNamespace, replicaHost } from './replica-liveness.js';
import { MemoryBus } from './bus/memory-bus.js';
import { BUS_CHANNEL, PgBus } from './bus/pg-bus.js';
import { buildProviders } from './providers/registry.js';
import { BUILTIN_TOOLS, BuiltinTools } from './tools/builtin.js';
import { ToolHostRules } from './domain/tools/bindings.js';
import { CompletionService } from './domain/tools/completions.js';
import { ToolHostGate } from './domain/tools/host-gate.js';
import { RemoteToolHosts } from './domain/tools/remote-hosts.js';
import { ToolAdmin } from './domain/admin/tool-state.js';
import { ChildSessions } from './domain/admin/children.js';
import { SessionWriters, WRITER_RELEASE_TOPIC } from './domain/session-writers.js';
import { feedLags, measuredFeedStore } from './metrics/measured-feed-store.js';
import { LashMetrics } from './metrics/metrics.js';
import { startMetricsServer, type MetricsServer } from './metrics/server.js';
import { startTracing } from './telemetry/otel.js';
import { ChildTurnsInFlight, runChildTool } from './domain/tools/run-child.js';
import { buildProcesses, type ProcessParts } from './app-processes.js';
import { processTools } from './domain/processes/tools.js';
import { processHandlers } from './grpc/process-handlers.js';
import { startHttpServer, type HttpServer, type RegisteredService } from './http/server.js';
import { TurnService } from './domain/turns/runner.js';
import { LimitedTurns, TurnSlots } from './domain/turns/turn-slots.js';
import { TenantLimits } from './domain/tenants/tenant-limits.js';
import { queueStoreWithQuota, sessionStoreWithQuota, TenantLimitedTurns } from './domain/tenants/limited-ports.js';
import { DbTenantUsageStore } from './store/tenant-usage-store.js';
import { DbAuditStore } from './store/audit-store.js';
import { AuditRecorder } from './domain/audit/recorder.js';
import { auditHook } from './grpc/audit.js';
import { RefusalBudget } from './domain/audit/refusal-budget.js';
import { refusalAuditor } from './auth/refusal-audit.js';
import { interruptedTurns } from './domain/turns/interrupted.js';
import { ThreadedRunner } from './sandbox/threaded.js';
import { FeedAppender } from './domain/feed/appender.js';
import { FeedHub } from './domain/feed/hub.js';
import type { FeedStore, RenewalFailed } from './domain/ports.js';
import { FeedObservations } from './domain/feed/observation.js';
import { limitedObserve, SubscriptionLimits } from './domain/feed/subscription-limits.js';
import { DbFeedStore } from './store/feed-store.js';

export const LASH_SERVICES = ['lash.v1.SessionService', 'lash.v1.TurnService', 'lash.v1.QueueService', 'lash.v1.AdminService'];

export interface App {
  port: number;
  /** Per-session things held in memory, by kind (also the lash_live_entries metric). */
  liveEntries(): Record<string, number>;
  address: string;
  engine: Database['engine'];
  health: HealthState;
  db: Database;
  sessions: SessionService;
  turns: TurnService;
  /** Background processes and triggers, and this replica's process runners. */
  processes: ProcessParts;
  /** Slots of RunTurn/StartTurn turns (its stats show turns running, waiting and refused). */
  turnSlots: TurnSlots;
  /** The audit trail's writer (drain it to see every record so far in the store). */
  audit: AuditRecorder;
  /** Per-tenant limits (its stats show what each tenant holds and was refused). */
  tenantLimits: TenantLimits;
  /** The rlm sandbox's thread pool (its stats show what it holds and refused). */
  sandbox: ThreadedRunner;
  feed: { store: FeedStore; appender: FeedAppender; hub: FeedHub };
  replicaId: string;
  /** Where the Connect / gRPC-web listener is, when LASH_HTTP_LISTEN is set. */
  httpAddress?: string;
  /** Where GET /metrics is served, when LASH_METRICS_LISTEN is set. */
  metricsAddress?: string;
  /** Graceful stop: NOT_SERVING → drain calls → close the store. Idempotent. */
  stop(): Promise<void>;
}

/** The largest request accepted, over gRPC and over HTTP alike. */
export const MAX_REQUEST_BYTES = 16 * 1024 * 1024;

/**
 * grpc-js connection management. Keepalives detect half-open connections on long streams (clients
 * may ping every 10 s). A maximum connection age makes clients reconnect now and then, so a load
 * balancer or mesh spreads them over new replicas; the age grace lets calls in flight finish, and
 * streams still open after it end with UNAVAILABLE, which clients retry (observers resume from
 * their cursor).
 */
export function grpcServerOptions(g: Config['grpc']): Record<string, number> {
  const options: Record<string, number> = {
    'grpc.keepalive_time_ms': g.keepaliveMs,
    'grpc.keepalive_timeout_ms': g.keepaliveTimeoutMs,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 10_000,
    'grpc.max_receive_message_length': MAX_REQUEST_BYTES,
    // Nothing serves channelz here; with it on, grpc-js keeps per-call trackers and closures and
    // stamps Date.now() on every message sent or received.
    'grpc.enable_channelz': 0,
  };
  if (g.maxConnectionAgeMs !== undefined) options['grpc.max_connection_age_ms'] = g.maxConnectionAgeMs;
  if (g.maxConnectionAgeGraceMs !== undefined) options['grpc.max_connection_age_grace_ms'] = g.maxConnectionAgeGraceMs;
  if (g.maxConnectionIdleMs !== undefined) options['grpc.max_connection_idle_ms'] = g.maxConnectionIdleMs;
  return options;
}

/**
 * How long an observer may stream: unbounded, unless connections age out with a bounded grace.
 * Then a stream started before its connection's GOAWAY ends by itself (UNAVAILABLE) within
 * 80 % of the grace, so the grace never cuts it.
 */
export function observerLifetime(g: Config['grpc']): number | undefined {
  return g.maxConnectionAgeMs !== undefined && g.maxConnectionAgeGraceMs !== undefined ? Math.floor(g.maxConnectionAgeGraceMs * 0.8) : undefined;
}

export interface AppOptions {
  /** Embedded engine without a folder (tests). */
  inMemory?: boolean;
}

export async function startApp(config: Config, log: Logger, options: AppOptions = {}): Promise<App> {
  const started = performance.now();
  const db = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    inMemory: options.inMemory,
    log: (m) => log.debug({ component: 'orm' }, m),
    sliceMs: config.store.pgliteSliceMs,
    poolMax: config.store.pool,
    interactivePoolMax: config.store.interactivePool,
    bulkInFlight: config.store.bulkInFlight,
    bulkOverdueMs: config.store.bulkOverdueMs,
    lock: {
      heartbeatMs: config.lockHeartbeatMs,
      host: config.hostName,
      onTakeover: (previous) => log.warn({ previous }, 'took over the embedded data folder from a process whose heartbeat stopped'),
    },
  });
  log.info({ engine: db.engine, ms: Math.round(performance.now() - started) }, 'store ready, migrations applied');
  // On PostgreSQL the feed append sends the bus's wake-up itself (same statement, same format);
  // a commit can carry its turn's last feed events (one write fewer per turn).
  const dbFeedStore = new DbFeedStore(db, db.engine === 'postgresql' ? BUS_CHANNEL : undefined);
  const store = new OrmSessionStore(db, dbFeedStore);
  const tenantLimits = new TenantLimits(config.tenantLimits, new DbTenantUsageStore(db));
  // The domain's clock, timers and id source: the system's, handed to every service here.
  const runtime: Runtime = { clock: systemClock, ids: systemIds };
  // Writes are audited off the request path: a bounded buffer, stored in batches (ADR 0046).
  const auditStore = new DbAuditStore(db);
  const auditLog = log.child({ component: 'audit' });
  const audit = new AuditRecorder(
    auditStore,
    {
      maxBuffered: config.audit.buffer,
      maxBatch: 200,
      lingerMs: 200,
      onRecord: (r) =>
        auditLog.info(
          {
            tenant: r.tenantId,
            subject: r.subject,
            identitySource: r.identitySource,
            auditedMethod: r.method,
            sessionId: r.sessionId,
            turnId: r.turnId,
            batchId: r.batchId,
            code: r.code,
            reason: r.reason,
            requestId: r.requestId,
          },
          'audit',
        ),
      onError: (err, records) => auditLog.warn({ err, records }, 'storing audit records failed; they are lost from the store (their log lines remain)'),
    },
    runtime.clock,
  );
  // Refusals of unauthenticated writes: rows bounded per minute, the rest logged and counted (ADR 0062).
  const refusalBudget = new RefusalBudget(config.audit.unauthenticatedPerMinute, (n) =>
    auditLog.warn({ suppressed: n }, 'refusals of unauthenticated writes left out of the audit table in the last minute (each was logged)'),
  );
  // `<host>~<pid namespace>-<pid>-<6 hex>`: a later process on this host and in this pid namespace
  // can tell this one is gone (ADR 0081).
  const host = replicaHost(config.hostName, pidNamespace());
  const replica = newReplicaId(host);
  const replicaId = replica.id;
  const leases = new OrmLeaseStore(db);
  const onRenewFailed: RenewalFailed = ({ what, tenantId, sessionId, err }) =>
    log.warn(
      { err, tenant: tenantId, sessionId },
      err === undefined ? `${what} renewal refused: taken over; the commit will be refused` : `${what} renewal failed; retried at the next heartbeat`,
    );
  const sessions = new SessionService(
    sessionStoreWithQuota(store, tenantLimits),
    {
      policy: { model: { id: config.defaultModel, contextWindowTokens: DEFAULT_CONTEXT_WINDOW }, providerId: config.defaultProvider, autonomous: false },
      availableModes: config.modes,
      availableProviders: config.availableProviders,
    },
    new SessionWriters(
      leases,
      replicaId,
      config.leaseTtlMs,
      onRenewFailed,
      runtime.clock,
      config.writerLingerMs,
      deadReplicaProbe(host),
      ({ tenantId, sessionId, owner }) =>
        log.info({ tenant: tenantId, sessionId, owner }, 'released the writer lease of a replica that is gone (its process is dead); taking it now'),
    ),
    undefined,
    runtime,
  );
  const bus =
    db.engine === 'postgresql'
      ? new PgBus(
          config.databaseUrl!,
          async (payload) => void (await db.conn().execute('select pg_notify(?, ?)', [BUS_CHANNEL, payload])),
          log.child({ component: 'bus' }),
        )
      : new MemoryBus();
  if (bus instanceof PgBus) await bus.whenReady();
  const completions = new OrmCompletionStore(db, bus);
  const queueStore = new DbQueueStore(db);
  const hub = new FeedHub(dbFeedStore);
  // Starts of streaming calls and StartTurn are paced over turns of the event loop (ADR 0075).
  const callPacer = new CallPacer(config.callPacing.sliceMs, config.callPacing.maxQueued);
  // Metrics only when an endpoint is asked for; queue depth and observers are read at scrape time.
  const metrics = config.metricsListen
    ? new LashMetrics(
        {
          queueDepth: () => queueStore.depth(),
          observers: () => hub.listenerCount,
          feedBacklog: () => ({ events: appender.pendingEvents, failingSessions: appender.failingLanes, pacedTurns: appender.pacedTurns }),
          sandbox: () => codeRunner.stats(),
          turnSlots: () => turnSlots.stats(),
          tenants: () => tenantLimits.stats(),
          audit: () => audit.stats(),
          refusals: () => refusalBudget.stats(),
          subscriptions: () => subscriptionLimits.stats(),
          childTurns: () => childTurns,
          liveEntries: () => liveEntries(),
          callPacer: () => ({ ...callPacer.stats, waiting: callPacer.waiting }),
          storeInFlight: db.inFlight && (() => db.inFlight!.stats),
          storeGate: db.gate && (() => ({ ...db.gate!.stats, waiting: { interactive: db.gate!.depth('interactive'), bulk: db.gate!.depth('bulk') } })),
        },
        config.metricsTenants,
      )
    : undefined;
  const feedStore = metrics ? measuredFeedStore(dbFeedStore, metrics) : dbFeedStore;
  const appender: FeedAppender = new FeedAppender(
    feedStore,
    bus,
    hub,
    {
      lingerMs: config.feed.lingerMs,
      maxBatch: 500,
      pendingMax: config.feed.pendingMax,
      onError: (err) => log.warn({ err }, 'feed append failed; retrying'),
      onCarried: metrics ? (payloads, records) => metrics.feedAppend(records.length, undefined, feedLags(payloads)) : undefined,
    },
    runtime.clock,
  );
  // Idle writer leases (ADR 0079): a writer waiting for another replica's lease asks it to let go.
  sessions.writers.askRelease = (tenantId, sessionId) =>
    void bus
      .publish(WRITER_RELEASE_TOPIC, { tenantId, sessionId, from: replicaId })
      .catch((err: unknown) => log.warn({ err }, 'asking for a writer lease failed'));
  const offRelease = bus.subscribe(WRITER_RELEASE_TOPIC, (p) => {
    if (p.from !== replicaId) sessions.writers.releaseAsked(String(p.tenantId), String(p.sessionId));
  });
  const offFeed = bus.subscribe('feed', (p) => hub.notify(String(p.tenantId), String(p.sessionId), BigInt(String(p.upTo))));
  // A delete on any replica ends this replica's observers of that session.
  const offDeleted = bus.subscribe(SESSION_DELETED_TOPIC, (p) => hub.deleted(String(p.tenantId), String(p.sessionId), Number(p.epoch)));
  sessions.announceDeleted = (d) => void bus.publish(SESSION_DELETED_TOPIC, { ...d }).catch((err: unknown) => log.warn({ err }, 'announcing a delete failed'));
  sessions.feed = appender;
  const observations = new FeedObservations(
    sessions,
    feedStore,
    hub,
    { heartbeatMs: config.feed.heartbeatMs, snapshotMessages: 200, replayPage: 1_000 },
    runtime.clock,
  );
  const subscriptionLimits = new SubscriptionLimits(config.subscriptions, runtime.clock);
  const observe = limitedObserve(subscriptionLimits, (ctx, id, cursor, sink) => observations.observe(ctx, id, cursor, sink), undefined, runtime.clock);
  // Long-lived streams learn of a drain: observers at once, tool hosts once the turns are over.
  const observersShutdown = new ShutdownNotice();
  const toolHostsShutdown = new ShutdownNotice();
  const turnSlots = new TurnSlots(config.turnSlots, runtime.clock);
  const childTurns = new ChildTurnsInFlight();
  const codeRunner = new ThreadedRunner({ ...config.sandboxPool, idleThreads: Math.min(2, config.sandboxPool.maxThreads) });
  const remoteTools = new RemoteToolHosts(runtime.ids);
  const tracing = config.tracing ? startTracing(config.tracing) : undefined;
  const children = new ChildSessions(sessions);
  // run_child needs the turn service, which needs the tool sources: bound once it exists.
  const late: { turns?: TurnService; processes?: ProcessParts } = {};
  const runtimeTools = [
    runChildTool({
      sessions,
      children,
      turns: () => late.turns!,
      limits: config.children,
      onRejected: metrics ? (limit) => metrics.rejected(limit) : undefined,
      inFlight: childTurns,
    }),
    ...processTools(() => late.processes!.processes),
  ];
  // Built-ins come first: the catalog keeps the first tool of a name, so no remote host shadows one.
  const toolSources = [new BuiltinTools(config.tools, runtimeTools), remoteTools];
  const hostGate = new ToolHostGate(new ToolHostRules(new Set([...BUILTIN_TOOLS, ...runtimeTools].map((t) => t.name)), config.tenantWideTools), sessions);
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
    serverPrompt: {
      slots: [{ slot: 'intro', reset: false, contributions: [{ priority: 0, content: 'You are a helpful assistant. Answer accurately and concisely.' }] }],
    },
    replicaId,
    feed: appender,
    queue: queueStore,
    claimTtlMs: config.queue.claimTtlMs,
    onRenewFailed,
    joinLimit: config.queue.joinLimit,
    wasInterrupted: interruptedTurns(feedStore),
    openTurn: (tenantId, sessionId) => feedStore.openTurn(tenantId, sessionId),
    retry: config.providerRetry,
    cancelGraceMs: config.cancelGraceMs,
    maxIterations: config.maxIterations,
    codeRunner,
    sandboxLimits: config.sandbox,
    tracer: tracing?.tracer,
    onCommitted: metrics ? (result, seconds) => metrics.turn(result, seconds) : undefined,
    onError: (err, context) =>
      err instanceof DomainError ? log.info({ reason: err.reason, ...context }, 'turn rejected') : log.error({ err, ...context }, 'turn failed'),
    clock: runtime.clock,
    ids: runtime.ids,
  });
  late.turns = turns;
  // Admin writers take their lease and read the head in one statement, as turns do.
  const admissions = new DbAdmissionStore(db);
  sessions.admit = (req) => admissions.admit(req);
  sessions.released = (tenantId, sessionId) => turns.registry.forget(tenantId, sessionId);
  /** Per-session things this process holds in memory, by kind (a metric and a test seam). */
  const liveEntries = (): Record<string, number> => ({
    resident_sessions: sessions.residentCount,
    turn_registry: turns.registry.counts.turns,
    sessions_running: turns.registry.counts.sessionsRunning,
    feed_tails: hub.tailCount,
    feed_lanes: appender.laneCount,
    observers: hub.listenerCount,
    shutdown_hooks: observersShutdown.size,
    writer_idle_leases: sessions.writers.idleCount,
  });
  sessions.runningHere = (tenantId, sessionId) => turns.registry.active(tenantId, sessionId).length > 0;
  // A delete cancels the session's running turns first (they commit as cancelled), see ADR 0033.
  sessions.stopTurns = async (ctx, sessionId) => {
    await turns.cancelRunning(ctx, sessionId).catch((err: unknown) => {
      if (!(err instanceof DomainError && err.reason === 'SESSION_NOT_FOUND')) throw err;
    });
  };
  const queue = new QueueService({
    store: queueStoreWithQuota(queueStore, tenantLimits),
    sessions: store,
    feed: appender,
    bus,
    pollMs: Math.max(config.queue.pollMs, 1_000),
    runtime,
  });
  const workers = new QueueWorkers(queueStore, bus, {
    workers: config.queueWorkers,
    pollMs: config.queue.pollMs,
    drain: (ctx, sessionId) => turns.drain(ctx, sessionId, { skipIfBusy: true }),
    onError: (err) => log.warn({ err }, 'queue worker drain failed'),
    clock: runtime.clock,
  });
  const processParts = (late.processes = buildProcesses({
    config,
    db,
    log,
    bus,
    feed: appender,
    store,
    sessions,
    queue,
    turns: () => turns,
    sandbox: codeRunner,
    replicaId,
  }));
  const health = new HealthState(LASH_SERVICES);
  const observeCall = metrics ? (method: string, code: string, seconds: number, tenant: string) => metrics.call(method, code, seconds, tenant) : undefined;
  // Every service is registered through the guard: no handler runs before its caller is known.
  const authenticator = new Authenticator(config.auth, log.child({ component: 'auth' }));
  const auditCall = auditHook(
    (r) => audit.record(r),
    (err) => auditLog.warn({ err }, 'audit hook failed'),
  );
  const guard: GuardEnv = {
    authenticator,
    pacer: callPacer,
    log: log.child({ component: 'auth' }),
    observe: observeCall,
    // A write refused for a missing role is audited in the caller's tenant, like its other writes.
    refused: ({ method, principal, metadata, request, code, reason }) =>
      auditCall({
        method,
        ctx: { tenantId: principal.tenantId, principal, requestId: requestIdOf(metadata), log, signal: new AbortController().signal, metadata },
        request,
        code,
        reason,
      }),
    // A write refused for its credential is audited too, bounded per minute (ADR 0062).
    unauthenticated: refusalAuditor(
      refusalBudget,
      (r) => audit.record(r),
      (err) => auditLog.warn({ err }, 'audit of a refused credential failed'),
    ),
  };
  if (config.auth.mode === 'anonymous') {
    log.warn(
      { because: config.auth.anonymousBecause, listen: `${config.listen.host}:${config.listen.port}` },
      'AUTHENTICATION IS OFF: every caller is anonymous with all roles in tenant "default"; configure LASH_AUTH_TOKENS_FILE, LASH_AUTH_JWKS or LASH_AUTH_IDENTITIES_FILE before exposing this server',
    );
  }
  const env: CallEnv = {
    log,
    principalOf,
    audit: auditCall,
    observe: observeCall,
  };

  const server = new Server(grpcServerOptions(config.grpc));
  // The lash.v1 services, each served over gRPC and (when configured) over HTTP by the same
  // handlers, behind the same guard.
  const guarded = (definition: ServiceDefinition, impl: UntypedServiceImplementation): RegisteredService => ({
    definition,
    handlers: guardService(guard, definition, impl),
  });
  const lashServices: RegisteredService[] = [
    guarded(
      guardDecoding(SessionServiceService),
      sessionServiceHandlers(
        env,
        sessions,
        { observe },
        {
          items: config.feed.observerBuffer,
          bytes: config.feed.observerBufferBytes,
          stallMs: config.feed.observerStallMs,
          maxStreamMs: observerLifetime(config.grpc),
        },
        (fn) => observersShutdown.on(fn),
        (tenantId) => tenantLimits.hold('observers', tenantId),
        (ctx, id) => processParts.processes.detachSession(ctx, id),
      ),
    ),
    guarded(
      servePreEncoded(guardDecoding(TurnServiceService)),
      turnServiceHandlers(
        env,
        turns,
        remoteTools,
        hostGate,
        new CompletionService(completions),
        new TenantLimitedTurns(new LimitedTurns(turns, turnSlots), turns, tenantLimits),
        { onShutdown: (fn) => toolHostsShutdown.on(fn), maxStreamMs: observerLifetime(config.grpc) },
      ),
    ),
    guarded(servePreEncoded(guardDecoding(QueueServiceService)), queueServiceHandlers(env, queue, turns)),
    guarded(
      guardDecoding(AdminServiceService),
      adminServiceHandlers(
        env,
        sessions,
        queue,
        new ToolAdmin(sessions, toolSources),
        children,
        turns,
        auditStore,
        processHandlers(env, processParts.processes, processParts.triggers, {
          onShutdown: (fn) => observersShutdown.on(fn),
          maxStreamMs: observerLifetime(config.grpc),
        }),
      ),
    ),
  ];
  for (const s of lashServices) server.addService(s.definition, s.handlers);
  server.addService(HealthService, guardService(guard, HealthService, healthHandlers(health), config.auth.open.health));
  addReflection({ addService: (definition, impl) => server.addService(definition, guardService(guard, definition, impl, config.auth.open.reflection)) });

  const credentials = config.tls
    ? ServerCredentials.createSsl(
        config.tls.clientCa ?? null,
        [{ private_key: config.tls.key, cert_chain: config.tls.cert }],
        config.tls.clientCa !== undefined,
      )
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
      throw new Error(
        `cannot serve metrics on ${config.metricsListen.host}:${config.metricsListen.port}: ${(err as Error).message}; set LASH_METRICS_LISTEN to a free host:port`,
      );
    }
  }

  let httpServer: HttpServer | undefined;
  if (config.http) {
    try {
      httpServer = await startHttpServer(
        { ...config.http, maxRequestBytes: MAX_REQUEST_BYTES, onInspectorError: (err) => log.error({ err }, 'inspector page build failed') },
        lashServices,
      );
    } catch (err) {
      server.forceShutdown();
      await metricsServer?.close();
      await db.close();
      throw new Error(
        `cannot serve HTTP on ${config.http.listen.host}:${config.http.listen.port}: ${(err as Error).message}; set LASH_HTTP_LISTEN to a free host:port`,
      );
    }
  }

  // Health follows the store: a failed probe flips every service to NOT_SERVING until it recovers.
  const probe = setInterval(() => {
    // The feed's own health: NOT_SERVING on `lash.feed` while any session's feed writes fail.
    health.setFeedWriting(appender.failingLanes === 0);
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
  // Audit retention by age, on the same clock.
  const trimmer = setInterval(() => {
    auditStore.trim(new Date(Date.now() - config.audit.retentionHours * 3_600_000)).then(
      (n) => n > 0 && log.info({ trimmed: n }, 'audit retention trimmed records'),
      (err: unknown) => log.warn({ err: (err as Error).message }, 'audit trim failed'),
    );
    feedStore.trim(new Date(Date.now() - config.feed.retentionHours * 3_600_000), config.feed.retentionEvents).then(
      (n) => n > 0 && log.info({ trimmed: n }, 'feed retention trimmed events'),
      (err: unknown) => log.warn({ err: (err as Error).message }, 'feed trim failed'),
    );
  }, 60_000);
  trimmer.unref();
  workers.start();
  processParts.runners.start();
  const purger = setInterval(() => void queueStore.purgeFinished(new Date(Date.now() - config.queue.retentionHours * 3_600_000)).catch(() => {}), 600_000);
  purger.unref();

  log.info(
    {
      address,
      replica: replicaId,
      http: httpServer?.address,
      metrics: metricsServer?.address,
      traces: config.tracing?.url,
      tls: Boolean(config.tls),
      mtls: Boolean(config.tls?.clientCa),
      auth: authSummary(config.auth),
      providers: config.availableProviders,
      defaultProvider: config.defaultProvider,
      defaultModel: config.defaultModel,
      ms: Math.round(performance.now() - started),
    },
    'lash-grpc serving',
  );

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      log.info({ graceMs: config.shutdownGraceMs }, 'shutting down: health NOT_SERVING, draining calls');
      health.setShuttingDown();
      clearInterval(probe);
      clearInterval(trimmer);
      clearInterval(purger);
      const stoppingWorkers = workers.stop();
      const stoppingRunners = processParts.runners.stop();
      // Observers and process watches end with UNAVAILABLE / SERVER_DRAINING and resume from
      // their cursor or sequence on another replica (so do those reaching this replica from now on).
      observersShutdown.start();
      // The listener stays open while turns run, so health checks read NOT_SERVING rather than
      // a refused connection. Turns still running when the cancel grace plus a second is all that
      // is left are cancelled, so they commit as cancelled and their callers receive that result
      // before the calls are closed.
      const graceEnd = Date.now() + config.shutdownGraceMs;
      // Even an idle server keeps the port open for the notice, so a probe sees NOT_SERVING.
      const noticeEnd = Date.now() + Math.min(config.shutdownNoticeMs, config.shutdownGraceMs);
      const running = () => turns.registry.all();
      const settledOrAt = (deadline: number) =>
        Promise.race([Promise.all(running().map((t) => t.done)), new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())).unref())]);
      await settledOrAt(graceEnd - config.cancelGraceMs - 1_000);
      const toCancel = running();
      if (toCancel.length) log.info({ turns: toCancel.length }, 'cancelling turns still running');
      toCancel.forEach((t) => t.cancel());
      await settledOrAt(graceEnd);
      await new Promise((r) => setTimeout(r, Math.max(0, noticeEnd - Date.now())));
      // The turns are over, so tool hosts are told to reconnect elsewhere (UNAVAILABLE) rather
      // than holding the close until the grace ends and then being cut.
      toolHostsShutdown.start();
      // Now close: calls that are finishing (a result being written) get the rest of the grace.
      server.drain(address, Math.max(250, graceEnd - Date.now()));
      await new Promise<void>((resolve) => {
        const force = setTimeout(
          () => {
            log.warn('grace period over: cancelling the remaining calls');
            server.forceShutdown();
            resolve();
          },
          Math.max(250, graceEnd - Date.now()),
        );
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      await httpServer?.close();
      // Turns still running after the drain are cancelled and commit as such.
      const left = turns.registry.all();
      left.forEach((t) => t.cancel());
      await Promise.race([Promise.all(left.map((t) => t.done)), new Promise((r) => setTimeout(r, 5_000).unref())]);
      await stoppingWorkers;
      await stoppingRunners;
      turns.close();
      // Idle writer leases go now, so another replica need not wait for their linger (ADR 0079).
      await sessions.writers.releaseIdle();
      offRelease();
      // The domain's timers never keep the process alive (Clock); while the feed and the audit
      // trail drain (retrying a failing store until the deadline), this handle does.
      const keepAlive = setInterval(() => {}, 60_000);
      try {
        await appender.drain();
        await audit.drain();
      } finally {
        clearInterval(keepAlive);
      }
      offFeed();
      offDeleted();
      await metricsServer?.close();
      await tracing?.shutdown().catch((err: unknown) => log.warn({ err }, 'trace export at shutdown failed'));
      await codeRunner.close();
      await bus.close();
      authenticator.close();
      await db.close();
      replica.retire();
      log.info('stopped');
    })());

  return {
    port,
    address,
    engine: db.engine,
    health,
    db,
    sessions,
    turns,
    processes: processParts,
    sandbox: codeRunner,
    turnSlots,
    tenantLimits,
    audit,
    feed: { store: feedStore, appender, hub },
    replicaId,
    httpAddress: httpServer?.address,
    metricsAddress: metricsServer?.address,
    liveEntries,
    stop,
  };
}

/** What the start-up log says about authentication (names of mechanisms, never secrets). */
function authSummary(auth: Config['auth']): string[] {
  if (auth.mode === 'anonymous') return [`anonymous (${auth.anonymousBecause})`];
  return [auth.forwarded && 'forwarded', auth.mtls && 'mtls', auth.tokens && `static_tokens(${auth.tokens.entries.length})`, auth.jwt && 'jwt'].filter(
    (x): x is string => Boolean(x),
  );
}
