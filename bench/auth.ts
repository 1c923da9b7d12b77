// What authentication adds to a call: GetSession on a resident session, anonymous (the reference)
// against the same call with a static bearer token, with a JWT (verified once, then served from
// the verified-token cache), and with a JWT verified on every call (LASH_AUTH_CACHE_MS=0). Three
// servers in this process (one per mode, each on its own throw-away store), measured alternately
// in the same run; printed as ratios to the anonymous call. Then the authentication step alone,
// in process (no gRPC, no store): microseconds per authenticate() with each credential, which
// stays readable on a loaded machine where call rates are noisy.
//
//   npm run bench:auth                              # PGlite in temp folders
//   DATABASE_URL=postgresql://… npm run bench:auth  # throw-away lash_bench_<random> databases
//
// Tuning (env): BENCH_CALLS (3000), BENCH_WARMUP (300), BENCH_CONCURRENCY ("1,16"), BENCH_ROUNDS
// (5), BENCH_MAX_SECONDS (60). Output: one JSON line per measurement, then a table. Exit 0 when
// every call succeeded, 1 on a failure, 2 on bad options.

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
import { compare, intEnv, listEnv, provisionStore, round, table, warm, type Call, type LoadOptions } from './harness.js';

const DEADLINE_MS = 10_000;
const SESSION = 'bench-auth';
type Mode = 'static_token' | 'jwt_cached' | 'jwt_every_call';
const LABEL: Record<Mode, string> = { static_token: 'static bearer token', jwt_cached: 'JWT (verified once, cached)', jwt_every_call: 'JWT (verified every call)' };

async function main(): Promise<number> {
  let concurrencies: number[];
  let load: Omit<LoadOptions, 'concurrency'>;
  try {
    concurrencies = listEnv('BENCH_CONCURRENCY', [1, 16]);
    load = { calls: intEnv('BENCH_CALLS', 3000, 1), warmup: intEnv('BENCH_WARMUP', 300, 0), maxSeconds: intEnv('BENCH_MAX_SECONDS', 60, 1), rounds: intEnv('BENCH_ROUNDS', 5, 1) };
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
  const rows: { op: string; concurrency: number; rps: number; p50: number; p99: number; anonRps: number; ratio: number }[] = [];
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
    process.stderr.write(`bench: auth on ${engine}, ${load.calls} calls after ${load.warmup} warm-up, concurrency ${concurrencies.join(', ')}\n`);
    await warm(get(anonymous), 2 * load.warmup, 1, load.maxSeconds);
    for (const concurrency of concurrencies) {
      for (const mode of Object.keys(subjects) as Mode[]) {
        const { reference, subject } = await compare(get(anonymous), get(subjects[mode]), { ...load, concurrency });
        const ref = reference.result();
        const sub = subject.result();
        const row = { op: mode, concurrency, rps: round(sub.rps, 1), p50: round(sub.p50Ms, 3), p99: round(sub.p99Ms, 3), anonRps: round(ref.rps, 1), ratio: round(sub.rps / ref.rps, 3) };
        rows.push(row);
        process.stdout.write(`${JSON.stringify({ bench: 'auth', engine, ...row })}\n`);
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
  process.stdout.write(`\nauth bench — engine ${engine}, ${load.calls} calls after ${load.warmup} warm-up, ${load.rounds} rounds alternating with the anonymous call, loopback, node ${process.version}, ${cpu.length} × ${cpu[0]?.model.trim() ?? 'cpu'}\n\n`);
  process.stdout.write(`${table(['GetSession with', 'conc', 'calls/s', 'p50 ms', 'p99 ms', 'anonymous calls/s', 'ratio'], rows.map((r) => [LABEL[r.op as Mode], String(r.concurrency), r.rps.toFixed(0), r.p50.toFixed(3), r.p99.toFixed(3), r.anonRps.toFixed(0), r.ratio.toFixed(3)]))}\n\nratio = calls/s with the credential ÷ anonymous calls/s at the same concurrency, same run.\n\n`);
  process.stdout.write(`${table(['authenticate() alone with', 'µs per call'], steps)}\n`);
  return 0;
}

process.exitCode = await main();
