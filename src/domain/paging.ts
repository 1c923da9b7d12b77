// Opaque page tokens: base64url JSON naming the listing they belong to, so a token of one
// listing cannot be replayed against another.

import { invalid } from './errors.js';

export const DEFAULT_PAGE_SIZE = 50;

export function pageSizeOf(requested: number, max = 500): number {
  if (!Number.isInteger(requested) || requested < 0)
    throw invalid('PAGE_SIZE_INVALID', `page_size must be 0 (default ${DEFAULT_PAGE_SIZE}) or a positive integer`);
  if (requested === 0) return DEFAULT_PAGE_SIZE;
  return Math.min(requested, max);
}

export function encodePageToken(listing: string, after: string): string {
  return Buffer.from(JSON.stringify({ l: listing, a: after }), 'utf8').toString('base64url');
}

const invalidToken = () =>
  invalid('PAGE_TOKEN_INVALID', 'page_token is not a token this listing returned; pass next_page_token unchanged, or omit it for the first page');

/**
 * Returns the position after which the page starts, or undefined for the first page. `accepts`
 * checks the position's shape, so a forged token is refused instead of reaching the store.
 */
export function decodePageToken(token: string, listing: string, accepts: (after: string) => boolean): string | undefined {
  if (!token) return undefined;
  let parsed: unknown;
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(token)) throw new Error('not base64url');
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalidToken();
  }
  const t = typeof parsed === 'object' && parsed !== null ? (parsed as { l?: unknown; a?: unknown }) : {};
  if (t.l === listing && typeof t.a === 'string' && accepts(t.a)) return t.a;
  throw invalidToken();
}

/** A page token holding an offset into a listing; 0 for the first page. */
export function decodeOffsetToken(token: string, listing: string): number {
  const after = decodePageToken(token, listing, (a) => /^(0|[1-9]\d{0,8})$/.test(a));
  return after === undefined ? 0 : Number(after);
}
