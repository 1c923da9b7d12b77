// lash.v1.TurnService handlers: run (streamed, batched), start/get/cancel, completions and the
// remote tool host stream. The turn logic lives in domain/turns.

import { status, type Metadata, type ServerDuplexStream, type ServerWritableStream, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { OnDisconnect, TurnActivity } from '../../gen/lash/v1/turn.js';
import {
  ResolveCompletionOutcome,
  TurnStatus,
  type RunTurnRequest,
  type RunTurnResponse,
  type ServeToolsRequest,
  type ServeToolsResponse,
  type StartTurnRequest,
  type TurnServiceServer,
} from '../../gen/lash/v1/turn_service.js';
import { ToolScheduling } from '../../gen/lash/v1/tool.js';
import { DomainError } from '../domain/errors.js';
import type { JsonValue } from '../domain/messages.js';
import type { ToolHostGate } from '../domain/tools/host-gate.js';
import type { HostAnswer, HostScope, RemoteToolHosts } from '../domain/tools/remote-hosts.js';
import type { CompletionService } from '../domain/tools/completions.js';
import { ToolHostSession, type HostMessage } from '../domain/tools/host-session.js';
import type { ClientTurns } from '../domain/tenants/limited-ports.js';
import type { TurnService } from '../domain/turns/runner.js';
import type { TurnRequest, TurnResult } from '../domain/turns/types.js';
import { callSignal, codeName, rpcContext, unary, type CallEnv } from './call.js';
import { wellFormed } from './decode-guard.js';
import { errorInfoOf, toServiceError } from './errors.js';
import { decodeEnum } from './mappers/enums.js';
import { eventToPb, overridesFromPb, resolutionFromPb, resolutionToPb, resultToPb, rlmFromPb, turnInputFromPb } from './mappers/turn.js';
import { preEncoded, repeatedField1 } from './pre-encoded.js';
import { BatchingWriter } from './stream.js';

const DOMAIN = 'lash.v1.TurnService';
const ON_DISCONNECT: Record<number, 'cancel' | 'continue'> = {
  [OnDisconnect.ON_DISCONNECT_UNSPECIFIED]: 'cancel',
  [OnDisconnect.ON_DISCONNECT_CANCEL]: 'cancel',
  [OnDisconnect.ON_DISCONNECT_CONTINUE]: 'continue',
};
const SCHEDULING: Record<number, 'parallel' | 'serial'> = {
  [ToolScheduling.TOOL_SCHEDULING_UNSPECIFIED]: 'parallel',
  [ToolScheduling.TOOL_SCHEDULING_PARALLEL]: 'parallel',
  [ToolScheduling.TOOL_SCHEDULING_SERIAL]: 'serial',
};

/** The request as a domain turn; the caller's W3C `traceparent` metadata, if any, joins its trace. */
export function turnRequestFromPb(r: StartTurnRequest | RunTurnRequest, metadata?: Metadata): TurnRequest {
  const traceparent = metadata?.get('traceparent')[0];
  return {
    sessionId: r.sessionId,
    turnId: r.turnId || undefined,
    input: turnInputFromPb(r.input),
    overrides: overridesFromPb(r.overrides),
    rlm: rlmFromPb(r.rlm),
    traceparent: typeof traceparent === 'string' ? traceparent : undefined,
  };
}

/**
 * One writer for every activity this process encodes: its buffer, grown once, is reused (a new
 * writer starts empty and doubles its way up on each message); `finish` copies the bytes out
 * and resets it. Encoding is synchronous, so no two encodings interleave; one that throws
 * leaves the writer mid-message, so it is replaced (and so is one grown past 256 KiB).
 */
let activityWriter = new BinaryWriter();
function encodeActivity(activity: TurnActivity): Uint8Array {
  try {
    const bytes = TurnActivity.encode(activity, activityWriter).finish();
    // A rare big activity does not leave its buffer held for good.
    if (bytes.length > 256 * 1024) activityWriter = new BinaryWriter();
    return bytes;
  } catch (err) {
    activityWriter = new BinaryWriter();
    throw err;
  }
}

/** An activity with its protobuf encoding. */
interface EncodedActivity {
  activity: TurnActivity;
  bytes: Uint8Array;
}

/** Streams one turn's activities to a call: events as they happen, the result last. */
export function streamTurn(
  env: CallEnv,
  domain: string,
  call: ServerWritableStream<unknown, RunTurnResponse>,
  method: string,
  run: (hooks: {
    onEvent: (a: TurnActivity['item']) => void;
    clientGone: AbortSignal;
    ctx: ReturnType<typeof rpcContext>;
  }) => Promise<TurnActivity['item'] | undefined>,
): void {
  const clientGone = callSignal(call);
  const ctx = rpcContext(env, `${domain}/${method}`, call.metadata, clientGone);
  const request = call.request;
  const started = performance.now();
  const observe = (code: string) => env.observe?.(`${domain}/${method}`, code, (performance.now() - started) / 1000, ctx.tenantId);
  let sequence = 0n;
  // sizeOf makes the writer close a response at about 64 KiB, so big items never share one message.
  // Each activity is encoded once, when pushed: its size is its encoding's, and the response
  // carries those bytes to its serializer (servePreEncoded), which then does not encode it again.
  const out = new BatchingWriter<EncodedActivity, RunTurnResponse>(
    call,
    (items) => preEncoded({ activities: items.map((i) => i.activity) }, repeatedField1(items.map((i) => i.bytes))),
    { sizeOf: (i) => (i as EncodedActivity).bytes.length },
  );
  let inText = false;
  const push = (item: TurnActivity['item']) => {
    const activity: TurnActivity = { sequence: ++sequence, item };
    const kind = item?.$case === 'event' ? item.value.kind?.$case : undefined;
    const text = kind === 'assistantProseDelta' || kind === 'reasoningDelta';
    // The first text after anything else (the coalescer's first text of a run, ADR 0084) leaves at
    // once, with what is queued before it; the text after it batches as usual.
    out.push({ activity, bytes: encodeActivity(activity) }, text && !inText);
    inText = text;
  };
  // A request that failed to decode is refused here, like any other bad input.
  new Promise<TurnActivity['item'] | undefined>((resolve) => {
    wellFormed(request);
    resolve(run({ onEvent: push, clientGone, ctx }));
  }).then(
    (last) => {
      if (last) push(last);
      out.end();
      observe('OK');
      env.audit?.({ method: `${domain}/${method}`, ctx, request, response: last?.$case === 'result' ? last.value : undefined, code: 'OK' });
    },
    (err: unknown) => {
      const { error, correlationId } = toServiceError(err, domain);
      if (correlationId) ctx.log.error({ err, correlationId }, 'stream failed with an internal error');
      out.fail(error);
      const code = codeName(error.code ?? status.UNKNOWN);
      observe(code);
      env.audit?.({ method: `${domain}/${method}`, ctx, request, code, reason: errorInfoOf(error)?.reason });
    },
  );
}

/** One ServeTools message as the host protocol sees it (a request that failed to decode is refused here). */
function hostMessageFromPb(msg: ServeToolsRequest): HostMessage {
  const m = wellFormed(msg).message;
  if (m?.$case === 'hello') {
    const target = m.value.scope?.target;
    const scope: HostScope | undefined =
      target?.$case === 'sessionId'
        ? { kind: 'session', sessionId: target.value }
        : target?.$case === 'tenantWide' && target.value
          ? { kind: 'tenant' }
          : undefined;
    const tools = () =>
      m.value.tools.map((t, i) => ({
        name: t.name,
        description: t.description,
        inputSchema: (t.inputSchema ?? {}) as Record<string, JsonValue>,
        scheduling: decodeEnum(`hello.tools[${i}].scheduling`, t.scheduling, SCHEDULING, 'ToolScheduling'),
      }));
    return { kind: 'hello', hello: { scope, tools } };
  }
  if (m?.$case !== 'toolResult') return { kind: 'other' };
  const o = m.value.outcome;
  const answer: HostAnswer | undefined =
    o?.$case === 'success'
      ? { kind: 'success', value: (o.value ?? null) as JsonValue }
      : o?.$case === 'failure'
        ? { kind: 'failure', message: o.value.message }
        : o?.$case === 'cancelled'
          ? { kind: 'cancelled' }
          : o?.$case === 'pending'
            ? { kind: 'pending', completionKey: o.value.completionKey }
            : undefined;
  return { kind: 'tool_result', callId: m.value.callId, answer };
}

export function turnServiceHandlers(
  env: CallEnv,
  turns: TurnService,
  hosts: RemoteToolHosts,
  gate: ToolHostGate,
  completions: CompletionService,
  admitted: ClientTurns,
  /**
   * Tool host streams and the replica's life: `onShutdown` registers what an open stream does when
   * the replica shuts down (returns the undo); with `maxStreamMs` a stream asks its host to reconnect
   * after that long, before its connection's age grace could cut it (ADR 0052, 0073).
   */
  hostStreams: { onShutdown: (fn: () => void) => () => void; maxStreamMs?: number } = { onShutdown: () => () => {} },
): TurnServiceServer & UntypedServiceImplementation {
  const resultItem = (r: TurnResult): TurnActivity['item'] => ({ $case: 'result', value: resultToPb(r) });
  return {
    runTurn(call: ServerWritableStream<RunTurnRequest, RunTurnResponse>) {
      streamTurn(env, DOMAIN, call as ServerWritableStream<unknown, RunTurnResponse>, 'RunTurn', async ({ onEvent, clientGone, ctx }) => {
        const onDisconnect = decodeEnum('on_disconnect', call.request.onDisconnect, ON_DISCONNECT, 'OnDisconnect');
        const req = turnRequestFromPb(call.request, call.metadata);
        const result = await admitted.run(ctx, req, {
          onEvent: (e) => onEvent({ $case: 'event', value: eventToPb(e) }),
          // A client that goes away cancels its turn unless it asked the turn to continue.
          signal: onDisconnect === 'cancel' ? clientGone : undefined,
          waitSignal: clientGone,
        });
        return resultItem(result);
      });
    },
    startTurn: unary(env, DOMAIN, 'StartTurn', async (req: StartTurnRequest, ctx) => ({
      turnId: await admitted.start(ctx, turnRequestFromPb(req, ctx.metadata)),
    })),
    getTurn: unary(env, DOMAIN, 'GetTurn', async (req, ctx) => {
      const s = await turns.get(ctx, req.sessionId, req.turnId);
      if (s.status === 'running') return { status: TurnStatus.TURN_STATUS_RUNNING, result: undefined };
      if (s.status === 'interrupted') return { status: TurnStatus.TURN_STATUS_INTERRUPTED, result: undefined };
      return { status: TurnStatus.TURN_STATUS_COMMITTED, result: resultToPb(s.result) };
    }),
    cancelTurn: unary(env, DOMAIN, 'CancelTurn', async (req, ctx) => ({ signalled: await turns.cancel(ctx, req.sessionId, req.turnId) })),
    cancelRunningTurns: unary(env, DOMAIN, 'CancelRunningTurns', async (req, ctx) => ({ cancelledCount: await turns.cancelRunning(ctx, req.sessionId) })),
    resolveCompletion: unary(env, DOMAIN, 'ResolveCompletion', async (req, ctx) => {
      const r = await completions.resolve(ctx, req.completionKey, resolutionFromPb(req.resolution));
      if (r.outcome === 'accepted') return { outcome: ResolveCompletionOutcome.RESOLVE_COMPLETION_OUTCOME_ACCEPTED, firstResolution: undefined };
      if (r.outcome === 'already_resolved')
        return { outcome: ResolveCompletionOutcome.RESOLVE_COMPLETION_OUTCOME_ALREADY_RESOLVED, firstResolution: resolutionToPb(r.first) };
      return { outcome: ResolveCompletionOutcome.RESOLVE_COMPLETION_OUTCOME_UNKNOWN, firstResolution: undefined };
    }),
    serveTools(call: ServerDuplexStream<ServeToolsRequest, ServeToolsResponse>) {
      // The protocol lives in domain/tools/host-session.ts; this maps messages and carries out writes.
      const method = `${DOMAIN}/ServeTools`;
      const ctx = rpcContext(env, method, call.metadata, callSignal(call));
      const session = new ToolHostSession(ctx, gate, hosts, {
        call: (c) => call.write({ message: { $case: 'toolCall', value: c } }),
        cancel: (callId, reason) => call.write({ message: { $case: 'cancel', value: { callId, reason } } }),
        ready: ({ hostId, subject, tools, scope, sessionId }) => {
          env.audit?.({ method, ctx, request: { sessionId }, code: 'OK' });
          ctx.log.info({ hostId, subject, tools, scope }, 'tool host connected');
          call.write({ message: { $case: 'ready', value: { hostId } } });
        },
        fail: (err, refusedHello) => {
          const { error } = toServiceError(err, DOMAIN);
          // A refused hello is the connect attempt the audit trail records.
          if (refusedHello)
            env.audit?.({
              method,
              ctx,
              request: { sessionId: refusedHello.sessionId },
              code: codeName(error.code ?? status.UNKNOWN),
              reason: errorInfoOf(error)?.reason,
            });
          call.emit('error', error);
        },
        ignored: (callId) => ctx.log.warn({ callId }, 'tool result for an unknown or finished call ignored'),
        disconnected: (hostId) => ctx.log.info({ hostId }, 'tool host disconnected'),
      });
      // Hosts reconnect on UNAVAILABLE (the Python ToolHost does): on a shutdown drain once the replica's
      // turns are over, and before the connection's age grace ends, at a moment without a call
      // in flight. A cut stream would reach a host behind a proxy as INTERNAL, its calls lost.
      const reconnect = (reason: 'SERVER_DRAINING' | 'STREAM_RECYCLED', why: string) =>
        new DomainError(reason, `${why}; reconnect ServeTools (your tools are unavailable on this stream from now on)`);
      const off = hostStreams.onShutdown(() => session.retire(reconnect('SERVER_DRAINING', 'this replica is shutting down'), 'now'));
      const recycle =
        hostStreams.maxStreamMs === undefined
          ? undefined
          : setTimeout(
              () => session.retire(reconnect('STREAM_RECYCLED', 'this stream is recycled before its connection reaches its maximum age'), 'idle'),
              hostStreams.maxStreamMs,
            );
      recycle?.unref();
      for (const event of ['close', 'finish', 'cancelled', 'error']) call.once(event, () => (off(), clearTimeout(recycle)));
      call.on('data', (msg: ServeToolsRequest) => session.receive(() => hostMessageFromPb(msg)));
      call.on('end', () => {
        session.end();
        call.end();
      });
      call.on('cancelled', () => session.end());
      call.on('error', () => session.end());
    },
  };
}
