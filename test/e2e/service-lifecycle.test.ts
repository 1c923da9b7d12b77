// The server as a process a supervisor runs: SIGTERM/SIGINT through `npm start` and to node
// itself stop it and release the data folder; an npm killed outright does not leave it orphaned;
// bad configuration exits 2 with a message naming the variable before the store opens; database
// connection failures name the URL without its password; an old Node is refused in one line.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { MIN_NODE, nodeVersionProblem } from '../../src/node-version.js';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { engines, postgresUrl } from '../support/engines.js';
import { killAllChildServers, startChildServer } from '../support/child-server.js';
import { eventually, isAlive, killAllSpawned, spawnProcess } from '../support/process.js';

const dirs: string[] = [];
function freshDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'lash-lifecycle-'));
  dirs.push(d);
  return d;
}
/**
 * A folder holding the run's migrated cluster (test/README.md), for tests not about a first start:
 * opening it skips initdb. The first-start tests (`npm start` on SIGTERM, a signal while starting,
 * the configuration checks) keep empty folders.
 */
async function migratedDir(): Promise<string> {
  const target = await engines.find((e) => e.name === 'pglite')!.provision();
  dirs.push(target.dataDir);
  return target.dataDir;
}
const serverEnv = (dataDir: string) => ({
  LASH_DATA_DIR: dataDir,
  LASH_LISTEN: '127.0.0.1:0',
  DATABASE_URL: '',
  LASH_LOG_FORMAT: 'json',
  LASH_SHUTDOWN_NOTICE_MS: '0',
});
const SERVING = /"address":"([^"]+)".*"msg":"lash-grpc serving"/;

afterEach(() => {
  killAllSpawned();
  killAllChildServers();
});
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** The pid of the only child of `pid` (npm's script process). */
function childOf(pid: number): number {
  const out = execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)])
    .toString()
    .trim()
    .split(/\s+/)
    .filter(Boolean);
  expect(out).toHaveLength(1);
  return Number(out[0]);
}

describe('stopping the server process', () => {
  it('SIGTERM to the npm process of `npm start` stops the server and releases the data folder', async () => {
    const dir = freshDir();
    const npm = spawnProcess('npm', ['start'], serverEnv(dir));
    await npm.waitFor(SERVING);
    const server = childOf(npm.process.pid!);
    // npm runs node itself (the script execs it), so npm forwards the signal to the server.
    expect(execFileSync('ps', ['-o', 'args=', '-p', String(server)]).toString()).toMatch(/node .*src\/main\.ts/);
    npm.process.kill('SIGTERM');
    await npm.exited;
    await eventually(() => !isAlive(server), 'the server to exit');
    expect(npm.output()).toContain('"msg":"stopped"');
    expect(existsSync(join(dir, 'lash.lock'))).toBe(false);
  }, 180_000);

  it('an npm killed with SIGKILL does not leave the server running: it notices and stops', async () => {
    const dir = await migratedDir();
    const npm = spawnProcess('npm', ['start'], serverEnv(dir));
    await npm.waitFor(SERVING);
    const server = childOf(npm.process.pid!);
    npm.process.kill('SIGKILL');
    await npm.exited;
    await eventually(() => !isAlive(server), 'the orphaned server to stop');
    await eventually(() => !existsSync(join(dir, 'lash.lock')), 'the lock to be released');
  }, 180_000);

  it('a signal while the server starts stops it once it is up: exit 0, the data folder released', async () => {
    const dir = freshDir();
    const node = spawnProcess(process.execPath, ['--import', 'tsx', 'src/main.ts'], serverEnv(dir));
    // Logged before the store opens: the server is still starting.
    await node.waitFor(/no model credentials configured/);
    node.process.kill('SIGTERM');
    expect(await node.exited).toEqual({ code: 0, signal: null });
    expect(node.output()).toContain('signal received while starting');
    expect(existsSync(join(dir, 'lash.lock'))).toBe(false);
  }, 180_000);

  it('SIGINT to node stops it gracefully with exit 0', async () => {
    const dir = await migratedDir();
    const node = spawnProcess(process.execPath, ['--import', 'tsx', 'src/main.ts'], serverEnv(dir));
    await node.waitFor(SERVING);
    node.process.kill('SIGINT');
    expect(await node.exited).toEqual({ code: 0, signal: null });
    expect(node.output()).toContain('"signal":"SIGINT"');
    expect(node.output()).toContain('"level":"info"');
    expect(existsSync(join(dir, 'lash.lock'))).toBe(false);
  }, 180_000);
});

describe('configuration is checked before the store opens', () => {
  let busy: Server;
  afterAll(() => busy?.close());

  async function startWith(env: Record<string, string>) {
    const dir = freshDir();
    const node = spawnProcess(process.execPath, ['--import', 'tsx', 'src/main.ts'], { ...serverEnv(dir), ...env });
    const exit = await node.exited;
    return { exit, out: node.output(), dirEntries: readdirSync(dir) };
  }

  const cases: [string, Record<string, string>, RegExp][] = [
    ['a MySQL URL', { DATABASE_URL: 'mysql://lash@db:3306/lash' }, /DATABASE_URL must start with postgresql:\/\//],
    ['a URL without user', { DATABASE_URL: 'postgresql://127.0.0.1:5432/lash' }, /DATABASE_URL names no user/],
    ['a URL without database', { DATABASE_URL: 'postgresql://lash:pw@127.0.0.1:5432' }, /DATABASE_URL names no database \(postgresql:\/\/lash:\*\*\*@/],
    ['an unknown provider name', { LASH_DEFAULT_PROVIDER: 'opnai' }, /LASH_DEFAULT_PROVIDER "opnai" is no provider this server knows; use one of echo, openai/],
    [
      'a known provider without credentials',
      { LASH_DEFAULT_PROVIDER: 'anthropic', ANTHROPIC_API_KEY: '' },
      /LASH_DEFAULT_PROVIDER is "anthropic" but that provider has no credentials/,
    ],
    ['a LASH_TOOLS typo', { LASH_TOOLS: 'calculate,curent_time' }, /LASH_TOOLS names unknown tools: curent_time; known: current_time, calculate/],
    ['a bad keepalive', { LASH_GRPC_KEEPALIVE_MS: 'often' }, /LASH_GRPC_KEEPALIVE_MS must be an integer/],
  ];
  for (const [what, env, message] of cases) {
    it(`${what}: exit 2, a message naming the variable, no store opened`, async () => {
      const r = await startWith(env);
      expect(r.exit.code).toBe(2);
      expect(r.out).toMatch(message);
      expect(r.out).not.toContain('store ready');
      expect(r.dirEntries).toEqual([]);
    }, 60_000);
  }

  it('a listen address in use: exit 2 naming LASH_LISTEN, before the store opens', async () => {
    busy = createServer();
    const port = await new Promise<number>((resolve) => busy.listen(0, '127.0.0.1', () => resolve((busy.address() as { port: number }).port)));
    const r = await startWith({ LASH_LISTEN: `127.0.0.1:${port}` });
    expect(r.exit.code).toBe(2);
    expect(r.out).toContain(`LASH_LISTEN 127.0.0.1:${port}: the address is already in use`);
    expect(r.dirEntries).toEqual([]);
  }, 60_000);

  it('a PostgreSQL port nobody listens on: exit 2, the URL without its password, and what to check', async () => {
    const closed = createServer();
    const port = await new Promise<number>((resolve) => closed.listen(0, '127.0.0.1', () => resolve((closed.address() as { port: number }).port)));
    await new Promise((r) => closed.close(r));
    const r = await startWith({ DATABASE_URL: `postgresql://lash:sekret@127.0.0.1:${port}/lash` });
    expect(r.exit.code).toBe(2);
    expect(r.out).toContain(
      `DATABASE_URL postgresql://lash:***@127.0.0.1:${port}/lash: nothing accepts connections at 127.0.0.1:${port}; check the host and port`,
    );
    expect(r.out).not.toContain('sekret');
  }, 90_000);

  it.skipIf(!postgresUrl)(
    'a database that does not exist: exit 2 and the advice to create it',
    async () => {
      const url = new URL(postgresUrl!);
      url.pathname = '/lash_no_such_database';
      const r = await startWith({ DATABASE_URL: url.toString() });
      expect(r.exit.code).toBe(2);
      expect(r.out).toContain('the database "lash_no_such_database" does not exist; create it (createdb lash_no_such_database');
    },
    90_000,
  );
});

describe('Node version', () => {
  it("versions below MikroORM 7's minimum are refused in one line, others pass", () => {
    expect(nodeVersionProblem('20.20.2')).toMatch(/^lash-grpc needs Node\.js >= 22\.17\.0 \(MikroORM 7\), this is 20\.20\.2; run it with "npm start"/);
    expect(nodeVersionProblem('22.16.9')).toBeDefined();
    expect(nodeVersionProblem('22.17.0')).toBeUndefined();
    expect(nodeVersionProblem('23.0.0')).toBeUndefined();
    expect(nodeVersionProblem('24.1.0')).toBeUndefined();
  });

  it('package.json engines states the same minimum', async () => {
    const pkg = (await import('../../package.json', { with: { type: 'json' } })).default as { engines: { node: string } };
    expect(pkg.engines.node).toBe(`>=${MIN_NODE}`);
  });

  // The system Node, when it is older (this machine's is 20): started directly, it refuses.
  const systemNode = ['/usr/bin/node', '/usr/local/bin/node'].find((p) => existsSync(p));
  const systemVersion = systemNode ? execFileSync(systemNode, ['-p', 'process.versions.node']).toString().trim() : undefined;
  it.skipIf(!systemVersion || !nodeVersionProblem(systemVersion))(
    `an older system Node (${systemVersion}) started directly exits 2 with the one-line message`,
    async () => {
      const node = spawnProcess(systemNode!, ['--import', 'tsx', 'src/main.ts'], serverEnv(freshDir()));
      expect((await node.exited).code).toBe(2);
      expect(node.output().trim()).toBe(`lash-grpc: ${nodeVersionProblem(systemVersion)}`);
    },
    60_000,
  );
});

describe('crash recovery of the embedded store on a shared volume', () => {
  it('a server on another host name takes the folder over after the previous one was killed, with its data', async () => {
    const dir = await migratedDir();
    const env = { ...serverEnv(dir), LASH_LOCK_HEARTBEAT_MS: '500' };
    const a = await startChildServer({ ...env, LASH_HOST_NAME: 'pod-a' });
    await a.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'kept-over-takeover' }));
    expect(await a.kill('SIGKILL')).toMatchObject({ signal: 'SIGKILL' });
    const b = await startChildServer({ ...env, LASH_HOST_NAME: 'pod-b' });
    try {
      expect(b.output()).toContain('took over the embedded data folder from a process whose heartbeat stopped');
      expect(b.output()).toContain('"host":"pod-a"');
      expect((await b.clients.sessions.getSession({ sessionId: 'kept-over-takeover' })).session?.sessionId).toBe('kept-over-takeover');
    } finally {
      await b.kill('SIGTERM');
    }
  }, 300_000);
});
