// JSON values that look the same everywhere they go. JavaScript numbers include Infinity, -Infinity
// and NaN; JSON has no spelling for them (JSON.stringify writes null), while protobuf's Struct
// carries them as they are, so one tool result could read Infinity in the stream and null in the
// store and to the model. Values entering a turn from tools are made portable once, here: a
// non-finite number becomes the string "Infinity", "-Infinity" or "NaN".

import type { JsonValue } from './messages.js';

/** The value with every non-finite number spelled as a string; the same object when it has none. */
export function portableJson(v: JsonValue): JsonValue {
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    let out: JsonValue[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const x = portableJson(v[i]!);
      if (x !== v[i] && !out) out = v.slice(0, i);
      out?.push(x);
    }
    return out ?? v;
  }
  let out: { [key: string]: JsonValue } | undefined;
  const keys = Object.keys(v);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const x = portableJson(v[k]!);
    if (x !== v[k] && !out) {
      out = {};
      for (let j = 0; j < i; j++) out[keys[j]!] = v[keys[j]!]!;
    }
    if (out) out[k] = x;
  }
  return out ?? v;
}
