// The contract guard itself: `buf breaking` against the committed baseline passes on this tree and
// fails, naming the change, when a copy of proto/ drops a field or an RPC. Without this check a
// misconfigured guard (wrong path, rules switched off) would pass every change silently.

import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const buf = join(root, 'node_modules/.bin/buf');
const baseline = join(root, 'contract/baseline.binpb');
const dirs: string[] = [];

function copyOfContract(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lash-contract-'));
  dirs.push(dir);
  cpSync(join(root, 'proto'), join(dir, 'proto'), { recursive: true });
  cpSync(join(root, 'buf.yaml'), join(dir, 'buf.yaml'));
  return dir;
}

function breaking(dir: string): { status: number | null; output: string } {
  const r = spawnSync(buf, ['breaking', '--against', baseline], { cwd: dir, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

function edit(dir: string, file: string, from: RegExp, to: string): void {
  const path = join(dir, 'proto', file);
  const before = readFileSync(path, 'utf8');
  const after = before.replace(from, to);
  expect(after, `the edit of ${file} must change something`).not.toBe(before);
  writeFileSync(path, after);
}

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('buf breaking against contract/baseline.binpb', () => {
  it('passes on the contract as committed', () => {
    expect(() => execFileSync(buf, ['breaking', '--against', baseline], { cwd: root, encoding: 'utf8' })).not.toThrow();
  });

  it('fails when a field is removed from a request', () => {
    const dir = copyOfContract();
    edit(dir, 'lash/v1/turn_service.proto', /(message GetTurnRequest \{[^}]*?)\n\s*\/\/ Id of the turn[^\n]*\n\s*string turn_id = 2;/, '$1');
    const r = breaking(dir);
    expect(r.status).not.toBe(0);
    expect(r.output).toMatch(/field "2" with name "turn_id" on message "GetTurnRequest" was deleted/);
  });

  it('fails when an RPC is removed', () => {
    const dir = copyOfContract();
    edit(dir, 'lash/v1/turn_service.proto', /\n\s*\/\/ Cancels one turn wherever it runs[^\n]*\n\s*rpc CancelTurn\([^\n]*\n/, '\n');
    const r = breaking(dir);
    expect(r.status).not.toBe(0);
    expect(r.output).toMatch(/"CancelTurn" on service "TurnService" was deleted/);
  });

  it('fails when a field changes its type', () => {
    const dir = copyOfContract();
    edit(dir, 'lash/v1/session_service.proto', /(message GetSessionRequest \{[^}]*?)string session_id = 1;/, '$1int64 session_id = 1;');
    const r = breaking(dir);
    expect(r.status).not.toBe(0);
    expect(r.output).toMatch(/GetSessionRequest/);
  });

  it('passes when a field is added (a minor change)', () => {
    const dir = copyOfContract();
    edit(dir, 'lash/v1/session_service.proto', /(message GetSessionRequest \{[^}]*?string session_id = 1;)/, '$1\n  // A new optional field.\n  bool include_extra = 99;');
    const r = breaking(dir);
    expect(r.output).toBe('');
    expect(r.status).toBe(0);
  });
});
