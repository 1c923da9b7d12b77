// The error-reason catalogue is closed and complete: every entry is raised somewhere in src/,
// every reason raised in src/ is an entry (the typecheck enforces it at DomainError; this also
// covers the transport's own statuses), and the generated reference and the README agree with it.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { errorReasonsSection } from '../../scripts/error-reasons-table.js';
import { ERROR_REASONS } from '../../src/domain/error-reasons.js';
import { DomainError } from '../../src/domain/errors.js';
import { errorInfoOf, toServiceError } from '../../src/grpc/errors.js';

const root = resolve(import.meta.dirname, '../..');
const CATALOGUE = join('src', 'domain', 'error-reasons.ts');
const walk = (dir: string): string[] =>
  readdirSync(join(root, dir)).flatMap((n) => {
    const p = join(dir, n);
    return statSync(join(root, p)).isDirectory() ? walk(p) : p.endsWith('.ts') && p !== CATALOGUE ? [p] : [];
  });
const sources = walk('src').map((p) => ({ path: p, text: readFileSync(join(root, p), 'utf8') }));
const reasons = Object.keys(ERROR_REASONS);
const STATUS_NAMES = new Set([
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
]);

describe('error reason catalogue', () => {
  it('lists only reasons that src/ raises', () => {
    const unused = reasons.filter((r) => !sources.some((s) => s.text.includes(`'${r}'`)));
    expect(unused).toEqual([]);
  });

  it('lists every reason src/ raises', () => {
    // The shapes that name a reason: DomainError and its helpers, the size-limit helper and the
    // transport's own statuses (build(status.X, …, 'REASON', …)).
    const raised = new Set<string>();
    for (const { text } of sources) {
      for (const m of text.matchAll(
        /\b(?:new DomainError|invalid|notFound|precondition|unauthenticated|requireWithin|refuse|endRetryable)\(\s*'([A-Z][A-Z0-9_]+)'/g,
      ))
        raised.add(m[1]!);
      for (const m of text.matchAll(/\bbuild\(\s*status\.[A-Z_]+,[^\n]*?'([A-Z][A-Z0-9_]+)',\s*['a-z]/g)) raised.add(m[1]!);
    }
    expect(raised.size).toBeGreaterThan(100);
    expect([...raised].filter((r) => !(r in ERROR_REASONS))).toEqual([]);
  });

  it('gives every reason a meaning and a retry rule that fits its code', () => {
    for (const [reason, spec] of Object.entries(ERROR_REASONS) as [string, { code: string; retryable: boolean; meaning: string }][]) {
      expect(spec.meaning, reason).toMatch(/^[A-Z].{8,}\.$/);
      // Bad input, missing things and permissions never succeed unchanged.
      if (['INVALID_ARGUMENT', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'UNAUTHENTICATED', 'INTERNAL'].includes(spec.code))
        expect(spec.retryable, reason).toBe(false);
      if (spec.code === 'UNAVAILABLE') expect(spec.retryable, reason).toBe(true);
    }
  });

  it('is what docs/api.md lists under Error reasons', () => {
    const api = readFileSync(join(root, 'docs/api.md'), 'utf8');
    const start = api.indexOf('## Error reasons');
    expect(start).toBeGreaterThan(0);
    const end = api.indexOf('\n## ', start + 1);
    expect(api.slice(start, end === -1 ? undefined : end).trimEnd()).toBe(errorReasonsSection().join('\n').trimEnd());
  });

  it('is what the README names: no reason there is missing from the catalogue', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const errors = readme.slice(readme.indexOf('\n## Errors'), readme.indexOf('\n## ', readme.indexOf('\n## Errors') + 1));
    expect(errors).toContain('docs/api.md#error-reasons');
    const named = [...errors.matchAll(/`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)`/g)].map((m) => m[1]!).filter((n) => !STATUS_NAMES.has(n));
    expect(named.length).toBeGreaterThan(10);
    expect(named.filter((n) => !(n in ERROR_REASONS))).toEqual([]);
  });

  it('sends retryability in ErrorInfo metadata, from the catalogue or a permanent occurrence', () => {
    const info = (e: DomainError) => errorInfoOf(toServiceError(e, 'lash.v1.TurnService').error)!;
    expect(info(new DomainError('TOO_MANY_TURNS', 'busy')).metadata).toMatchObject({ retryable: 'true' });
    expect(info(new DomainError('SESSION_NOT_FOUND', 'gone', { session_id: 's' })).metadata).toEqual({ session_id: 's', retryable: 'false' });
    const transient = new DomainError('COMPACTION_PROVIDER_ERROR', 'provider down');
    const permanent = new DomainError('COMPACTION_PROVIDER_ERROR', 'bad key', {}, true);
    expect([transient.errorClass, transient.retryable, permanent.errorClass, permanent.retryable]).toEqual(['UNAVAILABLE', true, 'FAILED_PRECONDITION', false]);
    expect(info(permanent).metadata.retryable).toBe('false');
    expect(info(new DomainError('REVISION_CONFLICT', 'raced')).metadata.retryable).toBe('true');
  });
});
