// Reading an attachment back: the bytes of an image a session's messages name by attachment id.
// Blobs are stored once per content for every tenant, so the session's own reference is what
// makes one readable; without it the answer is the same NOT_FOUND as for an id never stored.
// One answer holds at most ATTACHMENT_PIECE_BYTES, so that it fits a client's default receive
// limit; a larger attachment is read in ranges (ADR 0070 amendment).

import { invalid, notFound, precondition } from './errors.js';
import { requireId } from './ids.js';
import { ATTACHMENT_PIECE_BYTES } from './limits.js';
import type { RequestContext, SessionStore } from './ports.js';
import { requireSession } from './require-session.js';

export interface Attachment {
  mimeType: string;
  /** Size of the whole attachment. */
  totalBytes: number;
  /** Offset of `data` within the attachment. */
  offset: number;
  data: Uint8Array;
}

/** Which bytes to read: `length` 0 means the rest from `offset` (then at most one piece's worth). */
export interface AttachmentRange {
  offset: bigint;
  length: number;
}

/**
 * The attachment `attachmentId` of session `sessionId`, or the range of it asked for;
 * SESSION_NOT_FOUND, then ATTACHMENT_NOT_FOUND, then the range checks.
 */
export async function readAttachment(
  store: Pick<SessionStore, 'getHead' | 'attachment'>,
  ctx: RequestContext,
  sessionId: string,
  attachmentId: string,
  range: AttachmentRange = { offset: 0n, length: 0 },
): Promise<Attachment> {
  requireId('session_id', sessionId);
  requireId('attachment_id', attachmentId);
  if (range.length > ATTACHMENT_PIECE_BYTES)
    throw invalid(
      'ATTACHMENT_RANGE_INVALID',
      `length is ${range.length}; one answer holds at most ${ATTACHMENT_PIECE_BYTES} bytes, ask for that much or less`,
      {
        field: 'length',
        limit_bytes: String(ATTACHMENT_PIECE_BYTES),
      },
    );
  // Attachments are far below 2^53 bytes; a larger offset is past every end.
  const offset = range.offset > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(range.offset);
  await requireSession(store, ctx.tenantId, sessionId);
  // Reading one byte more than a piece tells whether "the rest" would fit one answer. The store's
  // offset stays in a 32-bit integer: attachments are bounded by the 16 MiB request limit.
  const want = range.length === 0 ? ATTACHMENT_PIECE_BYTES + 1 : range.length;
  const found = await store.attachment(ctx.tenantId, sessionId, attachmentId, { offset: Math.min(offset, 2 ** 30), length: want });
  if (!found)
    throw notFound('ATTACHMENT_NOT_FOUND', `session "${sessionId}" has no attachment "${attachmentId}"; use an attachment_id from its messages`, {
      session_id: sessionId,
      attachment_id: attachmentId,
    });
  if (offset > found.totalBytes)
    throw invalid('ATTACHMENT_RANGE_INVALID', `offset ${offset} is past the end of the attachment (${found.totalBytes} bytes)`, {
      field: 'offset',
      total_bytes: String(found.totalBytes),
    });
  if (found.data.byteLength > ATTACHMENT_PIECE_BYTES)
    throw precondition(
      'ATTACHMENT_NEEDS_RANGES',
      `attachment "${attachmentId}" is ${found.totalBytes} bytes, more than one answer holds (${ATTACHMENT_PIECE_BYTES}); read it in ranges with offset and length`,
      { total_bytes: String(found.totalBytes), limit_bytes: String(ATTACHMENT_PIECE_BYTES) },
    );
  return { mimeType: found.mimeType, totalBytes: found.totalBytes, offset, data: found.data };
}
