// Request/response over the IPC channel of a forked bench process: the burst bench runs the
// server, the side probe and the load in separate OS processes (so none of them measures another's
// event loop) and drives the first two with small commands.

import { fork, type ChildProcess } from 'node:child_process';

interface Reply {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
}

export interface BenchChild {
  readonly pid: number;
  /** What the child sent with `ready(...)`. */
  readonly ready: Promise<unknown>;
  call<T>(cmd: string, arg?: unknown): Promise<T>;
  /** Resolves with the exit code once the child has exited. */
  readonly exited: Promise<number | null>;
  kill(): void;
}

/** Forks `file` on this Node.js with tsx and the flags `npm start` uses, `env` as its whole environment, `execArgv` added. */
export function forkChild(file: string, env: NodeJS.ProcessEnv, execArgv: string[] = []): BenchChild {
  const child: ChildProcess = fork(file, [], {
    env,
    execArgv: ['--experimental-async-context-frame', '--import', 'tsx', ...execArgv],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let next = 0;
  let onReady: (v: unknown) => void = () => {};
  let onFail: (e: Error) => void = () => {};
  const ready = new Promise<unknown>((resolve, reject) => {
    onReady = resolve;
    onFail = reject;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then((code) => {
    const err = new Error(`${file} exited with code ${code}`);
    onFail(err);
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  });
  child.on('message', (m: Reply & { ready?: unknown }) => {
    if ('ready' in m) return onReady(m.ready);
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.ok) p.resolve(m.value);
    else p.reject(new Error(`${file}: ${m.error}`));
  });
  return {
    pid: child.pid ?? -1,
    ready,
    exited,
    call<T>(cmd: string, arg?: unknown) {
      const id = ++next;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.send({ id, cmd, arg });
      });
    },
    kill: () => void child.kill('SIGKILL'),
  };
}

/** In the child: answers the parent's commands with `handlers`, after announcing `ready`. */
export function serveParent(handlers: Record<string, (arg: unknown) => unknown>, readyValue: unknown): void {
  const send = (m: unknown) => process.send?.(m);
  process.on('message', (m: { id: number; cmd: string; arg?: unknown }) => {
    const handler = handlers[m.cmd];
    if (!handler) return send({ id: m.id, ok: false, error: `unknown command ${m.cmd}` });
    Promise.resolve()
      .then(() => handler(m.arg))
      .then(
        (value) => send({ id: m.id, ok: true, value }),
        (err: unknown) => send({ id: m.id, ok: false, error: (err as Error).message }),
      );
  });
  // The parent going away (bench killed) takes the child with it.
  process.on('disconnect', () => process.exit(0));
  send({ ready: readyValue });
}
