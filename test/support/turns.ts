// Test helpers for turns over gRPC: run a RunTurn stream to the end and collect what it sent.

import { Metadata, type ClientReadableStream } from '@grpc/grpc-js';
import { MessageRole } from '../../gen/lash/v1/common.js';
import type { TurnActivity, TurnEvent, TurnResult } from '../../gen/lash/v1/turn.js';
import { RunTurnRequest, type DeepPartial, type RunTurnResponse } from '../../gen/lash/v1/turn_service.js';
import { RunQueuedTurnRequest } from '../../gen/lash/v1/queue_service.js';
import type { LashClients } from '../../src/client/promised.js';

export interface StreamedTurn {
  events: TurnEvent[];
  activities: TurnActivity[];
  result?: TurnResult;
  error?: { code: number; details: string; metadata: Metadata };
  /** How many response messages carried the activities (batching). */
  messages: number;
}

export const textInput = (text: string) => ({ items: [{ item: { $case: 'text' as const, value: { text } } }] });

export function startRunTurn(
  clients: LashClients,
  req: DeepPartial<RunTurnRequest>,
): { call: ClientReadableStream<RunTurnResponse>; done: Promise<StreamedTurn>; firstEvent: Promise<void> } {
  const call = clients.turns.raw.runTurn(RunTurnRequest.fromPartial(req));
  const out: StreamedTurn = { events: [], activities: [], messages: 0 };
  let gotFirst!: () => void;
  const firstEvent = new Promise<void>((r) => (gotFirst = r));
  const done = new Promise<StreamedTurn>((resolve) => {
    call.on('data', (m: RunTurnResponse) => {
      out.messages++;
      for (const a of m.activities) {
        out.activities.push(a);
        if (a.item?.$case === 'event') {
          out.events.push(a.item.value);
          gotFirst();
        }
        if (a.item?.$case === 'result') out.result = a.item.value;
      }
    });
    call.on('error', (e: StreamedTurn['error']) => {
      out.error = e;
      resolve(out);
    });
    call.on('end', () => resolve(out));
  });
  return { call, done, firstEvent };
}

export const runTurn = (clients: LashClients, req: DeepPartial<RunTurnRequest>) => startRunTurn(clients, req).done;

export type Drained = StreamedTurn & { nothing: boolean };

/** Runs RunQueuedTurn to the end; `nothing` is set when the server had nothing to drain. */
export function drainQueue(clients: LashClients, req: DeepPartial<RunQueuedTurnRequest>): Promise<Drained> {
  const call = clients.queue.raw.runQueuedTurn(RunQueuedTurnRequest.fromPartial(req));
  const out: Drained = { events: [], activities: [], messages: 0, nothing: false };
  return new Promise((resolve) => {
    call.on('data', (m: { activities: TurnActivity[] }) => {
      out.messages++;
      for (const a of m.activities) {
        out.activities.push(a);
        if (a.item?.$case === 'event') out.events.push(a.item.value);
        if (a.item?.$case === 'result') out.result = a.item.value;
        if (a.item?.$case === 'nothingToDo') out.nothing = true;
      }
    });
    call.on('error', (e: StreamedTurn['error']) => resolve({ ...out, error: e }));
    call.on('end', () => resolve(out));
  });
}

export const kinds = (t: StreamedTurn) => t.events.map((e) => e.kind?.$case);

export const deltasText = (t: StreamedTurn) => t.events.map((e) => (e.kind?.$case === 'assistantProseDelta' ? e.kind.value.text : '')).join('');

export const userText = (text: string) => ({ id: '', role: MessageRole.MESSAGE_ROLE_USER, parts: [{ kind: { $case: 'text' as const, value: { text } } }] });

/** Waits until `predicate` holds, polling; for conditions that have no event to wait on. */
export async function until(predicate: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
