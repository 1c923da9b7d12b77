// What an error echoes of a bad value is bounded once, in the mapper: a short prefix of every
// quoted value, a capped message and capped metadata, so any status fits a client's header limit.

import { describe, expect, it } from 'vitest';
import { DomainError } from '../../src/domain/errors.js';
import { errorInfoOf, shorten, toServiceError } from '../../src/grpc/errors.js';

const wireSize = (e: ReturnType<typeof toServiceError>['error']) =>
  Buffer.byteLength(encodeURIComponent(e.details ?? '')) + Math.ceil(((e.metadata!.get('grpc-status-details-bin')[0] as Buffer).length * 4) / 3);

describe('bounded error echoes', () => {
  it('quotes a long value as its first 64 characters and "…", keeping the rest of the message', () => {
    const { error } = toServiceError(
      new DomainError('PROVIDER_UNAVAILABLE', `provider "${'p'.repeat(4000)}" is not here; configure it`, { provider_id: 'p'.repeat(4000) }),
      'lash.v1.SessionService',
    );
    expect(error.details).toBe(`provider "${'p'.repeat(64)}…" is not here; configure it`);
    expect(errorInfoOf(error)!.metadata.provider_id).toBe(`${'p'.repeat(256)}…`);
  });

  it('keeps the worst case (multi-byte text everywhere, unquoted) under 8 KiB on the wire', () => {
    const wide = '😀é'.repeat(5000);
    const { error } = toServiceError(
      new DomainError('STATE_DOCUMENT_INVALID', `path ${wide}: bad`, { path: wide, field: wide, session_id: wide }),
      'lash.v1.SessionService',
    );
    expect(wireSize(error)).toBeLessThan(8_192);
  });

  it('never splits a surrogate pair', () => {
    expect(shorten(`a${'😀'.repeat(40)}`, 64)).toBe(`a${'😀'.repeat(31)}…`);
  });
});
