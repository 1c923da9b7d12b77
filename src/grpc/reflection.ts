// Server reflection (v1 and v1alpha) fed with the raw FileDescriptorProtos of the descriptor
// set that `buf build` writes; the only route that keeps ts-proto services' descriptors intact.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Server } from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';

const DESCRIPTORS = fileURLToPath(new URL('../../gen/descriptors.binpb', import.meta.url));

/** Splits a FileDescriptorSet (field 1: repeated FileDescriptorProto) into its files. */
function fileDescriptorProtos(set: Uint8Array): Buffer[] {
  const reader = new BinaryReader(set);
  const files: Buffer[] = [];
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WireType.LengthDelimited) files.push(Buffer.from(reader.bytes()));
    else reader.skip(wireType);
  }
  return files;
}

/** Registers reflection through `server.addService` (the caller may guard it). */
export function addReflection(server: Pick<Server, 'addService'>): void {
  const files = fileDescriptorProtos(readFileSync(DESCRIPTORS));
  const pkg = { descriptors: { fileDescriptorProtos: files } };
  new ReflectionService(pkg as never).addToServer(server);
}
