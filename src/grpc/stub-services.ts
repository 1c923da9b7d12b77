// QueueService before its capability lands: every RPC answers UNIMPLEMENTED
// naming the capability, so clients can tell "not yet" from a failure.

import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type { QueueServiceServer } from '../../gen/lash/v1/queue_service.js';
import type { CallEnv } from './call.js';
import { unimplementedStream, unimplementedUnary } from './unimplemented.js';

export function queueServiceStub(env: CallEnv): QueueServiceServer & UntypedServiceImplementation {
  const d = 'lash.v1.QueueService';
  const cap = 'the queue';
  return {
    enqueueTurnInput: unimplementedUnary(env, d, 'EnqueueTurnInput', cap),
    listQueuedWork: unimplementedUnary(env, d, 'ListQueuedWork', cap),
    cancelQueuedWorkBatch: unimplementedUnary(env, d, 'CancelQueuedWorkBatch', cap),
    awaitQueuedWorkBatch: unimplementedUnary(env, d, 'AwaitQueuedWorkBatch', cap),
    runQueuedTurn: unimplementedStream(env, d, 'RunQueuedTurn', cap),
  };
}
