// Validation of client-chosen identifiers and names (session, turn, batch, node and tool ids,
// metadata keys, model ids, completion keys) and of short labels (metadata values). They are
// refused before anything runs: a NUL or control character would otherwise reach the store,
// which cannot hold NUL, or make the id impossible to name again.

import { invalid } from './errors.js';

export const MAX_ID_BYTES = 256;

/** Printable ASCII and any non-control Unicode; no control characters anywhere. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** Labels may hold tabs and line breaks, but no NUL or other control character. */
// eslint-disable-next-line no-control-regex
const LABEL_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

type IdProblem = 'MISSING_ID' | 'ID_TOO_LONG' | 'ID_NOT_PRINTABLE';

function idProblem(value: string | null | undefined): IdProblem | undefined {
  if (value === undefined || value === null || value.length === 0) return 'MISSING_ID';
  if (Buffer.byteLength(value, 'utf8') > MAX_ID_BYTES) return 'ID_TOO_LONG';
  if (CONTROL.test(value) || value.trim().length === 0) return 'ID_NOT_PRINTABLE';
  return undefined;
}

/** Whether `value` would pass requireId (for positions inside opaque tokens). */
export const isId = (value: string): boolean => idProblem(value) === undefined;

/** Throws INVALID_ARGUMENT unless `value` is a non-empty printable id of at most 256 bytes. */
export function requireId(field: string, value: string | undefined): string {
  switch (idProblem(value)) {
    case 'MISSING_ID':
      throw invalid('MISSING_ID', `${field} is required and must be a non-empty string`, { field });
    case 'ID_TOO_LONG':
      throw invalid('ID_TOO_LONG', `${field} is ${Buffer.byteLength(value!, 'utf8')} bytes; use at most ${MAX_ID_BYTES} bytes`, { field });
    case 'ID_NOT_PRINTABLE':
      throw invalid('ID_NOT_PRINTABLE', `${field} must contain printable characters only`, { field });
    default:
      return value!;
  }
}

/** Like requireId, but an empty value means "not given". */
export function optionalId(field: string, value: string | null | undefined): string | undefined {
  // Stored documents may carry null for an unset optional name.
  return value === undefined || value === null || value === '' ? undefined : requireId(field, value);
}

/** Whether `value` would pass requireLabel. */
export const isLabel = (value: string): boolean => !LABEL_CONTROL.test(value);

/** Throws INVALID_ARGUMENT when a short label holds NUL or a control character other than tab or a line break. */
export function requireLabel(field: string, value: string): string {
  if (LABEL_CONTROL.test(value))
    throw invalid('TEXT_NOT_PRINTABLE', `${field} must not contain NUL or control characters (tab and line breaks are allowed)`, { field });
  return value;
}

/**
 * Throws INVALID_ARGUMENT when configuration text (prompt layers, answer guidance, command
 * reasons, compaction instructions) holds NUL, which the store cannot keep. Conversation text
 * (input, messages, tool results) is not refused: it is stored losslessly instead.
 */
export function requireNoNul(field: string, value: string | null | undefined): void {
  if (value?.includes('\u0000')) throw invalid('TEXT_HAS_NUL', `${field} must not contain NUL (U+0000)`, { field });
}
