// CLI commands for background processes and triggers (AdminService): start, list, get, await,
// cancel, signal and follow processes; put, list, delete subscriptions and emit occurrences.
// Each prints JSON lines to stdout.

import { status } from '@grpc/grpc-js';
import type { LashClient } from '../client/lash-client.js';
import { toLashError } from '../client/errors.js';
import { backoff, type RetryPolicy } from '../client/retry.js';
import { Process, ProcessEvent, ProcessKind, ProcessStatus, TriggerDelivery, TriggerSubscription } from '../../gen/lash/v1/process.js';

/** `processes events --follow` resumes after UNAVAILABLE this many times in a row (about a minute). */
const WATCH_RETRIES = 30;
const WATCH_BACKOFF: RetryPolicy = { maxAttempts: WATCH_RETRIES, initialBackoffMs: 100, maxBackoffMs: 2_000 };

export class ProcessUsageError extends Error {}

export interface ProcessOptions {
  status?: string;
  scope?: string;
  wake?: string;
  key?: string;
  session?: string;
  signal?: string;
  'wait-ms'?: string;
  reason?: string;
  after?: string;
  follow?: boolean;
  'interval-ms'?: string;
  cron?: string;
  'time-zone'?: string;
  'source-type'?: string;
  payload?: string;
}

type Command = (clients: LashClient, args: string[], options: ProcessOptions) => Promise<number>;

const json = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
const need = (args: string[], i: number, what: string): string => {
  if (!args[i]) throw new ProcessUsageError(`missing ${what}`);
  return args[i];
};
const KINDS: Record<string, ProcessKind> = {
  session_turn: ProcessKind.PROCESS_KIND_SESSION_TURN,
  external: ProcessKind.PROCESS_KIND_EXTERNAL,
  notify: ProcessKind.PROCESS_KIND_NOTIFY,
  rlm_program: ProcessKind.PROCESS_KIND_RLM_PROGRAM,
};
const STATUSES: Record<string, ProcessStatus> = {
  pending: ProcessStatus.PROCESS_STATUS_PENDING,
  running: ProcessStatus.PROCESS_STATUS_RUNNING,
  completed: ProcessStatus.PROCESS_STATUS_COMPLETED,
  failed: ProcessStatus.PROCESS_STATUS_FAILED,
  cancelled: ProcessStatus.PROCESS_STATUS_CANCELLED,
};

function kindOf(name: string): ProcessKind {
  const k = KINDS[name];
  if (k === undefined) throw new ProcessUsageError(`KIND must be session_turn, external, notify or rlm_program (got "${name}")`);
  return k;
}
function intOf(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new ProcessUsageError(`--${name} must be a non-negative integer (got "${value}")`);
  return n;
}
function payloadOf(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ProcessUsageError('--payload must be JSON');
  }
}

export const PROCESS_COMMANDS: Record<string, Command> = {
  async 'processes start'(c, args, o) {
    const r = await c.admin.startProcess({
      kind: kindOf(need(args, 0, 'KIND')),
      input: { task: args.slice(1).join(' '), sessionId: o.session ?? '', awaitSignal: o.signal ?? '', payload: payloadOf(o.payload) },
      scopeSessionId: o.scope ?? '',
      wakeSessionId: o.wake ?? '',
      idempotencyKey: o.key ?? '',
      maxRunMs: 0n,
    });
    json({ deduplicated: r.deduplicated, process: Process.toJSON(r.process!) });
    return 0;
  },
  async 'processes list'(c, _args, o) {
    const status = o.status === undefined ? ProcessStatus.PROCESS_STATUS_UNSPECIFIED : STATUSES[o.status];
    if (status === undefined) throw new ProcessUsageError(`--status must be one of ${Object.keys(STATUSES).join(', ')}`);
    let pageToken = '';
    do {
      const page = await c.admin.listProcesses({ status, scopeSessionId: o.scope ?? '', sessionId: o.session ?? '', pageSize: 100, pageToken });
      for (const p of page.processes) json(Process.toJSON(p));
      pageToken = page.nextPageToken;
    } while (pageToken);
    return 0;
  },
  async 'processes get'(c, args) {
    json(Process.toJSON((await c.admin.getProcess({ processId: need(args, 0, 'PROCESS_ID') })).process!));
    return 0;
  },
  async 'processes await'(c, args, o) {
    const r = await c.admin.awaitProcess({ processId: need(args, 0, 'PROCESS_ID'), waitMs: intOf('wait-ms', o['wait-ms'], 60_000) });
    json({ finished: r.finished, process: Process.toJSON(r.process!) });
    return r.finished ? 0 : 3;
  },
  async 'processes cancel'(c, args, o) {
    const r = await c.admin.cancelProcess({ processId: need(args, 0, 'PROCESS_ID'), reason: o.reason ?? '' });
    json({ cancelled: r.cancelled, process: Process.toJSON(r.process!) });
    return 0;
  },
  async 'processes cancel-scope'(c, args, o) {
    json(await c.admin.cancelProcesses({ scopeSessionId: need(args, 0, 'SESSION_ID'), reason: o.reason ?? '' }));
    return 0;
  },
  async 'processes signal'(c, args, o) {
    if (!o.key) throw new ProcessUsageError('processes signal needs --key (a retried signal with the same key is delivered once)');
    const r = await c.admin.signalProcess({
      processId: need(args, 0, 'PROCESS_ID'),
      name: need(args, 1, 'NAME'),
      payload: payloadOf(o.payload),
      idempotencyKey: o.key,
    });
    json({ process: Process.toJSON(r.process!), event: ProcessEvent.toJSON(r.event!) });
    return 0;
  },
  async 'processes events'(c, args, o) {
    const processId = need(args, 0, 'PROCESS_ID');
    const afterSeq = BigInt(intOf('after', o.after, 0));
    if (!o.follow) {
      for (const e of (await c.admin.listProcessEvents({ processId, afterSeq, pageSize: 1000 })).events) json(ProcessEvent.toJSON(e));
      return 0;
    }
    // Live until the process has finished (the server ends the stream then). A replica shutting
    // down or a recycled stream ends it with UNAVAILABLE: watch again after the last event seen.
    let after = afterSeq;
    for (let failures = 0; ;) {
      try {
        for await (const r of c.admin.watchProcessEvents({ processId, afterSeq: after }, { retry: false }))
          for (const e of r.events) {
            json(ProcessEvent.toJSON(e));
            after = e.seq;
            failures = 0;
          }
        return 0;
      } catch (err) {
        if (toLashError(err).code !== status.UNAVAILABLE || ++failures > WATCH_RETRIES) throw err;
        await backoff(WATCH_BACKOFF, failures);
      }
    }
  },
  async 'triggers put'(c, args, o) {
    const interval = intOf('interval-ms', o['interval-ms'], 0);
    const r = await c.admin.putTriggerSubscription({
      subscription: {
        subscriptionId: need(args, 0, 'SUBSCRIPTION_ID'),
        sourceType: need(args, 1, 'SOURCE_TYPE'),
        sourceKey: need(args, 2, 'SOURCE_KEY'),
        intervalMs: BigInt(interval),
        cron: o.cron ?? '',
        timeZone: o['time-zone'] ?? '',
        template: {
          kind: kindOf(need(args, 3, 'KIND')),
          task: args.slice(4).join(' '),
          sessionId: o.session ?? '',
          wakeSessionId: o.wake ?? '',
          awaitSignal: o.signal ?? '',
        },
      },
      firstDueTime: undefined,
    });
    json(TriggerSubscription.toJSON(r.subscription!));
    return 0;
  },
  async 'triggers list'(c, _args, o) {
    let pageToken = '';
    do {
      const page = await c.admin.listTriggerSubscriptions({ sourceType: o['source-type'] ?? '', pageSize: 100, pageToken });
      for (const s of page.subscriptions) json(TriggerSubscription.toJSON(s));
      pageToken = page.nextPageToken;
    } while (pageToken);
    return 0;
  },
  async 'triggers delete'(c, args) {
    json(await c.admin.deleteTriggerSubscription({ subscriptionId: need(args, 0, 'SUBSCRIPTION_ID') }));
    return 0;
  },
  async 'triggers emit'(c, args, o) {
    if (!o.key) throw new ProcessUsageError('triggers emit needs --key (a retried emission with the same key starts nothing twice)');
    const r = await c.admin.emitTrigger({
      sourceType: need(args, 0, 'SOURCE_TYPE'),
      sourceKey: need(args, 1, 'SOURCE_KEY'),
      payload: payloadOf(o.payload),
      idempotencyKey: o.key,
    });
    for (const d of r.deliveries) json(TriggerDelivery.toJSON(d));
    return 0;
  },
};
