// The issue-11 workload against other checkouts' servers, in one run: each tree's own
// `src/main.ts` runs, with the Node.js flags of that tree's `npm start`, as a separate OS process
// on a fresh store, and this process drives it as a client would (one session per client, T turns per session back to back, the `scripted` model
// streaming K tokens, every delta checked in order). Trees alternate round by round, so a busy
// machine's drift falls on all of them alike. Per run: turns/s, p50 turn latency, time to first
// delta p50, and the SERVER's CPU ms per turn (read from /proc, so the client's own work is not in
// it). It asserts nothing.
//
//   VERSUS_TREES="before=/work/old,after=." DATABASE_URL=postgresql://… npm run bench:versus
//
// An older tree needs the `scripted` provider (src/providers/scripted.ts, registered when
// LASH_SCRIPTED_PROVIDER=1) and a wire-compatible lash.v1 API; bench/README.md says how the
// issue's baseline was prepared. Tuning (env): VERSUS_ROUNDS (2), VERSUS_SESSIONS ("1,16"),
// VERSUS_TURNS (20), VERSUS_TOKENS (50), VERSUS_WARMUP (20 turns on a session of its own),
// VERSUS_SERVER_NODE_ARGS (Node.js flags for the servers, e.g. --cpu-prof --cpu-prof-dir=…), and
// VERSUS_SERVER_NODE_ARGS_<LABEL> for one tree's server only (a flag's A/B on one tree: list it twice),
// and VERSUS_SERVER_ENV_<LABEL>="NAME=value …" for variables of one tree's server (a setting's A/B).

import { credentials } from '@grpc/grpc-js';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { OpenSessionRequest } from '../gen/lash/v1/session_service.js';
import { connect } from '../src/client/promised.js';
import { scriptedText } from '../src/providers/scripted.js';
import { intEnv, listEnv, percentiles, provisionStore, round } from './harness.js';
import { tracedTurn } from './turn-workload.js';

const CLOCK_TICKS_PER_S = 100;

interface Tree {
  label: string;
  dir: string;
  /** Engine for this tree's store: PGlite, or PostgreSQL at DATABASE_URL; undefined follows DATABASE_URL. */
  engine: 'pglite' | 'postgresql' | undefined;
}

function treesFromEnv(): Tree[] {
  return (process.env.VERSUS_TREES || 'this=.').split(',').map((part) => {
    const [label, rest] = part.split('=');
    const [dir, engine] = (rest ?? '').split('@');
    if (!label || !dir) throw new Error(`VERSUS_TREES entries are label=path or label=path@engine (got "${part}")`);
    if (engine !== undefined && engine !== 'pglite' && engine !== 'postgresql')
      throw new Error(`VERSUS_TREES: engine is pglite or postgresql (got "${engine}")`);
    if (engine === 'postgresql' && !process.env.DATABASE_URL) throw new Error('VERSUS_TREES: @postgresql needs DATABASE_URL');
    return { label, dir: resolve(dir), engine };
  });
}

/** CLOCK_MONOTONIC in µs: the clock of V8's CPU profiles, so a server's `--cpu-prof` can be cut to the measured turns. */
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

/** User and system CPU seconds of a process so far (Linux /proc). */
function cpuSeconds(pid: number): { user: number; system: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // After "pid (comm) ": state is field 0, utime field 11, stime field 12.
  return { user: Number(fields[11]) / CLOCK_TICKS_PER_S, system: Number(fields[12]) / CLOCK_TICKS_PER_S };
}

/**
 * User + system CPU seconds of the PostgreSQL backends serving database `name` (their command
 * lines read `postgres: <user> <database> …`), so PostgreSQL's CPU can stand next to PGlite's,
 * which runs inside the server. Backends that started and ended between two reads are missed.
 */
function backendCpuSeconds(name: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (!cmd.startsWith('postgres: ') || !cmd.split(' ').includes(name)) continue;
      const { user, system } = cpuSeconds(Number(entry));
      out.set(Number(entry), user + system);
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

const databaseName = (env: Record<string, string>): string | undefined => (env.DATABASE_URL ? new URL(env.DATABASE_URL).pathname.slice(1) : undefined);

function backendCpuDelta(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, seconds] of after) sum += seconds - (before.get(pid) ?? 0);
  return sum;
}

/** The Node.js flags the tree's own `npm start` passes (`node <flags> src/main.ts`): each tree runs as it ships. */
function startFlags(tree: Tree): string {
  const pkg = JSON.parse(readFileSync(join(tree.dir, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
  const m = /\bnode\s+(.*?)\s*src\/main\.ts/.exec(pkg.scripts?.start ?? '');
  return m ? m[1]! : '--import tsx';
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

interface Server {
  pid: number;
  address: string;
  stop(): Promise<void>;
}

/** `VERSUS_SERVER_ENV_<LABEL>="K=V K2=V2"`: variables for one tree's server (a setting's A/B on one tree: list it twice). */
function treeEnv(tree: Tree): Record<string, string> {
  const spec = process.env[`VERSUS_SERVER_ENV_${tree.label.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`] ?? '';
  return Object.fromEntries(
    spec
      .split(' ')
      .filter(Boolean)
      .map((kv) => {
        const i = kv.indexOf('=');
        if (i < 1) throw new Error(`VERSUS_SERVER_ENV_${tree.label}: "${kv}" is not NAME=value`);
        return [kv.slice(0, i), kv.slice(i + 1)];
      }),
  );
}

/** Starts a tree's server on a fresh store and waits until it answers. */
async function startServer(tree: Tree, env: Record<string, string>): Promise<Server> {
  const port = await freePort();
  const node = process.execPath;
  const perTree = process.env[`VERSUS_SERVER_NODE_ARGS_${tree.label.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`] ?? '';
  const nodeArgs = `${startFlags(tree)} ${process.env.VERSUS_SERVER_NODE_ARGS ?? ''} ${perTree}`.split(' ').filter(Boolean);
  // A PGlite tree must not inherit this process's DATABASE_URL (the server would take it).
  const inherited = { ...process.env };
  if (!env.DATABASE_URL) delete inherited.DATABASE_URL;
  const child: ChildProcess = spawn(node, [...nodeArgs, join(tree.dir, 'src/main.ts')], {
    cwd: tree.dir,
    env: {
      ...inherited,
      ...env,
      LASH_LISTEN: `127.0.0.1:${port}`,
      LASH_LOG_LEVEL: 'warn',
      LASH_SCRIPTED_PROVIDER: '1',
      LASH_QUEUE_WORKERS: '0',
      ...treeEnv(tree),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<number | null>((ok) => child.once('exit', (code) => ok(code)));
  const address = `127.0.0.1:${port}`;
  const probe = connect(address, credentials.createInsecure());
  try {
    for (let i = 0; ; i++) {
      try {
        await probe.sessions.getSession({ sessionId: 'versus-probe' } as never, { deadlineMs: 1000 });
        break;
      } catch (err) {
        // NOT_FOUND means it answers.
        if ((err as { code?: number }).code === 5) break;
        if (i > 600) throw new Error(`${tree.label}: server did not answer on ${address}`);
        const code = await Promise.race([exited, new Promise((ok) => setTimeout(() => ok('wait'), 100))]);
        if (code !== 'wait') throw new Error(`${tree.label}: server exited with code ${String(code)}`);
      }
    }
  } finally {
    probe.close();
  }
  return {
    pid: child.pid!,
    address,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function main(): Promise<void> {
  const trees = treesFromEnv();
  const rounds = intEnv('VERSUS_ROUNDS', 2, 1);
  const sessionCounts = listEnv('VERSUS_SESSIONS', [1, 16]);
  const turnsPerSession = intEnv('VERSUS_TURNS', 20, 1);
  const tokens = intEnv('VERSUS_TOKENS', 50, 1);
  const warmup = intEnv('VERSUS_WARMUP', 20, 0);
  const expected = scriptedText(tokens);
  const spec = { providerId: 'scripted', model: { id: `tokens-${tokens}` } };
  for (let r = 1; r <= rounds; r++) {
    for (const tree of trees) {
      const store = await provisionStore(tree.engine === 'pglite' ? undefined : process.env.DATABASE_URL || undefined);
      const server = await startServer(tree, store.env);
      const clients = connect(server.address, credentials.createInsecure());
      try {
        const open = (sessionId: string) => clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId, spec }), { deadlineMs: 30_000 });
        await open('versus-warm');
        for (let i = 0; i < warmup; i++) await tracedTurn(clients, 'versus-warm');
        for (const sessions of sessionCounts) {
          const ids = Array.from({ length: sessions }, (_, i) => `versus-${sessions}-${i}`);
          for (const id of ids) await open(id);
          const latencies: number[] = [];
          const firsts: number[] = [];
          let wrong = 0;
          const load1 = round(loadavg()[0]!, 2);
          const dbName = databaseName(store.env);
          const db0 = dbName ? backendCpuSeconds(dbName) : undefined;
          const cpu0 = cpuSeconds(server.pid);
          const mono0 = monotonicUs();
          const t0 = performance.now();
          await Promise.all(
            ids.map(async (id) => {
              for (let i = 0; i < turnsPerSession; i++) {
                const t = await tracedTurn(clients, id);
                if (t.text !== expected) wrong++;
                latencies.push(t.ms);
                firsts.push(t.firstDeltaMs);
              }
            }),
          );
          const seconds = (performance.now() - t0) / 1000;
          const mono1 = monotonicUs();
          const cpu1 = cpuSeconds(server.pid);
          const db1 = dbName ? backendCpuSeconds(dbName) : undefined;
          const user = cpu1.user - cpu0.user;
          const system = cpu1.system - cpu0.system;
          const n = sessions * turnsPerSession;
          console.log(
            JSON.stringify({
              bench: 'versus',
              engine: store.engine,
              round: r,
              tree: tree.label,
              sessions,
              tokens,
              turns: n,
              turns_per_s: round(n / seconds, 1),
              p50_ms: round(percentiles(latencies).p50, 2),
              first_delta_p50_ms: round(percentiles(firsts).p50, 2),
              server_cpu_ms_per_turn: round(((user + system) * 1000) / n, 2),
              // Of which in the kernel (socket writes to the database and the clients).
              server_system_ms_per_turn: round((system * 1000) / n, 2),
              // PostgreSQL only: its backends' CPU for this run's database (PGlite's is in the server's).
              ...(db0 && db1 ? { database_cpu_ms_per_turn: round((backendCpuDelta(db0, db1) * 1000) / n, 2) } : {}),
              turns_with_wrong_text: wrong,
              load1,
              // The measured span on V8's profile clock (see monotonicUs).
              span_us: [mono0, mono1],
            }),
          );
        }
      } finally {
        clients.close();
        await server.stop();
        await store.cleanup();
      }
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
