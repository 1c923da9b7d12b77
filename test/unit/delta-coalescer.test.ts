// A run's first text leaves at once; deltas after it that arrive within one turn of the event loop
// leave as one event; other events flush what is pending first and end the run; an idle stream
// still gets each later delta on the next tick.

import { describe, expect, it } from 'vitest';
import { DeltaCoalescer } from '../../src/domain/turns/delta-coalescer.js';
import type { TurnEventKind } from '../../src/domain/turns/types.js';

const tick = () => new Promise((r) => setImmediate(r));
const usage: TurnEventKind = {
  kind: 'usage',
  iteration: 1,
  usage: { inputTokens: 1n, outputTokens: 1n, cachedInputTokens: 0n, reasoningTokens: 0n, cacheWriteTokens: 0n },
  cumulative: { inputTokens: 1n, outputTokens: 1n, cachedInputTokens: 0n, reasoningTokens: 0n, cacheWriteTokens: 0n },
};

describe('delta coalescer', () => {
  it('sends a run’s first text at once, merges the burst after it into one event and keeps order around other events', async () => {
    const out: [TurnEventKind, string | undefined][] = [];
    const c = new DeltaCoalescer((e, id) => out.push([e, id]));
    c.emit({ kind: 'assistant_prose_delta', text: 'a' }, 'p1');
    expect(out.map(([e]) => ('text' in e ? e.text : e.kind))).toEqual(['a']);
    expect(c.takeFirstOut()).toBe(true);
    expect(c.takeFirstOut()).toBe(false);
    for (const t of ['b', 'c']) c.emit({ kind: 'assistant_prose_delta', text: t }, 'p1');
    expect(c.takeFirstOut()).toBe(false);
    c.emit({ kind: 'reasoning_delta', text: 'r' }, 'r1');
    c.emit({ kind: 'assistant_prose_delta', text: 'd' }, 'p1');
    c.emit(usage);
    // After another event a new run starts: its first text is out at once again.
    c.emit({ kind: 'assistant_prose_delta', text: 'e' }, 'p2');
    expect(c.takeFirstOut()).toBe(true);
    c.emit({ kind: 'assistant_prose_delta', text: 'f' }, 'p2');
    expect(out.map(([e, id]) => [e.kind, 'text' in e ? e.text : '', id])).toEqual([
      ['assistant_prose_delta', 'a', 'p1'],
      ['assistant_prose_delta', 'bc', 'p1'],
      ['reasoning_delta', 'r', 'r1'],
      ['assistant_prose_delta', 'd', 'p1'],
      ['usage', '', undefined],
      ['assistant_prose_delta', 'e', 'p2'],
    ]);
    await tick();
    expect(out.map(([e]) => ('text' in e ? e.text : e.kind)).slice(-1)).toEqual(['f']);
  });

  it('sends a later lone delta on the next tick, and each of deltas a tick apart', async () => {
    const out: string[] = [];
    const c = new DeltaCoalescer((e) => out.push('text' in e ? e.text : e.kind));
    c.emit({ kind: 'assistant_prose_delta', text: 'w' }, 'p');
    expect(out).toEqual(['w']);
    c.emit({ kind: 'assistant_prose_delta', text: 'x' }, 'p');
    expect(out).toEqual(['w']);
    await tick();
    expect(out).toEqual(['w', 'x']);
    c.emit({ kind: 'assistant_prose_delta', text: 'y' }, 'p');
    await tick();
    expect(out).toEqual(['w', 'x', 'y']);
  });

  it('flush sends what is pending at once; long text goes out without waiting', () => {
    const out: string[] = [];
    const c = new DeltaCoalescer((e) => out.push('text' in e ? e.text : e.kind));
    c.emit({ kind: 'assistant_prose_delta', text: 'p' }, 'p');
    c.emit({ kind: 'assistant_prose_delta', text: 'q' }, 'p');
    expect(out).toEqual(['p']);
    c.flush();
    expect(out).toEqual(['p', 'q']);
    c.emit({ kind: 'assistant_prose_delta', text: 'z'.repeat(20_000) }, 'p');
    expect(out).toHaveLength(3);
  });
});
