// Process runners: on every replica, a loop claims runnable processes (SKIP LOCKED, a claim with
// a fencing token, renewed by heartbeats) and runs them; it also fails overdue processes,
// delivers pending wakes, fires due schedules and deletes finished processes past retention. A runner that dies stops renewing: its claim
// expires and another runner takes the process over with a newer token; the dead runner's late
// writes are refused by the token, so a process never finishes twice.

import { portableJson } from '../json-values.js';
import type { EventBus, RequestContext } from '../ports.js';
import type { ProcessStore } from './ports.js';
import { PROCESS_CHANGED_TOPIC, PROCESS_STARTED_TOPIC, type ProcessService } from './service.js';
import type { Finish, ProcessRecord } from './types.js';
import type { ProcessWakes } from './wake.js';

/** How one process kind runs, given its claimed record and a signal that fires when the run must stop. */
export type ProcessExecutor = (p: ProcessRecord, signal: AbortSignal) => Promise<Finish>;

export interface RunnerOptions {
  owner: string;
  /** Runs at most this many processes at once on this replica (0: this replica runs none). */
  concurrency: number;
  claimTtlMs: number;
  pollMs: number;
  executors: Partial<Record<ProcessRecord['kind'], ProcessExecutor>>;
  /** Fires due schedules (the trigger service). */
  tick?(): Promise<unknown>;
  /**
   * Retention of finished processes: how long they are kept, and how many one sweep deletes
   * (bounded work per pass; a backlog goes over later passes). Swept at most once a minute.
   */
  retention?: { keepMs: number; batch: number; onPurged?(n: number): void };
  onError(err: unknown, context?: Record<string, unknown>): void;
}

export class ProcessRunners {
  private stopped = false;
  private readonly running = new Map<string, AbortController>();
  private readonly wakers = new Set<() => void>();
  private loopDone: Promise<void> = Promise.resolve();
  private readonly offs: (() => void)[] = [];
  /** Settles with each local run (tests and shutdown wait on them). */
  private readonly runs = new Set<Promise<void>>();
  private lastPurge = 0;

  constructor(
    private readonly deps: { store: ProcessStore; service: ProcessService; wakes: ProcessWakes; bus: EventBus },
    private readonly o: RunnerOptions,
  ) {}

  /** The service's clock paces heartbeats, deadlines and polls. */
  private get clock() {
    return this.deps.service.runtime.clock;
  }

  /** With concurrency 0 this replica runs nothing in the background: no claims, sweeps or schedules. */
  start(): void {
    if (this.o.concurrency === 0) return;
    this.offs.push(this.deps.bus.subscribe(PROCESS_STARTED_TOPIC, () => this.wake()));
    // A process finished elsewhere (cancelled, failed past its deadline) stops its run here.
    this.offs.push(
      this.deps.bus.subscribe(PROCESS_CHANGED_TOPIC, (m) => {
        if (m.status !== 'pending' && m.status !== 'running') this.running.get(`${String(m.tenantId)}\u0000${String(m.processId)}`)?.abort();
        this.wake();
      }),
    );
    this.loopDone = this.loop();
  }

  /** Stops claiming; runs still going are abandoned (their claims expire and another replica takes over). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.offs.forEach((f) => f());
    this.wake();
    await this.loopDone;
    for (const c of this.running.values()) c.abort();
    await Promise.race([Promise.all([...this.runs]), new Promise((r) => this.clock.after(5_000, () => r(undefined)))]);
  }

  get active(): number {
    return this.running.size;
  }

  private wake(): void {
    for (const w of [...this.wakers]) w();
  }

  private async loop(): Promise<void> {
    const kinds = Object.keys(this.o.executors);
    while (!this.stopped) {
      let claimed = false;
      try {
        await this.sweep();
        while (!this.stopped && this.running.size < this.o.concurrency) {
          const p = await this.deps.store.claimNext(this.o.owner, this.o.claimTtlMs, kinds);
          if (!p) break;
          claimed = true;
          this.launch(p);
        }
      } catch (err) {
        this.o.onError(err);
      }
      if (!claimed && !this.stopped) await this.idle();
    }
  }

  private idle(): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        t.cancel();
        this.wakers.delete(done);
        resolve();
      };
      const t = this.clock.after(this.o.pollMs, done);
      this.wakers.add(done);
    });
  }

  /** Work every replica shares: overdue processes, wakes not yet delivered, due schedules. */
  private async sweep(): Promise<void> {
    for (const p of await this.deps.store.failOverdue(50)) await this.deps.service.changed(p);
    for (const p of await this.deps.store.pendingWakes(50))
      await this.deps.wakes.deliver(p).catch((err: unknown) => this.o.onError(err, { processId: p.processId }));
    await this.o.tick?.();
    const r = this.o.retention;
    if (r && this.clock.nowMs() - this.lastPurge >= Math.min(60_000, r.keepMs)) {
      this.lastPurge = this.clock.nowMs();
      const n = await this.deps.store.purgeFinished(new Date(this.clock.nowMs() - r.keepMs), r.batch);
      if (n > 0) r.onPurged?.(n);
    }
  }

  private launch(p: ProcessRecord): void {
    const key = `${p.tenantId}\u0000${p.processId}`;
    const stop = new AbortController();
    this.running.set(key, stop);
    const token = p.claim!.token;
    // Heartbeats: a renewal refused means the claim is gone (finished elsewhere, taken over): stop.
    const beat = this.clock.every(Math.max(100, Math.floor(this.o.claimTtlMs / 3)), () => {
      this.deps.store.renew(p.tenantId, p.processId, token, this.o.claimTtlMs).then(
        (ok) => ok || stop.abort(),
        (err: unknown) => this.o.onError(err, { processId: p.processId }),
      );
    });
    const overdue = this.clock.after(Math.max(0, p.deadlineAt.getTime() - this.clock.nowMs()), () => stop.abort());
    const run = this.execute(p, token, stop.signal).finally(() => {
      beat.cancel();
      overdue.cancel();
      this.running.delete(key);
      this.runs.delete(run);
      this.wake();
    });
    this.runs.add(run);
  }

  private async execute(p: ProcessRecord, token: bigint, signal: AbortSignal): Promise<void> {
    const ctx: RequestContext = { tenantId: p.tenantId };
    try {
      // The log says when a runner took a process over from one that died.
      await this.deps.store.appendEvent(ctx.tenantId, p.processId, p.attempts > 1 ? 'taken_over' : 'running', `attempt:${p.attempts}`, {
        owner: this.o.owner,
        attempt: p.attempts,
      });
      if (p.attempts === 1) await this.deps.service.changed(p);
      let outcome: Finish;
      try {
        outcome = await this.o.executors[p.kind]!(p, signal);
      } catch (err) {
        outcome = { status: 'failed', error: err instanceof Error ? err.message : String(err) };
      }
      if (signal.aborted) {
        // Stopped from outside: past its deadline it fails; otherwise it was cancelled or taken
        // over (already recorded), or this replica is shutting down (another one takes it over).
        if (this.clock.nowMs() < p.deadlineAt.getTime()) return;
        outcome = { status: 'failed', error: 'the process ran past its run-time limit' };
      }
      // A program's or a turn's value may hold a non-finite number: spelled as everywhere else.
      if (outcome.output !== undefined) outcome = { ...outcome, output: portableJson(outcome.output) };
      // Fenced: only the runner whose claim still holds finishes the process.
      const done = await this.deps.store.finish(ctx.tenantId, p.processId, outcome, token);
      if (!done) return;
      await this.deps.service.changed(done);
      await this.deps.wakes.deliver(done).catch((err: unknown) => this.o.onError(err, { processId: p.processId }));
    } catch (err) {
      this.o.onError(err, { processId: p.processId });
    }
  }
}
