// Spawns a command (npm, node) and collects its output, for tests of how the server starts and
// stops as a process: exit codes, signals, and what it prints.

import { spawn, type ChildProcess } from 'node:child_process';

export interface Spawned {
  process: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves once the output matches `pattern`; rejects if the process exits first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
}

const live = new Set<ChildProcess>();

export function killAllSpawned(): void {
  for (const c of live) c.kill('SIGKILL');
  live.clear();
}

export function spawnProcess(command: string, args: string[], env: Record<string, string | undefined>): Spawned {
  const child = spawn(command, args, { env: { ...process.env, ...env } as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    }),
  );
  return {
    process: child,
    output: () => out,
    exited,
    waitFor: (pattern, timeoutMs = 120_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const m = pattern.exec(out);
          if (m) {
            clearInterval(timer);
            resolve(m);
          }
        };
        const timer = setInterval(check, 50);
        void exited.then(() =>
          setTimeout(() => {
            check();
            clearInterval(timer);
            reject(new Error(`exited before ${pattern}:\n${out}`));
          }, 100),
        );
        setTimeout(() => {
          clearInterval(timer);
          reject(new Error(`no ${pattern} in time:\n${out}`));
        }, timeoutMs).unref();
      }),
  };
}

/** Whether a process with this pid exists (signal 0). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Polls `condition` until true; throws after `timeoutMs` (generous: the machine is shared). */
export async function eventually(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
