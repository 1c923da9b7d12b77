// The frame of the newer bench scripts: machine state (load, CPU share, event-loop delay), the
// run (options, cleanup on exit and Ctrl-C, exit codes), the real server on a throw-away store,
// and small measuring helpers.

import { cpus, loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { startApp, type App } from '../../src/app.js';
import { connect, type LashClients } from '../../src/client/promised.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { percentile } from './load.js';
import { round } from './output.js';
import { installSqlMeter } from './sql-meter.js';
import { provisionStore, redact, type BenchStore } from './store.js';

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
  // Before the server builds its store: the statement meters count at the drivers.
  installSqlMeter();
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
  process.stderr.write(
    `bench: ${name} on ${store.engine} (${where})${detail ? `, ${detail}` : ''}, load average ${startLoad.load1} on ${startLoad.cores} cores\n`,
  );
  return { store, startLoad };
}
