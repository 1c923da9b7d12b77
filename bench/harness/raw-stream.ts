// The raw grpc-js server stream (no protobuf, no handler logic, backpressure respected): the
// reference of the streaming benches.

import {
  Client,
  credentials,
  Metadata,
  Server,
  ServerCredentials,
  type CallOptions,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { identity } from './echo.js';

/** A hand-made server-streaming service: no protobuf, no handler logic, backpressure respected. */
export const STREAM_SERVICE: ServiceDefinition = {
  Stream: {
    path: '/bench.Stream/Stream',
    requestStream: false,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

export interface RawStreamChannel {
  /**
   * One streaming call. An 8-byte request (`count`, `size`) gets `count` messages of `size` bytes;
   * with no arguments the call gets the server's `replay` buffers. Resolves with the number of
   * messages received when the stream ends; `onMessage` sees each one as it arrives. `options`
   * are the call's (a deadline, say: give the reference the options the subject's calls carry).
   */
  call(count?: number, size?: number, onMessage?: (message: Buffer) => void, options?: CallOptions): Promise<number>;
  close(): void;
}

export interface RawStream extends RawStreamChannel {
  address: string;
  /** What a call without arguments receives (e.g. recorded lash responses, for fan-out). */
  replay: Buffer[];
  /** A client on a connection of its own (the default `call` shares one). */
  channel(): RawStreamChannel;
  stop(): Promise<void>;
}

interface WritableCall {
  request: Buffer;
  write(b: Buffer): boolean;
  end(): void;
  once(event: 'drain' | 'cancelled', fn: () => void): void;
  cancelled: boolean;
}

export async function startRawStream(host = '127.0.0.1'): Promise<RawStream> {
  const server = new Server();
  const state = { replay: [] as Buffer[] };
  const impl: UntypedServiceImplementation = {
    Stream: (call: WritableCall) => {
      const messages =
        call.request.length === 8 ? Array.from({ length: call.request.readUInt32BE(0) }, () => Buffer.alloc(call.request.readUInt32BE(4), 0x61)) : state.replay;
      let i = 0;
      const pump = () => {
        while (i < messages.length) {
          if (call.cancelled) return;
          if (!call.write(messages[i++]!)) {
            call.once('drain', pump);
            return;
          }
        }
        call.end();
      };
      pump();
    },
  };
  server.addService(STREAM_SERVICE, impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:0`, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const address = `${host}:${port}`;
  const channels: RawStreamChannel[] = [];
  const channel = (own: boolean): RawStreamChannel => {
    // A local subchannel pool gives the client a connection of its own.
    const client = new Client(address, credentials.createInsecure(), own ? { 'grpc.use_local_subchannel_pool': 1 } : {});
    const c: RawStreamChannel = {
      call: (count, size, onMessage, options = {}) =>
        new Promise<number>((resolve, reject) => {
          const req = Buffer.alloc(count === undefined ? 0 : 8);
          if (count !== undefined) {
            req.writeUInt32BE(count, 0);
            req.writeUInt32BE(size ?? 0, 4);
          }
          let n = 0;
          const stream = client.makeServerStreamRequest<Buffer, Buffer>(STREAM_SERVICE.Stream!.path, identity, identity, req, new Metadata(), options);
          stream.on('data', (m: Buffer) => {
            n++;
            onMessage?.(m);
          });
          stream.on('error', reject);
          stream.on('end', () => resolve(n));
        }),
      close: () => client.close(),
    };
    channels.push(c);
    return c;
  };
  const shared = channel(false);
  return {
    address,
    get replay() {
      return state.replay;
    },
    set replay(buffers: Buffer[]) {
      state.replay = buffers;
    },
    call: shared.call,
    close: shared.close,
    channel: () => channel(true),
    async stop() {
      channels.forEach((c) => c.close());
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    },
  };
}
