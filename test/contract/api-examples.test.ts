// The API reference's examples are real requests: every RPC of the contract has a curated body in
// scripts/api-examples.ts, and each body parses as that RPC's request in the proto JSON mapping
// (what `buf curl` sends) — a renamed field or enum value fails here, not in a reader's terminal.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createFileRegistry, fromBinary, fromJson, type JsonValue } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { describe, expect, it } from 'vitest';
import { EXAMPLE_BODIES } from '../../scripts/api-examples.js';

const root = resolve(import.meta.dirname, '../..');
const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(resolve(root, 'gen/descriptors.binpb'))));
const methods = [...registry].flatMap((d) => (d.kind === 'service' ? d.methods.map((m) => ({ key: `${d.name}/${m.name}`, input: m.input })) : []));

describe('API reference examples', () => {
  it('covers every RPC of the contract', () => {
    expect(methods.length).toBeGreaterThan(30);
    expect(methods.map((m) => m.key).filter((k) => !(k in EXAMPLE_BODIES))).toEqual([]);
  });

  it('has no example for an RPC that does not exist', () => {
    const known = new Set(methods.map((m) => m.key));
    expect(Object.keys(EXAMPLE_BODIES).filter((k) => !known.has(k))).toEqual([]);
  });

  it.each(methods.filter((m) => m.key in EXAMPLE_BODIES))('$key: the example body parses as its request', ({ key, input }) => {
    expect(() => fromJson(input, EXAMPLE_BODIES[key] as JsonValue)).not.toThrow();
  });

  it('a body with a misspelt field is refused (the check can fail)', () => {
    const m = methods.find((x) => x.key === 'SessionService/GetSession')!;
    expect(() => fromJson(m.input, { sesionId: 'x' })).toThrow(/sesionId/);
  });
});
