// The process and trigger RPCs of lash.v1.AdminService: thin adapters over the process and
// trigger services (merged into the AdminService handlers by the composition root).

import type { ServerWritableStream } from '@grpc/grpc-js';
import type {
  AwaitProcessRequest,
  AwaitProcessResponse,
  CancelProcessesRequest,
  CancelProcessesResponse,
  CancelProcessRequest,
  CancelProcessResponse,
  DeleteTriggerSubscriptionRequest,
  DeleteTriggerSubscriptionResponse,
  EmitTriggerRequest,
  EmitTriggerResponse,
  GetProcessRequest,
  GetProcessResponse,
  ListProcessesRequest,
  ListProcessesResponse,
  ListProcessEventsRequest,
  ListProcessEventsResponse,
  ListTriggerSubscriptionsRequest,
  ListTriggerSubscriptionsResponse,
  PutTriggerSubscriptionRequest,
  PutTriggerSubscriptionResponse,
  SignalProcessRequest,
  SignalProcessResponse,
  StartProcessRequest,
  StartProcessResponse,
  WatchProcessEventsRequest,
  WatchProcessEventsResponse,
} from '../../gen/lash/v1/process_admin.js';
import { DomainError, invalid } from '../domain/errors.js';
import { requireId } from '../domain/ids.js';
import type { JsonValue } from '../domain/messages.js';
import { requireSeq, type ProcessService } from '../domain/processes/service.js';
import type { TriggerService } from '../domain/processes/triggers.js';
import { followProcess } from '../domain/processes/watch.js';
import { callSignal, rpcContext, unary, type CallEnv } from './call.js';
import { wellFormed } from './decode-guard.js';
import { toServiceError } from './errors.js';
import { deliveryToPb, eventToPb, inputFromPb, kindFromPb, processToPb, statusFromPb, subscriptionToPb, templateFromPb } from './mappers/process.js';

const DOMAIN = 'lash.v1.AdminService';
/** Largest run-time limit a request can name before the domain's own check (fits a JS number exactly). */
const MAX_MS = BigInt(Number.MAX_SAFE_INTEGER);

function msOf(field: string, v: bigint, reason: 'MAX_RUN_TIME_INVALID' | 'INTERVAL_INVALID'): number {
  if (v > MAX_MS) throw invalid(reason, `${field} is too large`, { field });
  return Number(v);
}

export function processHandlers(
  env: CallEnv,
  processes: ProcessService,
  triggers: TriggerService,
  /** Watch streams and the replica's life, as for observers (ADR 0052, 0073): `onShutdown` returns the undo. */
  watchStreams: { onShutdown: (fn: () => void) => () => void; maxStreamMs?: number } = { onShutdown: () => () => {} },
) {
  const rpc = <Req, Res>(method: string, fn: Parameters<typeof unary<Req, Res>>[3]) => unary<Req, Res>(env, DOMAIN, method, fn);
  return {
    startProcess: rpc<StartProcessRequest, StartProcessResponse>('StartProcess', async (req, ctx) => {
      const r = await processes.start(ctx, {
        kind: kindFromPb('kind', req.kind),
        input: inputFromPb(req.input),
        scopeSessionId: req.scopeSessionId || undefined,
        scopeFrameId: req.scopeFrameId || undefined,
        wakeSessionId: req.wakeSessionId || undefined,
        idempotencyKey: req.idempotencyKey || undefined,
        maxRunMs: msOf('max_run_ms', req.maxRunMs, 'MAX_RUN_TIME_INVALID'),
        startedBy: 'host',
      });
      return { process: processToPb(r.process), deduplicated: r.deduplicated };
    }),
    getProcess: rpc<GetProcessRequest, GetProcessResponse>('GetProcess', async (req, ctx) => ({
      process: processToPb(await processes.get(ctx, req.processId)),
    })),
    listProcesses: rpc<ListProcessesRequest, ListProcessesResponse>('ListProcesses', async (req, ctx) => {
      const page = await processes.list(
        ctx,
        {
          status: statusFromPb(req.status),
          scopeSessionId: req.scopeSessionId || undefined,
          visibleInFrameId: req.visibleInFrameId || undefined,
          sessionId: req.sessionId || undefined,
        },
        req.pageSize,
        req.pageToken,
      );
      return { processes: page.processes.map(processToPb), nextPageToken: page.nextPageToken };
    }),
    awaitProcess: rpc<AwaitProcessRequest, AwaitProcessResponse>('AwaitProcess', async (req, ctx) => {
      const r = await processes.await(ctx, req.processId, req.waitMs, ctx.signal);
      return { process: processToPb(r.process), finished: r.finished };
    }),
    cancelProcess: rpc<CancelProcessRequest, CancelProcessResponse>('CancelProcess', async (req, ctx) => {
      const r = await processes.cancel(ctx, req.processId, req.reason);
      return { process: processToPb(r.process), cancelled: r.cancelled };
    }),
    cancelProcesses: rpc<CancelProcessesRequest, CancelProcessesResponse>('CancelProcesses', async (req, ctx) => ({
      cancelledProcessIds: await processes.cancelScope(ctx, req.scopeSessionId, req.reason),
    })),
    signalProcess: rpc<SignalProcessRequest, SignalProcessResponse>('SignalProcess', async (req, ctx) => {
      const r = await processes.signal(ctx, req.processId, req.name, req.payload as JsonValue | undefined, req.idempotencyKey);
      return { process: processToPb(r.process), event: eventToPb(r.event) };
    }),
    listProcessEvents: rpc<ListProcessEventsRequest, ListProcessEventsResponse>('ListProcessEvents', async (req, ctx) => {
      if (req.pageSize < 0) throw invalid('PAGE_SIZE_INVALID', 'page_size must be 0 (default 100) or a positive integer', { field: 'page_size' });
      const events = await processes.events(ctx, req.processId, req.afterSeq, Math.min(req.pageSize || 100, 1_000));
      return { events: events.map(eventToPb) };
    }),
    watchProcessEvents(call: ServerWritableStream<WatchProcessEventsRequest, WatchProcessEventsResponse>) {
      const ctx = rpcContext(env, `${DOMAIN}/WatchProcessEvents`, call.metadata, callSignal(call));
      let closed = false;
      call.on('cancelled', () => (closed = true));
      // A shutdown drain, or a connection that will reach its age grace, ends the watch with
      // UNAVAILABLE rather than a cut (INTERNAL behind proxies): the client resumes with the
      // after_seq of the last event it got.
      const stop = new AbortController();
      const endRetryable = (reason: 'SERVER_DRAINING' | 'STREAM_RECYCLED', why: string) => {
        if (closed) return;
        closed = true;
        stop.abort();
        call.emit('error', toServiceError(new DomainError(reason, `${why}; watch again with after_seq = the last seq you received`), DOMAIN).error);
      };
      const off = watchStreams.onShutdown(() => endRetryable('SERVER_DRAINING', 'this replica is shutting down'));
      const recycle =
        watchStreams.maxStreamMs === undefined
          ? undefined
          : setTimeout(
              () => endRetryable('STREAM_RECYCLED', 'this stream is recycled before its connection reaches its maximum age'),
              watchStreams.maxStreamMs,
            );
      recycle?.unref();
      for (const event of ['close', 'finish', 'cancelled', 'error']) call.once(event, () => (off(), clearTimeout(recycle)));
      Promise.resolve()
        .then(async () => {
          const req = wellFormed(call.request);
          requireId('process_id', req.processId);
          requireSeq(req.afterSeq);
          await processes.get(ctx, req.processId);
          await followProcess(
            { store: processes.deps.store, bus: processes.deps.bus, pollMs: processes.deps.pollMs },
            ctx,
            req.processId,
            req.afterSeq,
            {
              closed: () => closed,
              // One message per page; wait for the transport when the client is slow.
              send: (events) =>
                new Promise<void>((resolve) => (call.write({ events: events.map(eventToPb) }) ? resolve() : call.once('drain', () => resolve()))),
            },
            AbortSignal.any([ctx.signal, stop.signal]),
          );
          if (!closed) call.end();
        })
        .catch((err: unknown) => {
          const { error, correlationId } = toServiceError(err, DOMAIN);
          if (correlationId) ctx.log.error({ err, correlationId }, 'process watch failed');
          if (!closed) call.emit('error', error);
        });
    },
    putTriggerSubscription: rpc<PutTriggerSubscriptionRequest, PutTriggerSubscriptionResponse>('PutTriggerSubscription', async (req, ctx) => {
      const s = req.subscription;
      if (!s) throw invalid('SUBSCRIPTION_REQUIRED', 'subscription is required', { field: 'subscription' });
      const intervalMs = s.intervalMs === 0n ? undefined : msOf('subscription.interval_ms', s.intervalMs, 'INTERVAL_INVALID');
      return {
        subscription: subscriptionToPb(
          await triggers.subscribe(ctx, {
            subscriptionId: s.subscriptionId,
            sourceType: s.sourceType,
            sourceKey: s.sourceKey,
            template: templateFromPb(s.template),
            intervalMs,
            firstDueAt: req.firstDueTime,
            cron: s.cron || undefined,
            timeZone: s.timeZone || undefined,
          }),
        ),
      };
    }),
    listTriggerSubscriptions: rpc<ListTriggerSubscriptionsRequest, ListTriggerSubscriptionsResponse>('ListTriggerSubscriptions', async (req, ctx) => {
      const page = await triggers.list(ctx, req.sourceType || undefined, req.pageSize, req.pageToken);
      return { subscriptions: page.subscriptions.map(subscriptionToPb), nextPageToken: page.nextPageToken };
    }),
    deleteTriggerSubscription: rpc<DeleteTriggerSubscriptionRequest, DeleteTriggerSubscriptionResponse>('DeleteTriggerSubscription', async (req, ctx) => ({
      deleted: await triggers.delete(ctx, req.subscriptionId),
    })),
    emitTrigger: rpc<EmitTriggerRequest, EmitTriggerResponse>('EmitTrigger', async (req, ctx) => ({
      deliveries: (
        await triggers.emit(ctx, {
          sourceType: req.sourceType,
          sourceKey: req.sourceKey,
          payload: req.payload as JsonValue | undefined,
          idempotencyKey: req.idempotencyKey,
        })
      ).map(deliveryToPb),
    })),
  };
}
