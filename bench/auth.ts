// What authentication adds to a call: GetSession on a resident session with a static bearer
// token, a JWT (verified once, then served from the verified-token cache) and a JWT verified on
// every call (LASH_AUTH_CACHE_MS=0), each against the same call anonymous. Three servers in this
// process (anonymous, authenticated, authenticated without the JWT cache), each on its own
// throw-away store. A run is many short rounds; in each round every caller makes the same number
// of calls, in an order that reverses every other round (anonymous first, then last), so drift in
// the machine's load falls on both sides alike. Each round gives one ratio per credential — time
// per call with it ÷ time per call anonymous, same round — and the run reports the median ratio
// and its spread (quartiles, min–max) over the rounds. Then the authentication step alone, in
// process (no gRPC, no store): microseconds per authenticate() with each credential.
//
//   npm run bench:auth                              # PGlite in temp folders
//   DATABASE_URL=postgresql://… npm run bench:auth  # throw-away lash_bench_<random> databases
//
// Tuning (env): BENCH_ROUNDS (21), BENCH_CALLS (calls per caller per round, 200), BENCH_WARMUP
// (300), BENCH_CONCURRENCY ("1,16"). Output: one JSON line per concurrency and credential, then
// a table. Exit 0 when every call succeeded, 1 on a failure, 2 on bad options.

import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { OpenSessionRequest } from '../gen/lash/v1/session_service.js';
import { startApp, type App } from '../src/app.js';
import { withToken } from '../src/client/bearer.js';
import { connect, type LashClients } from '../src/client/promised.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { Authenticator } from '../src/auth/authenticator.js';
import { intEnv, listEnv, machineLoad, provisionStore, round, table, warm, type Call } from './harness.js';

const DEADLINE_MS = 10_000;
const SESSION = 'bench-auth';
type Mode = 'static_token' | 'jwt_cached' | 'jwt_every_call';
const LABEL: Record<Mode, string> = { static_token: 'static bearer token', jwt_cached: 'JWT (verified once, cached)', jwt_every_call: 'JWT (verified every call)' };

async function main(): Promise<number> {
  let concurrencies: number[];
  let load: { calls: number; warmup: number; rounds: number };
  try {
    concurrencies = listEnv('BENCH_CONCURRENCY', [1, 16]);
    load = { calls: intEnv('BENCH_CALLS', 200, 10), warmup: intEnv('BENCH_WARMUP', 300, 0), rounds: intEnv('BENCH_ROUNDS', 21, 3) };
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    return 2;
  }
  const databaseUrl = process.env.DATABASE_URL || undefined;
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    while (cleanups.length) await cleanups.pop()!().catch((err: unknown) => process.stderr.write(`bench: cleanup failed: ${(err as Error).message}\n`));
  };
  process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)));
  const rows: { op: Mode; concurrency: number; msPerCall: number; anonMsPerCall: number; ratio: Spread }[] = [];
  const loadBefore = machineLoad();
  let engine = databaseUrl ? 'postgresql' : 'pglite';
  const steps: string[][] = [];
  try {
    // Credentials: a tokens file and an ES256 key whose JWKS is a file.
    const dir = mkdtempSync(join(tmpdir(), 'lash-bench-auth-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const token = 'bench-static-token-0123456789abcdef';
    writeFileSync(join(dir, 'tokens.json'), JSON.stringify({ tokens: [{ name: 'bench', sha256: createHash('sha256').update(token).digest('hex'), tenant: 'bench', roles: ['observer', 'runner'] }] }));
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'bench', alg: 'ES256' }] }));
    const jwt = await new SignJWT({ tenant: 'bench', roles: ['observer', 'runner'] }).setProtectedHeader({ alg: 'ES256', kid: 'bench' }).setIssuer('bench-issuer').setAudience('lash').setSubject('bench').setExpirationTime('2h').sign(privateKey);
    const authEnv = { LASH_AUTH_TOKENS_FILE: join(dir, 'tokens.json'), LASH_AUTH_JWKS: join(dir, 'jwks.json'), LASH_AUTH_JWT_ISSUER: 'bench-issuer', LASH_AUTH_JWT_AUDIENCE: 'lash' };

    const server = async (env: Record<string, string>): Promise<App> => {
      const store = await provisionStore(databaseUrl);
      cleanups.push(() => store.cleanup());
      engine = store.engine;
      const config = loadConfig({ LASH_LISTEN: '127.0.0.1:0', LASH_LOG_LEVEL: 'error', LASH_SHUTDOWN_GRACE_MS: '2000', LASH_QUEUE_WORKERS: '0', ...store.env, ...env });
      const app = await startApp(config, createLogger(config.logLevel, process.stderr));
      cleanups.push(() => app.stop());
      return app;
    };
    const client = (app: App, bearer?: string): LashClients => {
      const c = connect(app.address, credentials.createInsecure(), withToken(bearer));
      cleanups.push(async () => c.close());
      return c;
    };
    const anonymousApp = await server({});
    const authApp = await server(authEnv);
    const uncachedApp = await server({ ...authEnv, LASH_AUTH_CACHE_MS: '0' });
    const anonymous = client(anonymousApp);
    const subjects: Record<Mode, LashClients> = { static_token: client(authApp, token), jwt_cached: client(authApp, jwt), jwt_every_call: client(uncachedApp, jwt) };
    await anonymous.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: SESSION }));
    await subjects.static_token.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: SESSION }));
    await subjects.jwt_every_call.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: SESSION }));
    const get = (c: LashClients): Call => async () => {
      const r = await c.sessions.getSession({ sessionId: SESSION }, { deadlineMs: DEADLINE_MS });
      if (r.session?.sessionId !== SESSION) throw new Error('GetSession answered another session');
    };
    process.stderr.write(`bench: auth on ${engine}, ${load.rounds} rounds of ${load.calls} calls per caller after ${load.warmup} warm-up, concurrency ${concurrencies.join(', ')}\n`);
    const callers: [Mode | 'anonymous', Call][] = [['anonymous', get(anonymous)], ...(Object.keys(subjects) as Mode[]).map((m): [Mode, Call] => [m, get(subjects[m])])];
    for (const concurrency of concurrencies) {
      for (const [, call] of callers) await warm(call, load.warmup, concurrency, 120);
      const perRound = new Map<string, number[]>(callers.map(([name]) => [name, []]));
      for (let r = 0; r < load.rounds; r++) {
        const order = r % 2 === 0 ? callers : [...callers].reverse();
        for (const [name, call] of order) perRound.get(name)!.push(await msPerCall(call, load.calls, concurrency));
      }
      const anon = perRound.get('anonymous')!;
      for (const mode of Object.keys(subjects) as Mode[]) {
        const times = perRound.get(mode)!;
        const row = { op: mode, concurrency, msPerCall: median(times), anonMsPerCall: median(anon), ratio: spread(times.map((t, i) => t / anon[i]!)) };
        rows.push(row);
        process.stdout.write(`${JSON.stringify({ bench: 'auth', engine, ...row, msPerCall: round(row.msPerCall, 3), anonMsPerCall: round(row.anonMsPerCall, 3) })}\n`);
      }
    }
    // The authentication step alone, on the same credentials.
    const step = async (label: string, env: Record<string, string>, bearer: string) => {
      const auth = new Authenticator(loadConfig({ LASH_LISTEN: '127.0.0.1:0', ...authEnv, ...env }).auth, { info() {}, error() {} });
      const facts = { metadata: { get: (k: string) => (k === 'authorization' ? [`Bearer ${bearer}`] : []) }, peer: '127.0.0.1:1' };
      const n = Math.max(200, load.calls);
      for (let i = 0; i < 100; i++) await auth.authenticate(facts);
      const started = performance.now();
      for (let i = 0; i < n; i++) await auth.authenticate(facts);
      const us = ((performance.now() - started) * 1000) / n;
      auth.close();
      steps.push([label, us.toFixed(1)]);
      process.stdout.write(`${JSON.stringify({ bench: 'auth', step: label, us_per_call: round(us, 2) })}\n`);
    };
    await step('static bearer token', {}, token);
    await step('JWT, cached', {}, jwt);
    await step('JWT, verified (ES256)', { LASH_AUTH_CACHE_MS: '0' }, jwt);
  } catch (err) {
    process.stderr.write(`bench: failed: ${(err as Error).stack ?? String(err)}\n`);
    await cleanup();
    return 1;
  }
  await cleanup();
  const cpu = cpus();
  const loadAfter = machineLoad();
  process.stdout.write(`\nauth bench — engine ${engine}, ${load.rounds} rounds × ${load.calls} calls per caller after ${load.warmup} warm-up, order reversed every other round, loopback, node ${process.version}, ${cpu.length} × ${cpu[0]?.model.trim() ?? 'cpu'}, load average ${JSON.stringify(loadBefore)} → ${JSON.stringify(loadAfter)}\n\n`);
  const f = (n: number) => n.toFixed(3);
  process.stdout.write(`${table(['GetSession with', 'conc', 'ms/call', 'anonymous ms/call', 'median ratio', 'quartiles', 'min–max'], rows.map((r) => [LABEL[r.op], String(r.concurrency), f(r.msPerCall), f(r.anonMsPerCall), f(r.ratio.median), `${f(r.ratio.p25)}–${f(r.ratio.p75)}`, `${f(r.ratio.min)}–${f(r.ratio.max)}`]))}\n\nratio = time per call with the credential ÷ time per anonymous call in the same round (1.10 = 10% more); median and spread over the rounds.\n\n`);
  process.stdout.write(`${table(['authenticate() alone with', 'µs per call'], steps)}\n`);
  return 0;
}

interface Spread {
  median: number;
  p25: number;
  p75: number;
  min: number;
  max: number;
}

/** Wall time per call of `calls` calls at `concurrency` (so: 1 ÷ throughput), in ms. */
async function msPerCall(call: Call, calls: number, concurrency: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async (_, w) => {
    while (next < calls) {
      next++;
      await call(w);
    }
  }));
  return (performance.now() - started) / calls;
}

const quantile = (sorted: number[], q: number) => {
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  return sorted[lo]! + (sorted[Math.ceil(at)]! - sorted[lo]!) * (at - lo);
};
const median = (values: number[]) => quantile([...values].sort((a, b) => a - b), 0.5);

function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: quantile(sorted, 0.5), p25: quantile(sorted, 0.25), p75: quantile(sorted, 0.75), min: sorted[0]!, max: sorted.at(-1)! };
}

process.exitCode = await main();
