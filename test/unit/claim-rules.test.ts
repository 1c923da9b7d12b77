// Queue claim rules (DOMAIN.md §3, scenario 32) as a pure function.

import { describe, expect, it } from 'vitest';
import { selectClaim } from '../../src/domain/queue/claim-rules.js';
import type { QueueBatch } from '../../src/domain/queue/types.js';

const now = new Date('2026-01-01T00:00:00Z');
let seq = 0n;
function batch(id: string, extra: Partial<QueueBatch> = {}): QueueBatch {
  return {
    batchId: id,
    tenantId: 't',
    sessionId: 's',
    enqueueSeq: ++seq,
    deliveryPolicy: 'after_current_turn_commit',
    slotPolicy: 'exclusive',
    availableAt: now,
    enqueuedAt: now,
    items: [{ itemId: `${id}-i`, payload: { kind: 'input', input: { items: [{ kind: 'text', text: id }], imageBlobs: {} } } }],
    state: 'pending',
    ...extra,
  };
}
const ids = (bs: QueueBatch[]) => bs.map((b) => b.batchId);

describe('queue claim rules', () => {
  it('a checkpoint claim takes nothing while an after-commit batch is at the head', () => {
    const q = [batch('a'), batch('b', { deliveryPolicy: 'earliest_safe_boundary' })];
    expect(selectClaim(q, { boundary: 'checkpoint', now, joinLimit: 8 })).toEqual([]);
    expect(ids(selectClaim(q, { boundary: 'idle', now, joinLimit: 8 }))).toEqual(['a']);
  });

  it('a checkpoint claim takes an earliest-safe-boundary batch at the head', () => {
    const q = [batch('e', { deliveryPolicy: 'earliest_safe_boundary' }), batch('a')];
    expect(ids(selectClaim(q, { boundary: 'checkpoint', now, joinLimit: 8 }))).toEqual(['e']);
  });

  it('exclusive batches are claimed alone', () => {
    expect(ids(selectClaim([batch('x'), batch('y')], { boundary: 'idle', now, joinLimit: 8 }))).toEqual(['x']);
  });

  it('adjacent join batches with the same delivery policy and merge key are claimed together, up to the limit', () => {
    const q = [
      batch('j1', { slotPolicy: 'join', mergeKey: 'm' }),
      batch('j2', { slotPolicy: 'join', mergeKey: 'm' }),
      batch('j3', { slotPolicy: 'join', mergeKey: 'm' }),
      batch('j4', { slotPolicy: 'join', mergeKey: 'other' }),
    ];
    expect(ids(selectClaim(q, { boundary: 'idle', now, joinLimit: 8 }))).toEqual(['j1', 'j2', 'j3']);
    expect(ids(selectClaim(q, { boundary: 'idle', now, joinLimit: 2 }))).toEqual(['j1', 'j2']);
    const broken = [batch('j1', { slotPolicy: 'join', mergeKey: 'm' }), batch('ex'), batch('j2', { slotPolicy: 'join', mergeKey: 'm' })];
    expect(ids(selectClaim(broken, { boundary: 'idle', now, joinLimit: 8 }))).toEqual(['j1']);
  });

  it('batches not yet available are skipped', () => {
    const q = [batch('future', { availableAt: new Date(now.getTime() + 60_000) }), batch('ready')];
    expect(ids(selectClaim(q, { boundary: 'idle', now, joinLimit: 8 }))).toEqual(['ready']);
    expect(selectClaim([batch('f', { availableAt: new Date(now.getTime() + 1) })], { boundary: 'idle', now, joinLimit: 8 })).toEqual([]);
  });

  it('an exact-id drain must name the head prefix', () => {
    const q = [batch('h1'), batch('h2'), batch('h3')];
    expect(ids(selectClaim(q, { boundary: 'idle', now, joinLimit: 8, exactIds: ['h1', 'h2'] }))).toEqual(['h1', 'h2']);
    expect(() => selectClaim(q, { boundary: 'idle', now, joinLimit: 8, exactIds: ['h2'] })).toThrow(/head of the queue/);
    expect(() => selectClaim(q, { boundary: 'idle', now, joinLimit: 8, exactIds: ['h1', 'h3'] })).toThrow(/head of the queue/);
  });
});
