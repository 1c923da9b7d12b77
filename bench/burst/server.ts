// The burst bench's server process: the real server (`startApp`) alone in its own OS process,
// so its event loop, CPU profile, RSS and heap are its own and not the bench clients'. Driven by
// the bench over IPC (ipc.ts): memory, forced GC, a measured span (peak RSS/heap sampled every
// 50 ms, event-loop delay histogram, CPU share), a CPU profile of a span, a heap snapshot, stop.
// Its configuration arrives whole as JSON in BURST_SERVER_CONFIG; run with --expose-gc.

import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';
import { startApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { serveParent } from './ipc.js';

const MiB = 1024 * 1024;
const mb = (n: number) => Math.round(n / MiB);
const ms = (ns: number) => Math.round(ns / 1e4) / 100;

export interface Memory {
  rss: number;
  /** V8 heap in use, and committed (what V8 holds from the OS for it). */
  heap: number;
  heapTotal: number;
  /** Memory outside the V8 heap that V8 knows of: ArrayBuffers, Buffers, PGlite's WebAssembly memory. */
  external: number;
}

export interface Span {
  rss_peak: number;
  heap_peak: number;
  cpu: number;
  loop_p50_ms: number;
  loop_p99_ms: number;
  loop_max_ms: number;
  /** Ticks of the 50 ms sampler that came 100 ms or more late, and the time they were late in all. */
  loop_stalls_100ms: number;
  loop_stalled_ms: number;
  /**
   * CPU time this process used during those late ticks: far below `loop_stalled_ms` means the
   * process was waiting for a core (a busy machine), not running our code.
   */
  loop_stalled_cpu_ms: number;
  /** The most CPU used in one late tick's gap: the longest the server's own work can have held the loop. */
  loop_stall_cpu_max_ms: number;
}

const gc = () => (globalThis as { gc?: () => void }).gc?.();
const memory = (): Memory => {
  const m = process.memoryUsage();
  return { rss: mb(m.rss), heap: mb(m.heapUsed), heapTotal: mb(m.heapTotal), external: mb(m.external) };
};

/** Windows (µs, the CPU profile's clock) in which the loop was 100 ms or more late, for the profile. */
export const lateWindows: [number, number][] = [];

function startSpan(): () => Span {
  let rss = process.memoryUsage.rss();
  let heap = process.memoryUsage().heapUsed;
  let last = performance.now();
  let stalls = 0;
  let stalled = 0;
  let stalledCpu = 0;
  let stallCpuMax = 0;
  let lastCpu = process.cpuUsage();
  const timer = setInterval(() => {
    const now = performance.now();
    const late = now - last - 50;
    last = now;
    const cpu = process.cpuUsage();
    const cpuMs = (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000;
    lastCpu = cpu;
    if (late >= 100) {
      stalls++;
      stalled += late;
      // The share of the gap that was late, assuming the CPU was spread evenly over the gap.
      stalledCpu += (cpuMs * late) / (late + 50);
      stallCpuMax = Math.max(stallCpuMax, cpuMs);
      lateWindows.push([Number(process.hrtime.bigint() / 1000n) - Math.round(late * 1000), Number(process.hrtime.bigint() / 1000n)]);
    }
    rss = Math.max(rss, process.memoryUsage.rss());
    heap = Math.max(heap, process.memoryUsage().heapUsed);
  }, 50);
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  return () => {
    clearInterval(timer);
    loop.disable();
    const c = process.cpuUsage(c0);
    return {
      rss_peak: mb(rss),
      heap_peak: mb(heap),
      cpu: Math.round(((c.user + c.system) / 1000 / Math.max(1, performance.now() - t0)) * 100) / 100,
      loop_p50_ms: ms(loop.percentile(50)),
      loop_p99_ms: ms(loop.percentile(99)),
      loop_max_ms: ms(loop.max),
      loop_stalls_100ms: stalls,
      loop_stalled_ms: Math.round(stalled),
      loop_stalled_cpu_ms: Math.round(stalledCpu),
      loop_stall_cpu_max_ms: Math.round(stallCpuMax),
    };
  };
}

async function main(): Promise<void> {
  const config = loadConfig(JSON.parse(process.env.BURST_SERVER_CONFIG ?? '{}') as Record<string, string>);
  const app = await startApp(config, createLogger(config.logLevel, process.stderr));
  let stopSpan: (() => Span) | undefined;
  let profiler: Session | undefined;
  // Span boundaries on the CPU profile's clock (µs, monotonic), to cut the profile into bursts.
  const marks: Record<string, number>[] = [];
  const now = () => Number(process.hrtime.bigint() / 1000n);
  serveParent(
    {
      memory: () => memory(),
      gc: () => {
        gc();
        return memory();
      },
      'span-start': () => {
        marks.push({ start: now() });
        stopSpan = startSpan();
      },
      'span-stop': () => {
        marks[marks.length - 1]!.end = now();
        return stopSpan?.();
      },
      'profile-start': async () => {
        profiler = new Session();
        profiler.connect();
        await profiler.post('Profiler.setSamplingInterval', { interval: 500 });
        await profiler.post('Profiler.enable');
        await profiler.post('Profiler.start');
      },
      'profile-stop': async (file: unknown) => {
        if (!profiler) return null;
        const { profile } = await profiler.post('Profiler.stop');
        profiler.disconnect();
        profiler = undefined;
        writeFileSync(String(file), JSON.stringify(profile));
        writeFileSync(`${String(file)}.spans.json`, JSON.stringify({ spans: marks.splice(0), late: lateWindows.splice(0) }));
        return file;
      },
      'heap-snapshot': (dir: unknown) => writeHeapSnapshot(join(String(dir), `burst-${process.pid}-${Date.now()}.heapsnapshot`)),
      stop: async () => {
        await app.stop();
        setImmediate(() => process.exit(0));
      },
    },
    { address: app.address, pid: process.pid },
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`burst server: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
