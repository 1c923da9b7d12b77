// The observation feed over real gRPC, against a lash-grpc server started in this process on
// 127.0.0.1:0, with a fake OpenAI-compatible model server (test/support/fake-model-server)
// streaming the turns' text deltas:
//
//  a. fanout: feed events per second delivered to 1, 100 and 1000 ObserveSession streams of one
//     session (spread over connections of BENCH_STREAMS_PER_CHANNEL streams) while turns stream
//     deltas into it — next to a raw grpc-js server stream that sends the same response bytes
//     (recorded from one observer) to as many streams over as many connections, measured right
//     after; the client decodes both alike. Target: ≥ 0.5 × raw.
//  b. lag: time from the RunTurn client receiving a turn event to an observer receiving the same
//     event id (both clients in this process: one clock). Target p99 < 10 ms. On PostgreSQL also
//     across processes: the observer is connected to a second server (src/main.ts as a child
//     process on the same database) and learns of events through the store and NOTIFY. Target
//     p99 < 150 ms.
//  b2. bursts: the same lag measured during turns whose deltas come with no pause (BENCH_BURSTS:
//     100, 1,000 and 4,000 deltas per turn), p50 and max per size, plus the largest response an
//     observer got and whether any observer was cut off. The issue-12 promise: about linger + one
//     store round trip, and a reader that keeps up is never cut off (try
//     BENCH_OBSERVER_BUFFER=100, the smallest bound the server accepts).
//  c. backlog: ObserveSession from a cursor followed by a backlog of BENCH_BACKLOG events, time to
//     the last one. Target < 250 ms.
//  d. rows: feed_batches rows and bytes (payload as text, stored datum, relation growth) per turn
//     of BENCH_ROWS_DELTAS deltas.
//
//   npm run bench:feed                                   # PGlite in a temp folder
//   DATABASE_URL=postgresql://… npm run bench:feed       # a throw-away lash_bench_<random> database
//
// Tuning (env): BENCH_OBSERVERS ("1,100,1000"), BENCH_STREAMS_PER_CHANNEL (250),
// BENCH_FANOUT_TURNS (2), BENCH_FANOUT_DELTAS (200), BENCH_LAG_SESSIONS (4), BENCH_LAG_TURNS (3,
// per session), BENCH_LAG_DELTAS (50), BENCH_LAG_DELAY_MS (10), BENCH_BACKLOG (10000),
// BENCH_BACKLOG_DELTAS (2000 per turn), BENCH_RESUMES (5), BENCH_ROWS_TURNS (5),
// BENCH_ROWS_DELTAS (200), BENCH_BURSTS ("100,1000,4000"), BENCH_BURST_TURNS (3 per size),
// BENCH_OBSERVER_BUFFER (the server's LASH_FEED_OBSERVER_BUFFER; its default when unset),
// BENCH_MAX_SECONDS (60, per wait), BENCH_PHASES (fanout,lag,cross,bursts,backlog,rows; cross
// runs on PostgreSQL only). Output: one JSON line per
// measurement on stdout, then a table. Exit 0 whether or not a target was met; 1 when a call
// failed, 2 on bad options.

import { Metadata } from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ObserveSessionResponse, OpenSessionRequest } from '../gen/lash/v1/session_service.js';
import { RunTurnRequest, type RunTurnResponse } from '../gen/lash/v1/turn_service.js';
import type { App } from '../src/app.js';
import type { LashClients } from '../src/client/promised.js';
import { startChildServer, type ChildServer } from '../test/support/child-server.js';
import { startFakeModelServer, type FakeModelServer, type ScriptStep } from '../test/support/fake-model-server.js';
import { textInput } from '../test/support/turns.js';
import {
  channels,
  countRows,
  cpuMeter,
  header,
  intEnv,
  statementCounter,
  listEnv,
  loopDelay,
  machineLoad,
  percentiles,
  openBenchStore,
  round,
  runBench,
  startBenchApp,
  observe,
  startRawStream,
  table,
  waitUntil,
  type BenchRun,
  type MachineLoad,
} from './harness.js';

const FANOUT_TARGET = 0.5;
const LAG_TARGET_MS = 10;
const CROSS_LAG_TARGET_MS = 150;
/** The server's LASH_FEED_LINGER_MS (its default; the bench does not set it). */
const LINGER_MS = 10;
const BACKLOG_TARGET_MS = 250;
const TENANT = 'default';
const PHASES = ['fanout', 'lag', 'cross', 'bursts', 'backlog', 'rows'] as const;
type Phase = (typeof PHASES)[number];

interface Options {
  observers: number[];
  streamsPerChannel: number;
  fanoutTurns: number;
  fanoutDeltas: number;
  lagSessions: number;
  lagTurns: number;
  lagDeltas: number;
  lagDelayMs: number;
  backlog: number;
  backlogDeltas: number;
  resumes: number;
  rowsTurns: number;
  rowsDeltas: number;
  bursts: number[];
  burstTurns: number;
  observerBuffer?: number;
  maxSeconds: number;
  phases: Phase[];
}

type Row = Record<string, unknown> & { bench: 'feed'; engine: string; op: string };

function prepare(): Options {
  const phases = (process.env.BENCH_PHASES || PHASES.join(',')).split(',').map((s) => s.trim()) as Phase[];
  const unknown = phases.filter((p) => !PHASES.includes(p));
  if (unknown.length) throw new Error(`BENCH_PHASES: unknown phase ${unknown.join(', ')}; use ${PHASES.join(', ')}`);
  return {
    observers: listEnv('BENCH_OBSERVERS', [1, 100, 1000]),
    streamsPerChannel: intEnv('BENCH_STREAMS_PER_CHANNEL', 250, 1),
    fanoutTurns: intEnv('BENCH_FANOUT_TURNS', 2, 1),
    fanoutDeltas: intEnv('BENCH_FANOUT_DELTAS', 200, 1),
    lagSessions: intEnv('BENCH_LAG_SESSIONS', 4, 1),
    lagTurns: intEnv('BENCH_LAG_TURNS', 3, 1),
    lagDeltas: intEnv('BENCH_LAG_DELTAS', 50, 1),
    lagDelayMs: intEnv('BENCH_LAG_DELAY_MS', 10, 0),
    backlog: intEnv('BENCH_BACKLOG', 10_000, 1),
    backlogDeltas: intEnv('BENCH_BACKLOG_DELTAS', 2000, 1),
    resumes: intEnv('BENCH_RESUMES', 5, 1),
    rowsTurns: intEnv('BENCH_ROWS_TURNS', 5, 1),
    rowsDeltas: intEnv('BENCH_ROWS_DELTAS', 200, 1),
    bursts: listEnv('BENCH_BURSTS', [100, 1000, 4000]),
    burstTurns: intEnv('BENCH_BURST_TURNS', 3, 1),
    observerBuffer: process.env.BENCH_OBSERVER_BUFFER ? intEnv('BENCH_OBSERVER_BUFFER', 10_000, 100) : undefined,
    maxSeconds: intEnv('BENCH_MAX_SECONDS', 60, 1),
    phases,
  };
}

// --- Turns ------------------------------------------------------------------------------------------

/**
 * The next chat request gets `deltas` text deltas, `delayMs` apart. With 0 they are written back to
 * back (they reach the server in a few reads and the turn coalesces them into a few events); with
 * 'tick' each waits for one timer tick of the fake server (about 1 ms), so nearly every delta
 * becomes an event of its own.
 */
function deltaSteps(deltas: number, delayMs: number | 'tick', word = 'token'): ScriptStep[] {
  const steps: ScriptStep[] = [];
  for (let k = 0; k < deltas; k++) {
    steps.push({ text: `${word}${k} ` });
    if (delayMs === 'tick') steps.push({ delayMs: 0 });
    else if (delayMs > 0) steps.push({ delayMs });
  }
  return steps;
}

/** One RunTurn to its end; `onEvent` sees every turn event id as the client receives it. */
function runTurn(clients: LashClients, sessionId: string, onEvent?: (id: string, at: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const call = clients.turns.raw.runTurn(RunTurnRequest.fromPartial({ sessionId, input: textInput('stream') }), new Metadata(), {
      deadline: Date.now() + 300_000,
    });
    let outcome: string | undefined;
    call.on('data', (m: RunTurnResponse) => {
      const at = performance.now();
      for (const a of m.activities) {
        if (a.item?.$case === 'event') onEvent?.(a.item.value.id, at);
        if (a.item?.$case === 'result') outcome = a.item.value.outcome?.$case;
      }
    });
    call.on('error', reject);
    call.on('end', () => (outcome === 'finished' ? resolve() : reject(new Error(`turn on ${sessionId} ended with outcome ${outcome ?? 'none'}`))));
  });
}

async function headSeq(app: App, sessionId: string): Promise<number> {
  await app.feed.appender.flushed(TENANT, sessionId);
  return Number((await app.feed.store.head(TENANT, sessionId)).lastSeq);
}

// --- The bench ----------------------------------------------------------------------------------

async function body(o: Options, run: BenchRun): Promise<string> {
  const { store, startLoad } = await openBenchStore('feed', run);
  const engine = store.engine;

  const fake: FakeModelServer = await startFakeModelServer();
  run.defer(() => fake.close());
  // No heartbeats during a measurement: they would add messages that are not events.
  const serverEnv = {
    OPENAI_BASE_URL: fake.url,
    LASH_DEFAULT_PROVIDER: 'openai-compatible',
    LASH_DEFAULT_MODEL: 'fake-model',
    LASH_FEED_HEARTBEAT_MS: '300000',
    LASH_QUEUE_WORKERS: '0',
    ...(o.observerBuffer !== undefined ? { LASH_FEED_OBSERVER_BUFFER: String(o.observerBuffer) } : {}),
  };
  const { app, clients } = await startBenchApp(store, serverEnv, run);

  const rows: Row[] = [];
  const notes: string[] = [];
  const emit = (row: Omit<Row, 'bench' | 'engine'>) => {
    const r = { bench: 'feed' as const, engine, ...row } as Row;
    rows.push(r);
    process.stdout.write(`${JSON.stringify(r)}\n`);
  };
  const open = (sessionId: string) => clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId }), { deadlineMs: 30_000 });
  const waitMs = o.maxSeconds * 1000;

  // Warm-up: JIT of the turn, feed and observe paths.
  await open('feed-warm');
  const [warmChannel] = channels(app.address, 1);
  const warmObserver = observe(warmChannel!, 'feed-warm', undefined);
  for (let i = 0; i < 3; i++) {
    fake.script({ steps: deltaSteps(100, 0) });
    await runTurn(clients, 'feed-warm');
  }
  await waitUntil(() => warmObserver.lastSeq >= 0 && warmObserver.events > 0, waitMs, 'the warm-up observer');
  warmObserver.cancel();
  warmChannel!.close();

  if (o.phases.includes('fanout')) {
    const raw = await startRawStream();
    run.defer(() => raw.stop());
    for (const n of o.observers) {
      const sessionId = `feed-fanout-${n}`;
      await open(sessionId);
      const chans = channels(app.address, Math.ceil(n / o.streamsPerChannel));
      const observers = Array.from({ length: n }, (_, i) => observe(chans[i % chans.length]!, sessionId, undefined));
      await waitUntil(() => observers.every((x) => x.firstAt > 0 || x.ended), waitMs, `${n} snapshots`, 10);
      const failed = observers.find((x) => x.error);
      if (failed) throw new Error(`an observer failed before the measurement: ${failed.error}`);
      const startSeq = observers[0]!.lastSeq;
      observers[0]!.recorded = [];
      const cpu = cpuMeter();
      const loop = loopDelay();
      const load = machineLoad();
      const t0 = performance.now();
      for (let t = 0; t < o.fanoutTurns; t++) {
        fake.script({ steps: deltaSteps(o.fanoutDeltas, 0) });
        await runTurn(clients, sessionId);
      }
      const turnsMs = performance.now() - t0;
      const target = await headSeq(app, sessionId);
      await waitUntil(() => observers.every((x) => x.lastSeq >= target || x.ended), waitMs, `${n} observers to reach seq ${target}`, 5);
      const lost = observers.filter((x) => x.lastSeq < target);
      if (lost.length) throw new Error(`${lost.length} of ${n} observers ended early: ${lost[0]!.error ?? 'stream ended'}`);
      const t1 = Math.max(...observers.map((x) => x.lastEventAt));
      const processCpu = cpu();
      const loopMs = loop();
      const events = target - startSeq;
      const lashRate = (n * events) / ((t1 - t0) / 1000);
      const replay = observers[0]!.recorded!;
      observers.forEach((x) => x.cancel());
      chans.forEach((c) => c.close());

      // The raw reference: the same responses to as many streams over as many connections.
      raw.replay = replay;
      const rawChans = Array.from({ length: Math.ceil(n / o.streamsPerChannel) }, () => raw.channel());
      let rawEvents = 0;
      const countEvents = (b: Buffer) => {
        for (const m of ObserveSessionResponse.decode(b).messages) if (m.kind?.$case === 'event') rawEvents++;
      };
      const r0 = performance.now();
      await Promise.all(Array.from({ length: n }, (_, i) => rawChans[i % rawChans.length]!.call(undefined, undefined, countEvents)));
      const rawSeconds = (performance.now() - r0) / 1000;
      rawChans.forEach((c) => c.close());
      if (rawEvents !== n * events) notes.push(`raw fan-out at ${n}: ${rawEvents} events received, ${n * events} expected`);
      const rawRate = rawEvents / rawSeconds;
      emit({
        op: 'fanout',
        observers: n,
        channels: chans.length,
        turns: o.fanoutTurns,
        events_per_observer: events,
        responses_per_observer: replay.length,
        delivered: n * events,
        seconds: round((t1 - t0) / 1000, 3),
        turns_seconds: round(turnsMs / 1000, 3),
        events_per_s: round(lashRate, 0),
        reference: 'raw_stream_fanout',
        reference_events_per_s: round(rawRate, 0),
        reference_seconds: round(rawSeconds, 3),
        ratio: round(lashRate / rawRate, 3),
        load1: load.load1,
        process_cpu: processCpu,
        loop_delay_p99_ms: loopMs.p99,
      });
    }
  }

  if (o.phases.includes('lag')) {
    await lagPhase(o, 'lag', lagShape(o), app, clients, fake, app.address, emit, notes);
  }

  if (o.phases.includes('cross') && engine === 'postgresql') {
    // A second server process on the same database: it hears of appends through NOTIFY and reads
    // the events from the store. Its own data folder; no queue workers.
    const dataDir = mkdtempSync(join(tmpdir(), 'lash-bench-child-'));
    run.defer(() => rmSync(dataDir, { recursive: true, force: true }));
    const t = performance.now();
    const child: ChildServer = await startChildServer({
      DATABASE_URL: store.env.DATABASE_URL!,
      LASH_DATA_DIR: dataDir,
      LASH_QUEUE_WORKERS: '0',
      LASH_FEED_HEARTBEAT_MS: '300000',
      LASH_SHUTDOWN_GRACE_MS: '2000',
    });
    run.defer(async () => void (await child.kill('SIGTERM')));
    process.stderr.write(`bench: second server (pid ${child.process.pid}) serving at ${child.address} after ${Math.round(performance.now() - t)} ms\n`);
    await lagPhase(o, 'cross', lagShape(o), app, clients, fake, child.address, emit, notes);
  } else if (o.phases.includes('cross')) {
    notes.push('cross-process lag: PostgreSQL only (PGlite is one process); skipped');
  }

  if (o.phases.includes('bursts')) {
    // One session and observer per size, deltas with no pause: the burst the feed must keep up with.
    for (const delayMs of [0, 'tick'] as const) {
      for (const deltas of o.bursts) {
        const prefix = `feed-${deltas}-${delayMs}`;
        await lagPhase(o, 'burst', { sessions: 1, turns: o.burstTurns, deltas, delayMs, prefix }, app, clients, fake, app.address, emit, notes);
      }
    }
  }

  if (o.phases.includes('backlog')) {
    const sessionId = 'feed-backlog';
    await open(sessionId);
    const [chan] = channels(app.address, 1);
    // The cursor of a fresh observer's snapshot: the feed position before the backlog.
    const first = observe(chan!, sessionId, undefined);
    await waitUntil(() => first.firstAt > 0 || first.ended, waitMs, 'the snapshot');
    first.cancel();
    const startSeq = first.lastSeq;
    const cursor = first.firstCursor;
    let seq = startSeq;
    let turns = 0;
    const t = performance.now();
    while (seq - startSeq < o.backlog) {
      fake.script({ steps: deltaSteps(Math.min(o.backlogDeltas, o.backlog - (seq - startSeq)), 0) });
      await runTurn(clients, sessionId);
      turns++;
      seq = await headSeq(app, sessionId);
    }
    process.stderr.write(`bench: backlog of ${seq - startSeq} events in ${turns} turns took ${Math.round(performance.now() - t)} ms to build\n`);
    const times: number[] = [];
    const firsts: number[] = [];
    let failure: string | undefined;
    const load = machineLoad();
    for (let r = 0; r < o.resumes && !failure; r++) {
      const t0 = performance.now();
      const x = observe(chan!, sessionId, cursor);
      await waitUntil(() => x.lastSeq >= seq || x.ended, waitMs, 'the end of the backlog', 1);
      if (x.lastSeq < seq) failure = x.error ?? `stream ended at seq ${x.lastSeq} of ${seq}`;
      else if (x.events !== seq - startSeq) failure = `${x.events} events received, ${seq - startSeq} expected`;
      else {
        times.push(x.lastEventAt - t0);
        firsts.push(x.firstAt - t0);
      }
      x.cancel();
    }
    chan!.close();
    const p = percentiles(times);
    emit({
      op: 'backlog_resume',
      events: seq - startSeq,
      turns,
      resumes: times.length,
      first_event_ms: round(percentiles(firsts).p50, 1),
      p50_ms: round(p.p50, 1),
      max_ms: round(p.max, 1),
      events_per_s: p.n ? round((seq - startSeq) / (p.p50 / 1000), 0) : null,
      target_ms: BACKLOG_TARGET_MS,
      ...(failure ? { error: failure } : {}),
      load1: load.load1,
    });
    if (failure) notes.push(`backlog resume failed: ${failure}`);
  }

  if (o.phases.includes('rows')) {
    const sessionId = 'feed-rows';
    await open(sessionId);
    const conn = app.db.em().getConnection();
    const sizes = async () => {
      const [r] = (await conn.execute(
        `select pg_total_relation_size('feed_batches')::bigint as total, pg_relation_size('feed_batches')::bigint as heap,
                (select count(*) from feed_batches where session_id = ?)::bigint as n,
                (select coalesce(sum(octet_length(events)), 0) from feed_batches where session_id = ?)::bigint as text_bytes,
                (select coalesce(sum(pg_column_size(events)), 0) from feed_batches where session_id = ?)::bigint as stored_bytes`,
        [sessionId, sessionId, sessionId],
      )) as Record<string, string | number>[];
      return Object.fromEntries(Object.entries(r!).map(([k, v]) => [k, Number(v)]));
    };
    const tables = ['session_nodes', 'session_commits', 'usage_entries', 'feed_batches'] as const;
    await app.feed.appender.drain();
    const before = await sizes();
    const rowsBefore = await countRows(app, tables);
    for (let t = 0; t < o.rowsTurns; t++) {
      fake.script({ steps: deltaSteps(o.rowsDeltas, 0) });
      await runTurn(clients, sessionId);
    }
    await app.feed.appender.drain();
    const after = await sizes();
    const rowsAfter = await countRows(app, tables);
    const per = (k: string) => round((after[k]! - before[k]!) / o.rowsTurns, 1);
    const otherRows = round(tables.filter((t) => t !== 'feed_batches').reduce((s, t) => s + rowsAfter[t]! - rowsBefore[t]!, 0) / o.rowsTurns, 1);
    emit({
      op: 'rows_per_turn',
      deltas_per_turn: o.rowsDeltas,
      turns: o.rowsTurns,
      feed_rows: per('n'),
      payload_text_bytes: per('text_bytes'),
      payload_stored_bytes: per('stored_bytes'),
      relation_bytes: per('total'),
      heap_bytes: per('heap'),
      bytes_per_event: round((after.total! - before.total!) / Math.max(1, after.n! - before.n!), 0),
      other_rows: otherRows,
    });
  }

  return summary(engine, o, rows, startLoad, machineLoad(), notes);
}

interface LagShape {
  sessions: number;
  /** Measured turns per session (after one warm-up turn each). */
  turns: number;
  deltas: number;
  delayMs: number | 'tick';
  prefix: string;
}

const lagShape = (o: Options): LagShape => ({ sessions: o.lagSessions, turns: o.lagTurns, deltas: o.lagDeltas, delayMs: o.lagDelayMs, prefix: 'feed' });

/**
 * Observer lag: per session one observer (on `observeAt`, this server or another one) and one
 * RunTurn client on this server; for every turn event, observer receipt − RunTurn receipt.
 */
async function lagPhase(
  o: Options,
  op: 'lag' | 'cross' | 'burst',
  shape: LagShape,
  app: App,
  clients: LashClients,
  fake: FakeModelServer,
  observeAt: string,
  emit: (row: Omit<Row, 'bench' | 'engine'>) => void,
  notes: string[],
): Promise<void> {
  const sessions = Array.from({ length: shape.sessions }, (_, i) => `${shape.prefix}-${op}-${i}`);
  for (const s of sessions) await clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: s }), { deadlineMs: 30_000 });
  const chans = channels(observeAt, 1);
  const turnAt = new Map<string, number>();
  const observedAt = new Map<string, number>();
  const lags: number[] = [];
  const fromEventTime: number[] = [];
  const pair = (id: string) => {
    const a = turnAt.get(id);
    const b = observedAt.get(id);
    if (a !== undefined && b !== undefined) {
      lags.push(b - a);
      turnAt.delete(id);
      observedAt.delete(id);
    }
  };
  const observers = sessions.map((s) =>
    observe(chans[0]!, s, undefined, (m, at) => {
      const p = m.kind?.$case === 'event' ? m.kind.value.payload : undefined;
      if (p?.$case !== 'turnActivity' || !p.value.event) return;
      observedAt.set(p.value.event.id, at);
      if (p.value.event.time) fromEventTime.push(Date.now() - p.value.event.time.getTime());
      pair(p.value.event.id);
    }),
  );
  await waitUntil(() => observers.every((x) => x.firstAt > 0 || x.ended), o.maxSeconds * 1000, 'the snapshots', 5);
  fake.setDefault(() => ({ steps: deltaSteps(shape.deltas, shape.delayMs) }));
  // One unmeasured turn per session first (connections, JIT, the child's first reads).
  const turns = (measure: boolean) =>
    Promise.all(
      sessions.map(async (s) => {
        for (let t = 0; t < (measure ? shape.turns : 1); t++) {
          await runTurn(clients, s, (id, at) => {
            turnAt.set(id, at);
            pair(id);
          });
        }
      }),
    );
  await turns(false);
  await Promise.all(
    sessions.map(async (s, i) => {
      const target = await headSeq(app, s);
      await waitUntil(() => observers[i]!.lastSeq >= target || observers[i]!.ended, o.maxSeconds * 1000, 'the warm-up events');
    }),
  );
  lags.length = 0;
  fromEventTime.length = 0;
  // Where the lag goes: time the feed store appends of this server (the turn's events wait for
  // them before any observer sees them), by shadowing the method on the instance.
  const feedStore = app.feed.store as { append: App['feed']['store']['append'] };
  const append = feedStore.append;
  const appendMs: number[] = [];
  let appendedEvents = 0;
  feedStore.append = async (...args) => {
    const t = performance.now();
    try {
      return await append.apply(app.feed.store, args);
    } finally {
      appendMs.push(performance.now() - t);
      appendedEvents += args[3].length;
    }
  };
  const load = machineLoad();
  const cpu = cpuMeter();
  const loop = loopDelay();
  const sql = statementCounter();
  await turns(true);
  await Promise.all(
    sessions.map(async (s, i) => {
      const target = await headSeq(app, s);
      await waitUntil(() => observers[i]!.lastSeq >= target || observers[i]!.ended, o.maxSeconds * 1000, `${op} observer of ${s} to reach seq ${target}`);
    }),
  );
  const processCpu = cpu();
  const loopMs = loop();
  const statements = sql();
  feedStore.append = append;
  fake.setDefault(undefined);
  const broken = observers.find((x) => x.error);
  if (broken) notes.push(`${op} (${shape.deltas} deltas): an observer failed: ${broken.error}`);
  const maxResponse = Math.max(0, ...observers.map((x) => x.maxMessagesPerResponse));
  observers.forEach((x) => x.cancel());
  chans.forEach((c) => c.close());
  const p = percentiles(lags);
  const e = percentiles(fromEventTime);
  const a = percentiles(appendMs);
  emit({
    op,
    sessions: shape.sessions,
    turns: shape.sessions * shape.turns,
    deltas_per_turn: shape.deltas,
    delay_ms: shape.delayMs,
    events: p.n,
    unmatched: turnAt.size + observedAt.size,
    cut_off: observers.filter((x) => x.error).length,
    max_messages_per_response: maxResponse,
    observer_buffer: o.observerBuffer ?? 'default',
    p50_ms: round(p.p50, 2),
    p99_ms: round(p.p99, 2),
    max_ms: round(p.max, 2),
    from_event_time_p50_ms: e.p50,
    from_event_time_p99_ms: e.p99,
    // A burst has no fixed target: the promise is about linger + one store round trip.
    ...(op === 'burst' ? { linger_plus_append_p50_ms: round(LINGER_MS + a.p50, 2) } : { target_p99_ms: op === 'lag' ? LAG_TARGET_MS : CROSS_LAG_TARGET_MS }),
    feed_appends: a.n,
    events_per_append: round(appendedEvents / Math.max(1, a.n), 2),
    append_p50_ms: round(a.p50, 2),
    append_p99_ms: round(a.p99, 2),
    statements_per_event: round(statements / Math.max(1, appendedEvents), 2),
    load1: load.load1,
    process_cpu: processCpu,
    loop_delay_p99_ms: loopMs.p99,
  });
}

function summary(engine: string, o: Options, rows: Row[], start: MachineLoad, end: MachineLoad, notes: string[]): string {
  const lines = [header('feed', engine, `${o.fanoutTurns} turns of ${o.fanoutDeltas} deltas per fan-out`, start)];
  const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
  const fan = rows.filter((r) => r.op === 'fanout');
  if (fan.length) {
    lines.push(
      '',
      table(
        ['fan-out', 'observers', 'channels', 'events', 'delivered', 'seconds', 'turns s', 'events/s', 'raw events/s', 'ratio', 'loop p99', 'cpu', 'target'],
        fan.map((r) => [
          'ObserveSession',
          String(r.observers),
          String(r.channels),
          String(r.events_per_observer),
          String(r.delivered),
          String(r.seconds),
          String(r.turns_seconds),
          String(r.events_per_s),
          String(r.reference_events_per_s),
          Number(r.ratio).toFixed(3),
          String(r.loop_delay_p99_ms),
          String(r.process_cpu),
          `≥ ${FANOUT_TARGET} ${verdict(Number(r.ratio) >= FANOUT_TARGET)}`,
        ]),
      ),
    );
    lines.push(
      'events = feed events per observer; seconds = first turn start → last observer got the last event (turns s: the turns alone); raw = the same responses replayed by a raw grpc-js stream.',
    );
  }
  const lag = rows.filter((r) => r.op === 'lag' || r.op === 'cross');
  if (lag.length) {
    lines.push(
      '',
      table(
        [
          'observer lag',
          'sessions',
          'events',
          'p50 ms',
          'p99 ms',
          'max ms',
          'vs event.time p99',
          'events/append',
          'append p50',
          'append p99',
          'SQL/event',
          'loop p99',
          'cpu',
          'target',
        ],
        lag.map((r) => [
          r.op === 'lag' ? 'same process' : 'other process (PG NOTIFY)',
          String(r.sessions),
          String(r.events),
          String(r.p50_ms),
          String(r.p99_ms),
          String(r.max_ms),
          String(r.from_event_time_p99_ms),
          String(r.events_per_append),
          String(r.append_p50_ms),
          String(r.append_p99_ms),
          String(r.statements_per_event),
          String(r.loop_delay_p99_ms),
          String(r.process_cpu),
          `p99 < ${r.target_p99_ms} ${verdict(Number(r.p99_ms) < Number(r.target_p99_ms))}`,
        ]),
      ),
    );
    lines.push(
      'append = one FeedStore.append on this server (a batch of events, one transaction), ms; SQL/event = statements this process sent per event appended (all sources, during the phase).',
    );
    lines.push(
      `lag = observer receipt − RunTurn client receipt of the same event id (${o.lagDeltas} deltas ${o.lagDelayMs} ms apart per turn); vs event.time = observer wall clock − the event's time field (ms resolution).`,
    );
  }
  const bursts = rows.filter((r) => r.op === 'burst');
  if (bursts.length) {
    lines.push(
      '',
      table(
        [
          'burst lag',
          'deltas/turn',
          'spacing',
          'turns',
          'events',
          'p50 ms',
          'max ms',
          'linger+append p50',
          'events/append',
          'append p99',
          'max msgs/response',
          'cut off',
          'buffer',
        ],
        bursts.map((r) => [
          'same process',
          String(r.deltas_per_turn),
          r.delay_ms === 'tick' ? 'a tick' : 'none',
          String(r.turns),
          String(r.events),
          String(r.p50_ms),
          String(r.max_ms),
          String(r.linger_plus_append_p50_ms),
          String(r.events_per_append),
          String(r.append_p99_ms),
          String(r.max_messages_per_response),
          String(r.cut_off),
          String(r.observer_buffer),
        ]),
      ),
    );
    lines.push(
      'burst lag = observer receipt − RunTurn client receipt of the same event id. spacing none: the fake model writes the deltas back to back and the turn coalesces them into a few events (for both streams alike); a tick: one timer tick between deltas, so nearly every delta is an event. cut off = observers that ended with an error (OBSERVER_TOO_SLOW).',
    );
  }
  const backlog = rows.find((r) => r.op === 'backlog_resume');
  if (backlog) {
    lines.push(
      '',
      table(
        ['resume', 'events', 'resumes', 'first event ms', 'p50 ms', 'max ms', 'events/s', 'target'],
        [
          [
            'ObserveSession from a cursor',
            String(backlog.events),
            String(backlog.resumes),
            String(backlog.first_event_ms),
            String(backlog.p50_ms),
            String(backlog.max_ms),
            String(backlog.events_per_s),
            backlog.error ? 'FAILED' : `< ${BACKLOG_TARGET_MS} ${verdict(Number(backlog.p50_ms) < BACKLOG_TARGET_MS)}`,
          ],
        ],
      ),
    );
  }
  const r = rows.find((x) => x.op === 'rows_per_turn');
  if (r) {
    lines.push(
      '',
      table(
        ['per turn of deltas', 'deltas', 'feed rows', 'payload text B', 'payload stored B', 'relation B', 'B per event', 'other rows'],
        [
          [
            'feed_batches',
            String(r.deltas_per_turn),
            String(r.feed_rows),
            String(r.payload_text_bytes),
            String(r.payload_stored_bytes),
            String(r.relation_bytes),
            String(r.bytes_per_event),
            String(r.other_rows),
          ],
        ],
      ),
    );
    lines.push(
      'relation B = growth of pg_total_relation_size(feed_batches) (heap, indexes, TOAST); other rows = session_nodes + session_commits + usage_entries.',
    );
  }
  lines.push(
    '',
    `load average ${start.load1} at start, ${end.load1} at end, ${end.cores} cores; cpu = this process's CPU seconds ÷ wall seconds; loop = its event-loop delay (clients and server share it).`,
  );
  lines.push(...notes);
  return lines.join('\n');
}

await runBench('feed', prepare, body);
