// Connect decodes a request body in the binary format itself, before the bridge runs, and answers
// one it cannot decode with INTERNAL. gRPC answers the same bytes with INVALID_ARGUMENT and
// REQUEST_MALFORMED (its guarded deserializer, src/grpc/decode-guard.ts). So binary bodies are
// read here first: one Connect's decoder would refuse is kept aside (RAW_BODY) and Connect gets an
// empty message in its place; the bridge then hands the kept bytes to the gRPC deserializer, and
// the handler refuses them exactly as over gRPC (same code, reason, logs and metrics).

import { fromBinary } from '@bufbuild/protobuf';
import { createContextKey, createContextValues } from '@connectrpc/connect';
import {
  createAsyncIterable,
  encodeEnvelope,
  pipeTo,
  sinkAll,
  transformSplitEnvelope,
  type EnvelopedMessage,
  type UniversalHandler,
  type UniversalServerRequest,
  type UniversalServerResponse,
} from '@connectrpc/connect/protocol';

/** The request body Connect's decoder refused, for the bridge to decode the gRPC way. */
export const RAW_BODY = createContextKey<Uint8Array | undefined>(undefined, { description: 'undecodable request body' });

const UNARY_BINARY = 'application/proto';
const ENVELOPED_BINARY = new Set(['application/connect+proto', 'application/grpc-web', 'application/grpc-web+proto']);
const ENCODING_HEADERS = ['content-encoding', 'connect-content-encoding', 'grpc-encoding'];

/** 'unary' or 'enveloped' for an uncompressed binary body; undefined for anything else. */
function binaryKind(req: UniversalServerRequest): 'unary' | 'enveloped' | undefined {
  if (req.method !== 'POST' || typeof req.body !== 'object' || req.body === null || !(Symbol.asyncIterator in req.body)) return undefined;
  // A compressed body is left to Connect: it decompresses (with its own limits) before decoding.
  if (ENCODING_HEADERS.some((h) => (req.header.get(h) ?? 'identity') !== 'identity')) return undefined;
  const type = (req.header.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  return type === UNARY_BINARY ? 'unary' : ENVELOPED_BINARY.has(type) ? 'enveloped' : undefined;
}

/** Replays the chunks already read, then the rest of the body. */
async function* replay(read: Uint8Array[], rest: AsyncIterator<Uint8Array>): AsyncIterable<Uint8Array> {
  yield* read;
  for (let next = await rest.next(); !next.done; next = await rest.next()) yield next.value;
}

function decodes(handler: UniversalHandler, bytes: Uint8Array): boolean {
  try {
    fromBinary(handler.method.input, bytes);
    return true;
  } catch {
    return false;
  }
}

/** `handler` with binary request bodies Connect cannot decode diverted to the gRPC decoder. */
export function divertUndecodableBodies(handler: UniversalHandler, maxBytes: number): UniversalHandler {
  const checked = async (req: UniversalServerRequest): Promise<UniversalServerResponse> => {
    const kind = binaryKind(req);
    if (!kind) return handler(req);
    const chunks: Uint8Array[] = [];
    let size = 0;
    const body = (req.body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
    for (let next = await body.next(); !next.done; next = await body.next()) {
      chunks.push(next.value);
      size += next.value.byteLength;
      // Too large: Connect refuses it with its read limit; no point decoding it here.
      if (size > maxBytes + 5) return handler({ ...req, body: replay(chunks, body) });
    }
    const bytes = Buffer.concat(chunks);
    const unchanged = () => handler({ ...req, body: createAsyncIterable([bytes]) });
    let message: Uint8Array = bytes;
    if (kind === 'enveloped') {
      // One request message (unary and server-streaming methods); anything else is Connect's to judge.
      const envelopes = await pipeTo(createAsyncIterable([bytes]), transformSplitEnvelope(maxBytes), sinkAll<EnvelopedMessage>()).catch(() => undefined);
      if (envelopes?.length !== 1 || envelopes[0]!.flags !== 0) return unchanged();
      message = envelopes[0]!.data;
    }
    if (decodes(handler, message)) return unchanged();
    const contextValues = req.contextValues ?? createContextValues();
    contextValues.set(RAW_BODY, message);
    const empty = kind === 'unary' ? new Uint8Array(0) : encodeEnvelope(0, new Uint8Array(0));
    // Connect checks the body against content-length: it must describe the replacement.
    const header = new Headers(req.header);
    header.set('content-length', String(empty.byteLength));
    return handler({ ...req, header, contextValues, body: createAsyncIterable([empty]) });
  };
  return Object.assign(checked, {
    service: handler.service,
    method: handler.method,
    requestPath: handler.requestPath,
    supportedContentType: handler.supportedContentType,
    protocolNames: handler.protocolNames,
    allowedMethods: handler.allowedMethods,
  });
}
