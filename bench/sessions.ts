// Session RPC throughput over real gRPC: GetSession on a resident session, OpenSession resuming
// an existing session, and OpenSession creating new ids, against a lash-grpc server started in
// this process on 127.0.0.1:0 — each next to a raw grpc-js echo unary RPC measured in the same run
// at the same concurrency, printed as a ratio. Target: GetSession ≥ 0.5 × raw echo.
//
//   npm run bench                                   # PGlite in a temp folder
//   DATABASE_URL=postgresql://… npm run bench       # a throw-away lash_bench_<random> database
//
// Each op is measured against its own echo run, the two alternating in BENCH_ROUNDS rounds so that
// both see the same machine; the raw_echo row pools the echo runs of one concurrency.
//
// Tuning (env): BENCH_CALLS (3000), BENCH_WARMUP (300), BENCH_CONCURRENCY ("1,16"), BENCH_ROUNDS
// (5), BENCH_MAX_SECONDS (60, per op and concurrency), BENCH_OPS (get_session,open_session_resume,
// open_session_create). Output: one JSON line per measurement on stdout, then a table. Exit 0 when
// every call succeeded, whether or not the target was met; 1 on a failure, 2 on bad options.

import { cpus } from 'node:os';
import { loadConfig } from '../src/config.js';
import { startApp, type App } from '../src/app.js';
import { createLogger } from '../src/logger.js';
import { connect, type LashClients } from '../src/client/promised.js';
import { GetSessionResponse, OpenSessionRequest } from '../gen/lash/v1/session_service.js';
import {
  compare,
  intEnv,
  warm,
  listEnv,
  provisionStore,
  Recorder,
  redact,
  round,
  startEcho,
  table,
  type BenchStore,
  type Call,
  type Echo,
  type LoadOptions,
  type Measurement,
} from './harness.js';

const GET_TARGET = 0.5;
const CALL_DEADLINE_MS = 10_000;

const SESSION_OPS = ['get_session', 'open_session_resume', 'open_session_create'] as const;
type SessionOp = (typeof SESSION_OPS)[number];

type Op = 'raw_echo' | SessionOp;

interface Row {
  bench: 'sessions';
  engine: BenchStore['engine'];
  op: Op;
  concurrency: number;
  calls: number;
  rps: number;
  p50_ms: number;
  p99_ms: number;
  reference: 'raw_echo';
  reference_rps: number;
  ratio: number;
}

const OP_LABEL: Record<Op, string> = {
  raw_echo: 'raw echo (reference)',
  get_session: 'GetSession (resident)',
  open_session_resume: 'OpenSession resume',
  open_session_create: 'OpenSession create',
};

async function main(): Promise<number> {
  let concurrencies: number[];
  let load: Omit<LoadOptions, 'concurrency'>;
  let selected: SessionOp[];
  try {
    concurrencies = listEnv('BENCH_CONCURRENCY', [1, 16]);
    load = {
      calls: intEnv('BENCH_CALLS', 3000, 1),
      warmup: intEnv('BENCH_WARMUP', 300, 0),
      maxSeconds: intEnv('BENCH_MAX_SECONDS', 60, 1),
      rounds: intEnv('BENCH_ROUNDS', 5, 1),
    };
    selected = opsEnv();
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    return 2;
  }
  const databaseUrl = process.env.DATABASE_URL || undefined;

  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    while (cleanups.length > 0) await cleanups.pop()!().catch((err: unknown) => process.stderr.write(`bench: cleanup failed: ${(err as Error).message}\n`));
  };
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupted = true;
    process.stderr.write(`bench: ${signal}, cleaning up\n`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const rows: Row[] = [];
  const capped: string[] = [];
  let getResponseBytes = 0;
  let engine: BenchStore['engine'] = databaseUrl ? 'postgresql' : 'pglite';
  try {
    const store = await provisionStore(databaseUrl);
    cleanups.push(() => store.cleanup());
    engine = store.engine;
    process.stderr.write(
      `bench: sessions on ${engine}${databaseUrl ? ` (${redact(store.env.DATABASE_URL!)})` : ` (${store.env.LASH_DATA_DIR})`}, ${load.calls} calls after ${load.warmup} warm-up, concurrency ${concurrencies.join(', ')}\n`,
    );

    // Only the variables the bench means: no provider keys, no listen address from the shell.
    const config = loadConfig({ LASH_LISTEN: '127.0.0.1:0', LASH_LOG_LEVEL: 'error', LASH_SHUTDOWN_GRACE_MS: '2000', ...store.env });
    // Logs go to stderr so that stdout carries only the results.
    const app: App = await startApp(config, createLogger(config.logLevel, process.stderr));
    cleanups.push(() => app.stop());
    const clients: LashClients = connect(app.address);
    cleanups.push(async () => clients.close());
    const echo: Echo = await startEcho();
    cleanups.push(() => echo.stop());

    const s = clients.sessions;
    const open = (sessionId: string) => s.openSession(OpenSessionRequest.fromPartial({ sessionId }), { deadlineMs: CALL_DEADLINE_MS });

    // Fixtures: one session read by every GetSession, one existing session per in-flight slot for
    // resume (one logical writer per session, so concurrent resumes do not queue on one id).
    const GET_ID = 'bench-get';
    const resumeId = (worker: number) => `bench-resume-${worker}`;
    await open(GET_ID);
    for (let w = 0; w < Math.max(...concurrencies); w++) await open(resumeId(w));
    getResponseBytes = GetSessionResponse.encode(await s.getSession({ sessionId: GET_ID })).finish().length;

    const emit = (op: Op, concurrency: number, m: Measurement, reference: Measurement) => {
      const row: Row = {
        bench: 'sessions',
        engine,
        op,
        concurrency,
        calls: m.calls,
        rps: round(m.rps, 1),
        p50_ms: round(m.p50Ms, 3),
        p99_ms: round(m.p99Ms, 3),
        reference: 'raw_echo',
        reference_rps: round(reference.rps, 1),
        ratio: round(m.rps / reference.rps, 3),
      };
      rows.push(row);
      if (m.capped) capped.push(`${op} @${concurrency}`);
      process.stdout.write(`${JSON.stringify(row)}\n`);
    };

    let created = 0;
    const ops: Record<SessionOp, Call> = {
      get_session: async () => {
        const res = await s.getSession({ sessionId: GET_ID }, { deadlineMs: CALL_DEADLINE_MS });
        if (res.session?.sessionId !== GET_ID) throw new Error(`GetSession answered ${res.session?.sessionId}`);
      },
      open_session_resume: async (w) => {
        const res = await open(resumeId(w));
        if (res.created) throw new Error(`OpenSession resume of ${resumeId(w)} created it`);
      },
      open_session_create: async () => {
        const id = `bench-new-${created++}`;
        const res = await open(id);
        if (!res.created) throw new Error(`OpenSession of the new id ${id} did not create it`);
      },
    };

    // The echo path keeps getting faster for a few thousand calls (JIT); without this the first
    // op measured would be compared against a slower echo than the later ones.
    await warm(() => echo.call(CALL_DEADLINE_MS), 10 * load.warmup, 1, load.maxSeconds);
    await warm(ops.get_session, 2 * load.warmup, 1, load.maxSeconds);

    for (const concurrency of concurrencies) {
      const options: LoadOptions = { ...load, concurrency };
      const echoAll = new Recorder();
      for (const op of selected) {
        const { reference, subject } = await compare(() => echo.call(CALL_DEADLINE_MS), ops[op], options);
        emit(op, concurrency, subject.result(), reference.result());
        echoAll.merge(reference);
      }
      const echoRun = echoAll.result();
      emit('raw_echo', concurrency, echoRun, echoRun);
    }
  } catch (err) {
    // After a signal the calls in flight fail on the closed channel; that is not news.
    if (interrupted) return 130;
    process.stderr.write(`bench: failed: ${(err as Error).stack ?? String(err)}\n`);
    await cleanup();
    return 1;
  }
  await cleanup();

  process.stdout.write(`\n${summary(engine, rows, load, getResponseBytes, capped)}\n`);
  return 0;
}

/** BENCH_OPS: a comma-separated subset of the session ops (all by default), e.g. for profiling. */
function opsEnv(): SessionOp[] {
  const raw = process.env.BENCH_OPS;
  if (!raw) return [...SESSION_OPS];
  const list = raw.split(',').map((s) => s.trim()) as SessionOp[];
  const unknown = list.filter((op) => !SESSION_OPS.includes(op));
  if (unknown.length > 0) throw new Error(`BENCH_OPS: unknown op ${unknown.join(', ')}; use ${SESSION_OPS.join(', ')}`);
  return list;
}

function summary(engine: string, rows: Row[], load: Omit<LoadOptions, 'concurrency'>, getResponseBytes: number, capped: string[]): string {
  const cpu = cpus();
  const lines = [
    `sessions bench — engine ${engine}, ${load.calls} calls after ${load.warmup} warm-up per op, ${load.rounds} rounds alternating with echo, loopback, node ${process.version}, ${cpu.length} × ${cpu[0]?.model.trim() ?? 'cpu'}`,
    '',
    table(
      ['op', 'conc', 'calls/s', 'p50 ms', 'p99 ms', 'echo calls/s', 'ratio', 'target'],
      // Per concurrency, the pooled echo row first.
      [...rows]
        .sort((a, b) => a.concurrency - b.concurrency || Number(b.op === 'raw_echo') - Number(a.op === 'raw_echo'))
        .map((r) => {
          const target = r.op === 'get_session' ? `≥ ${GET_TARGET.toFixed(2)} ${r.ratio >= GET_TARGET ? 'met' : 'MISSED'}` : '';
          return [
            OP_LABEL[r.op],
            String(r.concurrency),
            r.rps.toFixed(0),
            r.p50_ms.toFixed(3),
            r.p99_ms.toFixed(3),
            r.reference_rps.toFixed(0),
            r.ratio.toFixed(3),
            target,
          ];
        }),
    ),
    '',
    `ratio = op calls/s ÷ raw grpc-js echo calls/s at the same concurrency (~60-byte echo; GetSession answer is ${getResponseBytes} bytes).`,
  ];
  if (capped.length > 0) lines.push(`time cap (BENCH_MAX_SECONDS) hit, fewer calls measured: ${capped.join(', ')}`);
  return lines.join('\n');
}

const code = await main();
process.exitCode = code;
// Every handle should be closed by now; do not let a stray one keep the bench alive.
setTimeout(() => process.exit(code), 5_000).unref();
