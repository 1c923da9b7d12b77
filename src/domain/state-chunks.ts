// A state document as JSON text in pieces: chunked ExportSessionState hands out the document's
// UTF-8 JSON a bounded piece per response, and OpenSession / CreateChildSession accept the
// concatenated text back. So a session larger than one client message still round-trips (ADR 0053).

import { DomainError, invalid } from './errors.js';
import { MAX_STATE_BYTES, requireWithin, STATE_CHUNK_BYTES } from './limits.js';
import { decodePageToken, encodePageToken } from './paging.js';

const LISTING = 'state_export';

/** Deepest JSON nesting accepted in a document given as text (a node's own JSON sits ~8 levels in). */
export const MAX_STATE_JSON_DEPTH = 64;

export interface StateChunk {
  chunk: Uint8Array;
  nextPageToken: string;
  totalBytes: number;
}

/** Where a chunked export continues: the head revision it started at and a byte offset. */
export function decodeChunkToken(token: string): { revision: bigint; offset: number } | undefined {
  const after = decodePageToken(token, LISTING, (a) => /^(0|[1-9]\d{0,18}):(0|[1-9]\d{0,9})$/.test(a));
  if (after === undefined) return undefined;
  const [revision, offset] = after.split(':') as [string, string];
  return { revision: BigInt(revision), offset: Number(offset) };
}

/**
 * The piece of `json` at `offset`. A token taken at another revision means the session changed
 * between pieces: the pieces would not make one document, so the client starts again.
 */
export function chunkAt(sessionId: string, json: Buffer, revision: bigint, from: { revision: bigint; offset: number } | undefined): StateChunk {
  const offset = from?.offset ?? 0;
  if (from && from.revision !== revision) {
    throw new DomainError(
      'STATE_CHANGED_DURING_EXPORT',
      `session "${sessionId}" changed since the export began (revision ${from.revision}, now ${revision}); start the export again without page_token`,
      { session_id: sessionId },
    );
  }
  if (offset > json.length || (from && offset === json.length)) {
    throw invalid('PAGE_TOKEN_INVALID', 'page_token is not a token this export returned; pass next_page_token unchanged, or omit it for the first piece');
  }
  const end = Math.min(json.length, offset + STATE_CHUNK_BYTES);
  return { chunk: json.subarray(offset, end), nextPageToken: end < json.length ? encodePageToken(LISTING, `${revision}:${end}`) : '', totalBytes: json.length };
}

/** Decodes a document given as JSON text (SessionState.document_json); every problem is INVALID_ARGUMENT. */
export function stateFromJsonText(field: string, bytes: Uint8Array): unknown {
  requireWithin('STATE_TOO_LARGE', field, bytes.length, MAX_STATE_BYTES);
  const bad = (why: string) =>
    invalid('STATE_DOCUMENT_INVALID', `${field} ${why}; pass back the concatenated chunks of ExportSessionStateChunk, unchanged`, { field });
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw bad('is not UTF-8');
  }
  if (jsonDepth(text) > MAX_STATE_JSON_DEPTH) throw bad(`nests JSON deeper than ${MAX_STATE_JSON_DEPTH} levels`);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw bad('is not JSON');
  }
}

/** Deepest bracket nesting of JSON text, outside strings; a scan, so deep input cannot overflow the stack. */
function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) max = Math.max(max, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}
