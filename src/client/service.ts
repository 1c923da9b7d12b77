// One lash.v1 service as promises and async iterables, built from the service definition ts-proto
// generates: unary methods return a Promise, server-streaming ones an async iterable. Requests are
// DeepPartial (filled in with the message's fromPartial), every call carries the connection's
// metadata (bearer token), a deadline, an optional AbortSignal, typed errors, and unary calls that
// are safe to repeat are retried after UNAVAILABLE.

import { Metadata, type CallOptions, type Client, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import type { DeepPartial } from '../../gen/lash/v1/session_service.js';
import { abortError, toLashError } from './errors.js';
import { backoff, DEFAULT_RETRY, isIdempotent, shouldRetry, type RetryPolicy } from './retry.js';

export interface CallOpts {
  /** Cancels the call (the promise rejects / the iteration throws CANCELLED). */
  signal?: AbortSignal;
  /** Deadline of the whole call, retries included; default: the connection's (unary calls only). */
  deadlineMs?: number;
  /** Extra metadata for this call. */
  metadata?: Record<string, string>;
  /** Retry policy for this call; `false` never retries. Only idempotent calls are ever retried. */
  retry?: RetryPolicy | false;
}

interface MethodDef {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestSerialize: (value: never) => Buffer;
  responseDeserialize: (value: Buffer) => unknown;
}

type Req<M> = M extends { requestSerialize: (value: infer Q) => Buffer } ? Q : never;
type Res<M> = M extends { responseDeserialize: (value: Buffer) => infer R } ? R : never;

export type ServiceApi<D> = {
  [K in keyof D]: D[K] extends { requestStream: false; responseStream: false }
    ? (req: DeepPartial<Req<D[K]>>, opts?: CallOpts) => Promise<Res<D[K]>>
    : D[K] extends { requestStream: false; responseStream: true }
      ? (req: DeepPartial<Req<D[K]>>, opts?: CallOpts) => AsyncIterable<Res<D[K]>>
      : never;
};

/** What a service needs from its connection. */
export interface CallContext {
  client: Client;
  metadata(extra?: Record<string, string>): Metadata;
  defaultDeadlineMs?: number;
  retry: RetryPolicy;
}

type MessageFns = { fromPartial(p: unknown): unknown };

/**
 * The API of one service. `messages` is the generated module holding the request types; a
 * method's request is `${Method}Request` there (buf lint's RPC_REQUEST_STANDARD_NAME holds it).
 */
export function serviceApi<D extends Record<string, MethodDef>>(def: D, messages: Record<string, unknown>, ctx: CallContext): ServiceApi<D> {
  const api: Record<string, unknown> = {};
  for (const [name, m] of Object.entries(def)) {
    const requestType = messages[`${m.path.split('/').pop()}Request`] as MessageFns | undefined;
    const full = (req: unknown) => (requestType ? requestType.fromPartial(req ?? {}) : req);
    const serialize = m.requestSerialize as (v: unknown) => Buffer;
    if (!m.requestStream && !m.responseStream) api[name] = (req: unknown, opts: CallOpts = {}) => unary(ctx, m, serialize, full(req), opts);
    else if (!m.requestStream && m.responseStream) api[name] = (req: unknown, opts: CallOpts = {}) => serverStream(ctx, m, serialize, full(req), opts);
  }
  return api as ServiceApi<D>;
}

async function unary(ctx: CallContext, m: MethodDef, serialize: (v: unknown) => Buffer, req: unknown, opts: CallOpts): Promise<unknown> {
  const deadlineMs = opts.deadlineMs ?? ctx.defaultDeadlineMs;
  const deadline = deadlineMs === undefined ? undefined : Date.now() + deadlineMs;
  const policy =
    opts.retry === false || !isIdempotent(m.path, req as Record<string, unknown>) ? { ...DEFAULT_RETRY, maxAttempts: 1 } : (opts.retry ?? ctx.retry);
  for (let attempt = 1; ; attempt++) {
    try {
      return await once(ctx, m, serialize, req, opts, deadline);
    } catch (err) {
      const e = toLashError(err);
      if (!shouldRetry(e, attempt, policy, deadline)) throw e;
      await backoff(policy, attempt, opts.signal);
    }
  }
}

function once(ctx: CallContext, m: MethodDef, serialize: (v: unknown) => Buffer, req: unknown, opts: CallOpts, deadline?: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) return reject(abortError(opts.signal));
    const callOptions: Partial<CallOptions> = deadline === undefined ? {} : { deadline };
    const call = ctx.client.makeUnaryRequest(
      m.path,
      serialize,
      m.responseDeserialize,
      req,
      ctx.metadata(opts.metadata),
      callOptions,
      (err: ServiceError | null, res?: unknown) => {
        opts.signal?.removeEventListener('abort', onAbort);
        if (err) reject(opts.signal?.aborted ? abortError(opts.signal) : err);
        else resolve(res);
      },
    );
    const onAbort = () => call.cancel();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

async function* serverStream(ctx: CallContext, m: MethodDef, serialize: (v: unknown) => Buffer, req: unknown, opts: CallOpts): AsyncGenerator<unknown> {
  if (opts.signal?.aborted) throw abortError(opts.signal);
  const callOptions: Partial<CallOptions> = opts.deadlineMs === undefined ? {} : { deadline: Date.now() + opts.deadlineMs };
  const call: ClientReadableStream<unknown> = ctx.client.makeServerStreamRequest(
    m.path,
    serialize,
    m.responseDeserialize,
    req,
    ctx.metadata(opts.metadata),
    callOptions,
  );
  const onAbort = () => call.cancel();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const message of call) yield message;
  } catch (err) {
    throw opts.signal?.aborted ? abortError(opts.signal) : toLashError(err);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    // Leaving the loop early (break, throw in the body) ends the call on the server too.
    call.cancel();
  }
}
