// The rlm_program process kind: its input.task is an rlm program run once in the same sandbox as
// rlm turns, under the same limits (memory, wall time, output). It gets `payload` (the process's
// input.payload, e.g. a trigger's) as a global, and print / submit / submit_error, but no tools:
// a program without side effects can be run again by a runner that takes the process over after
// a crash, so a takeover never does anything twice. submit(v) completes it with v as its value;
// submit_error(v), a thrown error or a broken limit fails it; printed output is kept either way.

import type { JsonValue } from '../messages.js';
import type { CodeRunner, SandboxLimits } from '../turns/code-runner.js';
import type { ProcessExecutor } from './runners.js';
import type { Finish } from './types.js';

export function rlmProgramExecutor(deps: { runner: CodeRunner; limits: SandboxLimits }): ProcessExecutor {
  return async (p, signal): Promise<Finish> => {
    const r = await deps.runner.run({
      code: p.input.task ?? '',
      globals: { payload: p.input.payload ?? null },
      history: [],
      toolNames: [],
      callTool: () => Promise.reject(new Error('rlm_program processes have no tools')),
      limits: deps.limits,
      signal,
    });
    const printed = r.output;
    if (r.submittedError) return { status: 'failed', output: { printed }, error: `the program called submit_error: ${JSON.stringify(r.submittedError.value)}` };
    if (!r.success) return { status: 'failed', output: { printed }, error: r.error ?? 'the program failed' };
    const value: JsonValue = r.submitted ? r.submitted.value : null;
    return { status: 'completed', output: { value, printed, submitted: r.submitted !== undefined } };
  };
}
