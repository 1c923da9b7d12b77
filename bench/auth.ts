// What authentication adds to a call: GetSession on a resident session with a static bearer
// token, a JWT (verified once, then served from the verified-token cache) and a fresh JWT on every
// call (verified each time), against the same call on an anonymous server. Two servers in this
// process (anonymous, authenticated), each on its own throw-away store. A run is many rounds; in
// a round each credential in turn is interleaved call by call with the anonymous call (each
// worker alternates between the two), so drift in the machine's load falls on both alike and both
// servers carry the same load. Each pairing gives one ratio — median latency with the credential ÷
// median anonymous latency of the same pairing — and the run reports the median ratio and its
// spread (quartiles, min–max) over the rounds. Then the authentication step alone,
// in process (no gRPC, no store): microseconds per authenticate() with each credential.
//
//   npm run bench:auth                              # PGlite in temp folders
//   DATABASE_URL=postgresql://… npm run bench:auth  # throw-away lash_bench_<random> databases
//
// Tuning (env): BENCH_ROUNDS (21), BENCH_CALLS (calls per caller per round, 200), BENCH_WARMUP
// (calls per caller before measuring, 300), BENCH_CONCURRENCY ("1,16"). Output: one JSON line per concurrency and credential, then
// a table. Exit 0 when every call succeeded, 1 on a failure, 2 on bad options.

import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, Metadata } from '@grpc/grpc-js';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { OpenSessionRequest } from '../gen/lash/v1/session_service.js';
import { startApp, type App } from '../src/app.js';
import { withToken } from '../src/client/bearer.js';
import { connect, type LashClients } from '../src/client/promised.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { Authenticator } from '../src/auth/authenticator.js';
import { intEnv, listEnv, machineLoad, provisionStore, round, table, type Call } from './harness.js';

const DEADLINE_MS = 10_000;
const SESSION = 'bench-auth';
type Mode = 'static_token' | 'jwt_cached' | 'jwt_every_call';
const LABEL: Record<Mode, string> = {
  static_token: 'static bearer token',
  jwt_cached: 'JWT (verified once, cached)',
  jwt_every_call: 'fresh JWT (verified every call)',
};

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
    writeFileSync(
      join(dir, 'tokens.json'),
      JSON.stringify({ tokens: [{ name: 'bench', sha256: createHash('sha256').update(token).digest('hex'), tenant: 'bench', roles: ['observer', 'runner'] }] }),
    );
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'bench', alg: 'ES256' }] }));
    const jwt = await new SignJWT({ tenant: 'bench', roles: ['observer', 'runner'] })
      .setProtectedHeader({ alg: 'ES256', kid: 'bench' })
      .setIssuer('bench-issuer')
      .setAudience('lash')
      .setSubject('bench')
      .setExpirationTime('2h')
      .sign(privateKey);
    const authEnv = {
      LASH_AUTH_TOKENS_FILE: join(dir, 'tokens.json'),
      LASH_AUTH_JWKS: join(dir, 'jwks.json'),
      LASH_AUTH_JWT_ISSUER: 'bench-issuer',
      LASH_AUTH_JWT_AUDIENCE: 'lash',
    };

    const server = async (env: Record<string, string>): Promise<App> => {
      const store = await provisionStore(databaseUrl);
      cleanups.push(() => store.cleanup());
      engine = store.engine;
      const config = loadConfig({
        LASH_LISTEN: '127.0.0.1:0',
        LASH_LOG_LEVEL: 'error',
        LASH_SHUTDOWN_GRACE_MS: '2000',
        LASH_QUEUE_WORKERS: '0',
        ...store.env,
        ...env,
      });
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
    const anonymous = client(anonymousApp);
    const bare = client(authApp);
    await anonymous.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: SESSION }));
    await client(authApp, token).sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: SESSION }));
    // "Verified every call": a fresh JWT per call (distinct jti), so the verified-token cache
    // never holds it, on the same server as the other credentials. Minted before measuring.
    const perConcurrency = load.warmup + load.rounds * load.calls;
    const fresh: string[] = [];
    for (let i = 0; i < perConcurrency * concurrencies.length; i++) {
      fresh.push(
        await new SignJWT({ tenant: 'bench', roles: ['observer', 'runner'] })
          .setProtectedHeader({ alg: 'ES256', kid: 'bench' })
          .setIssuer('bench-issuer')
          .setAudience('lash')
          .setSubject('bench')
          .setJti(`bench-${i}`)
          .setExpirationTime('2h')
          .sign(privateKey),
      );
    }
    const withBearer = (t: string) => {
      const md = new Metadata();
      md.set('authorization', `Bearer ${t}`);
      return md;
    };
    const check = (r: { session?: { sessionId: string } }) => {
      if (r.session?.sessionId !== SESSION) throw new Error('GetSession answered another session');
    };
    const staticMd = withBearer(token);
    const jwtMd = withBearer(jwt);
    const callers: [Mode | 'anonymous', Call][] = [
      ['anonymous', async () => check(await anonymous.sessions.getSession({ sessionId: SESSION }, { deadlineMs: DEADLINE_MS }))],
      ['static_token', async () => check(await bare.sessions.getSession({ sessionId: SESSION }, { deadlineMs: DEADLINE_MS, metadata: staticMd.clone() }))],
      ['jwt_cached', async () => check(await bare.sessions.getSession({ sessionId: SESSION }, { deadlineMs: DEADLINE_MS, metadata: jwtMd.clone() }))],
      [
        'jwt_every_call',
        async () => check(await bare.sessions.getSession({ sessionId: SESSION }, { deadlineMs: DEADLINE_MS, metadata: withBearer(fresh.pop()!) })),
      ],
    ];
    process.stderr.write(
      `bench: auth on ${engine}, ${load.rounds} rounds of ${load.calls} calls per caller after ${load.warmup} warm-up, concurrency ${concurrencies.join(', ')}\n`,
    );
    for (const concurrency of concurrencies) {
      // Warm-up: the same interleaving, unmeasured.
      await interleaved(callers, load.warmup, concurrency);
      // Each credential is paired with the anonymous call (two callers interleaved), so both
      // servers carry the same load; the pair's ratio is that round's figure for the credential.
      const [anonymousCaller, ...credentialed] = callers;
      const ratios = new Map<string, number[]>(credentialed.map(([name]) => [name, []]));
      const pooled = new Map<string, number[]>(callers.map(([name]) => [name, []]));
      for (let r = 0; r < load.rounds; r++) {
        for (const caller of credentialed) {
          const latencies = await interleaved([anonymousCaller!, caller], load.calls, concurrency);
          const [anonTimes, subjectTimes] = [latencies.get('anonymous')!, latencies.get(caller[0])!];
          ratios.get(caller[0])!.push(median(subjectTimes) / median(anonTimes));
          pooled.get(caller[0])!.push(...subjectTimes);
          pooled.get('anonymous')!.push(...anonTimes);
        }
      }
      for (const mode of Object.keys(LABEL) as Mode[]) {
        const row = {
          op: mode,
          concurrency,
          msPerCall: median(pooled.get(mode)!),
          anonMsPerCall: median(pooled.get('anonymous')!),
          ratio: spread(ratios.get(mode)!),
        };
        rows.push(row);
        process.stdout.write(
          `${JSON.stringify({ bench: 'auth', engine, ...row, msPerCall: round(row.msPerCall, 3), anonMsPerCall: round(row.anonMsPerCall, 3) })}\n`,
        );
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
  process.stdout.write(
    `\nauth bench — engine ${engine}, ${load.rounds} rounds × ${load.calls} calls per caller after ${load.warmup} warm-up, each credential interleaved call by call with the anonymous call, loopback, node ${process.version}, ${cpu.length} × ${cpu[0]?.model.trim() ?? 'cpu'}, load average ${JSON.stringify(loadBefore)} → ${JSON.stringify(loadAfter)}\n\n`,
  );
  const f = (n: number) => n.toFixed(3);
  process.stdout.write(
    `${table(
      ['GetSession with', 'conc', 'ms/call', 'anonymous ms/call', 'median ratio', 'quartiles', 'min–max'],
      rows.map((r) => [
        LABEL[r.op],
        String(r.concurrency),
        f(r.msPerCall),
        f(r.anonMsPerCall),
        f(r.ratio.median),
        `${f(r.ratio.p25)}–${f(r.ratio.p75)}`,
        `${f(r.ratio.min)}–${f(r.ratio.max)}`,
      ]),
    )}\n\nratio = median latency with the credential ÷ median anonymous latency of the same interleaved pairing (1.10 = 10% more); median and spread over the rounds. ms/call: median latency over all rounds.\n\n`,
  );
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

/**
 * `calls` calls of each caller, interleaved call by call (each worker cycles through the callers,
 * starting one further each time), so whatever the machine does meanwhile falls on all alike.
 * Returns each caller's latencies in ms.
 */
async function interleaved(callers: [string, Call][], calls: number, concurrency: number): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>(callers.map(([name]) => [name, []]));
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      while (next < calls) {
        const i = next++;
        for (let k = 0; k < callers.length; k++) {
          const [name, call] = callers[(i + k) % callers.length]!;
          const t0 = performance.now();
          await call(w);
          out.get(name)!.push(performance.now() - t0);
        }
      }
    }),
  );
  return out;
}

const quantile = (sorted: number[], q: number) => {
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  return sorted[lo]! + (sorted[Math.ceil(at)]! - sorted[lo]!) * (at - lo);
};
const median = (values: number[]) =>
  quantile(
    [...values].sort((a, b) => a - b),
    0.5,
  );

function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: quantile(sorted, 0.5), p25: quantile(sorted, 0.25), p75: quantile(sorted, 0.75), min: sorted[0]!, max: sorted.at(-1)! };
}

process.exitCode = await main();
