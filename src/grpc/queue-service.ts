// lash.v1.QueueService handlers.

import type { ServerWritableStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import { AwaitStatus, CancelOutcome, type QueueServiceServer, type RunQueuedTurnRequest, type RunQueuedTurnResponse } from '../../gen/lash/v1/queue_service.js';
import type { QueueService } from '../domain/queue/service.js';
import type { TurnService } from '../domain/turns/runner.js';
import { unary, type CallEnv } from './call.js';
import { batchToPb, deliveryFromPb, slotFromPb } from './mappers/queue.js';
import { eventToPb, resultToPb, turnInputFromPb } from './mappers/turn.js';
import { streamTurn } from './turn-service.js';

const DOMAIN = 'lash.v1.QueueService';
const CANCEL = {
  cancelled: CancelOutcome.CANCEL_OUTCOME_CANCELLED,
  not_found: CancelOutcome.CANCEL_OUTCOME_NOT_FOUND,
  already_claimed: CancelOutcome.CANCEL_OUTCOME_ALREADY_CLAIMED,
  already_done: CancelOutcome.CANCEL_OUTCOME_ALREADY_DONE,
};

export function queueServiceHandlers(env: CallEnv, queue: QueueService, turns: TurnService): QueueServiceServer & UntypedServiceImplementation {
  return {
    enqueueTurnInput: unary(env, DOMAIN, 'EnqueueTurnInput', async (req, ctx) => {
      const r = await queue.enqueue(ctx, {
        sessionId: req.sessionId,
        input: turnInputFromPb(req.input),
        id: req.id || undefined,
        deliveryPolicy: deliveryFromPb(req.deliveryPolicy),
        slotPolicy: slotFromPb(req.slotPolicy),
        mergeKey: req.mergeKey || undefined,
        availableAt: req.availableAt,
      });
      return { batch: batchToPb(r.batch), deduplicated: r.deduplicated };
    }),
    listQueuedWork: unary(env, DOMAIN, 'ListQueuedWork', async (req, ctx) => ({ batches: (await queue.list(ctx, req.sessionId)).map(batchToPb) })),
    cancelQueuedWorkBatch: unary(env, DOMAIN, 'CancelQueuedWorkBatch', async (req, ctx) => {
      const r = await queue.cancel(ctx, req.sessionId, req.batchId);
      return { outcome: CANCEL[r.outcome], batch: r.batch && batchToPb(r.batch) };
    }),
    awaitQueuedWorkBatch: unary(env, DOMAIN, 'AwaitQueuedWorkBatch', async (req, ctx) => {
      const r = await queue.await(ctx, req.sessionId, req.batchId, ctx.signal);
      return r.status === 'done'
        ? { status: AwaitStatus.AWAIT_STATUS_DONE, turnId: r.turnId ?? '' }
        : { status: r.status === 'cancelled' ? AwaitStatus.AWAIT_STATUS_CANCELLED : AwaitStatus.AWAIT_STATUS_UNKNOWN, turnId: '' };
    }),
    runQueuedTurn(call: ServerWritableStream<RunQueuedTurnRequest, RunQueuedTurnResponse>) {
      streamTurn(env, DOMAIN, call as ServerWritableStream<unknown, RunQueuedTurnResponse>, 'RunQueuedTurn', async ({ onEvent, clientGone, ctx }) => {
        const result = await turns.drain(ctx, call.request.sessionId, {
          exactIds: call.request.batchIds.length ? call.request.batchIds : undefined,
          drainId: call.request.drainId || undefined,
          onEvent: (e) => onEvent({ $case: 'event', value: eventToPb(e) }),
          signal: clientGone,
          waitSignal: clientGone,
        });
        return result ? { $case: 'result', value: resultToPb(result) } : { $case: 'nothingToDo', value: {} };
      });
    },
  };
}
