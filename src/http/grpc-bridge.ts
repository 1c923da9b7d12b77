// Runs the SAME grpc-js handler objects the gRPC server registers behind Connect method
// implementations: the Connect request is re-encoded to protobuf bytes and decoded by the method's
// guarded grpc-js deserializer (so decode limits and errors are those of gRPC), the handler gets a
// synthetic call (request, metadata from the HTTP headers, cancellation, write/end), and a gRPC
// status with its google.rpc.Status details becomes a ConnectError with the same code and details.

import { EventEmitter } from 'node:events';
import { Metadata, type MethodDefinition, type ServiceError } from '@grpc/grpc-js';
import { fromBinary, toBinary, type DescMessage, type DescMethod } from '@bufbuild/protobuf';
import { Code, ConnectError, type HandlerContext } from '@connectrpc/connect';
import { Status } from '../../gen/google/rpc/status.js';
import { RAW_BODY } from './binary-body.js';

type AnyDefinition = MethodDefinition<unknown, unknown>;
type Callback = (err: Partial<ServiceError> | null, response?: unknown) => void;
type UnaryHandler = (call: SyntheticCall, callback: Callback) => void;
type StreamHandler = (call: SyntheticCall) => void;

/** Headers that describe the HTTP exchange itself, not the caller: never handed on as metadata. */
const TRANSPORT_HEADERS = new Set([
  'content-type',
  'content-length',
  'connection',
  'host',
  'accept-encoding',
  'content-encoding',
  'transfer-encoding',
  'te',
  'keep-alive',
  'upgrade',
  'connect-protocol-version',
  'connect-timeout-ms',
  'connect-accept-encoding',
  'connect-content-encoding',
  'grpc-timeout',
  'grpc-accept-encoding',
  'grpc-encoding',
  'x-grpc-web',
  'x-user-agent',
]);

/** The caller's HTTP headers as gRPC metadata (e.g. authorization, x-request-id, traceparent). */
export function metadataOf(headers: Headers): Metadata {
  const md = new Metadata();
  headers.forEach((value, key) => {
    if (TRANSPORT_HEADERS.has(key) || key.startsWith(':')) return;
    try {
      if (key.endsWith('-bin')) md.add(key, Buffer.from(value, 'base64'));
      else md.add(key, value);
    } catch {
      // A header name grpc-js refuses as metadata is not one our handlers read.
    }
  });
  return md;
}

/** A gRPC status (as the handlers produce it) as a ConnectError with the same code, message and details. */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  const e = err as Partial<ServiceError> | undefined;
  if (!e || typeof e.code !== 'number') return new ConnectError('internal error; the server logged the cause', Code.Internal);
  const out = new ConnectError(e.details ?? '', e.code as number as Code);
  const raw = e.metadata?.get('grpc-status-details-bin')[0];
  if (raw && typeof raw !== 'string') {
    for (const any of Status.decode(raw).details) out.details.push({ type: any.typeUrl.replace(/^.*\//, ''), value: any.value });
  }
  return out;
}

/** The subset of a grpc-js server call our handlers use, fed from a Connect call. */
export class SyntheticCall extends EventEmitter {
  cancelled = false;
  /** No transport peer a guard could trust (forwarded identities are refused; tokens work). */
  getPeer(): string {
    return 'http';
  }
  constructor(
    readonly request: unknown,
    readonly metadata: Metadata,
    signal: AbortSignal,
  ) {
    super();
    // 'error' is how a handler ends a stream with a status; it is handled by the stream bridge.
    this.on('error', () => {});
    const cancel = () => {
      if (this.cancelled) return;
      this.cancelled = true;
      this.emit('cancelled');
    };
    if (signal.aborted) queueMicrotask(cancel);
    else signal.addEventListener('abort', cancel, { once: true });
  }
}

function decodeRequest(method: DescMethod, definition: AnyDefinition, message: unknown, ctx: HandlerContext): unknown {
  // A body Connect could not decode reached us as an empty message, the bytes kept aside.
  const raw = ctx.values.get(RAW_BODY);
  return definition.requestDeserialize(Buffer.from(raw ?? toBinary(method.input, message as never)));
}

function encodeResponse(output: DescMessage, definition: AnyDefinition, response: unknown) {
  return fromBinary(output, definition.responseSerialize(response));
}

/** A Connect unary implementation that runs a grpc-js unary handler. */
export function bridgeUnary(method: DescMethod, definition: AnyDefinition, handler: UnaryHandler) {
  return (message: unknown, ctx: HandlerContext) =>
    new Promise((resolve, reject) => {
      const call = new SyntheticCall(decodeRequest(method, definition, message, ctx), metadataOf(ctx.requestHeader), ctx.signal);
      handler(call, (err, response) => (err ? reject(toConnectError(err)) : resolve(encodeResponse(method.output, definition, response))));
    });
}

/** How many encoded responses may wait for the HTTP response before the handler is told to hold off. */
const HIGH_WATER = 8;

/** A Connect server-streaming implementation that runs a grpc-js server-streaming handler. */
export function bridgeServerStream(method: DescMethod, definition: AnyDefinition, handler: StreamHandler) {
  return async function* (message: unknown, ctx: HandlerContext) {
    const call = new SyntheticCall(decodeRequest(method, definition, message, ctx), metadataOf(ctx.requestHeader), ctx.signal);
    const queue: { bytes: Buffer; done?: () => void }[] = [];
    let ended = false;
    let needDrain = false;
    let failure: unknown;
    let wake: (() => void) | undefined;
    const poke = () => wake?.();
    Object.assign(call, {
      write(response: unknown, done?: () => void): boolean {
        if (ended) return false;
        queue.push({ bytes: definition.responseSerialize(response), done });
        poke();
        if (queue.length < HIGH_WATER) return true;
        needDrain = true;
        return false;
      },
      end(): void {
        ended = true;
        poke();
      },
    });
    call.on('error', (err: unknown) => {
      failure = err;
      ended = true;
      poke();
    });
    handler(call);
    try {
      for (;;) {
        const next = queue.shift();
        if (next) {
          // The write callback fires once the item is handed to the HTTP response (the transport
          // asks for the next one only after writing this one): the handler's back-pressure.
          yield fromBinary(method.output, next.bytes);
          next.done?.();
          if (needDrain && queue.length < HIGH_WATER) {
            needDrain = false;
            call.emit('drain');
          }
          continue;
        }
        if (ended) break;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
      if (failure !== undefined) throw toConnectError(failure);
    } finally {
      // The client went away (or the transport stopped asking): the handler sees a cancellation.
      if (!ended && !call.cancelled) {
        call.cancelled = true;
        call.emit('cancelled');
      }
      call.emit('close');
    }
  };
}
