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

const MAX_INT64 = (1n << 63n) - 1n;

/** A non-negative decimal that fits the store's signed 64-bit columns, or undefined. */
function int64(v: unknown): bigint | undefined {
  if (typeof v !== 'string' || !/^\d{1,19}$/.test(v)) return undefined;
  const n = BigInt(v);
  return n <= MAX_INT64 ? n : undefined;
}

export function decodeCursor(raw: string, expectedSessionId: string): Cursor {
  const malformed = () =>
    invalid('CURSOR_MALFORMED', 'cursor is not a cursor this server issued; pass a cursor from a feed message unchanged, or omit it to start from a snapshot', {
      session_id: expectedSessionId,
    });
  let parsed: unknown;
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(raw)) throw new Error('not base64url');
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw malformed();
  }
  // Any JSON may arrive here (null, arrays, numbers): only the exact shape we issue is a cursor.
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw malformed();
  const c = parsed as { v?: unknown; s?: unknown; e?: unknown; q?: unknown; r?: unknown };
  const seq = int64(c.q);
  const revision = int64(c.r);
  if (c.v !== 1 || typeof c.s !== 'string' || typeof c.e !== 'number' || !Number.isFinite(c.e) || seq === undefined || revision === undefined)
    throw malformed();
  if (c.s !== expectedSessionId) {
    throw invalid('CURSOR_SESSION_MISMATCH', `cursor belongs to session "${c.s}", not "${expectedSessionId}"; observe "${c.s}" with it, or omit the cursor`, {
      session_id: expectedSessionId,
      cursor_session_id: c.s,
    });
  }
  return { sessionId: c.s, epoch: c.e, seq, revision };
}
