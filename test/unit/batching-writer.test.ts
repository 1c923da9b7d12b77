// The server-stream writer batches: items pushed in one event-loop turn leave in one response on
// the next turn; an item pushed with `now` (a turn's first text, ADR 0084) leaves at once with
// everything queued before it, unless the transport is busy — then it waits for 'drain' like the
// rest. Against a fake call object that records writes.

import { EventEmitter } from 'node:events';
import type { ServerWritableStream } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { BatchingWriter } from '../../src/grpc/stream.js';

class FakeCall extends EventEmitter {
  written: string[][] = [];
  /** What write returns: false says the transport is busy (the writer waits for 'drain'). */
  accepting = true;
  write(message: { items: string[] }, done?: () => void): boolean {
    this.written.push(message.items);
    queueMicrotask(() => done?.());
    return this.accepting;
  }
  end(): void {
    this.emit('ended');
  }
}

const tick = () => new Promise((r) => setImmediate(r));
const writerOn = (call: FakeCall) =>
  new BatchingWriter<string, { items: string[] }>(call as unknown as ServerWritableStream<unknown, { items: string[] }>, (items) => ({ items }));

describe('batching stream writer', () => {
  it('sends what was pushed in one event-loop turn together, on the next turn', async () => {
    const call = new FakeCall();
    const w = writerOn(call);
    w.push('a');
    w.push('b');
    expect(call.written).toEqual([]);
    await tick();
    expect(call.written).toEqual([['a', 'b']]);
  });

  it('an item pushed with now leaves at once, with what was queued before it, in order; later items wait for the next turn', async () => {
    const call = new FakeCall();
    const w = writerOn(call);
    w.push('started');
    w.push('first text', true);
    expect(call.written).toEqual([['started', 'first text']]);
    w.push('more');
    expect(call.written).toHaveLength(1);
    await tick();
    expect(call.written).toEqual([['started', 'first text'], ['more']]);
    await w.whenFlushed();
  });

  it('while the transport is busy an item pushed with now waits, and leaves with the rest on drain', async () => {
    const call = new FakeCall();
    const w = writerOn(call);
    call.accepting = false;
    w.push('x');
    await tick();
    expect(call.written).toEqual([['x']]); // written, and the transport said it is busy
    call.accepting = true;
    w.push('y');
    w.push('first text', true);
    await tick();
    expect(call.written).toEqual([['x']]);
    call.emit('drain');
    expect(call.written).toEqual([['x'], ['y', 'first text']]);
  });
});
