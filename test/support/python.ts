// Runs the Python client's scripts (clients/python) with Debian's /usr/bin/python3, which has
// python3-grpcio and python3-protobuf; a pyenv python3 on PATH usually lacks them. A missing
// interpreter, module or protoc is an error, never a skip: CI installs them (.ci/run).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';

export const PYTHON = process.env.LASH_TEST_PYTHON ?? '/usr/bin/python3';
export const PYTHON_CLIENT = resolve(import.meta.dirname, '../../clients/python');

/** Generates the Python stubs from proto/ and checks the interpreter has grpc; throws saying what to install. */
export function preparePythonClient(): void {
  const probe = spawnSync(PYTHON, ['-c', 'import grpc, google.protobuf'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    throw new Error(
      `${PYTHON} cannot import grpc and google.protobuf (${probe.error?.message ?? probe.stderr.trim()}); install them: apt-get install -y python3-grpcio python3-protobuf`,
    );
  }
  const gen = spawnSync('sh', [resolve(PYTHON_CLIENT, 'generate.sh')], { encoding: 'utf8' });
  if (gen.status !== 0) throw new Error(`clients/python/generate.sh failed: ${gen.stderr}${gen.error?.message ?? ''}`);
}

export interface PythonRun {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Parsed JSON lines printed so far (other lines are skipped). */
  jsonLines: () => Record<string, unknown>[];
  exited: Promise<number | null>;
  waitFor(predicate: () => boolean, what: string, timeoutMs?: number): Promise<void>;
}

const running = new Set<ChildProcess>();

/** Kills every Python process a test started and left running (for afterEach/afterAll). */
export function killPythons(): void {
  for (const c of running) c.kill('SIGKILL');
  running.clear();
}

/** Starts `clients/python/<script>` with LASH_ADDRESS pointing at the server. */
export function runPython(script: string, args: string[], env: Record<string, string>, stdin?: string): PythonRun {
  const child = spawn(PYTHON, ['-u', resolve(PYTHON_CLIENT, script), ...args], {
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  running.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  if (stdin !== undefined) child.stdin!.end(stdin);
  const exited = new Promise<number | null>((done) =>
    child.on('exit', (code) => {
      running.delete(child);
      done(code);
    }),
  );
  let finished = false;
  void exited.then(() => (finished = true));
  const jsonLines = () =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    jsonLines,
    exited,
    async waitFor(predicate, what, timeoutMs = 60_000) {
      const end = Date.now() + timeoutMs;
      while (!predicate()) {
        if (finished && !predicate()) throw new Error(`${script} exited before ${what}:\n${out}\n${err}`);
        if (Date.now() > end) throw new Error(`${script}: ${what} not reached in time:\n${out}\n${err}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

/** Runs a script to completion and returns its stdout; a non-zero exit throws with its output. */
export async function pythonOutput(script: string, args: string[], env: Record<string, string>, stdin?: string): Promise<string> {
  const run = runPython(script, args, env, stdin);
  const code = await run.exited;
  if (code !== 0) throw new Error(`${script} exited with ${code}:\n${run.stdout()}\n${run.stderr()}`);
  return run.stdout();
}
