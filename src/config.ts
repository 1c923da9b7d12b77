// Typed configuration from the environment, parsed once at start-up. Invalid values fail fast
// with a message naming the variable. Secrets stay here: the domain only sees provider kinds.

import { readFileSync } from 'node:fs';
import { loadAuthConfig, type AuthConfig } from './auth/config.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface ProviderCredentials {
  openaiApiKey?: string;
  openaiBaseUrl?: string;
  anthropicApiKey?: string;
  googleApiKey?: string;
  /** The `scripted` load-test model (LASH_SCRIPTED_PROVIDER=1). */
  scripted?: boolean;
}

export interface Config {
  listen: { host: string; port: number };
  /** Where GET /metrics is served (LASH_METRICS_LISTEN); unset: no metrics endpoint. */
  metricsListen?: { host: string; port: number };
  /** OTLP/HTTP trace export (standard OTEL_* variables); unset: no tracing. */
  tracing?: { url: string; serviceName: string; scheduledDelayMs: number };
  dataDir: string;
  databaseUrl?: string;
  logLevel: LogLevel;
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
  providerRetry: { maxAttempts: number; initialBackoffMs: number; maxBackoffMs: number };
  leaseTtlMs: number;
  cancelGraceMs: number;
  maxIterations: number;
  /** Session modes this server offers (LASH_MODES). */
  modes: ('standard' | 'rlm')[];
  sandbox: { memoryBytes: number; timeMs: number; outputBytes: number; toolCalls: number; globalsBytes: number };
  /** The rlm sandbox's thread pool: at most `maxThreads`, then a bounded queue with a wait limit. */
  sandboxPool: { maxThreads: number; maxQueued: number; queueWaitMs: number };
  /** Turn slots of RunTurn/StartTurn: running at once in this process, then a bounded, timed queue. */
  turnSlots: { maxRunning: number; maxWaiting: number; waitMs: number };
  /** run_child fan-out: child sessions one turn may create, sessions one root's tree may hold. */
  children: { perTurn: number; perRoot: number };
  feed: { heartbeatMs: number; lingerMs: number; retentionHours: number; retentionEvents: number; observerBuffer: number; observerBufferBytes: number; observerStallMs: number };
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
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) throw new ConfigError(`LASH_LOG_LEVEL must be debug, info, warn or error (got "${env.LASH_LOG_LEVEL}")`);
  const providers: ProviderCredentials = {
    openaiApiKey: env.OPENAI_API_KEY || undefined,
    openaiBaseUrl: env.OPENAI_BASE_URL || undefined,
    anthropicApiKey: env.ANTHROPIC_API_KEY || undefined,
    googleApiKey: env.GOOGLE_GENERATIVE_AI_API_KEY || undefined,
    scripted: boolVar(env, 'LASH_SCRIPTED_PROVIDER'),
  };
  if (providers.openaiBaseUrl && !/^https?:\/\//.test(providers.openaiBaseUrl)) throw new ConfigError(`OPENAI_BASE_URL must be an http(s) URL (got "${providers.openaiBaseUrl}")`);
  const availableProviders = ['echo'];
  if (providers.openaiApiKey) availableProviders.push('openai');
  if (providers.openaiBaseUrl) availableProviders.push('openai-compatible');
  if (providers.anthropicApiKey) availableProviders.push('anthropic');
  if (providers.googleApiKey) availableProviders.push('google');
  // Built-in models need no credentials and are never picked as the default by themselves.
  const credentialed = availableProviders.filter((p) => p !== 'echo');
  if (providers.scripted) availableProviders.push('scripted');
  const defaultProvider = env.LASH_DEFAULT_PROVIDER || (providers.openaiBaseUrl ? 'openai-compatible' : credentialed[0]) || 'echo';
  if (!availableProviders.includes(defaultProvider)) {
    throw new ConfigError(`LASH_DEFAULT_PROVIDER is "${defaultProvider}" but that provider has no credentials here; available: ${availableProviders.join(', ')}`);
  }
  const tls = loadTls(env);
  const auth = loadAuthConfig(env, listen.host, tls?.clientCa !== undefined, (message) => new ConfigError(message));
  return {
    auth,
    listen,
    metricsListen: env.LASH_METRICS_LISTEN ? parseListen(env.LASH_METRICS_LISTEN, 'LASH_METRICS_LISTEN') : undefined,
    tracing: tracingFrom(env),
    dataDir: env.LASH_DATA_DIR || './.lash',
    databaseUrl: env.DATABASE_URL || undefined,
    logLevel,
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
    tools: (env.LASH_TOOLS ?? '').split(',').map((t) => t.trim()).filter(Boolean),
    providerRetry: {
      maxAttempts: intVar(env, 'LASH_PROVIDER_MAX_ATTEMPTS', 3, 1, 10),
      initialBackoffMs: intVar(env, 'LASH_PROVIDER_BACKOFF_MS', 500, 0, 60_000),
      maxBackoffMs: 10_000,
    },
    leaseTtlMs: intVar(env, 'LASH_LEASE_TTL_MS', 15_000, 1_000, 600_000),
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
    turnSlots: {
      maxRunning: intVar(env, 'LASH_MAX_RUNNING_TURNS', 256, 1, 100_000),
      maxWaiting: intVar(env, 'LASH_TURN_QUEUE', 1_024, 0, 1_000_000),
      waitMs: intVar(env, 'LASH_TURN_QUEUE_WAIT_MS', 5_000, 0, 600_000),
    },
    children: {
      perTurn: intVar(env, 'LASH_CHILDREN_PER_TURN', 16, 1, 10_000),
      perRoot: intVar(env, 'LASH_CHILDREN_PER_ROOT', 100, 1, 100_000),
    },
    feed: {
      heartbeatMs: intVar(env, 'LASH_FEED_HEARTBEAT_MS', 5_000, 100, 300_000),
      lingerMs: intVar(env, 'LASH_FEED_LINGER_MS', 10, 0, 1_000),
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

function parseModes(value: string): ('standard' | 'rlm')[] {
  const modes = value.split(',').map((m) => m.trim()).filter(Boolean);
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
  if (!/^https?:\/\//.test(url)) throw new ConfigError(`OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT must be an http(s) URL, e.g. http://127.0.0.1:4318 (got "${url}")`);
  return { url, serviceName: env.OTEL_SERVICE_NAME || 'lash-grpc', scheduledDelayMs: intVar(env, 'OTEL_BSP_SCHEDULE_DELAY', 5_000, 0, 600_000) };
}

function parseListen(value: string, name = 'LASH_LISTEN'): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new ConfigError(`${name} must be host:port, e.g. 127.0.0.1:${name === 'LASH_LISTEN' ? 50051 : 9464} or 0.0.0.0:${name === 'LASH_LISTEN' ? 50051 : 9464} (got "${value}")`);
  return { host: m[1]!, port };
}

function boolVar(env: NodeJS.ProcessEnv, name: string): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '' || raw === '0' || raw === 'false') return false;
  if (raw === '1' || raw === 'true') return true;
  throw new ConfigError(`${name} must be 1 or 0 (got "${raw}")`);
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
