// The queue with background workers, over real gRPC, against a lash-grpc server started in this
// process on 127.0.0.1:0 with LASH_QUEUE_WORKERS workers and the built-in echo model:
//
//  1. enqueue_to_start: time from EnqueueTurnInput returning to the session's observer seeing the
//     batch start (queue_changed CLAIMED or queued_work_started naming it), one batch at a time
//     on otherwise idle sessions. Target: p50 < 10 ms (judged on PostgreSQL).
//  2. drain: BENCH_BATCHES batches over BENCH_SESSIONS sessions, enqueued BENCH_ENQUEUE_CONCURRENCY
//     at a time, each followed by AwaitQueuedWorkBatch; drained batches per second from the first
//     enqueue to the last batch done — next to the rate of raw single-row INSERT + DELETE pairs on
//     the same database (pg.Pool on PostgreSQL, the server's own PGlite instance on PGlite) at as
//     many in flight as there are workers, measured before and after the drain. Target: ≥ 0.2.
//
//   npm run bench:queue                                   # PGlite in a temp folder
//   DATABASE_URL=postgresql://… npm run bench:queue       # a throw-away lash_bench_<random> database
//
// Tuning (env): BENCH_QUEUE_WORKERS (4), BENCH_SESSIONS (50), BENCH_LATENCY_SAMPLES (100),
// BENCH_BATCHES (600), BENCH_ENQUEUE_CONCURRENCY (16), BENCH_AWAIT (1; 0 = completion from the
// observers' queue_changed DONE instead of AwaitQueuedWorkBatch), BENCH_RAW_ROWS (1000, per raw
// run), BENCH_MAX_SECONDS (90, cap of the drain phase). Output: one JSON line per measurement on
// stdout, then a table. Exit 0 whether or not a target was met; 1 when a call failed, 2 on bad
// options.

import type { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { QueueChange } from '../gen/lash/v1/feed.js';
import { AwaitStatus, EnqueueTurnInputRequest } from '../gen/lash/v1/queue_service.js';
import { OpenSessionRequest } from '../gen/lash/v1/session_service.js';
import type { App } from '../src/app.js';
import { textInput } from '../test/support/turns.js';
import {
  channels,
  cpuMeter,
  header,
  intEnv,
  loopDelay,
  machineLoad,
  observe,
  percentiles,
  openBenchStore,
  Recorder,
  round,
  runBench,
  startBenchApp,
  statementCounter,
  table,
  waitUntil,
  type BenchRun,
  type BenchStore,
  type MachineLoad,
  type Observer,
} from './harness.js';

const START_P50_TARGET_MS = 10;
const DRAIN_TARGET = 0.2;
const CALL_DEADLINE_MS = 30_000;
/** About the size of a small queued input's items JSON. */
const RAW_PAYLOAD = JSON.stringify([
  {
    itemId: '00000000-0000-0000-0000-000000000000',
    payload: { kind: 'input', input: { items: [{ kind: 'text', text: 'queued input for the bench' }], imageBlobs: {} } },
  },
]);

interface Options {
  workers: number;
  sessions: number;
  samples: number;
  batches: number;
  enqueueConcurrency: number;
  await: boolean;
  rawRows: number;
  maxSeconds: number;
}

type Row = Record<string, unknown> & { bench: 'queue'; engine: string; op: string };

function prepare(): Options {
  return {
    workers: intEnv('BENCH_QUEUE_WORKERS', 4, 1),
    sessions: intEnv('BENCH_SESSIONS', 50, 1),
    samples: intEnv('BENCH_LATENCY_SAMPLES', 100, 1),
    batches: intEnv('BENCH_BATCHES', 600, 1),
    enqueueConcurrency: intEnv('BENCH_ENQUEUE_CONCURRENCY', 16, 1),
    await: intEnv('BENCH_AWAIT', 1, 0) === 1,
    rawRows: intEnv('BENCH_RAW_ROWS', 1000, 1),
    maxSeconds: intEnv('BENCH_MAX_SECONDS', 90, 1),
  };
}

/** Raw single-row INSERT + DELETE on the bench database, straight through the engine's client. */
async function rawRows(app: App, store: BenchStore, concurrency: number, run: BenchRun): Promise<(w: number) => Promise<void>> {
  let exec: (sql: string, params: unknown[]) => Promise<unknown>;
  if (store.engine === 'postgresql') {
    const pool = new pg.Pool({ connectionString: store.env.DATABASE_URL, max: concurrency });
    run.defer(() => pool.end());
    exec = (sql, params) => pool.query(sql, params);
  } else {
    const pglite = (app.db.orm.config.get('driverOptions') as { pglite?: () => PGlite }).pglite?.();
    if (!pglite) throw new Error('cannot reach the PGlite instance of the server');
    exec = (sql, params) => pglite.query(sql, params);
  }
  await exec('create table if not exists bench_raw_rows (id bigint primary key, payload text not null)', []);
  let next = 0;
  return async () => {
    const id = next++;
    await exec('insert into bench_raw_rows (id, payload) values ($1, $2)', [id, RAW_PAYLOAD]);
    await exec('delete from bench_raw_rows where id = $1', [id]);
  };
}

async function body(o: Options, run: BenchRun): Promise<string> {
  const { store, startLoad } = await openBenchStore('queue', run, `${o.workers} workers`);
  const engine = store.engine;
  const { app, clients } = await startBenchApp(store, { LASH_QUEUE_WORKERS: String(o.workers), LASH_FEED_HEARTBEAT_MS: '300000' }, run);

  const rows: Row[] = [];
  const notes: string[] = [];
  const emit = (row: Omit<Row, 'bench' | 'engine'>) => {
    const r = { bench: 'queue' as const, engine, ...row } as Row;
    rows.push(r);
    process.stdout.write(`${JSON.stringify(r)}\n`);
  };

  // Sessions, each with an observer that notes when a batch starts and when it is done.
  const sessions = Array.from({ length: o.sessions }, (_, i) => `bench-q-${i}`);
  for (const sessionId of sessions) await clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId }), { deadlineMs: CALL_DEADLINE_MS });
  const startedAt = new Map<string, number>();
  const doneAt = new Map<string, number>();
  const [chan] = channels(app.address, 1);
  run.defer(() => chan!.close());
  const observers: Observer[] = sessions.map((s) =>
    observe(chan!, s, undefined, (m, at) => {
      const p = m.kind?.$case === 'event' ? m.kind.value.payload : undefined;
      let started: string[] = [];
      if (p?.$case === 'queueChanged' && p.value.change === QueueChange.QUEUE_CHANGE_CLAIMED) started = p.value.batchIds;
      if (p?.$case === 'queueChanged' && p.value.change === QueueChange.QUEUE_CHANGE_DONE) for (const id of p.value.batchIds) doneAt.set(id, at);
      if (p?.$case === 'turnActivity' && p.value.event?.kind?.$case === 'queuedWorkStarted') started = p.value.event.kind.value.batchIds;
      for (const id of started) if (!startedAt.has(id)) startedAt.set(id, at);
    }),
  );
  run.defer(() => observers.forEach((x) => x.cancel()));
  await waitUntil(() => observers.every((x) => x.firstAt > 0 || x.ended), o.maxSeconds * 1000, "the observers' snapshots", 5);

  let n = 0;
  const enqueue = async (sessionId: string) => {
    const res = await clients.queue.enqueueTurnInput(
      EnqueueTurnInputRequest.fromPartial({ sessionId, input: textInput(`queued input ${n++} for the bench`) }),
      { deadlineMs: CALL_DEADLINE_MS },
    );
    return res.batch!.batchId;
  };
  const awaitDone = async (sessionId: string, batchId: string) => {
    const res = await clients.queue.awaitQueuedWorkBatch({ sessionId, batchId }, { deadlineMs: o.maxSeconds * 1000 + 30_000 });
    if (res.status !== AwaitStatus.AWAIT_STATUS_DONE) throw new Error(`batch ${batchId} of ${sessionId} ended with await status ${res.status}`);
  };

  // Warm-up: one batch per session (JIT, connections, each session's first load).
  await Promise.all(sessions.map(async (s) => awaitDone(s, await enqueue(s))));

  // 1. Enqueue → drain start, one batch at a time.
  {
    const fromReturn: number[] = [];
    const fromCall: number[] = [];
    let early = 0;
    const load = machineLoad();
    const loop = loopDelay();
    for (let i = 0; i < o.samples; i++) {
      const sessionId = sessions[i % sessions.length]!;
      const t0 = performance.now();
      const batchId = await enqueue(sessionId);
      const t1 = performance.now();
      await waitUntil(() => startedAt.has(batchId), CALL_DEADLINE_MS, `the start of batch ${batchId}`, 1);
      const s = startedAt.get(batchId)!;
      if (s < t1) early++;
      fromReturn.push(Math.max(0, s - t1));
      fromCall.push(s - t0);
      await awaitDone(sessionId, batchId);
    }
    const loopMs = loop();
    const p = percentiles(fromReturn);
    const c = percentiles(fromCall);
    emit({
      op: 'enqueue_to_start',
      workers: o.workers,
      samples: p.n,
      p50_ms: round(p.p50, 2),
      p99_ms: round(p.p99, 2),
      max_ms: round(p.max, 2),
      from_call_p50_ms: round(c.p50, 2),
      from_call_p99_ms: round(c.p99, 2),
      started_before_return: early,
      target_p50_ms: START_P50_TARGET_MS,
      load1: load.load1,
      loop_delay_p99_ms: loopMs.p99,
    });
  }

  // 2. Drain rate, between two runs of the raw row reference.
  const raw = await rawRows(app, store, o.workers, run);
  const rawRun = new Recorder();
  const deadlineOf = () => performance.now() + o.maxSeconds * 1000;
  await new Recorder().burst(raw, Math.min(200, o.rawRows), o.workers, deadlineOf()); // warm-up
  await rawRun.burst(raw, o.rawRows, o.workers, deadlineOf());
  {
    const load = machineLoad();
    const cpu = cpuMeter();
    const loop = loopDelay();
    const sql = statementCounter();
    const enqueuedAt = new Map<string, number>();
    let finished = 0;
    let failure: unknown;
    let capped = false;
    const t0 = performance.now();
    const deadline = t0 + o.maxSeconds * 1000;
    let issued = 0;
    const enqueueWorker = async () => {
      while (issued < o.batches && performance.now() < deadline) {
        const sessionId = sessions[issued++ % sessions.length]!;
        const batchId = await enqueue(sessionId);
        enqueuedAt.set(batchId, performance.now());
        if (o.await)
          void awaitDone(sessionId, batchId).then(
            () => void finished++,
            (err: unknown) => void (failure ??= err),
          );
      }
    };
    await Promise.all(Array.from({ length: o.enqueueConcurrency }, enqueueWorker));
    const enqueueSeconds = (performance.now() - t0) / 1000;
    const ids = [...enqueuedAt.keys()];
    const allDone = () => (o.await ? finished >= ids.length : ids.every((id) => doneAt.has(id)));
    try {
      await waitUntil(() => allDone() || failure !== undefined, Math.max(1, deadline - performance.now()), 'the drain', 5);
    } catch {
      capped = true;
    }
    const t1 = performance.now();
    const statements = sql();
    const processCpu = cpu();
    const loopMs = loop();
    const done = o.await ? finished : ids.filter((id) => doneAt.has(id)).length;
    // Awaits still open after the cap fail at shutdown; that is not news.
    if (failure !== undefined && !capped) throw failure;
    const rate = done / ((t1 - t0) / 1000);
    const underLoad = percentiles(ids.filter((id) => startedAt.has(id)).map((id) => startedAt.get(id)! - enqueuedAt.get(id)!));
    // The raw reference again, after the drain, so both runs bracket it.
    await rawRun.burst(raw, o.rawRows, o.workers, deadlineOf());
    const r = rawRun.result();
    emit({
      op: 'drain',
      workers: o.workers,
      sessions: o.sessions,
      batches: ids.length,
      done,
      capped,
      seconds: round((t1 - t0) / 1000, 2),
      batches_per_s: round(rate, 1),
      enqueue_per_s: round(ids.length / enqueueSeconds, 1),
      start_p50_ms: round(underLoad.p50, 1),
      start_p99_ms: round(underLoad.p99, 1),
      await: o.await,
      statements_per_batch: round(statements / Math.max(1, done), 1),
      reference: 'raw_insert_delete',
      reference_rows_per_s: round(r.rps, 1),
      reference_p50_ms: round(r.p50Ms, 3),
      ratio: round(rate / r.rps, 3),
      load1: load.load1,
      process_cpu: processCpu,
      loop_delay_p99_ms: loopMs.p99,
    });
    if (capped) notes.push(`time cap (BENCH_MAX_SECONDS=${o.maxSeconds}) hit: ${done} of ${ids.length} batches drained; the rest are cancelled at shutdown`);
  }

  return summary(engine, o, rows, startLoad, machineLoad(), notes);
}

function summary(engine: string, o: Options, rows: Row[], start: MachineLoad, end: MachineLoad, notes: string[]): string {
  const lines = [header('queue', engine, `${o.workers} queue workers, ${o.sessions} sessions with an observer each, echo model`, start)];
  const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
  const s = rows.find((r) => r.op === 'enqueue_to_start');
  if (s) {
    lines.push(
      '',
      table(
        ['enqueue → drain start', 'samples', 'p50 ms', 'p99 ms', 'max ms', 'from call p50', 'from call p99', 'started first', 'loop p99', 'target'],
        [
          [
            'one batch at a time',
            String(s.samples),
            String(s.p50_ms),
            String(s.p99_ms),
            String(s.max_ms),
            String(s.from_call_p50_ms),
            String(s.from_call_p99_ms),
            String(s.started_before_return),
            String(s.loop_delay_p99_ms),
            `p50 < ${START_P50_TARGET_MS} ${engine === 'postgresql' ? verdict(Number(s.p50_ms) < START_P50_TARGET_MS) : '(PG target)'}`,
          ],
        ],
      ),
    );
    lines.push(
      'from EnqueueTurnInput returning to the observer receiving queue_changed CLAIMED or queued_work_started for the batch (0 when that came first: "started first"); from call = from issuing the call. Target judged on PostgreSQL.',
    );
    if (engine === 'pglite')
      lines.push('PGlite runs on the event loop: the enqueue response and the start event reach the client in the same loop turn, so read "from call" here.');
  }
  const d = rows.find((r) => r.op === 'drain');
  if (d) {
    lines.push(
      '',
      table(
        ['drain', 'batches', 'seconds', 'batches/s', 'start p50 ms', 'SQL/batch', 'raw rows/s', 'ratio', 'loop p99', 'cpu', 'target'],
        [
          [
            d.await ? 'enqueue + AwaitQueuedWorkBatch' : 'enqueue (done from the feed)',
            `${d.done}/${d.batches}`,
            String(d.seconds),
            String(d.batches_per_s),
            String(d.start_p50_ms),
            String(d.statements_per_batch),
            String(d.reference_rows_per_s),
            Number(d.ratio).toFixed(3),
            String(d.loop_delay_p99_ms),
            String(d.process_cpu),
            `≥ ${DRAIN_TARGET} ${verdict(Number(d.ratio) >= DRAIN_TARGET)}`,
          ],
        ],
      ),
    );
    lines.push(
      `ratio = drained batches/s ÷ raw single-row INSERT+DELETE pairs/s at ${o.workers} in flight (before and after the drain); SQL/batch = statements this process sent per drained batch, everything included.`,
    );
  }
  lines.push(
    '',
    `load average ${start.load1} at start, ${end.load1} at end, ${end.cores} cores; cpu = this process's CPU seconds ÷ wall seconds; loop = its event-loop delay.`,
  );
  lines.push(...notes);
  return lines.join('\n');
}

await runBench('queue', prepare, body);
