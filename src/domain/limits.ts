// Size limits of what clients hand in: one documented byte limit per entry point, checked before
// anything runs or is stored. They are chosen so that any one response or stream message that
// echoes an accepted value (a turn result repeats its answer text three times, a read-view page
// holds whole messages) stays well under the 4 MiB a gRPC client accepts by default (ADR 0041).

import type { ReasonOf } from './error-reasons.js';
import { invalid } from './errors.js';
import type { JsonValue, Message, Part } from './messages.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Text of one turn input (RunTurn, StartTurn, EnqueueTurnInput), all text items together. */
export const MAX_INPUT_TEXT_BYTES = 1 * MiB;
/** Everything one AppendMessages request adds: text, code, output and JSON of all its parts. */
export const MAX_APPEND_BYTES = 1 * MiB;
/** One prompt layer (session spec, UpdateSessionConfig, turn overrides): all its texts. */
export const MAX_PROMPT_LAYER_BYTES = 256 * KiB;
/**
 * One imported state document (OpenSession with_state, CreateChildSession snapshot), as JSON. Under
 * the server's 16 MiB request limit with room for the request around it (ADR 0053); exports page.
 */
export const MAX_STATE_BYTES = 12 * MiB;
/** One remote tool result (ServeTools success value, ResolveCompletion value or error), as JSON. */
export const MAX_TOOL_RESULT_BYTES = 512 * KiB;

/** One message of an imported state document: at most what one read-view page holds. */
export const MAX_STATE_MESSAGE_BYTES = 2 * MiB;
/** An unchunked ExportSessionState answers with the whole document only up to this many JSON bytes. */
export const MAX_UNCHUNKED_STATE_BYTES = 4 * MiB;
/** One piece of a chunked ExportSessionState: this many bytes of the document's JSON text. */
export const STATE_CHUNK_BYTES = 2 * MiB;
/**
 * What a turn result (RunTurn's result item, GetTurn) may hold in total as JSON; tool call records
 * past it keep their name and id but not their output and arguments (ADR 0053).
 */
export const MAX_TURN_RESULT_BYTES = 3 * MiB + 512 * KiB;

/**
 * The tool results of one model step are stored as event messages of at most this many bytes each
 * (a result alone may pass it), so one stored message, and so a read-view page, fits a client.
 */
export const MAX_TOOL_RESULTS_MESSAGE_BYTES = 1 * MiB;

/** A GetReadView page closes once its messages hold this many bytes (one message always fits). */
export const MAX_READ_VIEW_PAGE_BYTES = 2 * MiB;

export const utf8Bytes = (text: string): number => Buffer.byteLength(text, 'utf8');

/** Bytes of a JSON value as JSON text (what is stored and echoed). */
export const jsonBytes = (value: unknown): number => (value === undefined ? 0 : utf8Bytes(JSON.stringify(value) ?? ''));

/** Refuses a value of `bytes` bytes past `limit` with INVALID_ARGUMENT and `reason`. */
export function requireWithin(reason: ReasonOf<'INVALID_ARGUMENT'>, field: string, bytes: number, limit: number): void {
  if (bytes > limit) throw invalid(reason, `${field} is ${bytes} bytes; use at most ${limit} bytes`, { field, limit_bytes: String(limit) });
}

/** Refuses a remote tool result (a value, or an error's message and details) past MAX_TOOL_RESULT_BYTES. */
export function requireToolResultWithin(field: string, value: unknown, message = ''): void {
  requireWithin('TOOL_RESULT_TOO_LARGE', field, jsonBytes(value) + utf8Bytes(message), MAX_TOOL_RESULT_BYTES);
}

/** Bytes a message part carries in free text and JSON (names are bounded as ids elsewhere). */
export function partBytes(p: Part): number {
  switch (p.kind) {
    case 'text':
    case 'prose':
    case 'output':
      return utf8Bytes(p.text);
    case 'reasoning':
      return utf8Bytes(p.text) + (p.replay ? jsonBytes(p.replay) : 0);
    case 'code':
      return utf8Bytes(p.code);
    case 'error':
      return utf8Bytes(p.message);
    case 'tool_call':
      return jsonBytes(p.args);
    case 'tool_result':
      return jsonBytes(p.output as JsonValue);
    case 'image':
      return 0;
  }
}

/** How many of `messages` (at least one, at most `count`) fit in `budget` bytes. */
export function countWithin(messages: Message[], count: number, budget: number): number {
  let n = 0;
  let bytes = 0;
  while (n < Math.min(count, messages.length)) {
    bytes += messagesBytes([messages[n]!]);
    if (n > 0 && bytes > budget) break;
    n++;
  }
  return n;
}

export const messagesBytes = (messages: Message[]): number => messages.reduce((sum, m) => sum + m.parts.reduce((s, p) => s + partBytes(p), 0), 0);

/** `items` in order, grouped so each group holds at most `budget` bytes (an item alone may pass it). */
export function groupWithin<T>(items: T[], bytesOf: (item: T) => number, budget: number): T[][] {
  const groups: T[][] = [];
  let bytes = 0;
  for (const item of items) {
    const b = bytesOf(item);
    const last = groups[groups.length - 1];
    if (last && bytes + b <= budget) {
      last.push(item);
      bytes += b;
    } else {
      groups.push([item]);
      bytes = b;
    }
  }
  return groups;
}
