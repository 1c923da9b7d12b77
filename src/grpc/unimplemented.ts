// Honest placeholders for RPCs whose capability has not landed: UNIMPLEMENTED naming the
// capability, with an ErrorInfo like every other failure.

import { status, type sendUnaryData, type ServerDuplexStream, type ServerWritableStream } from '@grpc/grpc-js';
import type { CallEnv } from './call.js';
import { build } from './errors.js';

const message = (method: string, capability: string) =>
  `${method} is part of the contract but ${capability} is not implemented in this server version yet`;

export function unimplementedUnary(env: CallEnv, domain: string, method: string, capability: string) {
  return (_call: unknown, callback: sendUnaryData<never>) => {
    env.log.debug({ method }, 'unimplemented rpc called');
    callback(build(status.UNIMPLEMENTED, message(method, capability), 'CAPABILITY_NOT_IMPLEMENTED', domain, { method, capability }), null);
  };
}

export function unimplementedStream(_env: CallEnv, domain: string, method: string, capability: string) {
  return (call: ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>) => {
    call.emit('error', build(status.UNIMPLEMENTED, message(method, capability), 'CAPABILITY_NOT_IMPLEMENTED', domain, { method, capability }));
  };
}
