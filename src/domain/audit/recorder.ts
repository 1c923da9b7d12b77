// Writes audit records off the request path: `record` only pushes into a bounded buffer (never
// blocks, never throws); a background flush stores the buffer in batches. When the buffer is
// full, new records are dropped and counted; a failed write is logged and counted, its records
// dropped (the log line of each record remains). Both counts are exported as metrics.

import { systemClock, type Clock, type Timer } from '../clock.js';
import type { AuditRecord, AuditStore } from './types.js';

export interface AuditRecorderOptions {
  /** Records held while waiting to be stored; past it new ones are dropped (and counted). */
  maxBuffered: number;
  /** Records per insert. */
  maxBatch: number;
  /** How long a record may wait for the next flush. */
  lingerMs: number;
  /** Called once per record, as it is accepted (the log line). */
  onRecord?(record: AuditRecord): void;
  onError?(err: unknown, records: number): void;
}

export interface AuditRecorderStats {
  stored: number;
  /** Dropped because the buffer was full. */
  dropped: number;
  /** Lost because the store refused the write. */
  failed: number;
  buffered: number;
}

export class AuditRecorder {
  private buffer: AuditRecord[] = [];
  private timer?: Timer;
  private flushing?: Promise<void>;
  private readonly counts = { stored: 0, dropped: 0, failed: 0 };

  constructor(
    private readonly store: AuditStore,
    private readonly options: AuditRecorderOptions,
    private readonly clock: Clock = systemClock,
  ) {}

  record(record: AuditRecord): void {
    this.options.onRecord?.(record);
    if (this.buffer.length >= this.options.maxBuffered) {
      this.counts.dropped++;
      return;
    }
    this.buffer.push(record);
    if (this.buffer.length >= this.options.maxBatch) this.kick();
    else this.timer ??= this.clock.after(this.options.lingerMs, () => this.kick());
  }

  stats(): AuditRecorderStats {
    return { ...this.counts, buffered: this.buffer.length };
  }

  /** Stores everything accepted so far (shutdown, tests). */
  async drain(): Promise<void> {
    while (this.buffer.length > 0 || this.flushing) {
      this.kick();
      await this.flushing;
    }
  }

  private kick(): void {
    this.timer?.cancel();
    this.timer = undefined;
    if (this.flushing || this.buffer.length === 0) return;
    this.flushing = this.flush().finally(() => {
      this.flushing = undefined;
      if (this.buffer.length > 0) this.kick();
    });
  }

  private async flush(): Promise<void> {
    while (this.buffer.length > 0) {
      const batch = this.buffer.splice(0, this.options.maxBatch);
      try {
        await this.store.append(batch);
        this.counts.stored += batch.length;
      } catch (err) {
        this.counts.failed += batch.length;
        this.options.onError?.(err, batch.length);
      }
    }
  }
}
