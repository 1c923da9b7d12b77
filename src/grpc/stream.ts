// Server-stream writer that batches: items pushed in one burst, or while the transport is busy,
// leave together, at most MAX_ITEMS_PER_MESSAGE items (or about MAX_BYTES_PER_MESSAGE) per
// response message; an idle stream sends at once. It counts what the client has not yet taken
// (queued here, or handed to the transport but not yet sent because the client's HTTP/2 window
// is full), in items and bytes, so a producer can pace itself by `hasRoom` / `whenRoom`; a
// client that sits at the limit and takes nothing for `stallMs` is cut off (`onOverflow`).

import type { ServerWritableStream } from '@grpc/grpc-js';

/** Most items one response message carries: a burst is split, so clients never get huge responses. */
export const MAX_ITEMS_PER_MESSAGE = 256;
/** A response message is closed once its items reach this many bytes (a bigger single item goes alone). */
export const MAX_BYTES_PER_MESSAGE = 64 * 1024;

export interface WriterLimits {
  /** Items the client may leave untaken before `hasRoom` is false (and, past it, `onOverflow`). */
  items: number;
  /** The same in bytes, as measured by `sizeOf`. */
  bytes: number;
  /** Encoded size of one item (for the byte bound and the per-message byte cap). */
  sizeOf(item: unknown): number;
  /** How long a client at the limit may take nothing before `onOverflow`. */
  stallMs: number;
}

export class BatchingWriter<Item, Response> {
  private queue: { item: Item; bytes: number }[] = [];
  private scheduled = false;
  private blocked = false;
  private ending = false;
  private failure: unknown;
  private closed = false;
  private flushWaiters: (() => void)[] = [];
  private roomWaiters: (() => void)[] = [];
  /** Untaken: queued here plus written to the transport whose write has not completed. */
  private pendingItems = 0;
  private pendingBytes = 0;
  private stall?: NodeJS.Timeout;

  constructor(
    private readonly call: ServerWritableStream<unknown, Response>,
    private readonly wrap: (items: Item[]) => Response,
    private readonly limits: Partial<WriterLimits> = {},
    private readonly onOverflow?: () => void,
  ) {
    call.on('cancelled', () => {
      this.closed = true;
      this.releaseWaiters();
    });
    call.on('close', () => clearTimeout(this.stall));
    call.on('drain', () => {
      this.blocked = false;
      this.flush();
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Whether the client has taken enough that more may be pushed without passing the limits. */
  hasRoom(): boolean {
    return this.closed || (this.pendingItems < (this.limits.items ?? Infinity) && this.pendingBytes < (this.limits.bytes ?? Infinity));
  }

  /** How many more items fit under the item limit now (at least 0). */
  room(): number {
    return Math.max(0, (this.limits.items ?? Number.MAX_SAFE_INTEGER) - this.pendingItems);
  }

  /** Resolves once `hasRoom` is true again (or the stream closed). */
  whenRoom(): Promise<void> {
    if (this.hasRoom()) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  /** Resolves once everything pushed so far has been handed to the transport (or the stream closed). */
  whenFlushed(): Promise<void> {
    if (this.closed || (this.queue.length === 0 && !this.blocked && !this.scheduled)) return Promise.resolve();
    return new Promise((resolve) => this.flushWaiters.push(resolve));
  }

  /** With `now`, what is queued leaves at once (not on the next event-loop turn) unless the transport is busy. */
  push(item: Item, now = false): void {
    if (this.closed || this.ending) return;
    const bytes = this.limits.sizeOf ? this.limits.sizeOf(item) : 0;
    this.queue.push({ item, bytes });
    this.pendingItems += 1;
    this.pendingBytes += bytes;
    this.watchStall();
    if (now && !this.blocked) this.flush();
    else this.schedule();
  }

  /** At the limit, the client must take something within `stallMs` or it is cut off. */
  private watchStall(): void {
    if (this.hasRoom() || this.stall || !this.onOverflow || this.limits.stallMs === undefined) return;
    this.stall = setTimeout(() => {
      // Timers run before I/O in an event-loop turn: after a busy spell, completed writes may be
      // waiting. Decide only after this turn's I/O (setImmediate runs after it).
      setImmediate(() => {
        if (this.stall !== armed) return; // progress was made meanwhile
        this.stall = undefined;
        if (!this.hasRoom() && !this.closed && !this.ending) this.onOverflow!();
      });
    }, this.limits.stallMs);
    const armed = this.stall;
    this.stall.unref();
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
    if (this.closed) {
      clearTimeout(this.stall);
      return this.releaseWaiters();
    }
    while (this.queue.length > 0 && !this.blocked) {
      let n = 0;
      let bytes = 0;
      while (n < this.queue.length && n < MAX_ITEMS_PER_MESSAGE && (n === 0 || bytes + this.queue[n]!.bytes <= MAX_BYTES_PER_MESSAGE))
        bytes += this.queue[n++]!.bytes;
      const batch = this.queue.splice(0, n);
      // The write completes when the transport has sent it (within the client's flow-control window).
      const ok = this.call.write(this.wrap(batch.map((b) => b.item)), () => this.taken(n, bytes));
      if (!ok) this.blocked = true;
    }
    if (this.ending && this.queue.length === 0 && !this.blocked) {
      this.closed = true;
      if (this.failure !== undefined) this.call.emit('error', this.failure);
      else this.call.end();
    }
    if (this.closed || (this.queue.length === 0 && !this.blocked)) this.releaseFlushWaiters();
  }

  private taken(items: number, bytes: number): void {
    this.pendingItems -= items;
    this.pendingBytes -= bytes;
    // Progress: the stall clock starts again (if still at the limit).
    clearTimeout(this.stall);
    this.stall = undefined;
    this.watchStall();
    if (this.hasRoom()) this.roomWaiters.splice(0).forEach((w) => w());
  }

  private releaseFlushWaiters(): void {
    this.flushWaiters.splice(0).forEach((w) => w());
  }

  private releaseWaiters(): void {
    this.releaseFlushWaiters();
    this.roomWaiters.splice(0).forEach((w) => w());
  }
}
