// proto/ is self-contained: plain `protoc -I proto` (no buf, no include path of the protoc
// install) compiles every file, because the google/protobuf, google/rpc and grpc/health files it
// imports are vendored. Needs the Debian protobuf-compiler (installed by .ci/run).

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const protoDir = join(root, 'proto');

function protoFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? protoFiles(p) : p.endsWith('.proto') ? [relative(protoDir, p)] : [];
  });
}

describe('plain protoc', () => {
  it('compiles every file of proto/ with only -I proto', () => {
    const files = protoFiles(protoDir).sort();
    expect(files).toContain('lash/v1/turn_service.proto');
    expect(files).toContain('google/protobuf/struct.proto');
    const out = execFileSync('protoc', ['-I', protoDir, '--descriptor_set_out=/dev/null', ...files], { encoding: 'utf8', stdio: 'pipe' });
    expect(out).toBe('');
  });

  // protoc may also find well-known types in its own install; this makes sure they are vendored.
  it('every import resolves to a file inside proto/', () => {
    const files = new Set(protoFiles(protoDir));
    const missing = [...files].flatMap((f) => [...readFileSync(join(protoDir, f), 'utf8').matchAll(/^import "([^"]+)";/gm)].map((m) => m[1]!).filter((i) => !files.has(i)));
    expect(missing).toEqual([]);
  });
});
