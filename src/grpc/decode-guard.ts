// Requests that cannot be decoded become INVALID_ARGUMENT with a reason, not grpc-js's INTERNAL.
// grpc-js answers any exception from a method's requestDeserialize with INTERNAL itself, before a
// handler runs; so each lash.v1 method's deserializer is wrapped once where services are
// registered: a failure yields a marker request that the shared handler wrappers refuse.

import type { ServiceDefinition } from '@grpc/grpc-js';
import { DomainError, invalid } from '../domain/errors.js';

const MALFORMED = Symbol('malformed request');

interface MalformedRequest {
  [MALFORMED]: DomainError;
}

/** The protobuf decoder's nesting limit (ts-proto counts nested messages, the request included). */
export const MAX_MESSAGE_NESTING = 100;

function decodeFailure(err: unknown): DomainError {
  const message = err instanceof Error ? err.message : String(err);
  if (/recursion limit/i.test(message)) {
    return invalid(
      'REQUEST_TOO_DEEP',
      `the request nests more than ${MAX_MESSAGE_NESTING} protobuf messages; inside a Struct or Value each JSON object level counts 3 and each array level 2, so keep JSON values under about 30 levels`,
    );
  }
  return invalid(
    'REQUEST_MALFORMED',
    "the request body is not a valid protobuf encoding of this method's request message; send it with a generated client or check the framing",
  );
}

/** A copy of `definition` whose request decoders return a marker instead of throwing. */
export function guardDecoding<D extends ServiceDefinition>(definition: D): D {
  const guarded: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(definition)) {
    const decode = method.requestDeserialize;
    guarded[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => {
        try {
          return decode(bytes);
        } catch (err) {
          return { [MALFORMED]: decodeFailure(err) } satisfies MalformedRequest;
        }
      },
    };
  }
  return guarded as D;
}

/** Returns `request`, or throws the INVALID_ARGUMENT its decoding failed with. */
export function wellFormed<T>(request: T): T {
  if (typeof request === 'object' && request !== null && MALFORMED in request) throw (request as MalformedRequest)[MALFORMED];
  return request;
}
