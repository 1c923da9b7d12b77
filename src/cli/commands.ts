// The CLI's commands: each takes the connected clients, its positional arguments and the parsed
// options, prints to stdout (data) and stderr (progress, tool calls, outcomes), and returns the
// exit code.

import { createInterface } from 'node:readline';
import type { LashClients } from '../client/promised.js';
import { FeedMessage } from '../../gen/lash/v1/feed.js';
import { QueueBatch } from '../../gen/lash/v1/queue.js';
import { EnqueueTurnInputRequest } from '../../gen/lash/v1/queue_service.js';
import { OpenMode, Session, SessionMode, SessionStatus } from '../../gen/lash/v1/session.js';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { stopReasonToJSON, type TurnActivity, type TurnResult } from '../../gen/lash/v1/turn.js';
import { RunTurnRequest, type RunTurnResponse } from '../../gen/lash/v1/turn_service.js';

export class UsageError extends Error {}

export interface Options {
  parent?: string;
  mode?: string;
  provider?: string;
  model?: string;
  fresh?: boolean;
  'turn-id'?: string;
  cursor?: string;
  count?: string;
  id?: string;
}

type Command = (clients: LashClients, args: string[], options: Options) => Promise<number>;

const one = (args: string[], what: string): string => {
  if (!args[0]) throw new UsageError(`missing ${what}`);
  return args[0];
};
const textOf = (args: string[]): string => {
  const text = args.join(' ');
  if (!text) throw new UsageError('missing TEXT');
  return text;
};
const input = (text: string) => ({ items: [{ item: { $case: 'text' as const, value: { text } } }] });
const json = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

const MODES: Record<string, SessionMode> = { standard: SessionMode.SESSION_MODE_STANDARD, rlm: SessionMode.SESSION_MODE_RLM };

export const COMMANDS: Record<string, Command> = {
  async 'sessions list'(c, _args, o) {
    let pageToken = '';
    do {
      const page = await c.sessions.listSessions({ pageSize: 100, pageToken, filter: { parentSessionId: o.parent, metadata: {} } });
      for (const s of page.sessions) process.stdout.write(`${s.sessionId}\t${SessionStatus[s.status]?.replace('SESSION_STATUS_', '').toLowerCase()}\tturns=${s.turnIndex}\trevision=${s.headRevision}\n`);
      pageToken = page.nextPageToken;
    } while (pageToken);
    return 0;
  },

  async 'sessions open'(c, args, o) {
    const mode = o.mode === undefined ? SessionMode.SESSION_MODE_UNSPECIFIED : MODES[o.mode];
    if (mode === undefined) throw new UsageError(`--mode must be standard or rlm (got "${o.mode}")`);
    const spec = o.provider || o.model ? { providerId: o.provider ?? '', model: o.model ? { id: o.model } : undefined } : undefined;
    const r = await c.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: one(args, 'session ID'), mode, spec, openMode: o.fresh ? OpenMode.OPEN_MODE_FRESH : OpenMode.OPEN_MODE_RESUME }));
    json({ created: r.created, session: Session.toJSON(r.session!) });
    return 0;
  },

  async 'sessions get'(c, args) {
    json(Session.toJSON((await c.sessions.getSession({ sessionId: one(args, 'session ID') })).session!));
    return 0;
  },

  async 'sessions delete'(c, args) {
    const r = await c.sessions.deleteSession({ sessionId: one(args, 'session ID') });
    process.stdout.write(r.deleted ? 'deleted\n' : 'nothing to delete\n');
    return 0;
  },

  async turn(c, args, o) {
    const sessionId = one(args, 'session ID');
    return runTurn(c, sessionId, textOf(args.slice(1)), o['turn-id']);
  },

  async chat(c, args) {
    const sessionId = one(args, 'session ID');
    const lines = createInterface({ input: process.stdin, terminal: false });
    let code = 0;
    for await (const line of lines) {
      if (!line.trim()) continue;
      code = await runTurn(c, sessionId, line);
    }
    return code;
  },

  async observe(c, args, o) {
    const sessionId = one(args, 'session ID');
    const count = o.count === undefined ? Infinity : Number(o.count);
    if (!Number.isInteger(count) || count < 1) throw new UsageError(`--count must be a positive integer (got "${o.count}")`);
    const call = c.sessions.raw.observeSession({ sessionId, cursor: o.cursor ?? '' });
    let seen = 0;
    return new Promise<number>((resolve, reject) => {
      call.on('data', (r: { messages: FeedMessage[] }) => {
        for (const m of r.messages) {
          if (seen >= count) break;
          json(FeedMessage.toJSON(m));
          seen++;
        }
        if (seen >= count) call.cancel();
      });
      call.on('error', (err: { code?: number }) => (seen >= count && err.code === 1 /* CANCELLED by us */ ? resolve(0) : reject(err)));
      call.on('end', () => resolve(0));
    });
  },

  async 'queue enqueue'(c, args, o) {
    const sessionId = one(args, 'session ID');
    const r = await c.queue.enqueueTurnInput(EnqueueTurnInputRequest.fromPartial({ sessionId, id: o.id ?? '', input: input(textOf(args.slice(1))) }));
    json({ deduplicated: r.deduplicated, batch: QueueBatch.toJSON(r.batch!) });
    return 0;
  },

  async 'queue list'(c, args) {
    const r = await c.queue.listQueuedWork({ sessionId: one(args, 'session ID') });
    for (const b of r.batches) json(QueueBatch.toJSON(b));
    return 0;
  },
};

/** Streams one turn: prose to stdout as it arrives, tool calls and the outcome to stderr. */
function runTurn(c: LashClients, sessionId: string, text: string, turnId?: string): Promise<number> {
  const call = c.turns.raw.runTurn(RunTurnRequest.fromPartial({ sessionId, turnId: turnId ?? '', input: input(text) }));
  let result: TurnResult | undefined;
  let streamed = false;
  return new Promise<number>((resolve, reject) => {
    call.on('data', (r: RunTurnResponse) => {
      for (const a of r.activities) show(a.item);
    });
    call.on('error', reject);
    call.on('end', () => {
      if (streamed) process.stdout.write('\n');
      if (!result) return reject(new Error('the turn stream ended without a result'));
      const o = result.outcome;
      const u = result.usage?.total;
      const usage = u ? `tokens in=${u.inputTokens} out=${u.outputTokens}` : '';
      if (o?.$case === 'finished') {
        const a = o.value.answer;
        if (a?.$case !== 'assistantMessage' && a) process.stdout.write(`${JSON.stringify(a.value.value ?? null)}\n`);
        process.stderr.write(`[turn ${result.turnId}: finished, ${usage}]\n`);
        return resolve(0);
      }
      const why = o?.$case === 'stopped' ? `stopped: ${stopReasonToJSON(o.value.reason).replace('STOP_REASON_', '').toLowerCase()}${o.value.message ? ` (${o.value.message})` : ''}` : o?.$case ?? 'no outcome';
      process.stderr.write(`[turn ${result.turnId}: ${why}, ${usage}]\n`);
      resolve(3);
    });
  });

  function show(item: TurnActivity['item']): void {
    if (item?.$case === 'result') {
      result = item.value;
      return;
    }
    if (item?.$case !== 'event') return;
    const k = item.value.kind;
    if (k?.$case === 'assistantProseDelta') {
      process.stdout.write(k.value.text);
      streamed = true;
    } else if (k?.$case === 'toolCallStarted') process.stderr.write(`[tool ${k.value.name} ${JSON.stringify(k.value.args ?? {})}]\n`);
    else if (k?.$case === 'toolCallCompleted') process.stderr.write(`[tool ${k.value.name} → ${k.value.isError ? 'error ' : ''}${JSON.stringify(k.value.output ?? null)}]\n`);
    else if (k?.$case === 'retryStatus') process.stderr.write(`[retry ${k.value.attempt}/${k.value.maxAttempts} in ${k.value.waitSeconds}s: ${k.value.reason}]\n`);
    else if (k?.$case === 'error') process.stderr.write(`[error ${k.value.message}]\n`);
  }
}
