// Queue workers: drain ready work of idle sessions in the background. Woken by enqueues on any
// replica (bus) and by a slow poll; claims use SKIP LOCKED and the session lease, so replicas
// never drain one batch twice.

import { systemClock, type Clock } from '../clock.js';
import type { EventBus, QueueStore, RequestContext } from '../ports.js';

export interface WorkerOptions {
  workers: number;
  pollMs: number;
  drain(ctx: RequestContext, sessionId: string): Promise<unknown>;
  onError(err: unknown): void;
  /** Paces the poll (default: the system clock). */
  clock?: Clock;
}

export class QueueWorkers {
  private running = 0;
  private stopped = false;
  private readonly wakers = new Set<() => void>();
  private readonly loops: Promise<void>[] = [];
  private readonly off: () => void;
  private readonly busy = new Set<string>();

  constructor(
    private readonly store: QueueStore,
    bus: EventBus,
    private readonly options: WorkerOptions,
  ) {
    this.off = bus.subscribe('queue.enqueued', () => this.wakeAll());
  }

  start(): void {
    for (let i = 0; i < this.options.workers; i++) this.loops.push(this.loop());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.off();
    this.wakeAll();
    await Promise.all(this.loops);
  }

  private wakeAll(): void {
    for (const w of [...this.wakers]) w();
  }

  get active(): number {
    return this.running;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      let worked = false;
      try {
        const ready = await this.store.readySessions(16);
        for (const s of ready) {
          const key = `${s.tenantId}\u0000${s.sessionId}`;
          if (this.busy.has(key) || this.stopped) continue;
          this.busy.add(key);
          this.running++;
          try {
            worked = (await this.options.drain({ tenantId: s.tenantId }, s.sessionId)) !== undefined || worked;
          } catch (err) {
            this.options.onError(err);
          } finally {
            this.running--;
            this.busy.delete(key);
          }
        }
      } catch (err) {
        this.options.onError(err);
      }
      if (!worked && !this.stopped) {
        await new Promise<void>((resolve) => {
          const done = () => {
            t.cancel();
            this.wakers.delete(done);
            resolve();
          };
          const t = (this.options.clock ?? systemClock).after(this.options.pollMs, done);
          this.wakers.add(done);
        });
      }
    }
  }
}
