// Connect decodes a request body in the binary format itself, before the bridge runs, and answers
// one it cannot decode with INTERNAL. gRPC answers the same bytes with INVALID_ARGUMENT and
// REQUEST_MALFORMED (its guarded deserializer, src/grpc/decode-guard.ts). So binary bodies are
// read here first: one Connect's decoder would refuse is kept aside (RAW_BODY) and Connect gets an
// empty message in its place; the bridge then hands the kept bytes to the gRPC deserializer, and
// the handler refuses them exactly as over gRPC (same code, reason, logs and metrics). A body
// compressed with gzip or brotli (the encodings Connect accepts) is decompressed here, within the
// same size limit, to be judged the same way.

import { brotliDecompressSync, gunzipSync } from 'node:zlib';
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

type Encoding = 'identity' | 'gzip' | 'br';

/** The body's kind and encoding for a binary body this module can judge; undefined for anything else. */
function binaryKind(req: UniversalServerRequest): { kind: 'unary' | 'enveloped'; encoding: Encoding } | undefined {
  if (req.method !== 'POST' || typeof req.body !== 'object' || req.body === null || !(Symbol.asyncIterator in req.body)) return undefined;
  const declared = ENCODING_HEADERS.map((h) => (req.header.get(h) ?? 'identity').trim().toLowerCase()).find((e) => e !== 'identity') ?? 'identity';
  // An encoding Connect does not accept is Connect's to refuse (UNIMPLEMENTED, as gRPC does).
  if (declared !== 'identity' && declared !== 'gzip' && declared !== 'br') return undefined;
  const type = (req.header.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  const kind = type === UNARY_BINARY ? 'unary' : ENVELOPED_BINARY.has(type) ? 'enveloped' : undefined;
  return kind && { kind, encoding: declared };
}

/** The decompressed bytes, at most `maxBytes` of them; undefined when they are not valid data of that encoding or too large. */
function decompress(encoding: Encoding, bytes: Uint8Array, maxBytes: number): Uint8Array | undefined {
  try {
    if (encoding === 'gzip') return gunzipSync(bytes, { maxOutputLength: maxBytes });
    if (encoding === 'br') return brotliDecompressSync(bytes, { maxOutputLength: maxBytes });
    return bytes;
  } catch {
    return undefined;
  }
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
    const judged = binaryKind(req);
    if (!judged) return handler(req);
    const { kind, encoding } = judged;
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
    let message: Uint8Array | undefined = bytes;
    if (kind === 'enveloped') {
      // One request message (unary and server-streaming methods); anything else is Connect's to judge.
      const envelopes = await pipeTo(createAsyncIterable([bytes]), transformSplitEnvelope(maxBytes), sinkAll<EnvelopedMessage>()).catch(() => undefined);
      if (envelopes?.length !== 1 || (envelopes[0]!.flags & ~1) !== 0) return unchanged();
      // Flag 1: this message is compressed with the declared encoding.
      message = envelopes[0]!.flags === 1 ? (encoding === 'identity' ? undefined : decompress(encoding, envelopes[0]!.data, maxBytes)) : envelopes[0]!.data;
    } else {
      message = decompress(encoding, bytes, maxBytes);
    }
    // Bytes that do not decompress (or beyond the limit): Connect answers those itself.
    if (message === undefined || decodes(handler, message)) return unchanged();
    const contextValues = req.contextValues ?? createContextValues();
    contextValues.set(RAW_BODY, message);
    const empty = kind === 'unary' ? new Uint8Array(0) : encodeEnvelope(0, new Uint8Array(0));
    // Connect checks the body against content-length: it must describe the replacement.
    const header = new Headers(req.header);
    header.set('content-length', String(empty.byteLength));
    // The replacement is not compressed (an uncompressed envelope is valid under any encoding).
    if (kind === 'unary') header.delete('content-encoding');
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
