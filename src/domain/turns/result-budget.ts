// A turn result is one message (RunTurn's result item, GetTurn), so it must fit a default client
// however many large tool outputs the turn saw. Tool call records are kept in call order while
// they fit MAX_TURN_RESULT_BYTES; later ones keep their id, tool, error flag and duration but not
// their arguments and output, and one issue says so. Those stay in the session graph and in the
// turn's own tool events, each of which is bounded alone (ADR 0053).

import { MAX_TURN_RESULT_BYTES, utf8Bytes } from '../limits.js';
import type { ToolCallRecord, TurnResult } from './types.js';

export const TOOL_OUTPUTS_OMITTED = 'TOOL_OUTPUTS_OMITTED';

const bytesOf = (v: unknown): number => utf8Bytes(JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x)) ?? '');

/**
 * An upper bound of a JSON value's size as a protobuf Value/Struct, which is not its JSON size:
 * a number takes 9 bytes plus framing there ("1," takes 2 in JSON), so arrays of small numbers
 * grow fivefold on the wire.
 */
export function wireBytes(v: unknown): number {
  if (v === null || typeof v === 'boolean' || v === undefined) return 4;
  if (typeof v === 'number' || typeof v === 'bigint') return 12;
  if (typeof v === 'string') return utf8Bytes(v) + 8;
  if (Array.isArray(v)) return v.reduce((sum: number, x) => sum + wireBytes(x) + 4, 8);
  return Object.entries(v as Record<string, unknown>).reduce((sum, [k, x]) => sum + utf8Bytes(k) + wireBytes(x) + 12, 8);
}

const recordBytes = (call: ToolCallRecord): number => utf8Bytes(call.callId) + utf8Bytes(call.tool) + wireBytes(call.args) + wireBytes(call.output) + 32;

/** `result` with its tool call records cut to what fits the result limit (unchanged when all fit). */
export function withinResultBudget(result: TurnResult, limit = MAX_TURN_RESULT_BYTES): TurnResult {
  if (result.toolCalls.length === 0) return result;
  // Room for the issue this may add, so adding it cannot push the result over.
  let room = limit - bytesOf({ ...result, toolCalls: [] }) - 512;
  let omitted = 0;
  let omittedBytes = 0;
  const toolCalls = result.toolCalls.map((call): ToolCallRecord => {
    const bytes = recordBytes(call);
    if (bytes <= room) {
      room -= bytes;
      return call;
    }
    omitted++;
    omittedBytes += bytes;
    const stub: ToolCallRecord = { ...call, args: {}, output: { omitted: TOOL_OUTPUTS_OMITTED, bytes } };
    room -= recordBytes(stub);
    return stub;
  });
  if (omitted === 0) return result;
  const message = `${omitted} of ${toolCalls.length} tool calls are listed without arguments and output (about ${omittedBytes} bytes) so this result stays under ${limit} bytes; they are in the session's messages (GetReadView) and in the turn's tool events`;
  return { ...result, toolCalls, issues: [...result.issues, { kind: 'limits', code: TOOL_OUTPUTS_OMITTED, message }] };
}
