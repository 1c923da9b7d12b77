// bench/rlm: cost of the rlm sandbox — thread boot, per-block overhead (empty block, block with
// one tool call) in-process and through the worker-thread pool — next to a plain async function
// call measured in the same run. Prints one JSON line per measurement, then a table.

import type { CodeRunner, CodeRunRequest } from '../src/domain/turns/code-runner.js';
import { QuickJsRunner } from '../src/sandbox/quickjs.js';
import { ThreadedRunner } from '../src/sandbox/threaded.js';
import { intEnv, machineLoad, percentiles, round, table } from './harness.js';

const blocks = intEnv('BENCH_BLOCKS', 300, 10);
const limits = { memoryBytes: 32 * 1024 * 1024, timeMs: 10_000, outputBytes: 65_536, toolCalls: 50, globalsBytes: 1_048_576 };
const request = (code: string): CodeRunRequest => ({
  code,
  globals: { counter: 1 },
  history: [],
  toolNames: ['echo'],
  limits,
  signal: new AbortController().signal,
  callTool: async (_name, args) => ({ output: args, isError: false, callId: 'c' }),
});

async function measure(n: number, fn: () => Promise<unknown>): Promise<{ perSecond: number; p50: number; p99: number }> {
  for (let i = 0; i < Math.min(20, n); i++) await fn(); // warm-up
  const lat: number[] = [];
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    lat.push(performance.now() - t0);
  }
  const p = percentiles(lat);
  return { perSecond: n / ((performance.now() - started) / 1000), p50: p.p50, p99: p.p99 };
}

async function main(): Promise<void> {
  const load = machineLoad();
  const plainFn = async (args: Record<string, unknown>) => ({ output: args });
  const reference = await measure(blocks * 100, () => plainFn({ a: 1 }));
  const rows: string[][] = [];
  const report = (name: string, m: { perSecond: number; p50: number; p99: number }) => {
    const line = {
      bench: 'rlm',
      op: name,
      n: blocks,
      per_second: round(m.perSecond, 1),
      p50_ms: round(m.p50, 3),
      p99_ms: round(m.p99, 3),
      reference: 'plain_async_call',
      reference_per_second: round(reference.perSecond, 0),
      ratio: round(m.perSecond / reference.perSecond, 6),
      load,
    };
    console.log(JSON.stringify(line));
    rows.push([name, String(line.per_second), String(line.p50_ms), String(line.p99_ms), String(line.ratio)]);
  };
  console.log(JSON.stringify({ bench: 'rlm', op: 'plain_async_call', per_second: round(reference.perSecond, 0), p50_ms: round(reference.p50, 4), load }));

  const bootStart = performance.now();
  const threaded = new ThreadedRunner({ idleThreads: 1 });
  await threaded.run(request('submit(1);'));
  const bootMs = performance.now() - bootStart;
  console.log(JSON.stringify({ bench: 'rlm', op: 'thread_boot_and_first_block', ms: round(bootMs, 1), load }));
  rows.push(['thread boot + first block', '-', String(round(bootMs, 1)), '-', '-']);

  const inProcess: CodeRunner = new QuickJsRunner();
  report('in-process empty block', await measure(blocks, () => inProcess.run(request(''))));
  report('in-process block + 1 tool call', await measure(blocks, () => inProcess.run(request('const r = await echo({x: 1}); submit(r.x + counter);'))));
  report('threaded empty block', await measure(blocks, () => threaded.run(request(''))));
  report('threaded block + 1 tool call', await measure(blocks, () => threaded.run(request('const r = await echo({x: 1}); submit(r.x + counter);'))));
  await threaded.close();

  console.log(
    `\nrlm sandbox (${blocks} blocks each; reference: plain async call ${round(reference.perSecond, 0)}/s; load ${load.load1} on ${load.cores} cores)`,
  );
  console.log(table(['op', 'per second', 'p50 ms', 'p99 ms', 'ratio to plain call'], rows));
}

void main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
