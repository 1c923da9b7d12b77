// Queued work: durable batches of deferred turn input or session commands (DOMAIN.md §3).

import type { TurnInput } from '../turns/types.js';

export type DeliveryPolicy = 'after_current_turn_commit' | 'earliest_safe_boundary';
export type SlotPolicy = 'exclusive' | 'join';
export type BatchState = 'pending' | 'claimed' | 'done' | 'cancelled';

export type SessionCommand = { kind: 'refresh_tool_catalog'; reason: string } | { kind: 'reset'; reason: string };

export type QueueItemPayload = { kind: 'input'; input: TurnInput } | { kind: 'command'; command: SessionCommand };

export interface QueueItem {
  itemId: string;
  payload: QueueItemPayload;
}

export interface QueueBatch {
  batchId: string;
  tenantId: string;
  sessionId: string;
  enqueueSeq: bigint;
  /** Client idempotency id (or the command's source key). */
  id?: string;
  sourceKey?: string;
  deliveryPolicy: DeliveryPolicy;
  slotPolicy: SlotPolicy;
  mergeKey?: string;
  availableAt: Date;
  enqueuedAt: Date;
  items: QueueItem[];
  state: BatchState;
  claim?: { owner: string; token: bigint; expiresAt: Date };
  turnId?: string;
  /** The claim token as read (also after a release): the row version an optimistic claim checks. */
  version?: bigint;
}

/** A batch counts as pending when unclaimed or when its claim has expired. */
export const isPending = (b: QueueBatch, now: Date) => b.state === 'pending' || (b.state === 'claimed' && b.claim !== undefined && b.claim.expiresAt <= now);

export interface Claim {
  batchId: string;
  token: bigint;
}
