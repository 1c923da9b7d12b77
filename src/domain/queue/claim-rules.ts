// Which pending batches a drain may claim (pure): head ordering, boundaries, exclusive vs join,
// future batches skipped, exact-id drains restricted to the head prefix.

import { precondition } from '../errors.js';
import type { QueueBatch } from './types.js';

export type Boundary = 'idle' | 'checkpoint';

export interface ClaimRequest {
  boundary: Boundary;
  now: Date;
  /** Exact-id drain: must name a prefix of the available head. */
  exactIds?: string[];
  joinLimit: number;
}

/** `pending` must be the session's pending batches ordered by enqueue sequence. */
export function selectClaim(pending: QueueBatch[], req: ClaimRequest): QueueBatch[] {
  const available = pending.filter((b) => b.availableAt <= req.now);
  if (available.length === 0) return [];
  if (req.exactIds && req.exactIds.length > 0) {
    const prefix = available.slice(0, req.exactIds.length).map((b) => b.batchId);
    if (prefix.length !== req.exactIds.length || prefix.some((id, i) => id !== req.exactIds![i])) {
      throw precondition(
        'DRAIN_NOT_HEAD_PREFIX',
        `batch_ids must name the head of the queue in order; the head is ${available
          .slice(0, Math.max(req.exactIds.length, 1))
          .map((b) => b.batchId)
          .join(', ')}`,
        { session_id: available[0]!.sessionId },
      );
    }
    return available.slice(0, req.exactIds.length);
  }
  const head = available[0]!;
  // A checkpoint claim never overtakes work that waits for the current turn to commit.
  if (req.boundary === 'checkpoint' && head.deliveryPolicy !== 'earliest_safe_boundary') return [];
  if (req.boundary === 'checkpoint' && head.items.some((i) => i.payload.kind === 'command')) return [];
  if (head.slotPolicy === 'exclusive') return [head];
  const joined = [head];
  for (const b of available.slice(1)) {
    if (joined.length >= req.joinLimit) break;
    if (b.slotPolicy !== 'join' || b.deliveryPolicy !== head.deliveryPolicy || (b.mergeKey ?? '') !== (head.mergeKey ?? '')) break;
    joined.push(b);
  }
  return joined;
}
