// The feed appender never loses an accepted event: writes that fail are retried, in order, until
// the store takes them, and observers then receive every event once. Against an in-memory store
// that fails on demand (the database contract itself is test/store/feed-store.test.ts).

import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/clock.js';
import { FeedAppender } from '../../src/domain/feed/appender.js';
import { decodeBatch, encodeBatch } from '../../src/domain/feed/codec.js';
import { FeedHub } from '../../src/domain/feed/hub.js';
import type { FeedPayload, FeedRecord } from '../../src/domain/feed/types.js';
import type { EventBus, FeedStore } from '../../src/domain/ports.js';

class FlakyStore implements FeedStore {
  readonly wakesReplicas = true;
  records: FeedRecord[] = [];
  failures = 0;
  attempts = 0;
  async append(_t: string, _s: string, revision: bigint, payloads: FeedPayload[]) {
    this.attempts++;
    if (this.failures > 0) {
      this.failures--;
      throw new Error('connection refused');
    }
    const { payloads: stored } = encodeBatch(payloads, new Date());
    const out = stored.map((payload, i) => ({ seq: BigInt(this.records.length + i + 1), time: new Date(), revision, payload }));
    this.records.push(...out);
    return out;
  }
  async read(_t: string, _s: string, after: bigint, limit: number) {
    return this.records.filter((r) => r.seq > after).slice(0, limit);
  }
  async head() {
    return { lastSeq: BigInt(this.records.length), trimmedThrough: 0n };
  }
  async openTurn() {
    return undefined;
  }
  async reportedInterrupted() {
    return false;
  }
  async trim() {
    return 0;
  }
}

const bus: EventBus = { publish: async () => {}, subscribe: () => () => {} } as unknown as EventBus;
const changed = (what: string): FeedPayload => ({ kind: 'session_changed', what });
const whats = (rs: FeedRecord[]) => rs.map((r) => (r.payload.kind === 'session_changed' ? r.payload.what : '?'));

describe('feed appender', () => {
  it('keeps retrying a failing store and then stores and delivers every event once, in order', async () => {
    const store = new FlakyStore();
    store.failures = 8; // more than the old give-up count of six
    const hub = new FeedHub(store);
    const seen: bigint[] = [];
    hub.subscribe('t', 's', 0n, (rs) => seen.push(...rs.map((r) => r.seq)));
    const errors: unknown[] = [];
    const appender = new FeedAppender(store, bus, hub, { lingerMs: 1, maxBatch: 3, maxRetryDelayMs: 5, onError: (e) => errors.push(e) });
    for (let i = 0; i < 10; i++) appender.append('t', 's', 1n, changed(`e${i}`));
    expect(appender.pendingEvents).toBe(10);
    await appender.flushed('t', 's');
    expect(store.records.map((r) => (r.payload.kind === 'session_changed' ? r.payload.what : '?'))).toEqual(Array.from({ length: 10 }, (_, i) => `e${i}`));
    expect(errors).toHaveLength(8);
    expect(appender.pendingEvents).toBe(0);
    expect(appender.failingLanes).toBe(0);
    for (let i = 0; i < 20 && seen.length < 10; i++) await new Promise((r) => setTimeout(r, 5));
    expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => BigInt(i + 1)));
  });

  it('on shutdown past the deadline, a lane that still cannot write gives up and reports it', async () => {
    const store = new FlakyStore();
    store.failures = Number.POSITIVE_INFINITY;
    const errors: string[] = [];
    const appender = new FeedAppender(store, bus, new FeedHub(store), {
      lingerMs: 1,
      maxBatch: 10,
      maxRetryDelayMs: 5,
      onError: (e) => errors.push((e as Error).message),
    });
    appender.append('t', 's', 1n, changed('x'));
    await appender.drain(30);
    expect(errors.at(-1)).toMatch(/shutting down: 1 feed events of session s were not stored/);
  });
});

describe('feed batch codec', () => {
  it('reads rows stored before batches (one jsonb payload each, bigints as "123n")', () => {
    const legacy = '[{"kind": "committed", "revision": "12n", "turnId": "t1"}]';
    expect(decodeBatch(legacy, new Date(0), 4n, 12n)).toEqual([
      { seq: 4n, time: new Date(0), revision: 12n, payload: { kind: 'committed', revision: 12n, turnId: 't1' } },
    ]);
  });

  it('writes a streamed delta in far fewer bytes than its full JSON form', () => {
    const time = new Date(1_700_000_000_000);
    const payloads: FeedPayload[] = Array.from({ length: 50 }, (_, i) => ({
      kind: 'turn_activity',
      turnId: '0f8e1c9a-3b7d-4e2a-9c1f-5a6b7c8d9e0f',
      event: {
        id: `2b9c7f0e-1d3a-4c5b-8e6f-7a8b9c0d1e${String(i).padStart(2, '0')}`,
        correlationId: 'prose-1',
        sequence: i + 2,
        time,
        event: { kind: 'assistant_prose_delta', text: 'tok ' },
      },
    }));
    const { text } = encodeBatch(payloads, time);
    const full = payloads.map((p) => JSON.stringify(p)).join(',').length;
    expect(text.length).toBeLessThan(full / 2);
    expect(decodeBatch(text, time, 1n, 1n).map((r) => r.payload)).toEqual(payloads);
  });
});

describe('feed appender: a commit holding the lane', () => {
  // The store a commit would be: numbers the carried events after what the feed holds.
  const carry = (store: FlakyStore, payloads: FeedPayload[]) => {
    const out = payloads.map((payload, i) => ({ seq: BigInt(store.records.length + i + 1), time: new Date(), revision: 2n, payload }));
    store.records.push(...out);
    return out;
  };

  it('waits for the write in flight, takes what waits behind it, writes nothing meanwhile, and delivers the carried events once', async () => {
    const store = new FlakyStore();
    const hub = new FeedHub(store);
    const seen: string[] = [];
    hub.subscribe('t', 's', 0n, (rs) => seen.push(...whats(rs)));
    const appender = new FeedAppender(store, bus, hub, { lingerMs: 50, maxBatch: 100, onError: () => {} });
    appender.append('t', 's', 1n, changed('first')); // written at once
    await new Promise((r) => setImmediate(r));
    appender.append('t', 's', 1n, changed('second')); // waits behind the write in flight
    const held = await appender.hold('t', 's');
    expect(held?.payloads.map((p) => (p.kind === 'session_changed' ? p.what : '?'))).toEqual(['second']);
    appender.append('t', 's', 1n, changed('after')); // queued behind the hold: not written yet
    await new Promise((r) => setTimeout(r, 80));
    expect(whats(store.records)).toEqual(['first']);
    held!.stored(carry(store, [...held!.payloads, changed('marker')]));
    await appender.flushed('t', 's');
    expect(whats(store.records)).toEqual(['first', 'second', 'marker', 'after']);
    expect(seen).toEqual(['first', 'second', 'marker', 'after']);
    expect(appender.pendingEvents).toBe(0);
  });

  it('a released hold puts the events back in front, in order', async () => {
    const store = new FlakyStore();
    const appender = new FeedAppender(store, bus, new FeedHub(store), { lingerMs: 1, maxBatch: 100, onError: () => {} });
    const held = await appender.hold('t', 's');
    expect(held?.payloads).toEqual([]);
    appender.append('t', 's', 1n, changed('a'));
    held!.release();
    const again = await appender.hold('t', 's');
    appender.append('t', 's', 1n, changed('b'));
    again!.release();
    appender.append('t', 's', 1n, changed('c'));
    await appender.flushed('t', 's');
    expect(whats(store.records)).toEqual(['a', 'b', 'c']);
    expect(() => again!.release()).toThrow(/settled twice/);
  });

  it('a paused lane starts no write; a commit holding it waits for resume and takes every event; resume twice is harmless', async () => {
    const store = new FlakyStore();
    const appender = new FeedAppender(store, bus, new FeedHub(store), { lingerMs: 1, maxBatch: 100, onError: () => {} });
    appender.append('t', 's', 1n, changed('a')); // would be written on the next event-loop turn
    const resume = appender.pause('t', 's');
    expect(resume).toBeTypeOf('function');
    // Paused or held already: a second pause is refused (the caller then does without).
    expect(appender.pause('t', 's')).toBeUndefined();
    appender.append('t', 's', 1n, changed('b'));
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    expect(store.attempts).toBe(0);
    let heldPayloads: string[] | undefined;
    const holding = appender.hold('t', 's').then((h) => {
      heldPayloads = h?.payloads.map((p) => (p.kind === 'session_changed' ? p.what : '?'));
      return h;
    });
    await new Promise((r) => setImmediate(r));
    expect(heldPayloads).toBeUndefined();
    resume!();
    resume!();
    const held = await holding;
    expect(heldPayloads).toEqual(['a', 'b']);
    held!.stored(carry(store, held!.payloads));
    await appender.flushed('t', 's');
    expect(whats(store.records)).toEqual(['a', 'b']);
    expect(store.attempts).toBe(0);
    expect(appender.pendingEvents).toBe(0);
  });

  it('a resumed lane writes what it accepted while paused, in order; a lane writing is not paused', async () => {
    const store = new FlakyStore();
    const appender = new FeedAppender(store, bus, new FeedHub(store), { lingerMs: 1, maxBatch: 100, onError: () => {} });
    const resume = appender.pause('t', 's')!;
    appender.append('t', 's', 1n, changed('a'));
    appender.append('t', 's', 1n, changed('b'));
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    expect(store.attempts).toBe(0);
    resume();
    await appender.flushed('t', 's');
    expect(whats(store.records)).toEqual(['a', 'b']);
    expect(store.attempts).toBe(1);
    // While a write is in flight a pause is refused: it would not stop that write.
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const append = store.append.bind(store);
    store.append = async (...args: Parameters<FlakyStore['append']>) => {
      await gate;
      return append(...args);
    };
    appender.append('t', 's', 1n, changed('c'));
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    expect(store.attempts).toBe(1);
    expect(appender.pause('t', 's')).toBeUndefined();
    open();
    await appender.flushed('t', 's');
    expect(whats(store.records)).toEqual(['a', 'b', 'c']);
  });

  it('a lane retrying a failed write is not held: the commit leaves the feed to the appender', async () => {
    const store = new FlakyStore();
    store.failures = 3;
    const appender = new FeedAppender(store, bus, new FeedHub(store), { lingerMs: 1, maxBatch: 100, maxRetryDelayMs: 20, onError: () => {} });
    appender.append('t', 's', 1n, changed('a'));
    while (store.attempts < 2) await new Promise((r) => setTimeout(r, 5));
    expect(await appender.hold('t', 's')).toBeUndefined();
    await appender.flushed('t', 's');
    expect(whats(store.records)).toEqual(['a']);
  });
});

// The same appender on a clock the test moves: the linger, the flush that cuts it short and the
// retry back-off happen exactly when the clock says, without waiting in real time. Deltas linger
// only behind a write: a lane that has nothing in flight writes its first event at once.
describe('feed appender on a manual clock', () => {
  const delta = (text: string): FeedPayload => ({
    kind: 'turn_activity',
    turnId: 'turn-1',
    event: { id: text, correlationId: 'c', sequence: 1, time: new Date(0), event: { kind: 'assistant_prose_delta', text } },
  });
  const texts = (rs: FeedRecord[]) =>
    rs.map((r) =>
      r.payload.kind === 'turn_activity' && 'text' in r.payload.event.event
        ? r.payload.event.event.text
        : r.payload.kind === 'session_changed'
          ? r.payload.what
          : '?',
    );
  /** Lets the event loop run the appender's yields and the store's promises (no clock time passes). */
  const settle = async () => {
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  };
  /** A store whose next write stays in flight until `open()`. */
  class GatedStore extends FlakyStore {
    private gate?: Promise<void>;
    open = () => {};
    close(): void {
      this.gate = new Promise((r) => (this.open = r));
    }
    override async append(t: string, s: string, revision: bigint, payloads: FeedPayload[]) {
      const gate = this.gate;
      this.gate = undefined;
      if (gate) {
        this.attempts++;
        await gate;
        this.attempts--;
      }
      return super.append(t, s, revision, payloads);
    }
  }
  const setUp = (lingerMs: number) => {
    const clock = new ManualClock();
    const store = new GatedStore();
    const appender = new FeedAppender(store, bus, new FeedHub(store), { lingerMs, maxBatch: 100, maxRetryDelayMs: 1_000, onError: () => {} }, clock);
    return { clock, store, appender };
  };

  it('deltas queued behind a write linger for lingerMs after it, then go in one batch', async () => {
    const { clock, store, appender } = setUp(100);
    store.close();
    appender.append('t', 's', 1n, delta('a')); // nothing in flight: written at once
    await settle();
    expect(store.attempts).toBe(1);
    appender.append('t', 's', 1n, delta('b'));
    appender.append('t', 's', 1n, delta('c'));
    store.open();
    await settle();
    expect(texts(store.records)).toEqual(['a']);
    clock.advance(99);
    await settle();
    expect(store.attempts).toBe(1);
    expect(appender.pendingEvents).toBe(2);
    clock.advance(1);
    await settle();
    expect(texts(store.records)).toEqual(['a', 'b', 'c']);
    expect(store.attempts).toBe(2);
    expect(clock.pending).toBe(0);
  });

  it('a delta arriving just after a write ended (the lane idle in between) still lingers; after a quiet linger the next goes at once', async () => {
    const { clock, store, appender } = setUp(100);
    appender.append('t', 's', 1n, delta('a')); // quiet: written at once
    await settle();
    expect(texts(store.records)).toEqual(['a']);
    expect(appender.laneCount).toBe(0); // the lane went idle and away
    // A model slower than a write: each token arrives after the last write ended.
    clock.advance(10);
    appender.append('t', 's', 1n, delta('b'));
    await settle();
    clock.advance(10);
    appender.append('t', 's', 1n, delta('c'));
    await settle();
    expect(texts(store.records)).toEqual(['a']);
    expect(store.attempts).toBe(1);
    clock.advance(80); // 100 ms after the write of 'a'
    await settle();
    expect(texts(store.records)).toEqual(['a', 'b', 'c']);
    expect(store.attempts).toBe(2);
    // A quiet spell of a whole linger since that write: the next delta is written at once.
    clock.advance(100);
    appender.append('t', 's', 1n, delta('d'));
    await settle();
    expect(texts(store.records)).toEqual(['a', 'b', 'c', 'd']);
    expect(store.attempts).toBe(3);
  });

  it('an event other than a delta behind a write does not linger', async () => {
    const { clock, store, appender } = setUp(100);
    store.close();
    appender.append('t', 's', 1n, delta('a'));
    await settle();
    appender.append('t', 's', 1n, delta('b'));
    appender.append('t', 's', 1n, changed('x'));
    store.open();
    await settle();
    expect(texts(store.records)).toEqual(['a', 'b', 'x']);
    expect(clock.pending).toBe(0);
  });

  it('flushed() cuts a linger short: the waiting deltas are written without the clock moving', async () => {
    const { clock, store, appender } = setUp(60_000);
    store.close();
    appender.append('t', 's', 1n, delta('a'));
    await settle();
    appender.append('t', 's', 1n, delta('b'));
    store.open();
    await settle();
    expect(clock.pending).toBe(1); // the linger timer
    expect(texts(store.records)).toEqual(['a']);
    await appender.flushed('t', 's');
    expect(texts(store.records)).toEqual(['a', 'b']);
    expect(clock.pending).toBe(0);
    expect(appender.laneCount).toBe(0);
  });

  it('a failed write is retried after the back-off on the clock, not before', async () => {
    const { clock, store, appender } = setUp(100);
    store.failures = 2;
    appender.append('t', 's', 1n, changed('a'));
    await settle();
    expect(store.attempts).toBe(1);
    expect(appender.failingLanes).toBe(1);
    clock.advance(49); // first back-off: 50 ms
    await settle();
    expect(store.attempts).toBe(1);
    clock.advance(1);
    await settle();
    expect(store.attempts).toBe(2);
    clock.advance(99); // second back-off: 100 ms
    await settle();
    expect(store.attempts).toBe(2);
    clock.advance(1);
    await settle();
    expect(whats(store.records)).toEqual(['a']);
    expect(appender.failingLanes).toBe(0);
  });
});
