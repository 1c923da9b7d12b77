// The workload users compare frameworks on (issue 11): one session per client, T turns per
// session back to back, the model streaming K tokens per turn, every token delivered to the caller,
// the session persisted. Run with two models: `scripted` (in process, no I/O: it measures the
// runtime) and `openai-compatible` against the fake model server (what a real provider costs).
// Per run: turns/s, p50/p99 turn latency, time to first delta, process CPU per turn, SQL
// statements (writes, BEGINs) per turn, rows and bytes inserted per turn, bytes of a session's
// turn 1 and turn T, and a check that every delta of every turn arrived, in order. Next to it, the
// raw grpc-js stream reference sending K messages per call at the same concurrency. Then the
// history phase: the same turn on a fresh session and on one with BENCH_HISTORY turns behind it.

import { Metadata } from '@grpc/grpc-js';
import { OpenSessionRequest } from '../gen/lash/v1/session_service.js';
import { RunTurnRequest, type RunTurnResponse } from '../gen/lash/v1/turn_service.js';
import type { App } from '../src/app.js';
import type { LashClients } from '../src/client/promised.js';
import { scriptedText } from '../src/providers/scripted.js';
import type { FakeModelServer, ScriptStep } from '../test/support/fake-model-server.js';
import { textInput } from '../test/support/turns.js';
import { compare, percentiles, round, sqlMeter, type RawStream } from './harness.js';

/** Tables whose rows carry a session id: what a turn can write. */
const SESSION_TABLES = [
  'sessions',
  'session_nodes',
  'agent_frames',
  'session_commits',
  'usage_entries',
  'session_leases',
  'feed_heads',
  'feed_batches',
  'queue_batches',
] as const;

export interface WorkloadOptions {
  tokens: number;
  turnsPerSession: number;
  sessions: number[];
  models: ('scripted' | 'fake')[];
  history: number;
  /** Turns measured on each of the two sessions (CPU per turn is a mean: a GC pause in a few samples moves it). */
  historySamples: number;
  maxSeconds: number;
}

type Emit = (row: Record<string, unknown> & { op: string }) => void;

export interface TurnTrace {
  ms: number;
  firstDeltaMs: number;
  text: string;
}

/** Every call of the workload, the raw reference's too, carries this deadline (the same client-side work). */
const turnCallOptions = () => ({ deadline: Date.now() + 120_000 });

/** One RunTurn to its end, with its latency, its time to first delta and the deltas' text. */
export function tracedTurn(clients: LashClients, sessionId: string): Promise<TurnTrace> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let first = -1;
    let text = '';
    let outcome: string | undefined;
    const call = clients.turns.raw.runTurn(RunTurnRequest.fromPartial({ sessionId, input: textInput('go') }), new Metadata(), turnCallOptions());
    call.on('data', (m: RunTurnResponse) => {
      for (const a of m.activities) {
        if (a.item?.$case === 'event' && a.item.value.kind?.$case === 'assistantProseDelta') {
          if (first < 0) first = performance.now() - t0;
          text += a.item.value.kind.value.text;
        }
        if (a.item?.$case === 'result') outcome = a.item.value.outcome?.$case;
      }
    });
    call.on('error', reject);
    call.on('end', () =>
      outcome === 'finished'
        ? resolve({ ms: performance.now() - t0, firstDeltaMs: first, text })
        : reject(new Error(`turn on ${sessionId}: outcome ${outcome ?? 'none'}`)),
    );
  });
}

/** Rows and bytes (pg_column_size of whole rows) the sessions matching `like` hold in every table. */
async function footprint(app: App, like: string): Promise<{ rows: number; bytes: number }> {
  const parts = SESSION_TABLES.map(
    (t) => `select count(*)::bigint as n, coalesce(sum(pg_column_size(x.*)), 0)::bigint as b from ${t} x where session_id like ?`,
  );
  const rows = (await app.db.conn().execute(
    `select sum(n)::bigint as n, sum(b)::bigint as b from (${parts.join(' union all ')}) s`,
    SESSION_TABLES.map(() => like),
  )) as { n: string; b: string }[];
  return { rows: Number(rows[0]!.n), bytes: Number(rows[0]!.b) };
}

export async function workloadPhase(
  o: WorkloadOptions,
  app: App,
  clients: LashClients,
  fake: FakeModelServer,
  raw: RawStream,
  emit: Emit,
  notes: string[],
): Promise<void> {
  const expected = scriptedText(o.tokens);
  // The fake model streams the same tokens, one chunk each.
  fake.setDefault(() => ({ steps: expected.split(/(?<= )/).map((text): ScriptStep => ({ text })) }));
  const specOf = (model: 'scripted' | 'fake') =>
    model === 'scripted' ? { providerId: 'scripted', model: { id: `tokens-${o.tokens}` } } : { providerId: 'openai-compatible', model: { id: 'fake-model' } };
  const open = (sessionId: string, model: 'scripted' | 'fake') =>
    clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId, spec: specOf(model) }), { deadlineMs: 30_000 });
  let wrong = 0;
  const check = (t: TurnTrace) => {
    if (t.text !== expected) wrong++;
  };

  for (const model of o.models) {
    // Warm the path (JIT, provider) on a session of its own.
    await open(`wl-warm-${model}`, model);
    for (let i = 0; i < 10; i++) check(await tracedTurn(clients, `wl-warm-${model}`));
    for (const sessions of o.sessions) {
      const prefix = `wl-${model}-${sessions}-`;
      for (let w = 0; w < sessions; w++) await open(`${prefix}${w}`, model);
      await app.feed.appender.drain();
      const before = await footprint(app, `${prefix}%`);
      const latencies: number[] = [];
      const firsts: number[] = [];
      const rawFirsts: number[] = [];
      const sql = sqlMeter();
      const { reference, subject } = await compare(
        async () => {
          const t0 = performance.now();
          let first = -1;
          await raw.call(
            o.tokens,
            40,
            () => {
              if (first < 0) rawFirsts.push((first = performance.now() - t0));
            },
            turnCallOptions(),
          );
        },
        async (w) => {
          const t = await tracedTurn(clients, `${prefix}${w}`);
          check(t);
          latencies.push(t.ms);
          firsts.push(t.firstDeltaMs);
        },
        { calls: sessions * o.turnsPerSession, warmup: 0, concurrency: sessions, maxSeconds: o.maxSeconds, rounds: 1 },
      );
      const counted = sql();
      await app.feed.appender.drain();
      const after = await footprint(app, `${prefix}%`);
      const sub = subject.result();
      const ref = reference.result();
      const turns = Math.max(1, sub.calls);
      const p = percentiles(latencies);
      const f = percentiles(firsts);
      emit({
        op: 'workload',
        model,
        sessions,
        tokens: o.tokens,
        turns: sub.calls,
        turns_per_s: round(sub.rps, 1),
        p50_ms: round(p.p50, 2),
        p99_ms: round(p.p99, 2),
        first_delta_p50_ms: round(f.p50, 2),
        first_delta_p99_ms: round(f.p99, 2),
        // Client, server and (for `fake`) the model server share this process: an upper bound on the
        // server's share. Only the turns' own bursts: the raw reference's run apart from them.
        process_cpu_ms_per_turn: round(sub.cpuMs / turns, 2),
        statements_per_turn: round(counted.statements / turns, 2),
        write_statements_per_turn: round(counted.writes / turns, 2),
        begins_per_turn: round(counted.begins / turns, 2),
        rows_per_turn: round((after.rows - before.rows) / turns, 2),
        bytes_per_turn: round((after.bytes - before.bytes) / turns, 0),
        reference: 'raw_stream',
        reference_calls_per_s: round(ref.rps, 1),
        reference_first_message_p50_ms: round(percentiles(rawFirsts).p50, 3),
        first_delta_ratio: round(f.p50 / Math.max(0.001, percentiles(rawFirsts).p50), 2),
        ratio: round(sub.rps / ref.rps, 3),
        capped: sub.capped,
      });
      if (sub.capped) notes.push(`workload ${model} at ${sessions} sessions hit the time cap: ${sub.calls} turns measured`);
    }
    // Bytes of one session's turn 1 and turn T, measured turn by turn.
    const probe = `wl-bytes-${model}`;
    await open(probe, model);
    const perTurnBytes: number[] = [];
    let last = await footprint(app, probe);
    for (let i = 0; i < o.turnsPerSession; i++) {
      check(await tracedTurn(clients, probe));
      await app.feed.appender.drain();
      const now = await footprint(app, probe);
      perTurnBytes.push(now.bytes - last.bytes);
      last = now;
    }
    emit({
      op: 'bytes_by_turn',
      model,
      turn_1_bytes: perTurnBytes[0],
      [`turn_${o.turnsPerSession}_bytes`]: perTurnBytes.at(-1),
      max_bytes: Math.max(...perTurnBytes),
    });
  }
  if (wrong > 0) notes.push(`${wrong} turns did not deliver every delta in order`);
  emit({ op: 'delta_check', turns_with_wrong_text: wrong });

  if (o.history > 0) await historyPhase(o, app, clients, emit, open, check);
}

/** A turn on a fresh session against a turn with `history` turns behind it (scripted model). */
async function historyPhase(
  o: WorkloadOptions,
  app: App,
  clients: LashClients,
  emit: Emit,
  open: (s: string, m: 'scripted') => Promise<unknown>,
  check: (t: TurnTrace) => void,
): Promise<void> {
  // The two sessions turn alternately, so whatever the database does meanwhile (autovacuum and
  // checkpoints after the build, a neighbour's load) falls on both samples alike.
  const sample = async () => {
    const runs = { fresh: { ms: [] as number[], cpuUs: 0, statements: 0 }, long: { ms: [] as number[], cpuUs: 0, statements: 0 } };
    for (let i = 0; i < o.historySamples * 2; i++) {
      const which = i % 2 === 0 ? 'fresh' : 'long';
      const r = runs[which];
      const c0 = process.cpuUsage();
      const sql = sqlMeter();
      const t = await tracedTurn(clients, which === 'fresh' ? 'wl-fresh' : 'wl-long');
      const cpu = process.cpuUsage(c0);
      r.statements += sql().statements;
      r.cpuUs += cpu.user + cpu.system;
      check(t);
      r.ms.push(t.ms);
    }
    const summary = (r: typeof runs.fresh) => ({ p50: percentiles(r.ms).p50, cpuMs: r.cpuUs / 1000 / r.ms.length, statements: r.statements / r.ms.length });
    return { fresh: summary(runs.fresh), long: summary(runs.long) };
  };
  await open('wl-fresh', 'scripted');
  await open('wl-long', 'scripted');
  // History is one session's turns, so they run one after another (capped at 4 × BENCH_MAX_SECONDS).
  const started = performance.now();
  let built = 0;
  for (; built < o.history && performance.now() - started < o.maxSeconds * 4_000; built++) await tracedTurn(clients, 'wl-long');
  await app.feed.appender.drain();
  // One warm-up turn on the fresh session: the long one is resident from its build.
  await tracedTurn(clients, 'wl-fresh');
  const { fresh, long } = await sample();
  emit({
    op: 'history',
    history_turns: built,
    fresh_p50_ms: round(fresh.p50, 2),
    long_p50_ms: round(long.p50, 2),
    latency_ratio: round(long.p50 / fresh.p50, 2),
    fresh_cpu_ms: round(fresh.cpuMs, 2),
    long_cpu_ms: round(long.cpuMs, 2),
    cpu_ratio: round(long.cpuMs / fresh.cpuMs, 2),
    fresh_statements: round(fresh.statements, 1),
    long_statements: round(long.statements, 1),
  });
}
