// Connect decodes a unary request in the binary format (content-type application/proto) itself,
// before the bridge runs, and answers a body it cannot decode with INTERNAL. This wrapper decodes
// such a body first, with the method's guarded gRPC deserializer, so an undecodable body gets the
// gRPC answer: INVALID_ARGUMENT with REQUEST_MALFORMED (or REQUEST_TOO_DEEP). Streaming requests
// (Connect streaming, gRPC-web) are enveloped and reach Connect unchanged.

import type { MethodDefinition } from '@grpc/grpc-js';
import { fromBinary } from '@bufbuild/protobuf';
import { createAsyncIterable, type UniversalHandler, type UniversalServerRequest, type UniversalServerResponse } from '@connectrpc/connect/protocol';
import { codeToHttpStatus, errorToJsonBytes } from '@connectrpc/connect/protocol-connect';
import { DomainError } from '../domain/errors.js';
import { decodeFailure, wellFormed } from '../grpc/decode-guard.js';
import { toServiceError } from '../grpc/errors.js';
import { toConnectError } from './grpc-bridge.js';

function isUnaryBinary(req: UniversalServerRequest): req is UniversalServerRequest & { body: AsyncIterable<Uint8Array> } {
  const type = (req.header.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  const encoding = req.header.get('content-encoding');
  // A compressed body is left to Connect: it decompresses (with its own limits) before decoding.
  return req.method === 'POST' && type === 'application/proto' && (!encoding || encoding === 'identity') && typeof req.body === 'object' && req.body !== null && Symbol.asyncIterator in req.body;
}

/** Replays the chunks already read, then the rest of the body. */
async function* replay(read: Uint8Array[], rest: AsyncIterator<Uint8Array>): AsyncIterable<Uint8Array> {
  yield* read;
  for (let next = await rest.next(); !next.done; next = await rest.next()) yield next.value;
}

/** `handler` with Connect-unary binary bodies decoded by `definition` before Connect sees them. */
export function checkBinaryBodies(handler: UniversalHandler, definition: MethodDefinition<unknown, unknown>, maxBytes: number): UniversalHandler {
  const domain = handler.service.typeName;
  const refuse = (err: unknown): UniversalServerResponse => {
    const error = toConnectError(toServiceError(err, domain).error);
    return { status: codeToHttpStatus(error.code), header: new Headers({ 'content-type': 'application/json' }), body: createAsyncIterable([errorToJsonBytes(error, {})]) };
  };
  const checked = async (req: UniversalServerRequest): Promise<UniversalServerResponse> => {
    if (!isUnaryBinary(req)) return handler(req);
    const chunks: Uint8Array[] = [];
    let size = 0;
    const body = req.body[Symbol.asyncIterator]();
    for (let next = await body.next(); !next.done; next = await body.next()) {
      chunks.push(next.value);
      size += next.value.byteLength;
      // Too large: Connect refuses it with its read limit; no point decoding it here.
      if (size > maxBytes) return handler({ ...req, body: replay(chunks, body) });
    }
    const bytes = Buffer.concat(chunks);
    try {
      wellFormed(definition.requestDeserialize(bytes));
      // Connect's own decoder must accept it too (e.g. it checks UTF-8 in strings).
      fromBinary(handler.method.input, bytes);
    } catch (err) {
      return refuse(err instanceof DomainError ? err : decodeFailure(err));
    }
    return handler({ ...req, body: createAsyncIterable([bytes]) });
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
