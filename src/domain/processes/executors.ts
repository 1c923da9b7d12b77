// What each process kind does when a runner holds it. A session_turn runs one turn of the
// sub-agent's session under a turn id derived from the process id: a runner that takes the
// process over after a crash asks for the same turn, so a turn that already committed is
// answered from its commit instead of running twice.

import type { RequestContext } from '../ports.js';
import type { SessionService } from '../sessions.js';
import type { TurnRequest, TurnResult } from '../turns/types.js';
import type { ProcessExecutor } from './runners.js';
import type { Finish, ProcessRecord } from './types.js';

export interface TurnRunner {
  run(ctx: RequestContext, req: TurnRequest, options: { signal?: AbortSignal }): Promise<TurnResult>;
}

/** The session a session_turn process runs in when the caller named none. */
export const processSessionId = (p: ProcessRecord) => p.input.sessionId ?? `process-${p.processId}`;

export const notifyExecutor: ProcessExecutor = async (p) => ({
  status: 'completed',
  output: { message: p.input.task ?? '', payload: p.input.payload ?? null },
});

export function sessionTurnExecutor(deps: { sessions: Pick<SessionService, 'open' | 'get'>; turns(): TurnRunner }): ProcessExecutor {
  return async (p, signal): Promise<Finish> => {
    const ctx: RequestContext = { tenantId: p.tenantId, signal };
    const sessionId = processSessionId(p);
    if (!p.input.sessionId) {
      // A session of its own, in the mode of the session that started it (if any).
      const scope = p.scopeSessionId ? await deps.sessions.get(ctx, p.scopeSessionId).catch(() => undefined) : undefined;
      await deps.sessions.open(ctx, { sessionId, openMode: 'resume', mode: scope?.mode, policy: {}, metadata: { process_id: p.processId } });
    }
    // Attempt n asks for the turns of attempts 1..n in order: a committed one answers from its
    // commit, an uncommitted one runs. A turn cancelled because its runner shut down (not because
    // the process was cancelled) gives way to the next attempt's turn.
    let r: TurnResult | undefined;
    for (let attempt = 1; attempt <= Math.max(1, p.attempts); attempt++) {
      const turnId = attempt === 1 ? `process-${p.processId}` : `process-${p.processId}-${attempt}`;
      r = await deps
        .turns()
        .run(ctx, { sessionId, turnId, input: { items: [{ kind: 'text', text: p.input.task ?? '' }], imageBlobs: {} }, overrides: {} }, { signal });
      if (signal.aborted || r.outcome.type !== 'stopped' || r.outcome.reason !== 'cancelled') break;
    }
    if (!r) throw new Error('no turn ran');
    const base = { session_id: sessionId, turn_id: r.turnId };
    const o = r.outcome;
    if (o.type === 'finished') {
      if (o.answer.kind === 'assistant_message') return { status: 'completed', output: { ...base, answer: o.answer.text } };
      return { status: 'completed', output: { ...base, value: o.answer.value } };
    }
    if (o.type === 'stopped') return { status: 'failed', output: base, error: `the turn stopped: ${o.reason}${o.message ? ` (${o.message})` : ''}` };
    return { status: 'completed', output: { ...base, answer: r.assistantOutput.safeText } };
  };
}
