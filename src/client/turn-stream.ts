// A running turn as an async iterable: `for await (const event of turn)` gets its TurnEvents as
// they stream, `turn.deltas()` just the assistant's text, and `await turn.done()` the committed
// TurnResult (consuming whatever was not read). Serves RunTurn and RunQueuedTurn alike, whose
// responses both carry batches of TurnActivity.

import { status } from '@grpc/grpc-js';
import type { TurnActivity, TurnEvent, TurnResult } from '../../gen/lash/v1/turn.js';
import { LashError } from './errors.js';

export class TurnStream implements AsyncIterable<TurnEvent> {
  /** Every event seen so far. */
  readonly events: TurnEvent[] = [];
  /** The committed result, once the stream has delivered it. */
  result?: TurnResult;
  /** Set when a RunQueuedTurn found nothing to claim (there is no result then). */
  nothingToDo = false;
  private started = false;

  constructor(
    private readonly source: AsyncIterable<{ activities: TurnActivity[] }>,
    /** Id of the turn (RunTurn); retrying RunTurn with it attaches to the turn or returns its result. */
    readonly turnId = '',
  ) {}

  async *[Symbol.asyncIterator](): AsyncGenerator<TurnEvent> {
    if (this.started) throw new Error('a TurnStream can be iterated once; use done() or events afterwards');
    this.started = true;
    for await (const response of this.source) {
      for (const a of response.activities) {
        if (a.item?.$case === 'event') {
          this.events.push(a.item.value);
          yield a.item.value;
        } else if (a.item?.$case === 'result') this.result = a.item.value;
        else if (a.item?.$case === 'nothingToDo') this.nothingToDo = true;
      }
    }
    if (!this.result && !this.nothingToDo) {
      throw new LashError(status.UNAVAILABLE, `the turn stream ended before the result; run it again with turn id "${this.turnId}" to get it`);
    }
  }

  /** The assistant's prose deltas, as they stream. */
  async *deltas(): AsyncGenerator<string> {
    for await (const e of this) if (e.kind?.$case === 'assistantProseDelta') yield e.kind.value.text;
  }

  /** Waits for the end of the turn and returns its result (undefined when a drain had nothing to do). */
  async done(): Promise<TurnResult | undefined> {
    if (!this.started) for await (const _ of this);
    return this.result;
  }
}

/** The assistant's final text of a result ('' when the turn did not finish with prose). */
export function resultText(result?: TurnResult): string {
  const o = result?.outcome;
  return o?.$case === 'finished' && o.value.answer?.$case === 'assistantMessage' ? o.value.answer.value.text : '';
}
