// The raw grpc-js echo (unary, bytes in and out, no protobuf, no handler logic): the reference
// every unary ratio divides by.

import {
  Client,
  credentials,
  Metadata,
  Server,
  ServerCredentials,
  type ServiceDefinition,
  type ServiceError,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';

/** Bytes pass through unchanged (no protobuf on the reference services). */
export const identity = (b: Buffer) => b;

/** A hand-made unary service: bytes in, the same bytes out, no protobuf, no handler logic. */
export const ECHO_SERVICE: ServiceDefinition = {
  Echo: {
    path: '/bench.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

/** ~60 bytes, the size of a small unary request. */
export const ECHO_PAYLOAD = Buffer.from('lash-bench echo payload: 0123456789abcdefghijklmnopqrstuvwxyz');

export interface Echo {
  address: string;
  /** One echo call, shaped like the promise wrapper of src/client/promised.ts. */
  call(deadlineMs?: number): Promise<Buffer>;
  stop(): Promise<void>;
}

export async function startEcho(host = '127.0.0.1'): Promise<Echo> {
  const server = new Server();
  const impl: UntypedServiceImplementation = {
    Echo: (call: { request: Buffer }, callback: (err: ServiceError | null, res: Buffer) => void) => callback(null, call.request),
  };
  server.addService(ECHO_SERVICE, impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:0`, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const address = `${host}:${port}`;
  const client = new Client(address, credentials.createInsecure());
  const path = ECHO_SERVICE.Echo!.path;
  return {
    address,
    call: (deadlineMs) =>
      new Promise<Buffer>((resolve, reject) => {
        client.makeUnaryRequest<Buffer, Buffer>(
          path,
          identity,
          identity,
          ECHO_PAYLOAD,
          new Metadata(),
          deadlineMs ? { deadline: Date.now() + deadlineMs } : {},
          (err, res) => (err ? reject(err) : resolve(res!)),
        );
      }),
    async stop() {
      client.close();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    },
  };
}
