// Responses whose bytes were already encoded: a handler that had to encode each item anyway (to
// know its size) hands the response to grpc-js with those bytes attached, and the method's
// serializer sends them instead of encoding the message a second time. The message object stays
// complete (its fields are all there), so anything that reads it sees what it always did.

import type { ServiceDefinition } from '@grpc/grpc-js';

const ENCODED = Symbol('pre-encoded response');

/** `message` carrying its own wire bytes (the caller guarantees they are its encoding). */
export function preEncoded<M extends object>(message: M, bytes: Buffer): M {
  Object.defineProperty(message, ENCODED, { value: bytes });
  return message;
}

/**
 * The bytes of a message whose one field is `repeated <message> = 1`, given each element's
 * encoding: per element, the tag (field 1, length-delimited), the length as a varint, the
 * element's bytes. The same bytes the generated encoder writes for that message.
 */
export function repeatedField1(elements: readonly Uint8Array[]): Buffer {
  let total = 0;
  for (const e of elements) total += 1 + varintSize(e.length) + e.length;
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (const e of elements) {
    out[at++] = 0x0a;
    let n = e.length;
    while (n > 0x7f) {
      out[at++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    out[at++] = n;
    out.set(e, at);
    at += e.length;
  }
  return out;
}

const varintSize = (n: number): number => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5);

/** A copy of `definition` whose response serializers send a pre-encoded response's own bytes. */
export function servePreEncoded<D extends ServiceDefinition>(definition: D): D {
  const out: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(definition)) {
    const serialize = method.responseSerialize;
    out[name] = {
      ...method,
      responseSerialize: (value: unknown): Buffer => (value as { [ENCODED]?: Buffer })[ENCODED] ?? serialize(value),
    };
  }
  return out as D;
}
