// Opaque feed cursors: base64url of the session id, sequence and head revision. Clients only
// store and return them; the server rejects malformed ones and ones of another session.

import { invalid } from '../errors.js';

export interface Cursor {
  sessionId: string;
  /** Incarnation of the session (its creation time): a deleted and re-created id starts anew. */
  epoch: number;
  seq: bigint;
  revision: bigint;
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify({ v: 1, s: c.sessionId, e: c.epoch, q: c.seq.toString(), r: c.revision.toString() }), 'utf8').toString('base64url');
}

export function decodeCursor(raw: string, expectedSessionId: string): Cursor {
  let parsed: { v?: unknown; s?: unknown; e?: unknown; q?: unknown; r?: unknown };
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(raw)) throw new Error('not base64url');
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as typeof parsed;
  } catch {
    throw invalid('CURSOR_MALFORMED', 'cursor is not a cursor this server issued; pass a cursor from a feed message unchanged, or omit it to start from a snapshot', { session_id: expectedSessionId });
  }
  if (parsed.v !== 1 || typeof parsed.s !== 'string' || typeof parsed.e !== 'number' || typeof parsed.q !== 'string' || !/^\d+$/.test(parsed.q) || typeof parsed.r !== 'string' || !/^\d+$/.test(parsed.r)) {
    throw invalid('CURSOR_MALFORMED', 'cursor is not a cursor this server issued; pass a cursor from a feed message unchanged, or omit it to start from a snapshot', { session_id: expectedSessionId });
  }
  if (parsed.s !== expectedSessionId) {
    throw invalid('CURSOR_SESSION_MISMATCH', `cursor belongs to session "${parsed.s}", not "${expectedSessionId}"; observe "${parsed.s}" with it, or omit the cursor`, { session_id: expectedSessionId, cursor_session_id: parsed.s });
  }
  return { sessionId: parsed.s, epoch: parsed.e, seq: BigInt(parsed.q), revision: BigInt(parsed.r) };
}
