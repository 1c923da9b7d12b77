// Turn throughput and streaming latency over real gRPC, against a lash-grpc server started in this
// process on 127.0.0.1:0:
//
//  1. run_turn: turns/s and p50/p99 latency of RunTurn (call to final result) with the built-in
//     echo model, at 1, 16 and 64 concurrent sessions (each session runs its turns one after the
//     other), next to a raw grpc-js server-streaming RPC that sends as many response messages, of
//     the same mean size, as a RunTurn call received at that concurrency — alternating in rounds,
//     printed as a ratio. Target: ≥ 0.25 × raw streaming at 16 sessions (judged on PostgreSQL).
//  2. delta_latency: with a fake OpenAI-compatible model server (test/support/fake-model-server)
//     streaming BENCH_DELTAS text deltas per turn with small pauses, the time from the fake server
//     writing each delta to the gRPC client receiving the assistant_prose_delta that carries it,
//     at BENCH_DELTA_CONCURRENCY turns at once. Target: p99 < 5 ms.
//  3. rows_per_turn: rows added to session_nodes, session_commits, usage_entries and feed_batches
//     per echo turn and per turn of the delta phase.
//  4. workload (turn-workload.ts): the comparison workload of issue 11 — BENCH_WL_TOKENS tokens
//     per turn, BENCH_WL_TURNS turns per session back to back, at BENCH_WL_SESSIONS sessions, with
//     the in-process `scripted` model and with the fake OpenAI-compatible server; then a turn on a
//     fresh session against one with BENCH_HISTORY turns of history.
//
//   npm run bench:turns                                   # PGlite in a temp folder
//   DATABASE_URL=postgresql://… npm run bench:turns       # a throw-away lash_bench_<random> database
//
// Tuning (env): BENCH_CONCURRENCY ("1,16,64"), BENCH_TURNS (measured turns per session, one value
// per concurrency, "40,16,4"), BENCH_WARMUP (unmeasured turns per session, 1), BENCH_ROUNDS (4),
// BENCH_MAX_SECONDS (45, per concurrency), BENCH_DELTA_CONCURRENCY (16), BENCH_DELTAS (50),
// BENCH_DELTA_DELAY_MS (10), BENCH_DELTA_ROUNDS (3), BENCH_PHASES (turns,deltas,workload),
// BENCH_WL_TOKENS (50), BENCH_WL_TURNS (20), BENCH_WL_SESSIONS ("1,16,64"), BENCH_WL_MODELS
// ("scripted,fake"), BENCH_HISTORY (5000; 0 skips), BENCH_HISTORY_SAMPLES (100). Output: one JSON
// line per measurement on stdout, then a table. Exit 0 whether or not a target was met; 1 when a
// call failed, 2 on bad options.

import { Metadata } from '@grpc/grpc-js';
import { OpenSessionRequest } from '../gen/lash/v1/session_service.js';
import { RunTurnRequest, RunTurnResponse } from '../gen/lash/v1/turn_service.js';
import type { App } from '../src/app.js';
import type { LashClients } from '../src/client/promised.js';
import { startFakeModelServer, type FakeModelServer, type ScriptStep } from '../test/support/fake-model-server.js';
import { textInput } from '../test/support/turns.js';
import { workloadPhase, type WorkloadOptions } from './turn-workload.js';
import {
  compare,
  countRows,
  cpuMeter,
  header,
  loopDelay,
  statementCounter,
  intEnv,
  listEnv,
  machineLoad,
  percentiles,
  openBenchStore,
  round,
  runBench,
  startBenchApp,
  startRawStream,
  table,
  warm,
  type BenchRun,
  type LoadOptions,
  type MachineLoad,
  type RawStream,
} from './harness.js';

const TURN_TARGET = 0.25;
const TURN_TARGET_CONCURRENCY = 16;
const DELTA_P99_TARGET_MS = 5;
const CALL_DEADLINE_MS = 120_000;
const ROW_TABLES = ['session_nodes', 'session_commits', 'usage_entries', 'feed_batches'] as const;
const PHASES = ['turns', 'deltas', 'workload'] as const;
type Phase = (typeof PHASES)[number];

/** Ten words: the echo model streams them back in three deltas. */
const ECHO_TEXT = 'please echo these ten words back to the bench client';
const ECHO_SPEC = { providerId: 'echo', model: { id: 'echo' } };

interface Options {
  concurrency: number[];
  turns: number[];
  warmup: number;
  rounds: number;
  maxSeconds: number;
  deltaConcurrency: number;
  deltas: number;
  deltaDelayMs: number;
  deltaRounds: number;
  phases: Phase[];
  workload: WorkloadOptions;
}

type Row = Record<string, unknown> & { bench: 'turns'; engine: string; op: string };

function prepare(): Options {
  const concurrency = listEnv('BENCH_CONCURRENCY', [1, 16, 64]);
  const perSession = listEnv('BENCH_TURNS', [40, 16, 4]);
  const phases = (process.env.BENCH_PHASES || PHASES.join(',')).split(',').map((s) => s.trim()) as Phase[];
  const unknown = phases.filter((p) => !PHASES.includes(p));
  if (unknown.length) throw new Error(`BENCH_PHASES: unknown phase ${unknown.join(', ')}; use ${PHASES.join(', ')}`);
  return {
    concurrency,
    // One value per concurrency; a shorter list repeats its last value.
    turns: concurrency.map((_, i) => perSession[Math.min(i, perSession.length - 1)]!),
    warmup: intEnv('BENCH_WARMUP', 1, 0),
    rounds: intEnv('BENCH_ROUNDS', 4, 1),
    maxSeconds: intEnv('BENCH_MAX_SECONDS', 45, 1),
    deltaConcurrency: intEnv('BENCH_DELTA_CONCURRENCY', 16, 1),
    deltas: intEnv('BENCH_DELTAS', 50, 1),
    deltaDelayMs: intEnv('BENCH_DELTA_DELAY_MS', 10, 0),
    deltaRounds: intEnv('BENCH_DELTA_ROUNDS', 3, 1),
    phases,
    workload: {
      tokens: intEnv('BENCH_WL_TOKENS', 50, 1),
      turnsPerSession: intEnv('BENCH_WL_TURNS', 20, 1),
      sessions: listEnv('BENCH_WL_SESSIONS', [1, 16, 64]),
      models: (process.env.BENCH_WL_MODELS || 'scripted,fake').split(',').map((m) => m.trim()) as WorkloadOptions['models'],
      history: intEnv('BENCH_HISTORY', 5000, 0),
      historySamples: intEnv('BENCH_HISTORY_SAMPLES', 100, 5),
      maxSeconds: intEnv('BENCH_MAX_SECONDS', 45, 1),
    },
  };
}

interface TurnStats {
  messages: number;
  bytes: number;
}

/** One RunTurn call to its end; fails unless the turn finished. */
function runTurnCall(
  clients: LashClients,
  sessionId: string,
  input: string,
  measureBytes: boolean,
  onData?: (m: RunTurnResponse, at: number) => void,
): Promise<TurnStats> {
  return new Promise((resolve, reject) => {
    const call = clients.turns.raw.runTurn(RunTurnRequest.fromPartial({ sessionId, input: textInput(input) }), new Metadata(), {
      deadline: Date.now() + CALL_DEADLINE_MS,
    });
    const stats: TurnStats = { messages: 0, bytes: 0 };
    let outcome: string | undefined;
    call.on('data', (m: RunTurnResponse) => {
      const at = performance.now();
      stats.messages++;
      if (measureBytes) stats.bytes += RunTurnResponse.encode(m).finish().length;
      for (const a of m.activities) if (a.item?.$case === 'result') outcome = a.item.value.outcome?.$case;
      onData?.(m, at);
    });
    call.on('error', reject);
    call.on('end', () => (outcome === 'finished' ? resolve(stats) : reject(new Error(`turn on ${sessionId} ended with outcome ${outcome ?? 'none'}`))));
  });
}

async function body(o: Options, run: BenchRun): Promise<string> {
  const { store, startLoad } = await openBenchStore('turns', run);
  const engine = store.engine;

  const fake: FakeModelServer = await startFakeModelServer();
  run.defer(() => fake.close());
  const { app, clients } = await startBenchApp(
    store,
    {
      OPENAI_BASE_URL: fake.url,
      LASH_DEFAULT_PROVIDER: 'openai-compatible',
      LASH_DEFAULT_MODEL: 'fake-model',
      LASH_QUEUE_WORKERS: '0',
      LASH_SCRIPTED_PROVIDER: '1',
    },
    run,
  );
  const raw: RawStream = await startRawStream();
  run.defer(() => raw.stop());

  const rows: Row[] = [];
  const notes: string[] = [];
  const emit = (row: Omit<Row, 'bench' | 'engine'>) => {
    const r = { bench: 'turns' as const, engine, ...row } as Row;
    rows.push(r);
    process.stdout.write(`${JSON.stringify(r)}\n`);
  };
  const open = (sessionId: string, spec?: typeof ECHO_SPEC) =>
    clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId, spec }), { deadlineMs: 30_000 });

  if (o.phases.includes('turns')) {
    // JIT: get the turn and stream paths compiled before anything is measured.
    await open('bench-warm', ECHO_SPEC);
    await warm(() => runTurnCall(clients, 'bench-warm', ECHO_TEXT, false), 20, 1, o.maxSeconds);
    await warm(() => raw.call(2, 200), 2000, 1, o.maxSeconds);

    await app.feed.appender.drain();
    const before = await countRows(app, ROW_TABLES);
    let turnsRun = 0;
    let measuredStatements = 0;
    let measuredTurns = 0;
    for (const [i, concurrency] of o.concurrency.entries()) {
      const perSession = o.turns[i]!;
      const sessionOf = (w: number) => `bench-c${concurrency}-${w}`;
      for (let w = 0; w < concurrency; w++) await open(sessionOf(w), ECHO_SPEC);
      // Unmeasured turns that also tell what a RunTurn call receives at this concurrency.
      let messages = 0;
      let bytes = 0;
      let calls = 0;
      await warm(
        async (w) => {
          const s = await runTurnCall(clients, sessionOf(w), ECHO_TEXT, true);
          messages += s.messages;
          bytes += s.bytes;
          calls++;
          turnsRun++;
        },
        Math.max(1, o.warmup) * concurrency,
        concurrency,
        o.maxSeconds,
      );
      const mirrorCount = Math.max(1, Math.round(messages / calls));
      const mirrorSize = Math.max(1, Math.round(bytes / messages));
      let measuredMessages = 0;
      const options: LoadOptions = { calls: perSession * concurrency, warmup: 0, concurrency, maxSeconds: o.maxSeconds, rounds: o.rounds };
      const cpu = cpuMeter();
      const load = machineLoad();
      const sql = statementCounter();
      const { reference, subject } = await compare(
        () => raw.call(mirrorCount, mirrorSize),
        async (w) => {
          const s = await runTurnCall(clients, sessionOf(w), ECHO_TEXT, false);
          measuredMessages += s.messages;
          turnsRun++;
        },
        options,
      );
      const ref = reference.result();
      const sub = subject.result();
      const processCpu = cpu();
      const statements = sql();
      measuredStatements += statements;
      measuredTurns += sub.calls;
      const ratio = sub.rps / ref.rps;
      emit({
        op: 'run_turn',
        concurrency,
        sessions: concurrency,
        turns: sub.calls,
        turns_per_s: round(sub.rps, 1),
        p50_ms: round(sub.p50Ms, 2),
        p99_ms: round(sub.p99Ms, 2),
        messages_per_turn: round(measuredMessages / Math.max(1, sub.calls), 2),
        reference: 'raw_stream',
        reference_messages: mirrorCount,
        reference_bytes: mirrorSize,
        reference_calls_per_s: round(ref.rps, 1),
        ratio: round(ratio, 3),
        capped: sub.capped,
        statements_per_turn: round(statements / Math.max(1, sub.calls), 1),
        load1: load.load1,
        process_cpu: processCpu,
      });
      emit({
        op: 'raw_stream',
        concurrency,
        calls: ref.calls,
        calls_per_s: round(ref.rps, 1),
        p50_ms: round(ref.p50Ms, 3),
        p99_ms: round(ref.p99Ms, 3),
        messages_per_call: mirrorCount,
        bytes_per_message: mirrorSize,
      });
      if (sub.capped) notes.push(`time cap (BENCH_MAX_SECONDS) hit at ${concurrency} sessions: ${sub.calls} of ${options.calls} turns measured`);
    }
    await app.feed.appender.drain();
    const after = await countRows(app, ROW_TABLES);
    emit({
      op: 'rows_per_turn',
      model: 'echo',
      turns: turnsRun,
      ...perTurn(before, after, turnsRun),
      statements: round(measuredStatements / Math.max(1, measuredTurns), 1),
    });
  }

  if (o.phases.includes('deltas')) await deltaPhase(o, app, clients, fake, open, emit);
  if (o.phases.includes('workload')) await workloadPhase(o.workload, app, clients, fake, raw, emit, notes);

  return summary(engine, o, rows, startLoad, machineLoad(), notes);
}

function perTurn(before: Record<string, number>, after: Record<string, number>, turns: number): Record<string, number> {
  const out: Record<string, number> = {};
  let total = 0;
  for (const t of ROW_TABLES) {
    out[t] = round((after[t]! - before[t]!) / Math.max(1, turns), 2);
    total += after[t]! - before[t]!;
  }
  out.total = round(total / Math.max(1, turns), 2);
  return out;
}

/**
 * Delta-to-client latency. The fake server records `performance.now()` right after writing each
 * content delta (`fake.deltaWrittenAt`, in write order across all its streams). To know which
 * entry belongs to which delta, every delta text is a unique token whose `text` getter notes the
 * array's length at the moment the fake server reads it to build the chunk — the index its
 * timestamp gets, since the write and the push follow synchronously.
 */
async function deltaPhase(
  o: Options,
  app: App,
  clients: LashClients,
  fake: FakeModelServer,
  open: (sessionId: string) => Promise<unknown>,
  emit: (row: Omit<Row, 'bench' | 'engine'>) => void,
): Promise<void> {
  const indexOf = new Map<string, number>();
  let next = 0;
  const textStep = (token: string): ScriptStep => {
    let read = false;
    return Object.defineProperty({}, 'text', {
      enumerable: true,
      get() {
        if (!read) {
          read = true;
          indexOf.set(token.trim(), fake.deltaWrittenAt.length);
        }
        return token;
      },
    }) as ScriptStep;
  };
  fake.setDefault(() => {
    const steps: ScriptStep[] = [];
    for (let k = 0; k < o.deltas; k++) {
      steps.push(textStep(`t${next++} `));
      if (o.deltaDelayMs > 0) steps.push({ delayMs: o.deltaDelayMs });
    }
    return { steps };
  });
  const sessions = Array.from({ length: o.deltaConcurrency }, (_, i) => `bench-delta-${i}`);
  for (const s of sessions) await open(s);

  const latencies: number[] = [];
  let unmatched = 0;
  const round1 = async (measure: boolean) => {
    await Promise.all(
      sessions.map((s) =>
        runTurnCall(clients, s, 'stream deltas', false, (m, at) => {
          if (!measure) return;
          for (const a of m.activities) {
            if (a.item?.$case !== 'event' || a.item.value.kind?.$case !== 'assistantProseDelta') continue;
            for (const token of a.item.value.kind.value.text.split(/\s+/)) {
              if (!token) continue;
              const written = fake.deltaWrittenAt[indexOf.get(token) ?? -1];
              if (written === undefined) unmatched++;
              else latencies.push(at - written);
            }
          }
        }),
      ),
    );
  };
  await round1(false); // warm-up round: AI SDK and provider paths
  await app.feed.appender.drain();
  const before = await countRows(app, ROW_TABLES);
  const load = machineLoad();
  const cpu = cpuMeter();
  const loop = loopDelay();
  const sql = statementCounter();
  for (let r = 0; r < o.deltaRounds; r++) await round1(true);
  const processCpu = cpu();
  const loopMs = loop();
  const statements = sql();
  await app.feed.appender.drain();
  const after = await countRows(app, ROW_TABLES);
  const p = percentiles(latencies);
  emit({
    op: 'delta_latency',
    concurrency: o.deltaConcurrency,
    deltas_per_turn: o.deltas,
    delay_ms: o.deltaDelayMs,
    turns: o.deltaRounds * sessions.length,
    deltas: p.n,
    unmatched,
    p50_ms: round(p.p50, 3),
    p99_ms: round(p.p99, 3),
    max_ms: round(p.max, 3),
    target_p99_ms: DELTA_P99_TARGET_MS,
    load1: load.load1,
    process_cpu: processCpu,
    loop_delay_p50_ms: loopMs.p50,
    loop_delay_p99_ms: loopMs.p99,
  });
  emit({
    op: 'rows_per_turn',
    model: `fake ${o.deltas} deltas`,
    turns: o.deltaRounds * sessions.length,
    ...perTurn(before, after, o.deltaRounds * sessions.length),
    statements: round(statements / (o.deltaRounds * sessions.length), 1),
  });
}

function summary(engine: string, o: Options, rows: Row[], start: MachineLoad, end: MachineLoad, notes: string[]): string {
  const lines = [header('turns', engine, `${o.rounds} rounds alternating with raw stream`, start), ''];
  const turns = rows.filter((r) => r.op === 'run_turn');
  if (turns.length) {
    lines.push(
      table(
        ['RunTurn (echo)', 'sessions', 'turns', 'turns/s', 'p50 ms', 'p99 ms', 'msgs/turn', 'raw calls/s', 'ratio', 'load', 'cpu', 'target'],
        turns.map((r) => {
          // The target is judged at 16 sessions on PostgreSQL; PGlite shows it for comparison.
          const judged = r.concurrency === TURN_TARGET_CONCURRENCY;
          const verdict = engine === 'postgresql' ? (Number(r.ratio) >= TURN_TARGET ? 'met' : 'MISSED') : '(PG target)';
          const target = judged ? `≥ ${TURN_TARGET.toFixed(2)} ${verdict}` : '';
          return [
            'run_turn',
            String(r.concurrency),
            String(r.turns),
            String(r.turns_per_s),
            Number(r.p50_ms).toFixed(1),
            Number(r.p99_ms).toFixed(1),
            String(r.messages_per_turn),
            String(r.reference_calls_per_s),
            Number(r.ratio).toFixed(3),
            String(r.load1),
            String(r.process_cpu),
            target,
          ];
        }),
      ),
    );
    lines.push(
      '',
      'ratio = turns/s ÷ raw grpc-js server-stream calls/s, each raw call sending the mean message count and size a RunTurn call received; target judged at 16 sessions on PostgreSQL.',
    );
  }
  const delta = rows.find((r) => r.op === 'delta_latency');
  if (delta) {
    lines.push(
      '',
      table(
        ['delta → client', 'turns at once', 'deltas', 'p50 ms', 'p99 ms', 'max ms', 'loop p99 ms', 'load', 'cpu', 'target'],
        [
          [
            `fake write → assistant_prose_delta (${delta.deltas_per_turn} deltas, ${delta.delay_ms} ms apart)`,
            String(delta.concurrency),
            String(delta.deltas),
            Number(delta.p50_ms).toFixed(2),
            Number(delta.p99_ms).toFixed(2),
            Number(delta.max_ms).toFixed(2),
            String(delta.loop_delay_p99_ms),
            String(delta.load1),
            String(delta.process_cpu),
            `p99 < ${DELTA_P99_TARGET_MS} ${Number(delta.p99_ms) < DELTA_P99_TARGET_MS ? 'met' : 'MISSED'}`,
          ],
        ],
      ),
    );
    if (Number(delta.unmatched) > 0) notes.push(`${delta.unmatched} received delta tokens had no recorded write time`);
  }
  const perTurnRows = rows.filter((r) => r.op === 'rows_per_turn');
  if (perTurnRows.length) {
    lines.push(
      '',
      table(
        ['rows written per turn', 'turns', ...ROW_TABLES, 'total', 'SQL statements'],
        perTurnRows.map((r) => [String(r.model), String(r.turns), ...ROW_TABLES.map((t) => String(r[t])), String(r.total), String(r.statements)]),
      ),
    );
    lines.push('SQL statements = statements this process sent to the store per measured turn, BEGIN/COMMIT included (raw reference calls send none).');
  }
  const wl = rows.filter((r) => r.op === 'workload');
  if (wl.length) {
    lines.push(
      '',
      table(
        [
          'workload',
          'sessions',
          'turns',
          'turns/s',
          'p50 ms',
          'p99 ms',
          '1st delta ms',
          'raw 1st ms',
          'cpu ms/turn',
          'stmts',
          'writes',
          'BEGINs',
          'rows',
          'bytes',
          'raw calls/s',
        ],
        wl.map((r) => [
          `${String(r.model)} K=${String(r.tokens)}`,
          String(r.sessions),
          String(r.turns),
          String(r.turns_per_s),
          String(r.p50_ms),
          String(r.p99_ms),
          String(r.first_delta_p50_ms),
          String(r.reference_first_message_p50_ms),
          String(r.process_cpu_ms_per_turn),
          String(r.statements_per_turn),
          String(r.write_statements_per_turn),
          String(r.begins_per_turn),
          String(r.rows_per_turn),
          String(r.bytes_per_turn),
          String(r.reference_calls_per_s),
        ]),
      ),
    );
    lines.push(
      'per turn: stmts = SQL statements sent (BEGIN/COMMIT included), writes = those with insert/update/delete (SELECT … FOR UPDATE too), rows/bytes = rows inserted and their pg_column_size in every session table (updates in place not counted); cpu = this process (client, server and fake model share it) ÷ turns and raw calls.',
    );
    for (const b of rows.filter((r) => r.op === 'bytes_by_turn'))
      lines.push(
        `bytes of one session's turns (${String(b.model)}): ${JSON.stringify(Object.fromEntries(Object.entries(b).filter(([k]) => k.endsWith('_bytes'))))}`,
      );
    const h = rows.find((r) => r.op === 'history');
    if (h)
      lines.push(
        `history: turn p50 ${String(h.fresh_p50_ms)} ms fresh vs ${String(h.long_p50_ms)} ms after ${String(h.history_turns)} turns (×${String(h.latency_ratio)}); cpu ${String(h.fresh_cpu_ms)} vs ${String(h.long_cpu_ms)} ms (×${String(h.cpu_ratio)}); statements ${String(h.fresh_statements)} vs ${String(h.long_statements)} (target ≤ ×1.3)`,
      );
  }
  lines.push(
    '',
    `load average ${start.load1} at start, ${end.load1} at end, ${end.cores} cores; cpu = this process's CPU seconds ÷ wall seconds over the measurement; loop = event-loop delay of this process (client, server and fake model share it).`,
  );
  lines.push(...notes);
  return lines.join('\n');
}

await runBench('turns', prepare, body);
