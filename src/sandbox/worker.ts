// Worker-thread entry for the sandbox: runs one code block at a time with QuickJS and asks the
// parent thread to execute tool calls. The parent can terminate this thread at any moment (hard
// wall-clock limit), which protects the server's event loop from native operations QuickJS
// cannot interrupt.

import { parentPort } from 'node:worker_threads';
import type { JsonValue } from '../domain/messages.js';
import type { SandboxLimits } from '../domain/turns/code-runner.js';
import { QuickJsRunner } from './quickjs.js';

export type ToParent =
  | { type: 'started' }
  | { type: 'tool'; id: number; name: string; args: Record<string, JsonValue> }
  | { type: 'done'; result: import('../domain/turns/code-runner.js').CodeRunResult };

export type ToWorker =
  | { type: 'run'; code: string; globals: Record<string, JsonValue>; history: JsonValue; toolNames: string[]; limits: SandboxLimits }
  | { type: 'tool_result'; id: number; output: JsonValue; isError: boolean; callId: string }
  | { type: 'abort' };

const runner = new QuickJsRunner();
const pending = new Map<number, (r: { output: JsonValue; isError: boolean; callId: string }) => void>();
let controller = new AbortController();
let nextId = 0;

parentPort!.on('message', (msg: ToWorker) => {
  if (msg.type === 'tool_result') {
    pending.get(msg.id)?.({ output: msg.output, isError: msg.isError, callId: msg.callId });
    pending.delete(msg.id);
  } else if (msg.type === 'abort') {
    controller.abort();
  } else {
    controller = new AbortController();
    // The parent's wall-clock limit starts now, not while this thread was still booting.
    parentPort!.postMessage({ type: 'started' } satisfies ToParent);
    void runner
      .run({
        ...msg,
        signal: controller.signal,
        callTool: (name, args) =>
          new Promise((resolve) => {
            const id = ++nextId;
            pending.set(id, resolve);
            parentPort!.postMessage({ type: 'tool', id, name, args } satisfies ToParent);
          }),
      })
      .then((result) => parentPort!.postMessage({ type: 'done', result } satisfies ToParent));
  }
});
