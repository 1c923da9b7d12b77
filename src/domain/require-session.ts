// The one check that a named session exists: read its head, or refuse with SESSION_NOT_FOUND.
// Every operation that addresses an existing session goes through it, so the refusal (reason,
// message, metadata) is the same wherever a client meets it.

import { sessionNotFound } from './errors.js';
import type { SessionStore } from './ports.js';
import type { SessionHead } from './session.js';

/** The head of session `sessionId` of `tenantId`; SESSION_NOT_FOUND when there is none. */
export async function requireSession(store: Pick<SessionStore, 'getHead'>, tenantId: string, sessionId: string): Promise<SessionHead> {
  const head = await store.getHead(tenantId, sessionId);
  if (!head) throw sessionNotFound(sessionId);
  return head;
}
