// Validation of client-chosen identifiers (session ids, turn ids, queue ids, node ids).

import { invalid } from './errors.js';

export const MAX_ID_BYTES = 256;

/** Printable ASCII and any non-control Unicode; no control characters anywhere. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Throws INVALID_ARGUMENT unless `value` is a non-empty printable id of at most 256 bytes. */
export function requireId(field: string, value: string | undefined): string {
  if (value === undefined || value.length === 0) {
    throw invalid('MISSING_ID', `${field} is required and must be a non-empty string`, { field });
  }
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > MAX_ID_BYTES) {
    throw invalid('ID_TOO_LONG', `${field} is ${bytes} bytes; use at most ${MAX_ID_BYTES} bytes`, { field });
  }
  if (CONTROL.test(value) || value.trim().length === 0) {
    throw invalid('ID_NOT_PRINTABLE', `${field} must contain printable characters only`, { field });
  }
  return value;
}

/** Like requireId, but an empty value means "not given". */
export function optionalId(field: string, value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : requireId(field, value);
}
