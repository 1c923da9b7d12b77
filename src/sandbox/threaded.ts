// CodeRunner that runs each block in a worker thread (a small pool). QuickJS checks its
// interrupt handler between bytecodes only, so a native call near the memory limit can run long;
// the thread is terminated when the wall-clock limit passes, and the server never blocks.

import { Worker } from 'node:worker_threads';
import type { CodeRunner, CodeRunRequest, CodeRunResult } from '../domain/turns/code-runner.js';
import type { ToParent, ToWorker } from './worker.js';

const WORKER_URL = new URL('./worker.ts', import.meta.url);
/** Extra time past the sandbox's own limit before the thread is killed. */
const KILL_GRACE_MS = 500;
/** A thread that has not started the block by then (boot under heavy load) is given up. */
const BOOT_TIMEOUT_MS = 60_000;

export class ThreadedRunner implements CodeRunner {
  private idle: Worker[] = [];

  constructor(private readonly poolSize = 2) {
    // One warm thread, so the first block does not pay for booting (loading QuickJS).
    this.idle.push(this.spawn());
  }

  private spawn(): Worker {
    const w = new Worker(WORKER_URL, { execArgv: ['--import', 'tsx'] });
    w.unref();
    return w;
  }

  private take(): Worker {
    return this.idle.pop() ?? this.spawn();
  }

  private give(worker: Worker): void {
    if (this.idle.length < this.poolSize) this.idle.push(worker);
    else void worker.terminate();
  }

  async run(req: CodeRunRequest): Promise<CodeRunResult> {
    const started = performance.now();
    const worker = this.take();
    return new Promise<CodeRunResult>((resolve) => {
      let settled = false;
      const finish = (result: CodeRunResult, reusable: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(killer);
        req.signal.removeEventListener('abort', onAbort);
        worker.off('message', onMessage);
        worker.off('error', onError);
        if (reusable) this.give(worker);
        else void worker.terminate();
        resolve(result);
      };
      const failed = (error: string): CodeRunResult => ({ output: '', error, success: false, globals: req.globals, dropped: [], toolCallIds: [], durationMs: Math.round(performance.now() - started) });
      const onMessage = (msg: ToParent) => {
        if (msg.type === 'done') return finish(msg.result, true);
        if (msg.type === 'started') {
          clearTimeout(killer);
          killer = setTimeout(() => finish(failed(`time limit of ${req.limits.timeMs} ms exceeded (the block was stopped)`), false), req.limits.timeMs + KILL_GRACE_MS);
          return;
        }
        req.callTool(msg.name, msg.args).then(
          (r) => worker.postMessage({ type: 'tool_result', id: msg.id, ...r } satisfies ToWorker),
          (err: unknown) => worker.postMessage({ type: 'tool_result', id: msg.id, output: { error: String((err as Error)?.message ?? err) }, isError: true, callId: '' } satisfies ToWorker),
        );
      };
      const onError = (err: Error) => finish(failed(`sandbox crashed: ${err.message}`), false);
      const onAbort = () => worker.postMessage({ type: 'abort' } satisfies ToWorker);
      let killer = setTimeout(() => finish(failed('the sandbox thread did not start in time; retry'), false), BOOT_TIMEOUT_MS);
      worker.on('message', onMessage);
      worker.on('error', onError);
      req.signal.addEventListener('abort', onAbort, { once: true });
      worker.postMessage({ type: 'run', code: req.code, globals: req.globals, history: req.history, toolNames: req.toolNames, limits: req.limits } satisfies ToWorker);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.idle.splice(0).map((w) => w.terminate()));
  }
}
