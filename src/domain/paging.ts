// Opaque page tokens: base64url JSON naming the listing they belong to, so a token of one
// listing cannot be replayed against another.

import { invalid } from './errors.js';

export const DEFAULT_PAGE_SIZE = 50;

export function pageSizeOf(requested: number, max = 500): number {
  if (!Number.isInteger(requested) || requested < 0) throw invalid('PAGE_SIZE_INVALID', `page_size must be 0 (default ${DEFAULT_PAGE_SIZE}) or a positive integer`);
  if (requested === 0) return DEFAULT_PAGE_SIZE;
  return Math.min(requested, max);
}

export function encodePageToken(listing: string, after: string): string {
  return Buffer.from(JSON.stringify({ l: listing, a: after }), 'utf8').toString('base64url');
}

/** Returns the position after which the page starts, or undefined for the first page. */
export function decodePageToken(token: string, listing: string): string | undefined {
  if (!token) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { l?: unknown; a?: unknown };
    if (parsed.l === listing && typeof parsed.a === 'string') return parsed.a;
  } catch {
    // fall through to the error below
  }
  throw invalid('PAGE_TOKEN_INVALID', 'page_token is not a token this listing returned; pass next_page_token unchanged, or omit it for the first page');
}
