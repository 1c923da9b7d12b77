// Fairness under bursts (issue 18): while 500 RunTurn calls start at once, and then while 2,000
// ObserveSession subscriptions start at once, a side client on its own channel keeps calling
// GetSession one call at a time. Reported: the side call's p50/p99 during each burst as a ratio to
// the same call on the idle server in the same run, how long the burst took, refusals (turn
// slots, observer limits), the longest event-loop stall during each burst, and the process RSS
// and V8 heap before, at their peak during, and after the bursts (subscriptions cancelled, a
// forced GC, BURST_SETTLE_MS, another GC). Server and clients share this process (as in the other
// benches), so RSS includes the clients.
//
//   npm run bench:burst                              # PGlite in a temp folder
//   DATABASE_URL=postgresql://… npm run bench:burst  # a throw-away lash_bench_<random> database
//
// Tuning (env): BURST_TURNS (500), BURST_SUBSCRIPTIONS (2000), BURST_IDLE_CALLS (300),
// BURST_SETTLE_MS (5000), BURST_ROUNDS (1; one JSON line on stdout each), BURST_LABEL (copied
// into the row, for A/B runs); LASH_* variables reach the server. Indicative only: run it on a
// quiet machine.

import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { OpenSessionRequest, type ObserveSessionResponse } from '../gen/lash/v1/session_service.js';
import { RunTurnRequest } from '../gen/lash/v1/turn_service.js';
import { startApp } from '../src/app.js';
import { connect } from '../src/client/promised.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { intEnv, percentile, provisionStore, round } from './harness.js';

const MiB = 1024 * 1024;

interface Side {
  stop(): Promise<{ calls: number; p50: number; p99: number; max: number }>;
}

/** GetSession in a loop on its own channel until stopped; latencies in ms. */
function sideLoop(call: () => Promise<unknown>): Side {
  const times: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const t = performance.now();
      await call();
      times.push(performance.now() - t);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      const sorted = Float64Array.from(times).sort();
      return {
        calls: times.length,
        p50: round(percentile(sorted, 0.5), 2),
        p99: round(percentile(sorted, 0.99), 2),
        max: round(sorted[sorted.length - 1] ?? 0, 2),
      };
    },
  };
}

/** Highest RSS and V8 heap seen while running, sampled every 50 ms, in MiB. */
function memoryPeak(): { stop(): { rss: number; heap: number } } {
  let rss = process.memoryUsage.rss();
  let heap = process.memoryUsage().heapUsed;
  const timer = setInterval(() => {
    rss = Math.max(rss, process.memoryUsage.rss());
    heap = Math.max(heap, process.memoryUsage().heapUsed);
  }, 50);
  return {
    stop() {
      clearInterval(timer);
      return { rss: Math.round(rss / MiB), heap: Math.round(heap / MiB) };
    },
  };
}

/** The longest event-loop stall (ms) while running: how long any callback, the side call's included, could wait. */
function loopStall(): { stop(): number } {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  return {
    stop() {
      h.disable();
      return round(h.max / 1e6, 1);
    },
  };
}

const gc = () => (globalThis as { gc?: () => void }).gc?.();
const memory = () => ({ rss: Math.round(process.memoryUsage.rss() / MiB), heap: Math.round(process.memoryUsage().heapUsed / MiB) });

async function main(): Promise<number> {
  const turns = intEnv('BURST_TURNS', 500, 1);
  const subscriptions = intEnv('BURST_SUBSCRIPTIONS', 2000, 1);
  const idleCalls = intEnv('BURST_IDLE_CALLS', 300, 10);
  const settleMs = intEnv('BURST_SETTLE_MS', 5_000, 0);
  const rounds = intEnv('BURST_ROUNDS', 1, 1);
  const store = await provisionStore(process.env.DATABASE_URL || undefined);
  const config = loadConfig({
    LASH_LISTEN: '127.0.0.1:0',
    LASH_LOG_LEVEL: 'error',
    LASH_QUEUE_WORKERS: '0',
    LASH_SHUTDOWN_GRACE_MS: '2000',
    // One tenant sends the whole burst: its own limits (128 turns, 1,000 observers) would refuse most
    // of it at once and measure refusals, not service. The process limits still apply.
    LASH_TENANT_MAX_RUNNING_TURNS: String(turns),
    LASH_TENANT_MAX_OBSERVERS: String(subscriptions),
    // Any LASH_* variable of this process overrides the above (e.g. LASH_MAX_RUNNING_TURNS).
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('LASH_'))),
    ...store.env,
  });
  const app = await startApp(config, createLogger(config.logLevel, process.stderr));
  // Burst and side traffic on separate connections: grpc-js shares one connection between clients
  // of the same target unless told otherwise, and a side call would then wait for a stream slot
  // behind 2,000 open subscriptions (what made a first run show 40 s), measuring the client.
  const own = { 'grpc.use_local_subchannel_pool': 1 };
  const burst = connect(app.address, credentials.createInsecure(), own);
  const side = connect(app.address, credentials.createInsecure(), own);
  try {
    process.stderr.write(`bench: burst on ${store.engine}: ${turns} turns, ${subscriptions} subscriptions\n`);
    const ids = Array.from({ length: turns }, (_, i) => `burst-${i}`);
    for (const sessionId of ids) await burst.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId }));
    await side.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'side' }));
    const get = () => side.sessions.getSession({ sessionId: 'side' });
    for (let i = 0; i < 50; i++) await get();
    gc();
    const before = memory();

    const idleTimes: number[] = [];
    for (let i = 0; i < idleCalls; i++) {
      const t = performance.now();
      await get();
      idleTimes.push(performance.now() - t);
    }
    const idleSorted = Float64Array.from(idleTimes).sort();
    const idle = { p50: round(percentile(idleSorted, 0.5), 2), p99: round(percentile(idleSorted, 0.99), 2) };

    // Each round repeats both bursts (new turn ids): a later round's `after` close to the first's
    // shows the memory of a burst is reused rather than accumulated.
    for (let round_ = 1; round_ <= rounds; round_++) {
      // 1. All turns at once, each on its own session (echo model).
      const peak = memoryPeak();
      let stall = loopStall();
      let sideRun = sideLoop(get);
      let refusedTurns = 0;
      let t0 = performance.now();
      await Promise.all(
        ids.map(
          (sessionId, i) =>
            new Promise<void>((resolve) => {
              const call = burst.turns.raw.runTurn(
                RunTurnRequest.fromPartial({
                  sessionId,
                  turnId: `t-${round_}-${i}`,
                  input: { items: [{ item: { $case: 'text', value: { text: `burst turn ${i}` } } }] },
                }),
              );
              call.on('data', () => {});
              call.on('error', (e: ServiceError) => {
                if (e.code === status.RESOURCE_EXHAUSTED) refusedTurns++;
                resolve();
              });
              call.on('end', resolve);
            }),
        ),
      );
      const turnSeconds = round((performance.now() - t0) / 1000, 2);
      const duringTurns = await sideRun.stop();
      const turnStall = stall.stop();

      // 2. All subscriptions at once, spread over the sessions; each counts once its snapshot arrived.
      stall = loopStall();
      sideRun = sideLoop(get);
      let refusedSubs = 0;
      const calls: { cancel(): void }[] = [];
      t0 = performance.now();
      await Promise.all(
        Array.from(
          { length: subscriptions },
          (_, i) =>
            new Promise<void>((resolve) => {
              const call = burst.sessions.raw.observeSession({ sessionId: ids[i % ids.length]! });
              calls.push(call);
              call.once('data', (_m: ObserveSessionResponse) => resolve());
              call.on('error', (e: ServiceError) => {
                if (e.code === status.RESOURCE_EXHAUSTED) refusedSubs++;
                resolve();
              });
            }),
        ),
      );
      const subSeconds = round((performance.now() - t0) / 1000, 2);
      const duringSubs = await sideRun.stop();
      const subStall = stall.stop();
      for (const c of calls) c.cancel();
      const during = peak.stop();

      // After: the subscriptions are gone; collect, let the allocator hand pages back, collect again.
      gc();
      await new Promise((r) => setTimeout(r, settleMs));
      gc();
      const after = memory();

      const row = {
        bench: 'burst',
        label: process.env.BURST_LABEL ?? '',
        engine: store.engine,
        round: round_,
        turns,
        subscriptions,
        idle_get_p50_ms: idle.p50,
        idle_get_p99_ms: idle.p99,
        turns_seconds: turnSeconds,
        turns_refused: refusedTurns,
        turns_get_p50_ms: duringTurns.p50,
        turns_get_p99_ms: duringTurns.p99,
        turns_get_calls: duringTurns.calls,
        turns_p99_ratio: round(duringTurns.p99 / idle.p99, 1),
        turns_loop_stall_ms: turnStall,
        subs_seconds: subSeconds,
        subs_refused: refusedSubs,
        subs_get_p50_ms: duringSubs.p50,
        subs_get_p99_ms: duringSubs.p99,
        subs_get_calls: duringSubs.calls,
        subs_p99_ratio: round(duringSubs.p99 / idle.p99, 1),
        subs_loop_stall_ms: subStall,
        rss_before_mb: before.rss,
        rss_peak_mb: during.rss,
        rss_after_mb: after.rss,
        heap_before_mb: before.heap,
        heap_peak_mb: during.heap,
        heap_after_mb: after.heap,
      };
      process.stdout.write(`${JSON.stringify(row)}\n`);
    }
    return 0;
  } finally {
    burst.close();
    side.close();
    await app.stop();
    await store.cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
