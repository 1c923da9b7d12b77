// Shared pieces of the benchmarks: a bounded closed-loop load generator (N calls in flight over
// one channel, fixed call count, time cap) that alternates a reference and a subject, latency
// percentiles, the raw grpc-js echo reference and a throw-away database per run (temp PGlite
// folder, or a fresh PostgreSQL database).

import { Client, credentials, Metadata, Server, ServerCredentials, type ServiceDefinition, type ServiceError, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface LoadOptions {
  /** Measured calls (of each side of a comparison). */
  calls: number;
  /** Calls made first at the same concurrency and not measured (JIT, connections, caches). */
  warmup: number;
  /** Calls in flight at once over the one channel. */
  concurrency: number;
  /** Wall-clock cap of the measured phase; when hit, the calls completed so far are reported. */
  maxSeconds: number;
  /**
   * A comparison alternates reference and subject in this many rounds, so both see the same
   * machine (other processes, thermal state, GC pressure) instead of one running after the other.
   */
  rounds: number;
}

export interface Measurement {
  calls: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** True when the time cap ended the measurement before all its calls. */
  capped: boolean;
}

/** One call; `worker` is the index (0..concurrency-1) of the in-flight slot making it. */
export type Call = (worker: number) => Promise<unknown>;

/** Latencies and busy time of one side, over one or more closed-loop bursts. */
export class Recorder {
  private latencies: number[] = [];
  private seconds = 0;
  private capped = false;

  /** Runs `total` calls, `concurrency` at a time, and records them; stops early at `deadline`. */
  async burst(call: Call, total: number, concurrency: number, deadline: number): Promise<void> {
    const started = performance.now();
    const done = await run(call, total, concurrency, deadline, this.latencies);
    this.seconds += (performance.now() - started) / 1000;
    if (done < total) this.capped = true;
  }

  merge(other: Recorder): void {
    this.latencies = this.latencies.concat(other.latencies);
    this.seconds += other.seconds;
    this.capped ||= other.capped;
  }

  result(): Measurement {
    const sorted = Float64Array.from(this.latencies).sort();
    return { calls: sorted.length, seconds: this.seconds, rps: sorted.length / this.seconds, p50Ms: percentile(sorted, 0.5), p99Ms: percentile(sorted, 0.99), capped: this.capped };
  }
}

/** Warms up both, then measures `reference` and `subject` alternately in `rounds` rounds. */
export async function compare(reference: Call, subject: Call, options: LoadOptions): Promise<{ reference: Recorder; subject: Recorder }> {
  const { calls, warmup, concurrency, maxSeconds } = options;
  const rounds = Math.max(1, Math.min(options.rounds, calls));
  const warmupDeadline = performance.now() + maxSeconds * 1000;
  await run(reference, warmup, concurrency, warmupDeadline, undefined);
  await run(subject, warmup, concurrency, warmupDeadline, undefined);
  const deadline = performance.now() + maxSeconds * 1000;
  const ref = new Recorder();
  const sub = new Recorder();
  for (let r = 0; r < rounds; r++) {
    const chunk = Math.floor(calls / rounds) + (r < calls % rounds ? 1 : 0);
    await ref.burst(reference, chunk, concurrency, deadline);
    await sub.burst(subject, chunk, concurrency, deadline);
  }
  return { reference: ref, subject: sub };
}

/** Unmeasured calls, e.g. to get the JIT past a code path before any measurement starts. */
export async function warm(call: Call, total: number, concurrency: number, maxSeconds: number): Promise<void> {
  await run(call, total, concurrency, performance.now() + maxSeconds * 1000, undefined);
}

async function run(call: Call, total: number, concurrency: number, deadline: number, latencies: number[] | undefined): Promise<number> {
  let issued = 0;
  let completed = 0;
  let failure: unknown;
  const worker = async (w: number) => {
    while (issued < total && failure === undefined && performance.now() < deadline) {
      issued++;
      const t0 = performance.now();
      try {
        await call(w);
      } catch (err) {
        failure ??= err;
        return;
      }
      latencies?.push(performance.now() - t0);
      completed++;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, (_, w) => worker(w)));
  if (failure !== undefined) throw failure;
  return completed;
}

/** Nearest-rank percentile of ascending values (0 when empty). */
export function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

// --- Raw grpc-js echo: the reference every ratio divides by --------------------------------------

const identity = (b: Buffer) => b;

/** A hand-made unary service: bytes in, the same bytes out, no protobuf, no handler logic. */
export const ECHO_SERVICE: ServiceDefinition = {
  Echo: {
    path: '/bench.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

/** ~60 bytes, the size of a small unary request. */
export const ECHO_PAYLOAD = Buffer.from('lash-bench echo payload: 0123456789abcdefghijklmnopqrstuvwxyz');

export interface Echo {
  address: string;
  /** One echo call, shaped like the promise wrapper of src/client/promised.ts. */
  call(deadlineMs?: number): Promise<Buffer>;
  stop(): Promise<void>;
}

export async function startEcho(host = '127.0.0.1'): Promise<Echo> {
  const server = new Server();
  const impl: UntypedServiceImplementation = {
    Echo: (call: { request: Buffer }, callback: (err: ServiceError | null, res: Buffer) => void) => callback(null, call.request),
  };
  server.addService(ECHO_SERVICE, impl);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync(`${host}:0`, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  const address = `${host}:${port}`;
  const client = new Client(address, credentials.createInsecure());
  const path = ECHO_SERVICE.Echo!.path;
  return {
    address,
    call: (deadlineMs) =>
      new Promise<Buffer>((resolve, reject) => {
        client.makeUnaryRequest<Buffer, Buffer>(path, identity, identity, ECHO_PAYLOAD, new Metadata(), deadlineMs ? { deadline: Date.now() + deadlineMs } : {}, (err, res) => (err ? reject(err) : resolve(res!)));
      }),
    async stop() {
      client.close();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    },
  };
}

// --- Throw-away storage per run -----------------------------------------------------------------

export interface BenchStore {
  engine: 'pglite' | 'postgresql';
  /** LASH_* / DATABASE_URL variables that point a server at this store. */
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

/** A fresh PGlite folder, or (with a URL) a fresh `lash_bench_<random>` database on that server. */
export async function provisionStore(databaseUrl: string | undefined): Promise<BenchStore> {
  const dataDir = mkdtempSync(join(tmpdir(), 'lash-bench-'));
  const removeDir = () => rmSync(dataDir, { recursive: true, force: true });
  if (!databaseUrl) {
    return { engine: 'pglite', env: { LASH_DATA_DIR: dataDir }, cleanup: async () => removeDir() };
  }
  const name = `lash_bench_${randomBytes(6).toString('hex')}`;
  try {
    await adminQuery(databaseUrl, `create database ${name}`);
  } catch (err) {
    removeDir();
    throw new Error(`cannot create the bench database on ${redact(databaseUrl)}: ${(err as Error).message}`);
  }
  const url = new URL(databaseUrl);
  url.pathname = `/${name}`;
  return {
    engine: 'postgresql',
    env: { LASH_DATA_DIR: dataDir, DATABASE_URL: url.toString() },
    async cleanup() {
      removeDir();
      await adminQuery(databaseUrl, `drop database if exists ${name} with (force)`);
    },
  };
}

async function adminQuery(databaseUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** The URL without its password, for messages. */
export function redact(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '<unparsable DATABASE_URL>';
  }
}

// --- Options and output -------------------------------------------------------------------------

export function intEnv(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer ≥ ${min} (got "${raw}")`);
  return n;
}

export function listEnv(name: string, fallback: number[]): number[] {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const list = raw.split(',').map((s) => Number(s.trim()));
  if (list.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`${name} must be a comma-separated list of integers ≥ 1 (got "${raw}")`);
  return list;
}

export const round = (n: number, digits: number) => Number(n.toFixed(digits));

/** Renders rows as a left/right-aligned text table (numbers right-aligned). */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
