// The QuickJS sandbox: injected functions, globals carried as snapshots, and every limit
// failing the block (never the process).

import { describe, expect, it } from 'vitest';
import type { CodeRunRequest } from '../../src/domain/turns/code-runner.js';
import { QuickJsRunner } from '../../src/sandbox/quickjs.js';
import { ThreadedRunner } from '../../src/sandbox/threaded.js';

const runner = new QuickJsRunner();
const limits = { memoryBytes: 16 * 1024 * 1024, timeMs: 1000, outputBytes: 4096, toolCalls: 5, globalsBytes: 65_536 };
const run = (code: string, extra: Partial<CodeRunRequest> = {}) =>
  runner.run({
    code,
    globals: {},
    history: [],
    toolNames: [],
    callTool: async () => ({ output: null, isError: false, callId: 'x' }),
    limits,
    signal: new AbortController().signal,
    ...extra,
  });

describe('QuickJS sandbox', () => {
  it('prints, submits, and calls tools as async functions', async () => {
    let n = 0;
    const r = await run('print("hi", 1+1); const x = await add({a: 2, b: 3}); submit({sum: x.result});', {
      toolNames: ['add'],
      callTool: async (name, args) => ({ output: { result: (args.a as number) + (args.b as number) }, isError: false, callId: `c${++n}` }),
    });
    expect(r).toMatchObject({ success: true, output: 'hi 2\n', submitted: { value: { sum: 5 } }, toolCallIds: ['c1'] });
  });

  it('a non-finite number a program submits or passes to a tool is spelled as a string, as everywhere else', async () => {
    const seen: unknown[] = [];
    const r = await run('await add({a: 1/0, b: [-1/0, 0/0]}); submit({big: 2 ** 5000, small: -(2 ** 5000), odd: NaN, n: 1.5});', {
      toolNames: ['add'],
      callTool: async (_name, args) => (seen.push(args), { output: null, isError: false, callId: 'c1' }),
    });
    expect(seen).toEqual([{ a: 'Infinity', b: ['-Infinity', 'NaN'] }]);
    expect(r.submitted).toEqual({ value: { big: 'Infinity', small: '-Infinity', odd: 'NaN', n: 1.5 } });
  });

  it('keeps JSON globals assigned to globalThis between blocks and reports what it cannot keep', async () => {
    const first = await run('globalThis.counter = 41; globalThis.fn = () => 1; var local = 3;');
    expect(first.globals).toEqual({ counter: 41 });
    expect(first.dropped).toEqual(['fn']);
    const second = await run('counter += 1; print(counter);', { globals: first.globals });
    expect(second.output).toBe('42\n');
    expect(second.globals).toEqual({ counter: 42 });
  });

  it('has no host access', async () => {
    const r = await run('print(typeof process, typeof require, typeof fetch, typeof setTimeout)');
    expect(r.output).toBe('undefined undefined undefined undefined\n');
  });

  it('a tool error is a catchable exception; submit_error is reported', async () => {
    const r = await run('try { await bad({}); } catch (e) { print(e.message); } submit_error("nope");', {
      toolNames: ['bad'],
      callTool: async () => ({ output: { error: 'boom' }, isError: true, callId: 'b' }),
    });
    expect(r.output).toBe('boom\n');
    expect(r.submittedError).toEqual({ value: 'nope' });
  });

  it('an infinite loop fails the block at the time limit', async () => {
    const r = await run('while (true) {}');
    expect(r.success).toBe(false);
    expect(r.error).toContain('time limit');
  });

  it('unbounded allocation fails the block at the memory limit', async () => {
    const r = await run('const a = []; while (true) a.push({ x: [1, 2, 3] });');
    expect(r.success).toBe(false);
    expect(r.error).toMatch(/memory limit|time limit/);
  });

  it('huge output fails the block at the output limit', async () => {
    const r = await run('for (let i = 0; i < 100000; i++) print("line " + i);');
    expect(r.success).toBe(false);
    expect(r.error).toContain('output limit');
    expect(Buffer.byteLength(r.output)).toBeLessThanOrEqual(4096);
  });

  it('a tool-call flood fails at the per-block limit', async () => {
    const r = await run('for (let i = 0; i < 50; i++) await t({});', { toolNames: ['t'], callTool: async () => ({ output: 1, isError: false, callId: 'c' }) });
    expect(r.success).toBe(false);
    expect(r.error).toContain('tool call limit');
  });

  it('globals past the size limit fail the block and keep the previous snapshot, multi-byte text counted in bytes', async () => {
    for (const code of [
      'globalThis.small = 2; globalThis.big = "y".repeat(70000); submit(1);',
      'globalThis.small = 2; globalThis.wide = "\u00e9".repeat(40000);',
    ]) {
      const r = await run(code, { globals: { kept: 1 } });
      expect(r.success).toBe(false);
      expect(r.globalsOverLimit).toBe(true);
      expect(r.error).toMatch(/globals limit of 65536 bytes exceeded/);
      expect(r.globals).toEqual({ kept: 1 });
    }
    // Too big to even serialise within the memory limit: still a failed block, nothing kept.
    const huge = await run('globalThis.big = "y".repeat(14000000);', { globals: { kept: 1 } });
    expect(huge).toMatchObject({ success: false, globalsOverLimit: true, globals: { kept: 1 } });
    expect(huge.error).toMatch(/globals limit of 65536 bytes exceeded/);
    const fits = await run('globalThis.big = "y".repeat(60000);', { globals: { kept: 1 } });
    expect(fits.success).toBe(true);
    expect(Object.keys(fits.globals)).toEqual(['kept', 'big']);
  });

  it('syntax errors are reported as failed blocks', async () => {
    const r = await run('this is not javascript');
    expect(r.success).toBe(false);
    expect(r.error).toContain('SyntaxError');
  });
});

describe('threaded sandbox', () => {
  it('runs blocks in a worker thread with tools answered by the parent', async () => {
    const threaded = new ThreadedRunner();
    try {
      const r = await threaded.run({
        code: 'const x = await add({a: 1, b: 2}); globalThis.kept = x.result; submit(x.result);',
        globals: {},
        history: [],
        toolNames: ['add'],
        limits,
        signal: new AbortController().signal,
        callTool: async (_n, args) => ({ output: { result: (args.a as number) + (args.b as number) }, isError: false, callId: 't1' }),
      });
      expect(r).toMatchObject({ success: true, submitted: { value: 3 }, globals: { kept: 3 }, toolCallIds: ['t1'] });
    } finally {
      await threaded.close();
    }
  });

  it('a native operation QuickJS cannot interrupt is stopped by the thread limit and never blocks the server', async () => {
    const threaded = new ThreadedRunner();
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 20);
    try {
      const r = await threaded.run({
        code: 'const a = []; while (true) a.push(new Array(100000).fill(7));',
        globals: { before: 1 },
        history: [],
        toolNames: [],
        limits: { ...limits, timeMs: 300 },
        signal: new AbortController().signal,
        callTool: async () => ({ output: null, isError: false, callId: '' }),
      });
      expect(r.success).toBe(false);
      expect(r.error).toMatch(/time limit|memory limit/);
      expect(r.globals).toEqual({ before: 1 });
      // The parent's event loop kept running while the block ran.
      expect(ticks).toBeGreaterThan(3);
    } finally {
      clearInterval(ticker);
      await threaded.close();
    }
  });

  it('more concurrent endless blocks than LASH_SANDBOX_THREADS never run on more threads; the queue is bounded and the overflow fails as busy', async () => {
    const threaded = new ThreadedRunner({ maxThreads: 2, maxQueued: 1, queueWaitMs: 60_000, idleThreads: 2 });
    const seen: number[] = [];
    const sampler = setInterval(() => seen.push(threaded.stats().threads), 5);
    try {
      const block = () =>
        threaded.run({
          code: 'while (true) {}',
          globals: { before: 1 },
          history: [],
          toolNames: [],
          limits: { ...limits, timeMs: 200 },
          signal: new AbortController().signal,
          callTool: async () => ({ output: null, isError: false, callId: '' }),
        });
      const runs = Array.from({ length: 5 }, block);
      expect(threaded.stats()).toMatchObject({ busy: 2, queued: 1, rejectedBusy: 2 });
      const results = await Promise.all(runs);
      // Two ran at once, the third waited for a thread, the last two were refused without running.
      expect(results.map((r) => r.error?.startsWith('sandbox busy') ?? false)).toEqual([false, false, false, true, true]);
      expect(results.slice(0, 3).every((r) => /time limit/.test(r.error ?? ''))).toBe(true);
      expect(results[3]!.globals).toEqual({ before: 1 });
      expect(threaded.stats().peakThreads).toBe(2);
      expect(Math.max(...seen)).toBeLessThanOrEqual(2);
    } finally {
      clearInterval(sampler);
      await threaded.close();
    }
  });

  it('a block waiting for a thread fails as busy once LASH_SANDBOX_QUEUE_WAIT_MS passes, and a cancelled one leaves the queue', async () => {
    const threaded = new ThreadedRunner({ maxThreads: 1, maxQueued: 5, queueWaitMs: 50, idleThreads: 1 });
    try {
      const base = {
        globals: {},
        history: [],
        toolNames: [],
        limits: { ...limits, timeMs: 1000 },
        callTool: async () => ({ output: null, isError: false, callId: '' }),
      };
      const long = threaded.run({ ...base, code: 'while (true) {}', signal: new AbortController().signal });
      const waiting = await threaded.run({ ...base, code: 'submit(1)', signal: new AbortController().signal });
      expect(waiting.error).toMatch(/sandbox busy: no sandbox thread came free within 50 ms/);
      const ac = new AbortController();
      const cancelled = threaded.run({ ...base, code: 'submit(1)', signal: ac.signal });
      expect(threaded.stats().queued).toBe(1);
      ac.abort();
      expect((await cancelled).error).toBe('cancelled');
      expect(threaded.stats()).toMatchObject({ queued: 0, rejectedBusy: 1 });
      expect((await long).error).toMatch(/time limit/);
    } finally {
      await threaded.close();
    }
  });
});
