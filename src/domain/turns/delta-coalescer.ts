// Coalesces a turn's streamed text once, for the RunTurn stream and the feed alike. A run's first
// text delta (the first after any other event) goes out at once, on its own: it is what a caller
// waits for (ADR 0084). The deltas after it of the same kind and correlation that arrive within one
// turn of the event loop (a provider that sends several chunks in one network read, or a model
// that streams faster than we run) become one event; an idle stream still gets each of them after
// one `Clock.soon`. Any other event first flushes what is pending, so order is kept, and ends the
// run; the turn flushes before it finishes.

import { systemClock, type Clock } from '../clock.js';
import type { TurnEventKind } from './types.js';

type Emit = (event: TurnEventKind, correlationId?: string) => void;
type DeltaKind = 'assistant_prose_delta' | 'reasoning_delta';

/** Text held at most before it goes out regardless (keeps one event well under message limits). */
const MAX_PENDING_CHARS = 16 * 1024;

export class DeltaCoalescer {
  private kind: DeltaKind | undefined;
  private text = '';
  private correlationId: string | undefined;
  private scheduled = false;
  /** The previous event out was a delta of the current run (false after any other event). */
  private inRun = false;
  private firstOut = false;

  constructor(
    private readonly out: Emit,
    private readonly clock: Clock = systemClock,
  ) {}

  emit: Emit = (event, correlationId) => {
    if (event.kind === 'assistant_prose_delta' || event.kind === 'reasoning_delta') {
      if (this.kind !== event.kind || this.correlationId !== correlationId) {
        this.flush();
        if (!this.inRun) {
          // A run's first text goes out at once: it is what a caller waits for.
          this.inRun = true;
          this.firstOut = true;
          this.out(event, correlationId);
          return;
        }
        this.kind = event.kind;
        this.correlationId = correlationId;
      }
      this.text += event.text;
      if (this.text.length >= MAX_PENDING_CHARS) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        this.clock.soon(() => {
          this.scheduled = false;
          this.flush();
        });
      }
      return;
    }
    this.flush();
    this.inRun = false;
    this.out(event, correlationId);
  };

  /** Whether a run's first text went out at once since the last ask (asking clears it). */
  takeFirstOut(): boolean {
    const was = this.firstOut;
    this.firstOut = false;
    return was;
  }

  /** Whether text is pending (it becomes one event). */
  get holding(): boolean {
    return this.kind !== undefined;
  }

  /** Sends what is pending now. */
  flush(): void {
    if (this.kind === undefined) return;
    const kind = this.kind;
    const text = this.text;
    this.kind = undefined;
    this.text = '';
    if (text) this.out({ kind, text }, this.correlationId);
  }
}
