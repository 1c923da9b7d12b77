// Background processes over real gRPC, against a lash-grpc server started in this process on
// 127.0.0.1:0 with the built-in echo model:
//
//  1. start_to_running: time from StartProcess returning to the process's `running` event (a
//     runner claimed it), one session_turn process at a time, seen through WatchProcessEvents.
//  2. throughput: BENCH_PROCESSES session_turn processes (each one echo turn in a session of its
//     own), started BENCH_CONCURRENCY at a time and awaited (AwaitProcess): processes/s — next to
//     queue drains/s in the same run (the same number of batches over BENCH_SESSIONS sessions,
//     enqueued and awaited the same way), the nearest existing unit of background work.
//
//   npm run bench:processes                                  # PGlite in a temp folder
//   DATABASE_URL=postgresql://… npm run bench:processes      # a throw-away lash_bench_<random> database
//
// Tuning (env): BENCH_PROCESS_RUNNERS (4), BENCH_QUEUE_WORKERS (4), BENCH_LATENCY_SAMPLES (50),
// BENCH_PROCESSES (200), BENCH_CONCURRENCY (16), BENCH_SESSIONS (50), BENCH_MAX_SECONDS (120).
// Output: one JSON line per measurement on stdout, then a table. Exit 0 whether or not a figure
// is good; 1 when a call failed, 2 on bad options.

import { ProcessKind, type ProcessEvent } from '../gen/lash/v1/process.js';
import { AwaitStatus, EnqueueTurnInputRequest } from '../gen/lash/v1/queue_service.js';
import { OpenSessionRequest } from '../gen/lash/v1/session_service.js';
import type { LashClients } from '../src/client/promised.js';
import { textInput } from '../test/support/turns.js';
import { header, intEnv, loopDelay, machineLoad, openBenchStore, percentiles, round, runBench, startBenchApp, table, type BenchRun } from './harness.js';

interface Options {
  runners: number;
  workers: number;
  samples: number;
  processes: number;
  concurrency: number;
  sessions: number;
  maxSeconds: number;
}

const prepare = (): Options => ({
  runners: intEnv('BENCH_PROCESS_RUNNERS', 4, 1),
  workers: intEnv('BENCH_QUEUE_WORKERS', 4, 1),
  samples: intEnv('BENCH_LATENCY_SAMPLES', 50, 1),
  processes: intEnv('BENCH_PROCESSES', 200, 1),
  concurrency: intEnv('BENCH_CONCURRENCY', 16, 1),
  sessions: intEnv('BENCH_SESSIONS', 50, 1),
  maxSeconds: intEnv('BENCH_MAX_SECONDS', 120, 1),
});

const startTurnProcess = (c: LashClients, task: string) =>
  c.admin.startProcess(
    {
      kind: ProcessKind.PROCESS_KIND_SESSION_TURN,
      input: { task, sessionId: '', awaitSignal: '', payload: undefined },
      scopeFrameId: '',
      scopeSessionId: '',
      wakeSessionId: '',
      idempotencyKey: '',
      maxRunMs: 0n,
    },
    { deadlineMs: 30_000 },
  );

/** Resolves with performance.now() when the process's `running` (or `taken_over`) event arrives. */
function runningAt(c: LashClients, processId: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const call = c.admin.raw.watchProcessEvents({ processId, afterSeq: 0n });
    call.on('data', (r: { events: ProcessEvent[] }) => {
      if (r.events.some((e) => e.kind === 'running' || e.kind === 'taken_over')) {
        resolve(performance.now());
        call.cancel();
      }
    });
    call.on('error', (err: { code?: number }) => (err.code === 1 ? undefined : reject(err)));
    call.on('end', () => reject(new Error(`process ${processId} ended without a running event`)));
  });
}

/** Runs `total` jobs `concurrency` at a time; returns jobs done per second. */
async function rate(
  total: number,
  concurrency: number,
  deadline: number,
  job: (i: number) => Promise<void>,
): Promise<{ done: number; seconds: number; perSecond: number }> {
  let next = 0;
  let done = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total && performance.now() < deadline) {
        await job(next++);
        done++;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  return { done, seconds, perSecond: done / seconds };
}

async function body(o: Options, run: BenchRun): Promise<string> {
  const { store, startLoad } = await openBenchStore('processes', run, `${o.runners} runners`);
  const { clients } = await startBenchApp(
    store,
    { LASH_PROCESS_RUNNERS: String(o.runners), LASH_QUEUE_WORKERS: String(o.workers), LASH_PROCESSES_PER_TENANT: '100000' },
    run,
  );
  const out: Record<string, unknown>[] = [];
  const emit = (row: Record<string, unknown>) => {
    const r = { bench: 'processes', engine: store.engine, ...row };
    out.push(r);
    process.stdout.write(`${JSON.stringify(r)}\n`);
  };
  const awaitProcess = async (processId: string) => {
    const r = await clients.admin.awaitProcess({ processId, waitMs: 600_000 }, { deadlineMs: 620_000 });
    if (!r.finished) throw new Error(`process ${processId} did not finish`);
  };

  // Warm-up.
  for (let i = 0; i < 5; i++) await awaitProcess((await startTurnProcess(clients, `warm-up ${i}`)).process!.processId);

  // 1. Start → running, one at a time.
  const latencies: number[] = [];
  const loop = loopDelay();
  for (let i = 0; i < o.samples; i++) {
    const started = await startTurnProcess(clients, `latency sample ${i}`);
    const t1 = performance.now();
    const id = started.process!.processId;
    latencies.push(Math.max(0, (await runningAt(clients, id)) - t1));
    await awaitProcess(id);
  }
  const p = percentiles(latencies);
  emit({
    op: 'start_to_running',
    runners: o.runners,
    samples: p.n,
    p50_ms: round(p.p50, 2),
    p99_ms: round(p.p99, 2),
    max_ms: round(p.max, 2),
    loop_delay_p99_ms: loop().p99,
  });

  // 2. Processes/s against queue drains/s in the same run.
  const deadline = () => performance.now() + o.maxSeconds * 1000;
  const procs = await rate(o.processes, o.concurrency, deadline(), async (i) =>
    awaitProcess((await startTurnProcess(clients, `throughput ${i}`)).process!.processId),
  );
  const sessions = Array.from({ length: o.sessions }, (_, i) => `bench-pq-${i}`);
  for (const sessionId of sessions) await clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId }), { deadlineMs: 30_000 });
  const drains = await rate(o.processes, o.concurrency, deadline(), async (i) => {
    const sessionId = sessions[i % sessions.length]!;
    const { batch } = await clients.queue.enqueueTurnInput(EnqueueTurnInputRequest.fromPartial({ sessionId, input: textInput(`queued ${i}`) }), {
      deadlineMs: 30_000,
    });
    const r = await clients.queue.awaitQueuedWorkBatch({ sessionId, batchId: batch!.batchId }, { deadlineMs: 620_000 });
    if (r.status !== AwaitStatus.AWAIT_STATUS_DONE) throw new Error(`batch ${batch!.batchId} ended with ${r.status}`);
  });
  emit({
    op: 'throughput',
    runners: o.runners,
    workers: o.workers,
    concurrency: o.concurrency,
    processes: procs.done,
    processes_per_s: round(procs.perSecond, 1),
    reference: 'queue_drains',
    drains: drains.done,
    drains_per_s: round(drains.perSecond, 1),
    ratio: round(procs.perSecond / drains.perSecond, 3),
  });

  const s = out[0]!;
  const t = out[1]!;
  return [
    header('processes', store.engine, `${o.runners} process runners, ${o.workers} queue workers, echo model`, startLoad),
    '',
    table(
      ['start → running', 'samples', 'p50 ms', 'p99 ms', 'max ms', 'loop p99'],
      [['one session_turn at a time', String(s.samples), String(s.p50_ms), String(s.p99_ms), String(s.max_ms), String(s.loop_delay_p99_ms)]],
    ),
    'from StartProcess returning to the `running` event on WatchProcessEvents (a runner claimed the process; woken by the bus, the poll is the safety net).',
    '',
    table(
      ['throughput', 'in flight', 'processes/s', 'queue drains/s', 'ratio'],
      [[`${t.processes} processes / ${t.drains} batches`, String(o.concurrency), String(t.processes_per_s), String(t.drains_per_s), String(t.ratio)]],
    ),
    'each process is one echo turn in a new session of its own (open + turn + finish + events); each drain is one echo turn of a queued batch in an existing session.',
    `load average ${machineLoad().load1} at end.`,
  ].join('\n');
}

await runBench('processes', prepare, body);
