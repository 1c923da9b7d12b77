// The closed-loop load generator of the benchmarks: N calls in flight over one channel, a fixed
// call count and a time cap, alternating a reference and a subject round by round so both see
// the same machine; latencies and their nearest-rank percentiles.

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
  /** This process's CPU (user + system) while these calls ran, in ms. */
  cpuMs: number;
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
  /** This process's CPU during this recorder's bursts only (the other side's bursts run apart). */
  private cpuMs = 0;

  /** Runs `total` calls, `concurrency` at a time, and records them; stops early at `deadline`. */
  async burst(call: Call, total: number, concurrency: number, deadline: number): Promise<void> {
    const started = performance.now();
    const cpu = process.cpuUsage();
    const done = await run(call, total, concurrency, deadline, this.latencies);
    const used = process.cpuUsage(cpu);
    this.cpuMs += (used.user + used.system) / 1000;
    this.seconds += (performance.now() - started) / 1000;
    if (done < total) this.capped = true;
  }

  merge(other: Recorder): void {
    this.latencies = this.latencies.concat(other.latencies);
    this.seconds += other.seconds;
    this.cpuMs += other.cpuMs;
    this.capped ||= other.capped;
  }

  result(): Measurement {
    const sorted = Float64Array.from(this.latencies).sort();
    return {
      calls: sorted.length,
      seconds: this.seconds,
      rps: sorted.length / this.seconds,
      p50Ms: percentile(sorted, 0.5),
      p99Ms: percentile(sorted, 0.99),
      cpuMs: this.cpuMs,
      capped: this.capped,
    };
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
