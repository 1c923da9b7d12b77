// CodeRunner that runs each block in a worker thread from a bounded pool. QuickJS checks its
// interrupt handler between bytecodes only, so a native call near the memory limit can run long;
// the thread is terminated when the wall-clock limit passes, and the server never blocks.
// At most `maxThreads` threads exist at once (a terminated thread counts until it has exited);
// a block that finds them all busy waits in a bounded queue for a bounded time, else it fails
// with a "sandbox busy" error the model reads like any other block error.

import { Worker } from 'node:worker_threads';
import type { CodeRunner, CodeRunRequest, CodeRunResult } from '../domain/turns/code-runner.js';
import type { ToParent, ToWorker } from './worker.js';

const WORKER_URL = new URL('./worker.ts', import.meta.url);
/** Extra time past the sandbox's own limit before the thread is killed. */
const KILL_GRACE_MS = 500;
/** A thread that has not started the block by then (boot under heavy load) is given up. */
const BOOT_TIMEOUT_MS = 60_000;

export interface PoolLimits {
  /** Most threads alive at once, busy or idle. */
  maxThreads: number;
  /** Most blocks waiting for a thread; one more fails at once. */
  maxQueued: number;
  /** How long a block waits for a thread before it fails. */
  queueWaitMs: number;
  /** Idle threads kept warm; the rest exit when their block ends. */
  idleThreads: number;
}

export const DEFAULT_POOL: PoolLimits = { maxThreads: 8, maxQueued: 64, queueWaitMs: 10_000, idleThreads: 2 };

/** What the pool holds and has refused, for metrics and tests. */
export interface PoolStats {
  /** Threads alive (busy, idle or still exiting). */
  threads: number;
  /** Highest `threads` ever seen. */
  peakThreads: number;
  busy: number;
  queued: number;
  /** Blocks failed because no thread was free (queue full or wait over). */
  rejectedBusy: number;
  /** Blocks failed because their globals outgrew the per-session limit. */
  rejectedGlobals: number;
}

interface Waiter {
  grant(worker: Worker): void;
  fail(error: string): void;
}

export class ThreadedRunner implements CodeRunner {
  private readonly limits: PoolLimits;
  private idle: Worker[] = [];
  private readonly queue: Waiter[] = [];
  private alive = 0;
  private peak = 0;
  private busy = 0;
  private rejectedBusy = 0;
  private rejectedGlobals = 0;
  private closed = false;

  constructor(limits: Partial<PoolLimits> = {}) {
    this.limits = { ...DEFAULT_POOL, ...limits };
    // One warm thread, so the first block does not pay for booting (loading QuickJS).
    this.idle.push(this.spawn());
  }

  stats(): PoolStats {
    return {
      threads: this.alive,
      peakThreads: this.peak,
      busy: this.busy,
      queued: this.queue.length,
      rejectedBusy: this.rejectedBusy,
      rejectedGlobals: this.rejectedGlobals,
    };
  }

  private spawn(): Worker {
    this.alive++;
    this.peak = Math.max(this.peak, this.alive);
    const w = new Worker(WORKER_URL, { execArgv: ['--import', 'tsx'] });
    w.unref();
    return w;
  }

  /** Terminates a thread; its slot frees only once it has really exited. */
  private retire(worker: Worker): void {
    void worker.terminate().finally(() => {
      this.alive--;
      this.serveQueue();
    });
  }

  /** A free thread now (idle or newly spawned under the cap), or undefined. */
  private tryTake(): Worker | undefined {
    const w = this.idle.pop() ?? (this.alive < this.limits.maxThreads && !this.closed ? this.spawn() : undefined);
    if (w) this.busy++;
    return w;
  }

  private serveQueue(): void {
    while (this.queue.length) {
      const w = this.tryTake();
      if (!w) return;
      this.queue.shift()!.grant(w);
    }
  }

  private release(worker: Worker, reusable: boolean): void {
    const next = reusable && !this.closed ? this.queue.shift() : undefined;
    // Handed straight to a waiting block: the thread stays busy.
    if (next) return next.grant(worker);
    this.busy--;
    if (!reusable || this.closed) return this.retire(worker);
    if (this.idle.length < this.limits.idleThreads) this.idle.push(worker);
    else this.retire(worker);
  }

  /** A thread for one block: at once, after a bounded wait, or an error saying why not. */
  private acquire(signal: AbortSignal): Promise<Worker | string> {
    const now = this.tryTake();
    if (now) return Promise.resolve(now);
    const { maxThreads, maxQueued, queueWaitMs } = this.limits;
    if (this.queue.length >= maxQueued) {
      this.rejectedBusy++;
      return Promise.resolve(
        `sandbox busy: all ${maxThreads} sandbox threads are running and ${maxQueued} blocks are already waiting; the block did not run — try again later`,
      );
    }
    return new Promise((resolve) => {
      const leave = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
      };
      const waiter: Waiter = {
        grant: (w) => {
          leave();
          resolve(w);
        },
        fail: (error) => {
          leave();
          resolve(error);
        },
      };
      const onAbort = () => waiter.fail('cancelled');
      const timer = setTimeout(() => {
        this.rejectedBusy++;
        waiter.fail(
          `sandbox busy: no sandbox thread came free within ${queueWaitMs} ms (all ${maxThreads} are running); the block did not run — try again later`,
        );
      }, queueWaitMs);
      signal.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  async run(req: CodeRunRequest): Promise<CodeRunResult> {
    const started = performance.now();
    const failed = (error: string): CodeRunResult => ({
      output: '',
      error,
      success: false,
      globals: req.globals,
      dropped: [],
      toolCallIds: [],
      durationMs: Math.round(performance.now() - started),
    });
    if (req.signal.aborted) return failed('cancelled');
    const worker = await this.acquire(req.signal);
    if (typeof worker === 'string') return failed(worker);
    return new Promise<CodeRunResult>((resolve) => {
      let settled = false;
      const finish = (result: CodeRunResult, reusable: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(killer);
        req.signal.removeEventListener('abort', onAbort);
        worker.off('message', onMessage);
        worker.off('error', onError);
        this.release(worker, reusable);
        if (result.globalsOverLimit) this.rejectedGlobals++;
        resolve(result);
      };
      const onMessage = (msg: ToParent) => {
        if (msg.type === 'done') return finish(msg.result, true);
        if (msg.type === 'started') {
          clearTimeout(killer);
          killer = setTimeout(
            () => finish(failed(`time limit of ${req.limits.timeMs} ms exceeded (the block was stopped)`), false),
            req.limits.timeMs + KILL_GRACE_MS,
          );
          return;
        }
        req.callTool(msg.name, msg.args).then(
          (r) => worker.postMessage({ type: 'tool_result', id: msg.id, ...r } satisfies ToWorker),
          (err: unknown) =>
            worker.postMessage({
              type: 'tool_result',
              id: msg.id,
              output: { error: String((err as Error)?.message ?? err) },
              isError: true,
              callId: '',
            } satisfies ToWorker),
        );
      };
      const onError = (err: Error) => finish(failed(`sandbox crashed: ${err.message}`), false);
      // A block spinning in a loop never reads the abort message: its thread goes after the grace.
      const onAbort = () => {
        worker.postMessage({ type: 'abort' } satisfies ToWorker);
        clearTimeout(killer);
        killer = setTimeout(() => finish(failed('cancelled (the block was stopped)'), false), KILL_GRACE_MS);
      };
      let killer = setTimeout(() => finish(failed('the sandbox thread did not start in time; retry'), false), BOOT_TIMEOUT_MS);
      worker.on('message', onMessage);
      worker.on('error', onError);
      req.signal.addEventListener('abort', onAbort, { once: true });
      worker.postMessage({
        type: 'run',
        code: req.code,
        globals: req.globals,
        history: req.history,
        toolNames: req.toolNames,
        limits: req.limits,
      } satisfies ToWorker);
      if (req.signal.aborted) onAbort();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of [...this.queue]) w.fail('the server is shutting down');
    await Promise.all(this.idle.splice(0).map((w) => w.terminate()));
  }
}
