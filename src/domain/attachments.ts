// Reading an attachment back: the bytes of an image a session's messages name by attachment id.
// Blobs are stored once per content for every tenant, so the session's own reference is what
// makes one readable; without it the answer is the same NOT_FOUND as for an id never stored.

import { notFound } from './errors.js';
import { requireId } from './ids.js';
import type { RequestContext, SessionStore } from './ports.js';
import { requireSession } from './require-session.js';

export interface Attachment {
  mimeType: string;
  data: Uint8Array;
}

/** The attachment `attachmentId` of session `sessionId`; SESSION_NOT_FOUND, then ATTACHMENT_NOT_FOUND. */
export async function readAttachment(
  store: Pick<SessionStore, 'getHead' | 'attachment'>,
  ctx: RequestContext,
  sessionId: string,
  attachmentId: string,
): Promise<Attachment> {
  requireId('session_id', sessionId);
  requireId('attachment_id', attachmentId);
  await requireSession(store, ctx.tenantId, sessionId);
  const found = await store.attachment(ctx.tenantId, sessionId, attachmentId);
  if (!found)
    throw notFound('ATTACHMENT_NOT_FOUND', `session "${sessionId}" has no attachment "${attachmentId}"; use an attachment_id from its messages`, {
      session_id: sessionId,
      attachment_id: attachmentId,
    });
  return found;
}
