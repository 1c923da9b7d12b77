// Fairness under bursts (issue 18): while 500 RunTurn calls start at once, and then while 2,000
// ObserveSession subscriptions start at once, a side client keeps calling GetSession one call at a
// time. Three OS processes, so that no measurement includes another party's event loop:
//   - the server (burst/server.ts, --expose-gc): the real startApp, nothing else;
//   - the side probe (burst/side.ts): GetSession on its own connection;
//   - this process: the burst's load clients and the orchestration.
// Reported per round: the side call's p50/p99 during each burst and as a ratio to the same call on
// the idle server in the same run, how long each burst took, refusals, the server's event-loop
// delay (p99, max, stalls ≥ 100 ms) and CPU share during each burst, and the server's RSS and V8
// heap before, at their peak, and after (subscriptions cancelled, a forced GC, BURST_SETTLE_MS,
// another GC).
//
//   npm run bench:burst                              # PGlite in a temp folder
//   DATABASE_URL=postgresql://… npm run bench:burst  # a throw-away lash_bench_<random> database
//
// Tuning (env): BURST_TURNS (500), BURST_SUBSCRIPTIONS (2000), BURST_IDLE_CALLS (300),
// BURST_SETTLE_MS (5000), BURST_ROUNDS (1; one JSON line on stdout each), BURST_LABEL (copied
// into the row, for A/B runs), BURST_PROFILE_DIR (a CPU profile of the server per burst),
// BURST_HEAP_DIR (heap snapshots of the server before the bursts and after each round), BURST_SERVER_NODE_ARGS (more
// Node.js flags for the server). LASH_* variables reach the server; so does the rest of the
// environment (e.g. MALLOC_ARENA_MAX). Indicative only: run it on a quiet machine.

import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { OpenSessionRequest, type ObserveSessionResponse } from '../gen/lash/v1/session_service.js';
import { RunTurnRequest } from '../gen/lash/v1/turn_service.js';
import { connect } from '../src/client/promised.js';
import type { Memory, Span } from './burst/server.js';
import type { Latency } from './burst/side.js';
import { forkChild } from './burst/ipc.js';
import { intEnv, provisionStore, round } from './harness.js';

const here = import.meta.dirname;

async function main(): Promise<number> {
  const turns = intEnv('BURST_TURNS', 500, 1);
  const subscriptions = intEnv('BURST_SUBSCRIPTIONS', 2000, 1);
  const idleCalls = intEnv('BURST_IDLE_CALLS', 300, 10);
  const settleMs = intEnv('BURST_SETTLE_MS', 5_000, 0);
  const rounds = intEnv('BURST_ROUNDS', 1, 1);
  const profileDir = process.env.BURST_PROFILE_DIR;
  const heapDir = process.env.BURST_HEAP_DIR;
  const store = await provisionStore(process.env.DATABASE_URL || undefined);
  const serverConfig = {
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
  };
  const serverArgs = ['--expose-gc', ...(process.env.BURST_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean)];
  const server = forkChild(join(here, 'burst/server.ts'), { ...process.env, BURST_SERVER_CONFIG: JSON.stringify(serverConfig) }, serverArgs);
  let side: ReturnType<typeof forkChild> | undefined;
  let burst: ReturnType<typeof connect> | undefined;
  try {
    const { address } = (await server.ready) as { address: string };
    side = forkChild(join(here, 'burst/side.ts'), { ...process.env, BURST_ADDRESS: address });
    await side.ready;
    // The burst on a connection of its own (grpc-js would otherwise share one between clients of a target).
    burst = connect(address, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    process.stderr.write(`bench: burst on ${store.engine}: ${turns} turns, ${subscriptions} subscriptions, server pid ${server.pid}\n`);
    const ids = Array.from({ length: turns }, (_, i) => `burst-${i}`);
    for (const sessionId of ids) await burst.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId }));
    await side.call('open');
    const before = await server.call<Memory>('gc');
    if (heapDir) process.stderr.write(`bench: heap snapshot before ${await server.call<string>('heap-snapshot', heapDir)}\n`);
    const idle = await side.call<Latency>('idle', idleCalls);

    // Each round repeats both bursts (new turn ids): a later round's `after` close to the first's
    // shows the memory of a burst is reused rather than accumulated.
    for (let round_ = 1; round_ <= rounds; round_++) {
      const load1 = round(loadavg()[0]!, 2);
      // 1. All turns at once, each on its own session (echo model).
      // One profile per round: starting V8's profiler stalls the loop itself (for ~0.7 s here), so it
      // starts before the turn burst, and the server marks each burst's span on the profile's clock.
      if (profileDir) {
        await server.call('profile-start');
        await new Promise((r) => setTimeout(r, 1000));
      }
      await server.call('span-start');
      await side.call('start');
      let refusedTurns = 0;
      let t0 = performance.now();
      const clients = burst;
      await Promise.all(
        ids.map(
          (sessionId, i) =>
            new Promise<void>((resolve) => {
              const call = clients.turns.raw.runTurn(
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
      const duringTurns = await side.call<Latency>('stop');
      const turnSpan = await server.call<Span>('span-stop');
      const afterTurns = await server.call<Memory>('memory');

      // 2. All subscriptions at once, spread over the sessions; each counts once its snapshot arrived.
      await server.call('span-start');
      await side.call('start');
      let refusedSubs = 0;
      const calls: { cancel(): void }[] = [];
      t0 = performance.now();
      await Promise.all(
        Array.from(
          { length: subscriptions },
          (_, i) =>
            new Promise<void>((resolve) => {
              const call = clients.sessions.raw.observeSession({ sessionId: ids[i % ids.length]! });
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
      const duringSubs = await side.call<Latency>('stop');
      const subSpan = await server.call<Span>('span-stop');
      if (profileDir) await server.call('profile-stop', join(profileDir, `burst-${process.env.BURST_LABEL ?? ''}-${store.engine}-${round_}.cpuprofile`));
      for (const c of calls) c.cancel();

      // After: the subscriptions are gone; collect, let the allocator hand pages back, collect again.
      const afterGc = await server.call<Memory>('gc');
      await new Promise((r) => setTimeout(r, settleMs));
      const after = await server.call<Memory>('gc');
      if (heapDir) process.stderr.write(`bench: heap snapshot ${await server.call<string>('heap-snapshot', heapDir)}\n`);

      const row = {
        bench: 'burst',
        label: process.env.BURST_LABEL ?? '',
        engine: store.engine,
        round: round_,
        load1,
        turns,
        subscriptions,
        idle_get_p50_ms: idle.p50,
        idle_get_p99_ms: idle.p99,
        turns_seconds: turnSeconds,
        turns_refused: refusedTurns,
        turns_get_p50_ms: duringTurns.p50,
        turns_get_p99_ms: duringTurns.p99,
        turns_get_max_ms: duringTurns.max,
        turns_get_calls: duringTurns.calls,
        turns_p99_ratio: round(duringTurns.p99 / idle.p99, 1),
        turns_server_cpu: turnSpan.cpu,
        turns_loop_p99_ms: turnSpan.loop_p99_ms,
        turns_loop_max_ms: turnSpan.loop_max_ms,
        turns_loop_stalls: turnSpan.loop_stalls_100ms,
        turns_loop_stalled_ms: turnSpan.loop_stalled_ms,
        turns_loop_stalled_cpu_ms: turnSpan.loop_stalled_cpu_ms,
        turns_loop_stall_cpu_max_ms: turnSpan.loop_stall_cpu_max_ms,
        subs_seconds: subSeconds,
        subs_refused: refusedSubs,
        subs_get_p50_ms: duringSubs.p50,
        subs_get_p99_ms: duringSubs.p99,
        subs_get_max_ms: duringSubs.max,
        subs_get_calls: duringSubs.calls,
        subs_p99_ratio: round(duringSubs.p99 / idle.p99, 1),
        subs_server_cpu: subSpan.cpu,
        subs_loop_p99_ms: subSpan.loop_p99_ms,
        subs_loop_max_ms: subSpan.loop_max_ms,
        subs_loop_stalls: subSpan.loop_stalls_100ms,
        subs_loop_stalled_ms: subSpan.loop_stalled_ms,
        subs_loop_stalled_cpu_ms: subSpan.loop_stalled_cpu_ms,
        subs_loop_stall_cpu_max_ms: subSpan.loop_stall_cpu_max_ms,
        rss_before_mb: before.rss,
        rss_peak_mb: Math.max(turnSpan.rss_peak, subSpan.rss_peak),
        rss_after_turns_mb: afterTurns.rss,
        rss_after_gc_mb: afterGc.rss,
        rss_after_mb: after.rss,
        heap_before_mb: before.heap,
        heap_peak_mb: Math.max(turnSpan.heap_peak, subSpan.heap_peak),
        heap_after_mb: after.heap,
        heap_committed_before_mb: before.heapTotal,
        heap_committed_after_mb: after.heapTotal,
        external_before_mb: before.external,
        external_after_mb: after.external,
      };
      process.stdout.write(`${JSON.stringify(row)}\n`);
    }
    return 0;
  } finally {
    burst?.close();
    await side?.call('close').catch(() => {});
    side?.kill();
    await server.call('stop').catch(() => server.kill());
    await server.exited;
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
