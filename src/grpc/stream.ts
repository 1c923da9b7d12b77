// Server-stream writer that batches: items pushed in one burst, or while a write is waiting for
// the transport to drain, leave as one response message; an idle stream sends at once. It
// stops writing when the client is gone and caps what it holds for a slow client.

import type { ServerWritableStream } from '@grpc/grpc-js';

export class BatchingWriter<Item, Response> {
  private queue: Item[] = [];
  private scheduled = false;
  private blocked = false;
  private ending = false;
  private failure: unknown;
  private closed = false;
  private flushWaiters: (() => void)[] = [];

  constructor(
    private readonly call: ServerWritableStream<unknown, Response>,
    private readonly wrap: (items: Item[]) => Response,
    private readonly maxQueued = 50_000,
    private readonly onOverflow?: () => void,
  ) {
    call.on('cancelled', () => {
      this.closed = true;
      this.releaseWaiters();
    });
    call.on('drain', () => {
      this.blocked = false;
      this.flush();
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Resolves once everything pushed so far has been handed to the transport (or the stream closed). */
  whenFlushed(): Promise<void> {
    if (this.closed || (this.queue.length === 0 && !this.blocked && !this.scheduled)) return Promise.resolve();
    return new Promise((resolve) => this.flushWaiters.push(resolve));
  }

  push(item: Item): void {
    if (this.closed || this.ending) return;
    this.queue.push(item);
    if (this.queue.length > this.maxQueued) {
      this.onOverflow?.();
      return;
    }
    this.schedule();
  }

  /** Flushes what is queued, then ends the stream with OK. */
  end(): void {
    this.ending = true;
    this.schedule();
  }

  /** Flushes what is queued, then ends the stream with this error status. */
  fail(error: unknown): void {
    this.failure = error;
    this.ending = true;
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.blocked) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.closed) return this.releaseWaiters();
    if (this.queue.length > 0 && !this.blocked) {
      const items = this.queue;
      this.queue = [];
      if (!this.call.write(this.wrap(items))) this.blocked = true;
    }
    if (this.ending && this.queue.length === 0 && !this.blocked) {
      this.closed = true;
      if (this.failure !== undefined) this.call.emit('error', this.failure);
      else this.call.end();
    }
    if (this.closed || (this.queue.length === 0 && !this.blocked)) this.releaseWaiters();
  }

  private releaseWaiters(): void {
    this.flushWaiters.splice(0).forEach((w) => w());
  }
}
