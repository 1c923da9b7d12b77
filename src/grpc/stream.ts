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

  constructor(
    private readonly call: ServerWritableStream<unknown, Response>,
    private readonly wrap: (items: Item[]) => Response,
    private readonly maxQueued = 50_000,
    private readonly onOverflow?: () => void,
  ) {
    call.on('cancelled', () => (this.closed = true));
    call.on('drain', () => {
      this.blocked = false;
      this.flush();
    });
  }

  get isClosed(): boolean {
    return this.closed;
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
    if (this.closed) return;
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
  }
}
