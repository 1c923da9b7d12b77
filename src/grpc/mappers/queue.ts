// Mapping of queue batches and policies between wire and domain.

import { DeliveryPolicy, QueueBatchState, SlotPolicy, type QueueBatch as PbBatch } from '../../../gen/lash/v1/queue.js';
import type { TurnInput as PbInput } from '../../../gen/lash/v1/turn.js';
import type { DeliveryPolicy as Delivery, QueueBatch, SlotPolicy as Slot } from '../../domain/queue/types.js';
import type { TurnInput } from '../../domain/turns/types.js';
import { decodeEnum, encodeTable } from './enums.js';

const DELIVERY: Record<number, Delivery> = {
  [DeliveryPolicy.DELIVERY_POLICY_UNSPECIFIED]: 'after_current_turn_commit',
  [DeliveryPolicy.DELIVERY_POLICY_AFTER_CURRENT_TURN_COMMIT]: 'after_current_turn_commit',
  [DeliveryPolicy.DELIVERY_POLICY_EARLIEST_SAFE_BOUNDARY]: 'earliest_safe_boundary',
};
const SLOT: Record<number, Slot> = {
  [SlotPolicy.SLOT_POLICY_UNSPECIFIED]: 'exclusive',
  [SlotPolicy.SLOT_POLICY_EXCLUSIVE]: 'exclusive',
  [SlotPolicy.SLOT_POLICY_JOIN]: 'join',
};
const DELIVERY_OUT = encodeTable({ 1: 'after_current_turn_commit', 2: 'earliest_safe_boundary' } as Record<number, Delivery>);
const SLOT_OUT = encodeTable({ 1: 'exclusive', 2: 'join' } as Record<number, Slot>);
const STATE_OUT = {
  pending: QueueBatchState.QUEUE_BATCH_STATE_PENDING,
  claimed: QueueBatchState.QUEUE_BATCH_STATE_CLAIMED,
  done: QueueBatchState.QUEUE_BATCH_STATE_DONE,
  cancelled: QueueBatchState.QUEUE_BATCH_STATE_CANCELLED,
};

export const deliveryFromPb = (v: number) => decodeEnum('delivery_policy', v, DELIVERY, 'DeliveryPolicy');
export const slotFromPb = (v: number) => decodeEnum('slot_policy', v, SLOT, 'SlotPolicy');

function inputToPb(i: TurnInput): PbInput {
  return {
    items: i.items.map((it) => ({
      item: it.kind === 'text' ? { $case: 'text' as const, value: { text: it.text } } : { $case: 'imageRef' as const, value: { id: it.id } },
    })),
    imageBlobs: Object.fromEntries(Object.entries(i.imageBlobs).map(([k, b]) => [k, { data: Buffer.from(b.data), mimeType: b.mimeType }])),
    traceTurnId: i.traceTurnId,
  };
}

export function batchToPb(b: QueueBatch): PbBatch {
  return {
    batchId: b.batchId,
    sessionId: b.sessionId,
    enqueueSeq: b.enqueueSeq,
    id: b.id ?? '',
    sourceKey: b.sourceKey ?? '',
    deliveryPolicy: DELIVERY_OUT.get(b.deliveryPolicy)!,
    slotPolicy: SLOT_OUT.get(b.slotPolicy)!,
    mergeKey: b.mergeKey ?? '',
    availableAt: b.availableAt,
    enqueueTime: b.enqueuedAt,
    items: b.items.map((it) => ({
      itemId: it.itemId,
      payload:
        it.payload.kind === 'input'
          ? { $case: 'input' as const, value: inputToPb(it.payload.input) }
          : {
              $case: 'command' as const,
              value: {
                command:
                  it.payload.command.kind === 'reset'
                    ? { $case: 'reset' as const, value: { reason: it.payload.command.reason } }
                    : { $case: 'refreshToolCatalog' as const, value: { reason: it.payload.command.reason } },
              },
            },
    })),
    state: STATE_OUT[b.state],
    turnId: b.turnId,
  };
}
