// The README's "Other languages" block is what a Go, Java or Python user copies, so it runs here as
// written (plain protoc -I proto plus the Debian plugins .ci/run installs) and every RPC of every
// lash.v1 service must come out in each language. A missing plugin fails with what to install,
// never a skip.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const PLUGINS = { protoc: 'protobuf-compiler', grpc_python_plugin: 'protobuf-compiler-grpc', 'protoc-gen-go': 'protoc-gen-go', 'protoc-gen-go-grpc': 'protoc-gen-go-grpc', grpc_java_plugin: 'protobuf-compiler-grpc-java-plugin' };

/** The first ```sh block after the "### Other languages" heading of the README. */
function readmeBlock(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Other languages'));
  const block = /```sh\n([\s\S]*?)```/.exec(section);
  if (!block) throw new Error('README.md: no ```sh block under "### Other languages"');
  return block[1]!;
}

/** service name → its RPC names, read from proto/lash/v1. */
function services(): Map<string, string[]> {
  const dir = join(root, 'proto/lash/v1');
  const out = new Map<string, string[]>();
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.proto'))) {
    const text = readFileSync(join(dir, f), 'utf8');
    for (const m of text.matchAll(/^service (\w+) \{([\s\S]*?)^\}/gm)) out.set(m[1]!, [...m[2]!.matchAll(/^\s*rpc (\w+)\(/gm)].map((r) => r[1]!));
  }
  return out;
}

describe("README's client generation commands", () => {
  let dir: string;
  const read = (path: string) => readFileSync(join(dir, 'out', path), 'utf8');

  beforeAll(() => {
    const missing = Object.entries(PLUGINS).filter(([bin]) => spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0);
    if (missing.length) throw new Error(`missing ${missing.map(([b]) => b).join(', ')}: apt-get install -y ${missing.map(([, p]) => p).join(' ')}`);
    dir = mkdtempSync(join(tmpdir(), 'lash-codegen-'));
    symlinkSync(join(root, 'proto'), join(dir, 'proto'));
    execFileSync('sh', ['-eu', '-c', readmeBlock()], { cwd: dir, encoding: 'utf8', stdio: 'pipe' });
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('finds the four lash.v1 services in proto/ (the checks below cover something)', () => {
    expect([...services().keys()].sort()).toEqual(['AdminService', 'QueueService', 'SessionService', 'TurnService']);
    expect([...services().values()].flat().length).toBeGreaterThan(40);
  });

  it.each([...services()])('%s: every RPC has a Python, Go and Java stub', (service, rpcs) => {
    const file = { AdminService: 'admin_service', QueueService: 'queue_service', SessionService: 'session_service', TurnService: 'turn_service' }[service]!;
    const python = read(`lash/v1/${file}_pb2_grpc.py`);
    const go = read(`example.com/lashpb/${file}_grpc.pb.go`);
    const java = read(`lash/v1/${service}Grpc.java`);
    const missing = rpcs.flatMap((rpc) => [
      ...(python.includes(`/lash.v1.${service}/${rpc}'`) ? [] : [`python ${rpc}`]),
      ...(go.includes(`"/lash.v1.${service}/${rpc}"`) ? [] : [`go ${rpc}`]),
      ...(java.includes(`get${rpc}Method()`) ? [] : [`java ${rpc}`]),
    ]);
    expect(missing).toEqual([]);
  });
});
