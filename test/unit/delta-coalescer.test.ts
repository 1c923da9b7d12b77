// Deltas that arrive within one turn of the event loop leave as one event; other events flush
// what is pending first; an idle stream still gets each delta on the next tick.

import { describe, expect, it } from 'vitest';
import { DeltaCoalescer } from '../../src/domain/turns/delta-coalescer.js';
import type { TurnEventKind } from '../../src/domain/turns/types.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('delta coalescer', () => {
  it('merges a burst of deltas of one correlation into one event and keeps order around other events', async () => {
    const out: [TurnEventKind, string | undefined][] = [];
    const c = new DeltaCoalescer((e, id) => out.push([e, id]));
    for (const t of ['a', 'b', 'c']) c.emit({ kind: 'assistant_prose_delta', text: t }, 'p1');
    c.emit({ kind: 'reasoning_delta', text: 'r' }, 'r1');
    c.emit({ kind: 'assistant_prose_delta', text: 'd' }, 'p1');
    c.emit({
      kind: 'usage',
      iteration: 1,
      usage: { inputTokens: 1n, outputTokens: 1n, cachedInputTokens: 0n, reasoningTokens: 0n, cacheWriteTokens: 0n },
      cumulative: { inputTokens: 1n, outputTokens: 1n, cachedInputTokens: 0n, reasoningTokens: 0n, cacheWriteTokens: 0n },
    });
    expect(out.map(([e, id]) => [e.kind, 'text' in e ? e.text : '', id])).toEqual([
      ['assistant_prose_delta', 'abc', 'p1'],
      ['reasoning_delta', 'r', 'r1'],
      ['assistant_prose_delta', 'd', 'p1'],
      ['usage', '', undefined],
    ]);
  });

  it('sends a lone delta on the next tick, and each of deltas a tick apart', async () => {
    const out: string[] = [];
    const c = new DeltaCoalescer((e) => out.push('text' in e ? e.text : e.kind));
    c.emit({ kind: 'assistant_prose_delta', text: 'x' }, 'p');
    expect(out).toEqual([]);
    await tick();
    expect(out).toEqual(['x']);
    c.emit({ kind: 'assistant_prose_delta', text: 'y' }, 'p');
    await tick();
    expect(out).toEqual(['x', 'y']);
  });

  it('flush sends what is pending at once; long text goes out without waiting', () => {
    const out: string[] = [];
    const c = new DeltaCoalescer((e) => out.push('text' in e ? e.text : e.kind));
    c.emit({ kind: 'assistant_prose_delta', text: 'q' }, 'p');
    c.flush();
    expect(out).toEqual(['q']);
    c.emit({ kind: 'assistant_prose_delta', text: 'z'.repeat(20_000) }, 'p');
    expect(out).toHaveLength(2);
  });
});
