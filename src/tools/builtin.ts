// Built-in tools: harmless deterministic examples plus runtime tools such as run_child; each is
// off unless LASH_TOOLS names it.

import type { JsonValue } from '../domain/messages.js';
import type { ToolDefinition, ToolManifest, ToolOutcome, ToolSource } from '../domain/tools/types.js';

const base: Pick<ToolManifest, 'availability' | 'activation' | 'retry'> = {
  availability: 'callable',
  activation: 'always',
  retry: { maxAttempts: 1, initialBackoffMs: 0 },
};

function sleepFor(ms: number, signal: AbortSignal): Promise<ToolOutcome> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve({ kind: 'ok', output: { slept_ms: ms } }), ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve({ kind: 'error', message: 'cancelled while sleeping' });
      },
      { once: true },
    );
  });
}

const OPS: Record<string, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  subtract: (a, b) => a - b,
  multiply: (a, b) => a * b,
  divide: (a, b) => a / b,
};

export const BUILTIN_TOOLS: ToolDefinition[] = [
  {
    ...base,
    name: 'current_time',
    description: 'Returns the current UTC time in ISO 8601.',
    scheduling: 'parallel',
    inputSchema: { type: 'object', properties: {}, additionalProperties: false },
    execute: async () => ({ kind: 'ok', output: { now: new Date().toISOString() } }),
  },
  {
    ...base,
    name: 'calculate',
    description: 'Applies add, subtract, multiply or divide to two numbers.',
    scheduling: 'parallel',
    inputSchema: {
      type: 'object',
      properties: { op: { enum: Object.keys(OPS) }, a: { type: 'number' }, b: { type: 'number' } },
      required: ['op', 'a', 'b'],
      additionalProperties: false,
    },
    execute: async (args) => {
      if (args.op === 'divide' && args.b === 0) return { kind: 'error', message: 'division by zero' };
      return { kind: 'ok', output: { result: OPS[args.op as string]!(args.a as number, args.b as number) } };
    },
  },
  {
    ...base,
    name: 'json_echo',
    description: 'Returns its `value` argument unchanged.',
    scheduling: 'parallel',
    inputSchema: { type: 'object', properties: { value: {} }, required: ['value'] },
    execute: async (args) => ({ kind: 'ok', output: args.value as JsonValue }),
  },
  {
    ...base,
    name: 'sleep',
    description: 'Waits `ms` milliseconds (at most 60000); stops early when the turn is cancelled.',
    scheduling: 'parallel',
    inputSchema: { type: 'object', properties: { ms: { type: 'integer', minimum: 0, maximum: 60000 } }, required: ['ms'] },
    execute: (args, ctx) => sleepFor(args.ms as number, ctx.signal),
  },
  {
    ...base,
    name: 'sleep_serial',
    description: 'Like sleep, but scheduled serially: runs alone, after the parallel tools of its batch.',
    scheduling: 'serial',
    inputSchema: { type: 'object', properties: { ms: { type: 'integer', minimum: 0, maximum: 60000 } }, required: ['ms'] },
    execute: (args, ctx) => sleepFor(args.ms as number, ctx.signal),
  },
  {
    ...base,
    name: 'finish',
    description: 'Ends the turn with `value` as its result.',
    scheduling: 'serial',
    inputSchema: { type: 'object', properties: { value: {} }, required: ['value'] },
    execute: async (args) => ({ kind: 'terminal_value', value: args.value as JsonValue }),
  },
  {
    ...base,
    name: 'give_up',
    description: 'Ends the turn as a tool error carrying `reason`.',
    scheduling: 'serial',
    inputSchema: { type: 'object', properties: { reason: { type: 'string' } }, required: ['reason'] },
    execute: async (args) => ({ kind: 'terminal_error', value: args.reason as JsonValue }),
  },
];

export class BuiltinTools implements ToolSource {
  private readonly enabled: ToolDefinition[];

  /** `runtime` adds tools built by the composition root (they need services), e.g. run_child. */
  constructor(names: string[], runtime: ToolDefinition[] = []) {
    const known = [...BUILTIN_TOOLS, ...runtime];
    const unknown = names.filter((n) => !known.some((t) => t.name === n));
    if (unknown.length) throw new Error(`LASH_TOOLS names unknown built-in tools: ${unknown.join(', ')}; known: ${known.map((t) => t.name).join(', ')}`);
    this.enabled = known.filter((t) => names.includes(t.name));
  }

  toolsFor(): ToolDefinition[] {
    return this.enabled;
  }
}
