// Test helper: an ObserveSession stream collected into arrays, with waits on what arrived.

import type { ClientReadableStream } from '@grpc/grpc-js';
import type { FeedMessage } from '../../gen/lash/v1/feed.js';
import type { ObserveSessionResponse } from '../../gen/lash/v1/session_service.js';
import type { LashClients } from '../../src/client/promised.js';
import { until } from './turns.js';

export interface Observed {
  call: ClientReadableStream<ObserveSessionResponse>;
  messages: FeedMessage[];
  /** How many feed messages each response carried. */
  responseSizes: number[];
  error?: { code: number; details: string };
  ended: boolean;
  /** Event messages only. */
  events(): FeedMessage[];
  waitFor(predicate: (messages: FeedMessage[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): void;
}

export function observe(clients: LashClients, sessionId: string, cursor?: string): Observed {
  const call = clients.sessions.raw.observeSession({ sessionId, cursor });
  const o: Observed = {
    call,
    messages: [],
    responseSizes: [],
    ended: false,
    events: () => o.messages.filter((m) => m.kind?.$case === 'event'),
    waitFor: (p, timeoutMs = 10_000) =>
      until(() => p(o.messages) || o.error !== undefined || o.ended, timeoutMs).then(() => {
        if (!p(o.messages)) throw new Error(`stream ended (${o.error?.details ?? 'ok'}) before the condition held; got ${o.messages.length} messages`);
      }),
    close: () => call.cancel(),
  };
  call.on('data', (r: ObserveSessionResponse) => {
    o.responseSizes.push(r.messages.length);
    o.messages.push(...r.messages);
  });
  call.on('error', (e: { code: number; details: string }) => (o.error = e));
  call.on('end', () => (o.ended = true));
  return o;
}

export const payloadCase = (m: FeedMessage) => (m.kind?.$case === 'event' ? m.kind.value.payload?.$case : m.kind?.$case);

/** Asserts gap-free, duplicate-free sequence numbers on event messages. */
export function sequenceProblems(messages: FeedMessage[]): string[] {
  const seqs = messages.filter((m) => m.kind?.$case === 'event').map((m) => m.sequence);
  const problems: string[] = [];
  for (let i = 1; i < seqs.length; i++) if (seqs[i] !== seqs[i - 1]! + 1n) problems.push(`${seqs[i - 1]} → ${seqs[i]}`);
  return problems;
}
