// Checked enum decoding: an unknown number from the wire is INVALID_ARGUMENT naming the field,
// never silently treated as a default.

import { invalid } from '../../domain/errors.js';

export function decodeEnum<T>(field: string, value: number, table: Record<number, T>, typeName: string): T {
  if (Object.prototype.hasOwnProperty.call(table, value)) return table[value]!;
  throw invalid('ENUM_VALUE_UNKNOWN', `${field} has unknown ${typeName} value ${value}`, { field });
}

/** Inverts a decode table for encoding. */
export function encodeTable<T extends string | number>(table: Record<number, T | undefined>): Map<T, number> {
  const out = new Map<T, number>();
  for (const [k, v] of Object.entries(table)) if (v !== undefined) out.set(v, Number(k));
  return out;
}
