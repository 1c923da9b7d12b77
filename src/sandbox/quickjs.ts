// rlm code runs in QuickJS compiled to WebAssembly (quickjs-emscripten): no host access except
// the functions injected here. Each block gets a fresh runtime with memory, time, output and
// tool-call limits; JSON-serialisable globals are carried between blocks as a snapshot, so they
// survive restarts and never leak between sessions.

import { getQuickJS, type QuickJSContext, type QuickJSHandle, type QuickJSWASMModule } from 'quickjs-emscripten';
import { portableJson } from '../domain/json-values.js';
import type { JsonValue } from '../domain/messages.js';
import type { CodeRunner, CodeRunRequest, CodeRunResult } from '../domain/turns/code-runner.js';

const PRELUDE = `
globalThis.__base = new Set(Object.keys(globalThis));
// Values leave the program as JSON with non-finite numbers spelled "Infinity" / "-Infinity" / "NaN"
// (the API's one spelling), where JSON.stringify would write null.
globalThis.__json = (v) => JSON.stringify(v === undefined ? null : v, (k, x) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : x));
for (const name of JSON.parse(__toolNames)) {
  globalThis[name] = async (args = {}) => {
    const r = JSON.parse(await __hostCall(name, __json(args ?? {})));
    if (r.isError) throw new Error(r.output && typeof r.output === 'object' && typeof r.output.error === 'string' ? r.output.error : JSON.stringify(r.output));
    return r.output;
  };
}
globalThis.__base = new Set([...globalThis.__base, ...JSON.parse(__toolNames), '__base', '__json']);
`;

// Stops at the first value that takes the snapshot past the limit, so an oversize global is
// never copied out of the runtime (characters count as at least one byte each).
const SNAPSHOT = (limitBytes: number) => `JSON.stringify((() => {
  const globals = {}, dropped = [];
  let size = 2;
  for (const k of Object.keys(globalThis)) {
    if (__base.has(k)) continue;
    try {
      const v = globalThis[k];
      const s = typeof v === 'function' ? undefined : JSON.stringify(v);
      if (s === undefined) { dropped.push(k); continue; }
      size += JSON.stringify(k).length + s.length + 2;
      if (size > ${limitBytes}) return { over: k };
      globals[k] = JSON.parse(s);
    } catch (e) {
      // Out of memory while serialising (QuickJS throws null): too big to keep, not unkeepable.
      if (e === null || /memory/i.test(String(e && e.message))) return { over: k };
      dropped.push(k);
    }
  }
  return { globals, dropped };
})())`;

let modulePromise: Promise<QuickJSWASMModule> | undefined;

export class QuickJsRunner implements CodeRunner {
  async run(req: CodeRunRequest): Promise<CodeRunResult> {
    const started = performance.now();
    const QuickJS = await (modulePromise ??= getQuickJS());
    const runtime = QuickJS.newRuntime();
    runtime.setMemoryLimit(req.limits.memoryBytes);
    runtime.setMaxStackSize(1024 * 1024);
    const deadline = Date.now() + req.limits.timeMs;
    runtime.setInterruptHandler(() => Date.now() > deadline || req.signal.aborted);
    const vm = runtime.newContext();
    let output = '';
    let outputOver = false;
    let submitted: CodeRunResult['submitted'];
    let submittedError: CodeRunResult['submittedError'];
    const toolCallIds: string[] = [];
    const hostPending = new Set<Promise<void>>();
    // Every handle must be freed before the runtime is, or QuickJS aborts the whole module.
    const deferreds: { alive: boolean; dispose(): void }[] = [];
    let toolCallCount = 0;
    const result = (error: string | undefined, globals: Record<string, JsonValue>, dropped: string[]): CodeRunResult => ({
      output,
      error,
      success: !error,
      submitted,
      submittedError,
      globals,
      dropped,
      toolCallIds,
      durationMs: Math.round(performance.now() - started),
    });
    try {
      const setGlobal = (name: string, h: QuickJSHandle) => {
        vm.setProp(vm.global, name, h);
        h.dispose();
      };
      setGlobal(
        'print',
        vm.newFunction('print', (...args) => {
          const line =
            args
              .map((a) => {
                const v = vm.dump(a);
                return typeof v === 'string' ? v : JSON.stringify(v);
              })
              .join(' ') + '\n';
          if (Buffer.byteLength(output) + Buffer.byteLength(line) > req.limits.outputBytes) {
            outputOver = true;
            return { error: vm.newError(`output limit of ${req.limits.outputBytes} bytes exceeded`) };
          }
          output += line;
          return vm.undefined;
        }),
      );
      setGlobal(
        'submit',
        vm.newFunction('submit', (v) => {
          submitted = { value: toJson(vm, v) };
          return vm.undefined;
        }),
      );
      setGlobal(
        'submit_error',
        vm.newFunction('submit_error', (v) => {
          submittedError = { value: toJson(vm, v) };
          return vm.undefined;
        }),
      );
      setGlobal('__toolNames', vm.newString(JSON.stringify(req.toolNames)));
      setGlobal(
        '__hostCall',
        vm.newFunction('__hostCall', (nameH, argsH) => {
          const name = vm.getString(nameH);
          const argsJson = vm.getString(argsH);
          const deferred = vm.newPromise();
          deferreds.push(deferred);
          if (++toolCallCount > req.limits.toolCalls) {
            const e = vm.newError(`tool call limit of ${req.limits.toolCalls} per block exceeded`);
            deferred.reject(e);
            e.dispose();
            return deferred.handle;
          }
          const work = req
            .callTool(name, JSON.parse(argsJson) as Record<string, JsonValue>)
            .then(
              (r) => {
                toolCallIds.push(r.callId);
                if (!vm.alive) return;
                const h = vm.newString(JSON.stringify({ output: r.output, isError: r.isError }));
                deferred.resolve(h);
                h.dispose();
              },
              (err: unknown) => {
                if (!vm.alive) return;
                const h = vm.newError(String((err as Error)?.message ?? err));
                deferred.reject(h);
                h.dispose();
              },
            )
            .finally(() => hostPending.delete(work));
          hostPending.add(work);
          return deferred.handle;
        }),
      );
      setGlobal('history', unwrap(vm, vm.evalCode(`Object.freeze(${JSON.stringify(req.history)})`)));
      for (const [k, v] of Object.entries(req.globals)) setGlobal(k, unwrap(vm, vm.evalCode(`(${JSON.stringify(v)})`)));
      unwrap(vm, vm.evalCode(PRELUDE)).dispose();
      // Restored globals are the model's own: keep them out of the baseline.
      for (const k of Object.keys(req.globals)) unwrap(vm, vm.evalCode(`__base.delete(${JSON.stringify(k)})`)).dispose();

      let error: string | undefined;
      const evaluated = vm.evalCode(`(async () => {\n${req.code}\n})()`, 'block.js');
      if (evaluated.error) {
        error = describe(vm.dump(evaluated.error));
        evaluated.error.dispose();
      } else {
        const promise = evaluated.value;
        for (;;) {
          const jobs = runtime.executePendingJobs();
          if (jobs.error) {
            error = describe(vm.dump(jobs.error));
            jobs.error.dispose();
            break;
          }
          const state = vm.getPromiseState(promise);
          if (state.type === 'fulfilled') {
            state.value.dispose();
            break;
          }
          if (state.type === 'rejected') {
            error = describe(vm.dump(state.error));
            state.error.dispose();
            break;
          }
          if (req.signal.aborted) {
            error = 'cancelled';
            break;
          }
          if (Date.now() > deadline) {
            error = `time limit of ${req.limits.timeMs} ms exceeded`;
            break;
          }
          if (hostPending.size === 0) {
            error = 'the code awaits something that never resolves';
            break;
          }
          await Promise.race([...hostPending, new Promise((r) => setTimeout(r, Math.max(1, deadline - Date.now())))]);
        }
        promise.dispose();
      }
      if (error && /interrupted/i.test(error)) error = req.signal.aborted ? 'cancelled' : `time limit of ${req.limits.timeMs} ms exceeded`;
      // QuickJS throws a bare null when an allocation fails at the memory limit.
      if (error === 'null' || (error && /out of memory/i.test(error)))
        error = `memory limit of ${Math.round(req.limits.memoryBytes / 1048576)} MB exceeded (out of memory)`;
      if (outputOver && !error) error = `output limit of ${req.limits.outputBytes} bytes exceeded`;
      const snap = vm.evalCode(SNAPSHOT(req.limits.globalsBytes));
      let globals: Record<string, JsonValue> = {};
      let dropped: string[] = [];
      if (!snap.error) {
        const taken = JSON.parse(vm.getString(snap.value)) as { globals: Record<string, JsonValue>; dropped: string[] } | { over: string };
        snap.value.dispose();
        // Characters undercount multi-byte text: the UTF-8 size is checked once more here.
        if ('over' in taken || Buffer.byteLength(JSON.stringify(taken.globals)) > req.limits.globalsBytes) {
          return { ...result(globalsLimitMessage(req.limits.globalsBytes, 'over' in taken ? taken.over : ''), req.globals, []), globalsOverLimit: true };
        }
        ({ globals, dropped } = taken);
      } else {
        // Typically out of memory while serialising a huge value: the block must not pass as
        // if its globals were kept.
        const cause = describe(vm.dump(snap.error));
        snap.error.dispose();
        globals = req.globals;
        if (!error)
          return {
            ...result(
              `${globalsLimitMessage(req.limits.globalsBytes, '')} (taking the snapshot failed: ${cause === 'null' ? 'out of memory' : cause})`,
              globals,
              [],
            ),
            globalsOverLimit: true,
          };
      }
      return result(error, globals, dropped);
    } catch (err) {
      // Limits can also trip while we set things up or snapshot (e.g. out of memory).
      return result(`sandbox error: ${(err as Error).message}`, req.globals, []);
    } finally {
      for (const d of deferreds) if (d.alive) d.dispose();
      if (vm.alive) vm.dispose();
      runtime.dispose();
    }
  }
}

/** What the model reads when a block's globals outgrow the per-session limit. */
function globalsLimitMessage(limitBytes: number, key: string): string {
  return `globals limit of ${limitBytes} bytes exceeded${key ? ` (at globalThis.${key})` : ''}: nothing this block assigned to globalThis was kept, and the block failed; keep large data out of globalThis (recompute it, or keep only what you need)`;
}

function unwrap(vm: QuickJSContext, r: ReturnType<QuickJSContext['evalCode']>): QuickJSHandle {
  if (r.error) {
    const e = vm.dump(r.error);
    r.error.dispose();
    throw new Error(describe(e));
  }
  return r.value;
}

function toJson(vm: QuickJSContext, h: QuickJSHandle): JsonValue {
  // Serialized inside the VM by the prelude's __json (dump would turn non-finite numbers into null).
  const fn = vm.getProp(vm.global, '__json');
  try {
    const r = vm.callFunction(fn, vm.undefined, h);
    if (r.error) r.error.dispose();
    else {
      const text = vm.typeof(r.value) === 'string' ? vm.getString(r.value) : undefined;
      r.value.dispose();
      if (text !== undefined) return JSON.parse(text) as JsonValue;
    }
  } catch {
    // Fall through to the plain dump below.
  } finally {
    fn.dispose();
  }
  const v: unknown = vm.dump(h);
  try {
    return portableJson(JSON.parse(JSON.stringify(v ?? null)) as JsonValue);
  } catch {
    return String(v);
  }
}

function describe(e: unknown): string {
  if (e && typeof e === 'object' && 'message' in e) {
    const o = e as { name?: string; message?: string };
    return `${o.name ?? 'Error'}: ${o.message}`;
  }
  return String(e);
}
