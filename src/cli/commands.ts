// The CLI's commands: each takes the client (src/client), its positional arguments and the parsed
// options, prints to stdout (data) and stderr (progress, tool calls, outcomes), and returns the
// exit code.

import { createInterface } from 'node:readline';
import type { LashClient } from '../client/lash-client.js';
import { FeedMessage } from '../../gen/lash/v1/feed.js';
import { QueueBatch } from '../../gen/lash/v1/queue.js';
import { OpenMode, Session, SessionMode, SessionStatus } from '../../gen/lash/v1/session.js';
import { stopReasonToJSON, type TurnEvent } from '../../gen/lash/v1/turn.js';

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

type Command = (client: LashClient, args: string[], options: Options) => Promise<number>;

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
      for (const s of page.sessions)
        process.stdout.write(
          `${s.sessionId}\t${SessionStatus[s.status]?.replace('SESSION_STATUS_', '').toLowerCase()}\tturns=${s.turnIndex}\trevision=${s.headRevision}\n`,
        );
      pageToken = page.nextPageToken;
    } while (pageToken);
    return 0;
  },

  async 'sessions open'(c, args, o) {
    const mode = o.mode === undefined ? SessionMode.SESSION_MODE_UNSPECIFIED : MODES[o.mode];
    if (mode === undefined) throw new UsageError(`--mode must be standard or rlm (got "${o.mode}")`);
    const spec = o.provider || o.model ? { providerId: o.provider ?? '', model: o.model ? { id: o.model } : undefined } : undefined;
    const r = await c.sessions.openSession({
      sessionId: one(args, 'session ID'),
      mode,
      spec,
      openMode: o.fresh ? OpenMode.OPEN_MODE_FRESH : OpenMode.OPEN_MODE_RESUME,
    });
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
    // Follows the feed across disconnects and server restarts (the client resumes from its cursor).
    let seen = 0;
    for await (const m of c.observe(sessionId, {
      cursor: o.cursor,
      heartbeats: true,
      onReconnect: (at) => process.stderr.write(`[reconnecting after cursor ${at ?? '(none)'}]\n`),
    })) {
      json(FeedMessage.toJSON(m));
      if (++seen >= count) break;
    }
    return 0;
  },

  async 'queue enqueue'(c, args, o) {
    const sessionId = one(args, 'session ID');
    const r = await c.queue.enqueueTurnInput({ sessionId, id: o.id ?? '', input: input(textOf(args.slice(1))) });
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
async function runTurn(c: LashClient, sessionId: string, text: string, turnId?: string): Promise<number> {
  const turn = c.runTurn({ sessionId, turnId: turnId ?? '', input: input(text) });
  let streamed = false;
  for await (const event of turn) streamed = show(event.kind) || streamed;
  if (streamed) process.stdout.write('\n');
  const result = turn.result!;
  const o = result.outcome;
  const u = result.usage?.total;
  const usage = u ? `tokens in=${u.inputTokens} out=${u.outputTokens}` : '';
  if (o?.$case === 'finished') {
    const a = o.value.answer;
    if (a?.$case !== 'assistantMessage' && a) process.stdout.write(`${JSON.stringify(a.value.value ?? null)}\n`);
    process.stderr.write(`[turn ${result.turnId}: finished, ${usage}]\n`);
    return 0;
  }
  const why =
    o?.$case === 'stopped'
      ? `stopped: ${stopReasonToJSON(o.value.reason).replace('STOP_REASON_', '').toLowerCase()}${o.value.message ? ` (${o.value.message})` : ''}`
      : (o?.$case ?? 'no outcome');
  process.stderr.write(`[turn ${result.turnId}: ${why}, ${usage}]\n`);
  return 3;
}

/** Prints one event; true when it wrote prose to stdout. */
function show(k: TurnEvent['kind']): boolean {
  if (k?.$case === 'assistantProseDelta') {
    process.stdout.write(k.value.text);
    return true;
  }
  if (k?.$case === 'toolCallStarted') process.stderr.write(`[tool ${k.value.name} ${JSON.stringify(k.value.args ?? {})}]\n`);
  else if (k?.$case === 'toolCallCompleted')
    process.stderr.write(`[tool ${k.value.name} → ${k.value.isError ? 'error ' : ''}${JSON.stringify(k.value.output ?? null)}]\n`);
  else if (k?.$case === 'retryStatus')
    process.stderr.write(`[retry ${k.value.attempt}/${k.value.maxAttempts} in ${k.value.waitSeconds}s: ${k.value.reason}]\n`);
  else if (k?.$case === 'error') process.stderr.write(`[error ${k.value.message}]\n`);
  return false;
}
