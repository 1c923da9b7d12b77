// Typed configuration from the environment, parsed once at start-up. Invalid values fail fast
// with a message naming the variable. Secrets stay here: the domain only sees provider kinds.

import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { BUILTIN_TOOLS } from './tools/builtin.js';
import { RUN_CHILD_TOOL } from './domain/tools/run-child.js';
import { LIST_PROCESSES_TOOL, START_PROCESS_TOOL } from './domain/processes/tools.js';
import { parseTenantWideTools, type TenantWideTool } from './domain/tools/bindings.js';
import { loadProviderCredentials, type ProviderCredentials } from './provider-config.js';

export type { ProviderCredentials } from './provider-config.js';
import { loadAuthConfig, type AuthConfig } from './auth/config.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
/** `auto`: pretty when stdout is a terminal, JSON lines otherwise. */
export type LogFormat = 'auto' | 'json' | 'pretty';

/** Every model provider this server knows; which of them can be used depends on credentials. */
export const KNOWN_PROVIDERS = ['echo', 'openai', 'openai-compatible', 'anthropic', 'google', 'scripted'];

export interface Config {
  listen: { host: string; port: number };
  /** Where GET /metrics is served (LASH_METRICS_LISTEN); unset: no metrics endpoint. */
  metricsListen?: { host: string; port: number };
  /** Which tenants get their own metrics label: `named` always, then the first `firstSeen` others; the rest are "_other". */
  metricsTenants: { named: string[]; firstSeen: number };
  /** The Connect / gRPC-web HTTP listener (LASH_HTTP_LISTEN) and its CORS origins; unset: off. */
  http?: { listen: { host: string; port: number }; corsOrigins: string[] };
  /** OTLP/HTTP trace export (standard OTEL_* variables); unset: no tracing. */
  tracing?: { url: string; serviceName: string; scheduledDelayMs: number };
  dataDir: string;
  databaseUrl?: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
  /** The host name the embedded folder's lock records (LASH_HOST_NAME; default the OS host name). */
  hostName: string;
  /** The embedded folder lock's heartbeat (LASH_LOCK_HEARTBEAT_MS). */
  lockHeartbeatMs: number;
  /** grpc-js connection management, for load balancing behind proxies and meshes. */
  grpc: { keepaliveMs: number; keepaliveTimeoutMs: number; maxConnectionAgeMs?: number; maxConnectionAgeGraceMs?: number; maxConnectionIdleMs?: number };
  tls?: { cert: Buffer; key: Buffer; clientCa?: Buffer };
  /** Who may call (LASH_AUTH*): identity mechanisms, or anonymous mode. */
  auth: AuthConfig;
  providers: ProviderCredentials;
  /** Provider kinds this server can call, echo always included. */
  availableProviders: string[];
  defaultProvider: string;
  defaultModel: string;
  queueWorkers: number;
  queue: { pollMs: number; claimTtlMs: number; joinLimit: number; retentionHours: number };
  /** Built-in example tools to enable (LASH_TOOLS, comma-separated). */
  tools: string[];
  /** Tools tenant-wide ServeTools hosts may serve, per tenant (LASH_TENANT_WIDE_TOOLS). */
  tenantWideTools: TenantWideTool[];
  providerRetry: { maxAttempts: number; initialBackoffMs: number; maxBackoffMs: number };
  leaseTtlMs: number;
  /** How long a writer's end keeps the session's lease for this replica, idle (LASH_WRITER_LINGER_MS; 0: off; ADR 0079). */
  writerLingerMs: number;
  cancelGraceMs: number;
  maxIterations: number;
  /** Session modes this server offers (LASH_MODES). */
  modes: ('standard' | 'rlm')[];
  sandbox: { memoryBytes: number; timeMs: number; outputBytes: number; toolCalls: number; globalsBytes: number };
  /** The rlm sandbox's thread pool: at most `maxThreads`, then a bounded queue with a wait limit. */
  sandboxPool: { maxThreads: number; maxQueued: number; queueWaitMs: number };
  /** Turn slots of RunTurn/StartTurn: running at once in this process, then a bounded, timed queue. */
  /** PGlite time slice, PostgreSQL main-pool and interactive-lane connections (ADRs 0063, 0083). */
  store: { pgliteSliceMs: number; pool: number; interactivePool: number; bulkInFlight: number; bulkOverdueMs: number };
  /** Start pacing of streaming calls and StartTurn under bursts (ADR 0075); sliceMs 0 = off. */
  callPacing: { sliceMs: number; maxQueued: number };
  turnSlots: { maxRunning: number; maxWaiting: number; waitMs: number };
  /** The audit trail: how long records are kept, how many may wait to be stored. */
  audit: { retentionHours: number; buffer: number; unauthenticatedPerMinute: number };
  /** Per-tenant limits (turns and observers per process, sessions and open batches in the store). */
  tenantLimits: { runningTurns: number; observers: number; queuedBatches: number; sessions: number };
  /** run_child fan-out: child sessions one turn may create, sessions one root's tree may hold. */
  children: { perTurn: number; perRoot: number };
  /** Background processes: runners on this replica, their claims, polls and limits (LASH_PROCESS_*). */
  processes: {
    runners: number;
    claimTtlMs: number;
    pollMs: number;
    perSession: number;
    perTenant: number;
    defaultRunMs: number;
    maxRunMs: number;
    subscriptionsPerTenant: number;
    retentionMs: number;
    retentionBatch: number;
  };
  /** ObserveSession subscriptions of this process: open at once, new ones per second, burst. */
  subscriptions: { maxConcurrent: number; ratePerSecond: number; burst: number };
  feed: {
    heartbeatMs: number;
    lingerMs: number;
    /** Unstored feed events a session's lane may hold before its turn waits (back-pressure). */
    pendingMax: number;
    retentionHours: number;
    retentionEvents: number;
    observerBuffer: number;
    observerBufferBytes: number;
    observerStallMs: number;
  };
  shutdownGraceMs: number;
  /** After SIGTERM, the port stays open at least this long (health answers NOT_SERVING). */
  shutdownNoticeMs: number;
  healthProbeMs: number;
}

export class ConfigError extends Error {}

const DEFAULT_MODELS: Record<string, string> = {
  echo: 'echo',
  openai: 'gpt-4o-mini',
  anthropic: 'claude-sonnet-4-5',
  google: 'gemini-2.5-flash',
  'openai-compatible': 'llama3.1',
};

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const listen = parseListen(env.LASH_LISTEN ?? '127.0.0.1:50051');
  const logLevel = (env.LASH_LOG_LEVEL ?? 'info') as LogLevel;
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel))
    throw new ConfigError(`LASH_LOG_LEVEL must be debug, info, warn or error (got "${env.LASH_LOG_LEVEL}")`);
  const logFormat = (env.LASH_LOG_FORMAT || 'auto') as LogFormat;
  if (!['auto', 'json', 'pretty'].includes(logFormat)) throw new ConfigError(`LASH_LOG_FORMAT must be auto, json or pretty (got "${env.LASH_LOG_FORMAT}")`);
  const databaseUrl = env.DATABASE_URL ? checkDatabaseUrl(env.DATABASE_URL) : undefined;
  const providers: ProviderCredentials = loadProviderCredentials(
    env,
    (message) => {
      throw new ConfigError(message);
    },
    boolVar(env, 'LASH_SCRIPTED_PROVIDER'),
  );
  const availableProviders = ['echo'];
  if (providers.openaiApiKey) availableProviders.push('openai');
  if (providers.openaiBaseUrl) availableProviders.push('openai-compatible');
  if (providers.anthropicApiKey) availableProviders.push('anthropic');
  if (providers.googleApiKey) availableProviders.push('google');
  // Built-in models need no credentials and are never picked as the default by themselves.
  const credentialed = availableProviders.filter((p) => p !== 'echo');
  if (providers.scripted) availableProviders.push('scripted');
  const defaultProvider = env.LASH_DEFAULT_PROVIDER || (providers.openaiBaseUrl ? 'openai-compatible' : credentialed[0]) || 'echo';
  if (!KNOWN_PROVIDERS.includes(defaultProvider)) {
    throw new ConfigError(`LASH_DEFAULT_PROVIDER "${defaultProvider}" is no provider this server knows; use one of ${KNOWN_PROVIDERS.join(', ')}`);
  }
  if (!availableProviders.includes(defaultProvider)) {
    throw new ConfigError(
      `LASH_DEFAULT_PROVIDER is "${defaultProvider}" but that provider has no credentials here; available: ${availableProviders.join(', ')}`,
    );
  }
  const tls = loadTls(env);
  const auth = loadAuthConfig(env, listen.host, tls?.clientCa !== undefined, (message) => new ConfigError(message));
  return {
    auth,
    listen,
    metricsListen: env.LASH_METRICS_LISTEN ? parseListen(env.LASH_METRICS_LISTEN, 'LASH_METRICS_LISTEN') : undefined,
    metricsTenants: { named: metricsTenants(env.LASH_METRICS_TENANTS), firstSeen: intVar(env, 'LASH_METRICS_TENANT_LABELS', 20, 0, 10_000) },
    http: env.LASH_HTTP_LISTEN
      ? { listen: parseListen(env.LASH_HTTP_LISTEN, 'LASH_HTTP_LISTEN'), corsOrigins: corsOrigins(env.LASH_HTTP_CORS_ORIGINS) }
      : undefined,
    tracing: tracingFrom(env),
    dataDir: env.LASH_DATA_DIR || './.lash',
    databaseUrl,
    logLevel,
    logFormat,
    hostName: hostNameVar(env.LASH_HOST_NAME) ?? hostname(),
    lockHeartbeatMs: intVar(env, 'LASH_LOCK_HEARTBEAT_MS', 3_000, 100, 60_000),
    grpc: {
      keepaliveMs: intVar(env, 'LASH_GRPC_KEEPALIVE_MS', 30_000, 1_000, 3_600_000),
      keepaliveTimeoutMs: intVar(env, 'LASH_GRPC_KEEPALIVE_TIMEOUT_MS', 10_000, 1_000, 600_000),
      maxConnectionAgeMs: optionalIntVar(env, 'LASH_GRPC_MAX_CONNECTION_AGE_MS', 1_000, 365 * 86_400_000),
      maxConnectionAgeGraceMs: optionalIntVar(env, 'LASH_GRPC_MAX_CONNECTION_AGE_GRACE_MS', 1_000, 365 * 86_400_000),
      maxConnectionIdleMs: optionalIntVar(env, 'LASH_GRPC_MAX_CONNECTION_IDLE_MS', 1_000, 365 * 86_400_000),
    },
    tls,
    providers,
    availableProviders,
    defaultProvider,
    defaultModel: env.LASH_DEFAULT_MODEL || DEFAULT_MODELS[defaultProvider] || 'echo',
    queueWorkers: intVar(env, 'LASH_QUEUE_WORKERS', 2, 0, 64),
    queue: {
      pollMs: intVar(env, 'LASH_QUEUE_POLL_MS', 500, 20, 60_000),
      claimTtlMs: intVar(env, 'LASH_QUEUE_CLAIM_TTL_MS', 30_000, 1_000, 3_600_000),
      joinLimit: intVar(env, 'LASH_QUEUE_JOIN_LIMIT', 16, 1, 1_000),
      retentionHours: intVar(env, 'LASH_QUEUE_RETENTION_HOURS', 168, 1, 24 * 365),
    },
    tools: parseTools(env.LASH_TOOLS ?? ''),
    tenantWideTools: tenantWideToolsFrom(env.LASH_TENANT_WIDE_TOOLS ?? ''),
    providerRetry: {
      maxAttempts: intVar(env, 'LASH_PROVIDER_MAX_ATTEMPTS', 3, 1, 10),
      initialBackoffMs: intVar(env, 'LASH_PROVIDER_BACKOFF_MS', 500, 0, 60_000),
      maxBackoffMs: 10_000,
    },
    leaseTtlMs: intVar(env, 'LASH_LEASE_TTL_MS', 15_000, 1_000, 600_000),
    writerLingerMs: intVar(env, 'LASH_WRITER_LINGER_MS', 5_000, 0, 600_000),
    cancelGraceMs: intVar(env, 'LASH_CANCEL_GRACE_MS', 2_000, 0, 60_000),
    maxIterations: intVar(env, 'LASH_MAX_ITERATIONS', 50, 1, 10_000),
    modes: parseModes(env.LASH_MODES ?? 'standard,rlm'),
    sandbox: {
      memoryBytes: intVar(env, 'LASH_SANDBOX_MEMORY_MB', 32, 4, 4_096) * 1024 * 1024,
      timeMs: intVar(env, 'LASH_SANDBOX_TIME_MS', 10_000, 50, 600_000),
      outputBytes: intVar(env, 'LASH_SANDBOX_OUTPUT_BYTES', 65_536, 256, 16 * 1024 * 1024),
      toolCalls: intVar(env, 'LASH_SANDBOX_TOOL_CALLS', 50, 1, 10_000),
      globalsBytes: intVar(env, 'LASH_SANDBOX_GLOBALS_BYTES', 1_048_576, 1_024, 256 * 1024 * 1024),
    },
    sandboxPool: {
      maxThreads: intVar(env, 'LASH_SANDBOX_THREADS', 8, 1, 256),
      maxQueued: intVar(env, 'LASH_SANDBOX_QUEUE', 64, 0, 100_000),
      queueWaitMs: intVar(env, 'LASH_SANDBOX_QUEUE_WAIT_MS', 10_000, 0, 600_000),
    },
    store: {
      pgliteSliceMs: intVar(env, 'LASH_PGLITE_SLICE_MS', 10, 1, 1_000),
      pool: intVar(env, 'LASH_DB_POOL', 10, 1, 256),
      interactivePool: intVar(env, 'LASH_DB_INTERACTIVE_POOL', 2, 0, 64),
      bulkInFlight: intVar(env, 'LASH_DB_BULK_IN_FLIGHT', 2, 0, 256),
      bulkOverdueMs: intVar(env, 'LASH_DB_BULK_OVERDUE_MS', 100, 1, 60_000),
    },
    callPacing: {
      sliceMs: intVar(env, 'LASH_CALL_START_SLICE_MS', 5, 0, 1_000),
      maxQueued: intVar(env, 'LASH_CALL_START_QUEUE', 10_000, 0, 1_000_000),
    },
    turnSlots: {
      maxRunning: intVar(env, 'LASH_MAX_RUNNING_TURNS', 256, 1, 100_000),
      maxWaiting: intVar(env, 'LASH_TURN_QUEUE', 1_024, 0, 1_000_000),
      waitMs: intVar(env, 'LASH_TURN_QUEUE_WAIT_MS', 5_000, 0, 600_000),
    },
    audit: {
      retentionHours: intVar(env, 'LASH_AUDIT_RETENTION_HOURS', 2_160, 1, 24 * 365 * 10),
      buffer: intVar(env, 'LASH_AUDIT_BUFFER', 10_000, 100, 1_000_000),
      unauthenticatedPerMinute: intVar(env, 'LASH_AUDIT_UNAUTHENTICATED_PER_MINUTE', 20, 0, 100_000),
    },
    tenantLimits: {
      runningTurns: intVar(env, 'LASH_TENANT_MAX_RUNNING_TURNS', 128, 1, 100_000),
      observers: intVar(env, 'LASH_TENANT_MAX_OBSERVERS', 1_000, 1, 1_000_000),
      queuedBatches: intVar(env, 'LASH_TENANT_MAX_QUEUED_BATCHES', 100_000, 1, 100_000_000),
      sessions: intVar(env, 'LASH_TENANT_MAX_SESSIONS', 1_000_000, 1, 1_000_000_000),
    },
    children: {
      perTurn: intVar(env, 'LASH_CHILDREN_PER_TURN', 16, 1, 10_000),
      perRoot: intVar(env, 'LASH_CHILDREN_PER_ROOT', 100, 1, 100_000),
    },
    processes: {
      runners: intVar(env, 'LASH_PROCESS_RUNNERS', 4, 0, 256),
      claimTtlMs: intVar(env, 'LASH_PROCESS_CLAIM_TTL_MS', 30_000, 500, 3_600_000),
      pollMs: intVar(env, 'LASH_PROCESS_POLL_MS', 1_000, 20, 60_000),
      perSession: intVar(env, 'LASH_PROCESSES_PER_SESSION', 16, 1, 100_000),
      perTenant: intVar(env, 'LASH_PROCESSES_PER_TENANT', 1_000, 1, 10_000_000),
      defaultRunMs: intVar(env, 'LASH_PROCESS_RUN_MS', 3_600_000, 1_000, 604_800_000),
      maxRunMs: intVar(env, 'LASH_PROCESS_MAX_RUN_MS', 86_400_000, 1_000, 604_800_000),
      subscriptionsPerTenant: intVar(env, 'LASH_TRIGGER_SUBSCRIPTIONS_PER_TENANT', 1_000, 1, 1_000_000),
      retentionMs: intVar(env, 'LASH_PROCESS_RETENTION_SECONDS', 604_800, 1, 10 * 365 * 86_400) * 1_000,
      retentionBatch: intVar(env, 'LASH_PROCESS_RETENTION_BATCH', 500, 1, 100_000),
    },
    subscriptions: {
      maxConcurrent: intVar(env, 'LASH_MAX_OBSERVERS', 10_000, 1, 1_000_000),
      ratePerSecond: intVar(env, 'LASH_OBSERVE_RATE', 500, 1, 1_000_000),
      burst: intVar(env, 'LASH_OBSERVE_BURST', 2_000, 1, 1_000_000),
    },
    feed: {
      heartbeatMs: intVar(env, 'LASH_FEED_HEARTBEAT_MS', 5_000, 100, 300_000),
      lingerMs: intVar(env, 'LASH_FEED_LINGER_MS', 10, 0, 1_000),
      pendingMax: intVar(env, 'LASH_FEED_PENDING_MAX', 1_000, 10, 1_000_000),
      retentionHours: intVar(env, 'LASH_FEED_RETENTION_HOURS', 24, 1, 24 * 365),
      retentionEvents: intVar(env, 'LASH_FEED_RETENTION_EVENTS', 100_000, 100, 100_000_000),
      observerBuffer: intVar(env, 'LASH_FEED_OBSERVER_BUFFER', 10_000, 100, 1_000_000),
      observerBufferBytes: intVar(env, 'LASH_FEED_OBSERVER_BUFFER_BYTES', 8 * 1024 * 1024, 65_536, 1024 * 1024 * 1024),
      observerStallMs: intVar(env, 'LASH_FEED_OBSERVER_STALL_MS', 10_000, 100, 600_000),
    },
    // Below Docker's default 10 s stop timeout, so the store is closed before a SIGKILL.
    shutdownGraceMs: intVar(env, 'LASH_SHUTDOWN_GRACE_MS', 8_000, 0, 600_000),
    shutdownNoticeMs: intVar(env, 'LASH_SHUTDOWN_NOTICE_MS', 1_000, 0, 60_000),
    healthProbeMs: intVar(env, 'LASH_HEALTH_PROBE_MS', 5_000, 100, 600_000),
  };
}

/** Names LASH_TOOLS may list: the built-in examples and the runtime tools the app adds. */
export const KNOWN_TOOLS = [...BUILTIN_TOOLS.map((t) => t.name), RUN_CHILD_TOOL, START_PROCESS_TOOL, LIST_PROCESSES_TOOL];

function parseTools(value: string): string[] {
  const tools = value
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  const unknown = tools.filter((t) => !KNOWN_TOOLS.includes(t));
  if (unknown.length) throw new ConfigError(`LASH_TOOLS names unknown tools: ${unknown.join(', ')}; known: ${KNOWN_TOOLS.join(', ')}`);
  return tools;
}

/**
 * DATABASE_URL must be a PostgreSQL URL with a user, a host and a database, so that a typo fails
 * here, before anything connects, instead of as a driver error later.
 */
function checkDatabaseUrl(value: string): string {
  const example = 'e.g. postgresql://lash:secret@db.example:5432/lash';
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new ConfigError(`DATABASE_URL is not a URL; ${example}`);
  }
  const shown = (() => {
    if (u.password) u.password = '***';
    return u.toString();
  })();
  if (u.protocol !== 'postgresql:' && u.protocol !== 'postgres:')
    throw new ConfigError(
      `DATABASE_URL must start with postgresql:// (got ${u.protocol}//…); only PostgreSQL is supported (unset it for the embedded store); ${example}`,
    );
  if (!u.hostname && !u.searchParams.get('host')) throw new ConfigError(`DATABASE_URL names no host (${shown}); ${example}`);
  if (!u.username) throw new ConfigError(`DATABASE_URL names no user (${shown}); put it before the host: ${example}`);
  if (u.port && !(Number(u.port) >= 1 && Number(u.port) <= 65535)) throw new ConfigError(`DATABASE_URL has a bad port (${shown}); ${example}`);
  if (!u.pathname.replace(/^\//, '')) throw new ConfigError(`DATABASE_URL names no database (${shown}); add it as the path: ${example}`);
  return value;
}

function optionalIntVar(env: NodeJS.ProcessEnv, name: string, min: number, max: number): number | undefined {
  return env[name] === undefined || env[name] === '' ? undefined : intVar(env, name, 0, min, max);
}

function tenantWideToolsFrom(value: string): TenantWideTool[] {
  const parsed = parseTenantWideTools(value);
  if (typeof parsed === 'string') throw new ConfigError(`LASH_TENANT_WIDE_TOOLS must list tenant:tool or tenant:tool@host entries, comma-separated: ${parsed}`);
  return parsed;
}

function parseModes(value: string): ('standard' | 'rlm')[] {
  const modes = value
    .split(',')
    .map((m) => m.trim())
    .filter(Boolean);
  const bad = modes.filter((m) => m !== 'standard' && m !== 'rlm');
  if (bad.length || modes.length === 0) throw new ConfigError(`LASH_MODES must list standard and/or rlm, comma-separated (got "${value}")`);
  return modes as ('standard' | 'rlm')[];
}

/** Tracing follows the OpenTelemetry conventions: an OTLP endpoint turns it on, `none` turns it off. */
function tracingFrom(env: NodeJS.ProcessEnv): Config['tracing'] {
  if (env.OTEL_TRACES_EXPORTER === 'none' || env.OTEL_SDK_DISABLED === 'true') return undefined;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.replace(/\/+$/, '');
  const url = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || (base ? `${base}/v1/traces` : undefined);
  if (!url) return undefined;
  if (!/^https?:\/\//.test(url))
    throw new ConfigError(`OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT must be an http(s) URL, e.g. http://127.0.0.1:4318 (got "${url}")`);
  return { url, serviceName: env.OTEL_SERVICE_NAME || 'lash-grpc', scheduledDelayMs: intVar(env, 'OTEL_BSP_SCHEDULE_DELAY', 5_000, 0, 600_000) };
}

const EXAMPLE_PORTS: Record<string, number> = { LASH_LISTEN: 50051, LASH_METRICS_LISTEN: 9464, LASH_HTTP_LISTEN: 8080 };

function parseListen(value: string, name = 'LASH_LISTEN'): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  const example = EXAMPLE_PORTS[name] ?? 8080;
  if (!m || port > 65535) throw new ConfigError(`${name} must be host:port, e.g. 127.0.0.1:${example} or 0.0.0.0:${example} (got "${value}")`);
  return { host: m[1]!, port };
}

/** Comma-separated origins allowed to call the HTTP listener from a browser ("*" for any); empty: none. */
function corsOrigins(raw: string | undefined): string[] {
  const origins = (raw ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter((o) => o.length > 0);
  for (const o of origins) {
    if (o !== '*' && !/^https?:\/\/[^/\s]+$/.test(o))
      throw new ConfigError(`LASH_HTTP_CORS_ORIGINS entries must be origins like https://ops.example.com or http://localhost:5173 (no path), or *; got "${o}"`);
  }
  return origins;
}

function boolVar(env: NodeJS.ProcessEnv, name: string): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '' || raw === '0' || raw === 'false') return false;
  if (raw === '1' || raw === 'true') return true;
  throw new ConfigError(`${name} must be 1 or 0 (got "${raw}")`);
}

/** LASH_METRICS_TENANTS: tenants that always get their own metrics label (each one a series set, so bounded). */
function metricsTenants(raw: string | undefined): string[] {
  const names = [
    ...new Set(
      (raw ?? '')
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean),
    ),
  ];
  if (names.length > 1_000)
    throw new ConfigError(`LASH_METRICS_TENANTS names ${names.length} tenants; at most 1000 may have their own label (the others are counted as "_other")`);
  return names;
}

function intVar(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
  return n;
}

function loadTls(env: NodeJS.ProcessEnv): Config['tls'] {
  const { LASH_TLS_CERT: cert, LASH_TLS_KEY: key, LASH_TLS_CLIENT_CA: ca } = env;
  if (!cert && !key) {
    if (ca) throw new ConfigError('LASH_TLS_CLIENT_CA needs LASH_TLS_CERT and LASH_TLS_KEY as well');
    return undefined;
  }
  if (!cert || !key) throw new ConfigError('set both LASH_TLS_CERT and LASH_TLS_KEY to serve TLS');
  const read = (name: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ConfigError(`${name}: cannot read ${path}: ${(err as Error).message}`);
    }
  };
  return { cert: read('LASH_TLS_CERT', cert), key: read('LASH_TLS_KEY', key), clientCa: ca ? read('LASH_TLS_CLIENT_CA', ca) : undefined };
}

/**
 * LASH_HOST_NAME: it becomes the first part of this replica's id, which lease owners join to a key
 * with '/', so '/' and whitespace would make owners unreadable (ADR 0081).
 */
function hostNameVar(value: string | undefined): string | undefined {
  if (!value) return undefined;
  if (!/^[^\s/]{1,128}$/.test(value)) throw new ConfigError(`LASH_HOST_NAME must be 1-128 characters without '/' or spaces (got "${value}")`);
  return value;
}
