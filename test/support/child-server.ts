// Runs lash-grpc as a separate process (the real `src/main.ts`), for crash, signal and
// multi-process tests. Resolves once the server logs that it is serving.

import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type LashClients } from '../../src/client/promised.js';

export interface ChildServer {
  process: ChildProcess;
  address: string;
  clients: LashClients;
  output: () => string;
  /** Resolves with the exit code / signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const live = new Set<import('node:child_process').ChildProcess>();

/** Kills every child server still running (for afterEach/afterAll after a failed test). */
export function killAllChildServers(): void {
  for (const c of live) c.kill('SIGKILL');
  live.clear();
}

export async function startChildServer(env: Record<string, string>): Promise<ChildServer> {
  const child = spawn(process.execPath, ['--experimental-async-context-frame', '--import', 'tsx', 'src/main.ts'], {
    env: { ...process.env, LASH_LISTEN: '127.0.0.1:0', LASH_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  child.on('exit', () => live.delete(child));
  let out = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const address = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /"address":"([^"]+)".*"msg":"lash-grpc serving"/.exec(out);
      if (m) resolve(m[1]!);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    void exited.then(({ code }) => reject(new Error(`server exited with ${code} before serving:\n${out}`)));
    setTimeout(() => reject(new Error(`server did not start in time:\n${out}`)), 120_000).unref();
  });
  const clients = connect(address);
  return {
    process: child,
    address,
    clients,
    output: () => out,
    exited,
    async kill(signal) {
      child.kill(signal);
      const r = await exited;
      clients.close();
      return r;
    },
  };
}
