// Test helpers for processes: a fake-model policy that plays a parent that delegates, a sub-agent
// that answers, and a parent that reports a wake; and waits on process state over gRPC.

import { ProcessStatus, type Process } from '../../gen/lash/v1/process.js';
import type { LashClients } from '../../src/client/promised.js';
import type { RecordedRequest, ScriptedResponse } from './fake-model-server.js';
import { until } from './turns.js';

const lastMessage = (req: RecordedRequest): string => JSON.stringify(req.body?.messages?.at(-1) ?? '');

/**
 * The model's behaviour by what it was last sent: a `delegate:` input starts a session_turn
 * process with the rest as its task; a tool result is acknowledged; a `[process …]` wake is
 * reported back with its text; anything else is answered `ANSWER(<text>)`.
 */
export function delegatingModel(req: RecordedRequest): ScriptedResponse {
  const last = lastMessage(req);
  const delegate = /delegate: ([^"\\]+)/.exec(last);
  if (req.body?.messages?.at(-1)?.role === 'tool') return { steps: [{ text: 'Started it in the background.' }] };
  if (delegate) return { steps: [{ toolCall: { name: 'start_process', args: { kind: 'session_turn', task: delegate[1] } } }] };
  if (last.includes('[process ')) return { steps: [{ text: `REPORT: ${last}` }] };
  const text = /"content":"([^"]*)"/.exec(last)?.[1] ?? /"text":"([^"]*)"/.exec(last)?.[1] ?? '';
  return { steps: [{ text: `ANSWER(${text})` }] };
}

export async function processWhen(clients: LashClients, processId: string, predicate: (p: Process) => boolean, timeoutMs = 30_000): Promise<Process> {
  let seen: Process | undefined;
  await until(async () => predicate((seen = (await clients.admin.getProcess({ processId })).process!)), timeoutMs).catch((err: unknown) => {
    throw new Error(
      `process ${processId} did not reach the condition: ${JSON.stringify(seen, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))} (${String(err)})`,
    );
  });
  return seen!;
}

export const finished = (p: Process) =>
  p.status === ProcessStatus.PROCESS_STATUS_COMPLETED ||
  p.status === ProcessStatus.PROCESS_STATUS_FAILED ||
  p.status === ProcessStatus.PROCESS_STATUS_CANCELLED;
