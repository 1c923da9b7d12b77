// The hot path's hand-made encodings against their definitions: a turn result's JSON copy
// (resultToJson) against the JSON round trip it replaces, and a RunTurn response built from its
// activities' own encodings against the generated encoder.

import { describe, expect, it } from 'vitest';
import { RunTurnResponse } from '../../gen/lash/v1/turn_service.js';
import { TurnActivity, TurnEvent } from '../../gen/lash/v1/turn.js';
import { repeatedField1 } from '../../src/grpc/pre-encoded.js';
import { resultToJson, type TurnResult } from '../../src/domain/turns/types.js';

const roundTrip = (v: unknown) => JSON.parse(JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x)));

/** Equal as values, with -0 told from 0 and keys in the same order at every level. */
function expectSameJson(actual: unknown, expected: unknown): void {
  expect(actual).toStrictEqual(expected);
  const keys = (v: unknown): unknown =>
    v && typeof v === 'object' ? (Array.isArray(v) ? v.map(keys) : Object.entries(v).map(([k, x]) => [k, keys(x)])) : Object.is(v, -0) ? '-0' : v;
  expect(keys(actual)).toStrictEqual(keys(expected));
}

class Point {
  constructor(
    readonly x: number,
    readonly y: bigint,
  ) {}
}

describe('resultToJson', () => {
  const usage = { inputTokens: 3n, outputTokens: 50n, cachedInputTokens: 0n, reasoningTokens: 0n, cacheWriteTokens: 0n };
  const result: TurnResult = {
    sessionId: 's',
    turnId: 't',
    turnIndex: 7n,
    outcome: { type: 'finished', answer: { kind: 'assistant_message', text: 'w0 w1 ' } } as TurnResult['outcome'],
    assistantOutput: { safeText: 'w0 w1 ', rawText: 'w0 w1 ', state: 'usable' },
    usage: { parent: usage, children: [{ source: 'child', model: 'm', usage }], total: usage },
    toolCalls: [
      {
        callId: 'c1',
        tool: 'lookup',
        args: { '2': 'two', '1': 'one', b: [1, -0, null], a: { deep: [[{ x: 'y' }]] } },
        output: { n: 1.5, e: 1e21, s: 'ünïcødé \u2028', empty: {}, list: [] },
        isError: false,
        durationMs: 12,
      },
    ],
    hadToolCalls: true,
    hadCodeExecution: false,
    issues: [{ kind: 'limits', message: 'm', code: undefined }],
    headRevision: 8n,
  };

  it('is the JSON round trip of a turn result', () => {
    expectSameJson(resultToJson(result), roundTrip(result));
  });

  it('mirrors JSON for what a value may hold: -0, non-finite numbers, undefined, functions, dates, toJSON, class instances, maps, holes', () => {
    const odd = {
      negZero: -0,
      nan: NaN,
      inf: -Infinity,
      undef: undefined,
      fn: () => 1,
      sym: Symbol('s'),
      date: new Date(Date.UTC(2026, 0, 2)),
      custom: { toJSON: (key: string) => ({ key, big: 5n }) },
      point: new Point(1, 2n),
      map: new Map([[1, 2]]),
      arr: [undefined, () => 1, Symbol('x'), -0, NaN, 10n],
      // eslint-disable-next-line no-sparse-arrays
      holes: [1, , 3],
    };
    const r = { ...result, outcome: odd } as unknown as TurnResult;
    expectSameJson(resultToJson(r), roundTrip(r));
  });

  it('takes the JSON round trip where a plain copy would differ: boxed values, a __proto__ key, cycles', () => {
    const boxed = { ...result, outcome: { n: new Number(2), s: new String('s'), b: new Boolean(false) } } as unknown as TurnResult;
    expectSameJson(resultToJson(boxed), roundTrip(boxed));
    const proto = { ...result, outcome: JSON.parse('{"__proto__": {"x": 1}, "y": 2}') } as unknown as TurnResult;
    const copied = resultToJson(proto) as Record<string, Record<string, unknown>>;
    expect(Object.prototype.hasOwnProperty.call(copied.outcome, '__proto__')).toBe(true);
    expectSameJson(copied, roundTrip(proto));
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => resultToJson({ ...result, outcome: cyclic } as unknown as TurnResult)).toThrow(TypeError);
  });
});

describe('a RunTurn response from its activities’ encodings', () => {
  it('is byte for byte what the generated encoder writes', () => {
    const long = 'x'.repeat(70_000);
    const event = (sequence: bigint, text: string) =>
      TurnEvent.fromPartial({ id: `e${sequence}`, correlationId: 'p1', sequence, time: new Date(0), kind: { $case: 'assistantProseDelta', value: { text } } });
    const activities: TurnActivity[] = [
      { sequence: 1n, item: { $case: 'event', value: event(1n, 'w0 w1 ') } },
      { sequence: 2n, item: { $case: 'event', value: event(2n, long) } },
      { sequence: 300n, item: undefined },
    ];
    for (const n of [0, 1, 2, 3]) {
      const some = activities.slice(0, n);
      const bytes = repeatedField1(some.map((a) => TurnActivity.encode(a).finish()));
      expect(Buffer.compare(bytes, Buffer.from(RunTurnResponse.encode({ activities: some }).finish()))).toBe(0);
    }
  });
});
