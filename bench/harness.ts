// Shared pieces of the benchmarks: a bounded closed-loop load generator (N calls in flight over
// one channel, fixed call count, time cap) that alternates a reference and a subject, latency
// percentiles, the raw grpc-js echo (unary) and stream (server-streaming) references, a throw-away
// database per run (temp PGlite folder, or a fresh PostgreSQL database), the machine load, and the
// run frame (options, cleanup on exit and Ctrl-C, exit codes) of the newer bench scripts.

import { Client, credentials, Metadata, Server, type ClientReadableStream, ServerCredentials, type ServiceDefinition, type ServiceError, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { ObserveSessionRequest, ObserveSessionResponse, SessionServiceService } from '../gen/lash/v1/session_service.js';
import { startApp, type App } from '../src/app.js';
import { preparedStatementText } from '../src/store/bound-sql.js';
import { connect, type LashClients } from '../src/client/promised.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';

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
/**
 * The common start of a bench: the machine load before it, a throw-away store (DATABASE_URL or a
 * temp PGlite folder) removed when the run ends, and a progress line on stderr.
 */
export async function openBenchStore(name: string, run: BenchRun, detail = ''): Promise<{ store: BenchStore; startLoad: MachineLoad }> {
  const databaseUrl = process.env.DATABASE_URL || undefined;
  const startLoad = machineLoad();
  const store = await provisionStore(databaseUrl);
  run.defer(() => store.cleanup());
  const where = databaseUrl ? redact(store.env.DATABASE_URL!) : store.env.LASH_DATA_DIR;
  process.stderr.write(`bench: ${name} on ${store.engine} (${where})${detail ? `, ${detail}` : ''}, load average ${startLoad.load1} on ${startLoad.cores} cores\n`);
  return { store, startLoad };
}

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

// --- Raw grpc-js server stream: the reference of the streaming benches ---------------------------

/** A hand-made server-streaming service: no protobuf, no handler logic, backpressure respected. */
export const STREAM_SERVICE: ServiceDefinition = {
  Stream: {
    path: '/bench.Stream/Stream',
    requestStream: false,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

export interface RawStreamChannel {
  /**
   * One streaming call. An 8-byte request (`count`, `size`) gets `count` messages of `size` bytes;
   * with no arguments the call gets the server's `replay` buffers. Resolves with the number of
   * messages received when the stream ends; `onMessage` sees each one as it arrives.
   */
  call(count?: number, size?: number, onMessage?: (message: Buffer) => void): Promise<number>;
  close(): void;
}

export interface RawStream extends RawStreamChannel {
  address: string;
  /** What a call without arguments receives (e.g. recorded lash responses, for fan-out). */
  replay: Buffer[];
  /** A client on a connection of its own (the default `call` shares one). */
  channel(): RawStreamChannel;
  stop(): Promise<void>;
}

interface WritableCall {
  request: Buffer;
  write(b: Buffer): boolean;
  end(): void;
  once(event: 'drain' | 'cancelled', fn: () => void): void;
  cancelled: boolean;
}

export async function startRawStream(host = '127.0.0.1'): Promise<RawStream> {
  const server = new Server();
  const state = { replay: [] as Buffer[] };
  const impl: UntypedServiceImplementation = {
    Stream: (call: WritableCall) => {
      const messages = call.request.length === 8
        ? Array.from({ length: call.request.readUInt32BE(0) }, () => Buffer.alloc(call.request.readUInt32BE(4), 0x61))
        : state.replay;
      let i = 0;
      const pump = () => {
        while (i < messages.length) {
          if (call.cancelled) return;
          if (!call.write(messages[i++]!)) {
            call.once('drain', pump);
            return;
          }
        }
        call.end();
      };
      pump();
    },
  };
  server.addService(STREAM_SERVICE, impl);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync(`${host}:0`, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  const address = `${host}:${port}`;
  const channels: RawStreamChannel[] = [];
  const channel = (own: boolean): RawStreamChannel => {
    // A local subchannel pool gives the client a connection of its own.
    const client = new Client(address, credentials.createInsecure(), own ? { 'grpc.use_local_subchannel_pool': 1 } : {});
    const c: RawStreamChannel = {
      call: (count, size, onMessage) =>
        new Promise<number>((resolve, reject) => {
          const req = Buffer.alloc(count === undefined ? 0 : 8);
          if (count !== undefined) {
            req.writeUInt32BE(count, 0);
            req.writeUInt32BE(size ?? 0, 4);
          }
          let n = 0;
          const stream = client.makeServerStreamRequest<Buffer, Buffer>(STREAM_SERVICE.Stream!.path, identity, identity, req, new Metadata(), {});
          stream.on('data', (m: Buffer) => {
            n++;
            onMessage?.(m);
          });
          stream.on('error', reject);
          stream.on('end', () => resolve(n));
        }),
      close: () => client.close(),
    };
    channels.push(c);
    return c;
  };
  const shared = channel(false);
  return {
    address,
    get replay() {
      return state.replay;
    },
    set replay(buffers: Buffer[]) {
      state.replay = buffers;
    },
    call: shared.call,
    close: shared.close,
    channel: () => channel(true),
    async stop() {
      channels.forEach((c) => c.close());
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    },
  };
}

// --- Machine state and the run frame shared by the newer benches --------------------------------

/** What the machine was doing: the load average next to the cores, and this process's CPU share. */
export interface MachineLoad {
  cores: number;
  load1: number;
  /** CPU seconds this process used ÷ wall seconds, over the measured span (1.0 = one full core). */
  processCpu?: number;
}

export function machineLoad(): MachineLoad {
  return { cores: cpus().length, load1: round(loadavg()[0]!, 2) };
}

/** Measures this process's CPU share over a span: `const stop = cpuMeter(); …; stop()`. */
export function cpuMeter(): () => number {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  return () => {
    const c = process.cpuUsage(c0);
    return round((c.user + c.system) / 1000 / Math.max(1, performance.now() - t0), 2);
  };
}

/** Nearest-rank percentiles of unsorted values. */
export function percentiles(values: number[]): { n: number; p50: number; p99: number; max: number } {
  const sorted = Float64Array.from(values).sort();
  return { n: sorted.length, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.length ? sorted[sorted.length - 1]! : 0 };
}

/** Resolves when `predicate` holds (polled every `everyMs`), or rejects after `timeoutMs`. */
export async function waitUntil(predicate: () => boolean, timeoutMs: number, what: string, everyMs = 2): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface BenchRun {
  /** Registered cleanups run in reverse order at the end, on failure and on Ctrl-C. */
  defer(fn: () => Promise<void> | void): void;
  /** True after SIGINT/SIGTERM: calls in flight then fail on closed channels. */
  readonly interrupted: boolean;
}

/**
 * The frame of a bench script: parses options (`prepare`, exit 2 on a bad value), runs `body`
 * (exit 1 on a failure), always cleans up, prints the summary it returns, exits 0. Figures that
 * miss a target are reported, not failed.
 */
export async function runBench<O>(name: string, prepare: () => O, body: (options: O, run: BenchRun) => Promise<string>): Promise<void> {
  let options: O;
  try {
    options = prepare();
  } catch (err) {
    process.stderr.write(`bench ${name}: ${(err as Error).message}\n`);
    return finish(2);
  }
  const cleanups: (() => Promise<void> | void)[] = [];
  const cleanup = async () => {
    while (cleanups.length > 0) {
      try {
        await cleanups.pop()!();
      } catch (err) {
        process.stderr.write(`bench ${name}: cleanup failed: ${(err as Error).message}\n`);
      }
    }
  };
  const run = { interrupted: false, defer: (fn: () => Promise<void> | void) => void cleanups.push(fn) };
  const onSignal = (signal: NodeJS.Signals) => {
    run.interrupted = true;
    process.stderr.write(`bench ${name}: ${signal}, cleaning up\n`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let summary: string;
  try {
    summary = await body(options, run);
  } catch (err) {
    if (run.interrupted) return;
    process.stderr.write(`bench ${name}: failed: ${(err as Error).stack ?? String(err)}\n`);
    await cleanup();
    return finish(1);
  }
  await cleanup();
  process.stdout.write(`\n${summary}\n`);
  finish(0);
}

function finish(code: number): void {
  process.exitCode = code;
  // Every handle should be closed by now; do not let a stray one keep the bench alive.
  setTimeout(() => process.exit(code), 5_000).unref();
}

/** One line naming the run: bench, engine, machine. */
export function header(bench: string, engine: string, detail: string, load: MachineLoad): string {
  const cpu = cpus();
  return `${bench} bench — engine ${engine}, ${detail}, loopback, node ${process.version}, ${cpu.length} × ${cpu[0]?.model.trim() ?? 'cpu'}, load average ${load.load1} at start`;
}

/**
 * The real server (`startApp`) on 127.0.0.1:0 against `store`, with only the variables given here
 * (no provider keys or listen address from the shell), logs at error level to stderr, and clients.
 */
export async function startBenchApp(store: BenchStore, env: Record<string, string>, run: BenchRun): Promise<{ app: App; clients: LashClients }> {
  const config = loadConfig({ LASH_LISTEN: '127.0.0.1:0', LASH_LOG_LEVEL: 'error', LASH_SHUTDOWN_GRACE_MS: '2000', ...store.env, ...env });
  const app = await startApp(config, createLogger(config.logLevel, process.stderr));
  run.defer(() => app.stop());
  const clients = connect(app.address);
  run.defer(() => clients.close());
  return { app, clients };
}

/** Row counts of some tables (names are the bench's own constants, never input). */
export async function countRows(app: App, tables: readonly string[]): Promise<Record<string, number>> {
  const sql = `select ${tables.map((t) => `(select count(*) from ${t})::int as ${t}`).join(', ')}`;
  const [row] = (await app.db.em().getConnection().execute(sql)) as Record<string, number>[];
  return Object.fromEntries(tables.map((t) => [t, Number(row![t])]));
}

/**
 * Event-loop delay of this process over a span (`const stop = loopDelay(); …; stop()`), in ms: how
 * long ready callbacks waited for the loop. High values mean the process, not the network or the
 * store, is the bottleneck — everything here (clients, server, fakes) shares one loop.
 */
export function loopDelay(): () => { p50: number; p99: number; max: number } {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  return () => {
    h.disable();
    return { p50: round(h.percentile(50) / 1e6, 2), p99: round(h.percentile(99) / 1e6, 2), max: round(h.max / 1e6, 2) };
  };
}

// --- ObserveSession on raw clients: one decode per response, as the generated client does -----

export interface Observer {
  /** Sequence of the newest event received (0 before any). */
  lastSeq: number;
  events: number;
  /** performance.now() of the first message and of the newest event. */
  firstAt: number;
  /** Cursor of the first message (a snapshot's is the feed position when observing began). */
  firstCursor: string;
  lastEventAt: number;
  /** Every response as received after `record()` (for the raw replay). */
  recorded?: Buffer[];
  error?: string;
  ended: boolean;
  cancel(): void;
}

export type OnEvent = (message: ObserveSessionResponse['messages'][number], at: number) => void;

/** Clients on connections of their own (grpc-js otherwise shares one connection per target). */
export function channels(address: string, count: number): Client[] {
  return Array.from({ length: count }, () => new Client(address, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }));
}

export function observe(client: Client, sessionId: string, cursor: string | undefined, onEvent?: OnEvent): Observer {
  const call: ClientReadableStream<Buffer> = client.makeServerStreamRequest<ObserveSessionRequest, Buffer>(
    SessionServiceService.observeSession.path, (r) => Buffer.from(ObserveSessionRequest.encode(r).finish()), identity, { sessionId, cursor }, new Metadata(), {},
  );
  const o: Observer = { lastSeq: 0, events: 0, firstAt: 0, firstCursor: '', lastEventAt: 0, ended: false, cancel: () => call.cancel() };
  call.on('data', (buf: Buffer) => {
    const at = performance.now();
    if (o.firstAt === 0) o.firstAt = at;
    o.recorded?.push(buf);
    const res = ObserveSessionResponse.decode(buf);
    if (!o.firstCursor && res.messages[0]) o.firstCursor = res.messages[0].cursor;
    for (const m of res.messages) {
      if (m.kind?.$case === 'snapshot' || m.kind?.$case === 'gap') o.lastSeq = Math.max(o.lastSeq, Number(m.sequence));
      if (m.kind?.$case !== 'event') continue;
      o.events++;
      o.lastSeq = Number(m.sequence);
      o.lastEventAt = at;
      onEvent?.(m, at);
    }
  });
  call.on('error', (e: { code: number; details: string }) => {
    if (e.code !== 1 /* CANCELLED: ours */) o.error = `${e.code} ${e.details}`;
    o.ended = true;
  });
  call.on('end', () => (o.ended = true));
  return o;
}

// --- SQL statements sent to the store, counted at the driver -------------------------------------

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
  target[name] = wrap ? wrap(original) : function (this: unknown, ...args: unknown[]) {
    statements++;
    classify(args[0]);
    return original.apply(this, args);
  };
}

// Installed when this module loads, before any server starts: MikroORM binds PGlite's `query` once
// when it builds its dialect. On PostgreSQL every statement, BEGIN and COMMIT included, goes
// through `pg.Client#query`. On PGlite statements go through `PGlite#query`, or, inside a
// transaction, through the transaction object's `query`; BEGIN and COMMIT count as two.
countCalls(pg.Client.prototype, 'query');
countCalls(PGlite.prototype, 'query');
countCalls(PGlite.prototype, 'exec');
countCalls(PGlite.prototype, 'transaction', (original) => function (this: unknown, ...args: unknown[]) {
  statements += 2;
  begins++;
  const [callback, ...rest] = args as [(tx: { query: Fn }) => unknown, ...unknown[]];
  return original.call(this, (tx: { query: Fn }) => {
    const query = tx.query;
    tx.query = function (this: unknown, ...a: unknown[]) {
      statements++;
      classify(a[0]);
      return query.apply(tx, a);
    };
    return callback(tx);
  }, ...rest);
});

// Hot-path statements on PGlite are prepared once and then run by a bind message sent through
// `execProtocol` (src/store/bound-sql.ts): count each bind as one statement, classified by the
// text its statement name stands for. The one-off parse/describe exchange is not a statement run.
countCalls(PGlite.prototype, 'execProtocol', (original) => function (this: unknown, ...args: unknown[]) {
  const message = args[0] as Uint8Array;
  if (message[0] === 0x42 /* 'B' */) {
    // Bind: type, int32 length, portal name (C string), statement name (C string).
    const portalEnd = message.indexOf(0, 5);
    const nameEnd = message.indexOf(0, portalEnd + 1);
    statements++;
    classify(preparedStatementText(Buffer.from(message.subarray(portalEnd + 1, nameEnd)).toString('utf8')) ?? '');
  }
  return original.apply(this, args);
});

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
