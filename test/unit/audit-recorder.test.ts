// The audit recorder never blocks or fails a call: records wait in a bounded buffer (past it they
// are dropped and counted), are stored in batches, and a store that refuses a write costs only
// those records (counted, reported), not the caller.

import { describe, expect, it } from 'vitest';
import { AuditRecorder } from '../../src/domain/audit/recorder.js';
import { ManualClock } from '../../src/domain/clock.js';
import type { AuditRecord, AuditStore } from '../../src/domain/audit/types.js';

const rec = (n: number): AuditRecord => ({
  tenantId: 't',
  subject: 's',
  identitySource: 'anonymous',
  method: 'm',
  code: 'OK',
  requestId: `r${n}`,
  at: new Date(),
});

function memoryStore(fail = () => false): AuditStore & { batches: AuditRecord[][] } {
  const batches: AuditRecord[][] = [];
  return {
    batches,
    async append(records) {
      if (fail()) throw new Error('store down');
      batches.push(records);
    },
    list: async () => [],
    trim: async () => 0,
  };
}

describe('AuditRecorder', () => {
  it('stores records in batches of at most maxBatch, and logs each one as it is accepted', async () => {
    const store = memoryStore();
    const logged: string[] = [];
    const r = new AuditRecorder(store, { maxBuffered: 100, maxBatch: 3, lingerMs: 10_000, onRecord: (x) => logged.push(x.requestId) });
    for (let i = 0; i < 7; i++) r.record(rec(i));
    await r.drain();
    expect(store.batches.map((b) => b.length)).toEqual([3, 3, 1]);
    expect(logged).toHaveLength(7);
    expect(r.stats()).toEqual({ stored: 7, dropped: 0, failed: 0, buffered: 0 });
  });

  it('drops and counts records past the buffer, and counts a failed write without throwing', async () => {
    let down = true;
    const errors: number[] = [];
    const store = memoryStore(() => down);
    const r = new AuditRecorder(store, { maxBuffered: 2, maxBatch: 10, lingerMs: 10_000, onError: (_e, n) => errors.push(n) });
    for (let i = 0; i < 5; i++) expect(() => r.record(rec(i))).not.toThrow();
    expect(r.stats()).toMatchObject({ dropped: 3, buffered: 2 });
    await r.drain();
    expect(r.stats()).toEqual({ stored: 0, dropped: 3, failed: 2, buffered: 0 });
    expect(errors).toEqual([2]);
    down = false;
    r.record(rec(9));
    await r.drain();
    expect(r.stats()).toMatchObject({ stored: 1 });
  });

  it('on a manual clock a partial batch is stored when its linger passes, not before', async () => {
    const clock = new ManualClock();
    const store = memoryStore();
    const recorder = new AuditRecorder(store, { maxBuffered: 100, maxBatch: 10, lingerMs: 200 }, clock);
    recorder.record(rec(1));
    recorder.record(rec(2));
    clock.advance(199);
    await new Promise((r) => setImmediate(r));
    expect(store.batches).toEqual([]);
    clock.advance(1);
    await new Promise((r) => setImmediate(r));
    expect(store.batches.map((b) => b.map((r) => r.requestId))).toEqual([['r1', 'r2']]);
    expect(clock.pending).toBe(0);
  });
});
