// observe(): a session's feed as one async iterable that survives disconnects and server restarts.
// Every feed message has a cursor and ObserveSession resumes right after a cursor, so after a
// dropped stream the iterable reconnects (with backoff) from the last cursor it saw: the caller
// sees no gap and no duplicate. Failures a reconnect cannot fix (unknown session, bad cursor,
// auth) are thrown; an AbortSignal ends the iteration.

import { status } from '@grpc/grpc-js';
import type { FeedMessage } from '../../gen/lash/v1/feed.js';
import type { ObserveSessionRequest, ObserveSessionResponse, DeepPartial } from '../../gen/lash/v1/session_service.js';
import { abortError, LashError, toLashError } from './errors.js';
import { backoff, type RetryPolicy } from './retry.js';
import type { CallOpts } from './service.js';

export interface ObserveOptions {
  /** Resume right after this cursor; unset (or '') starts with a snapshot. */
  cursor?: string;
  signal?: AbortSignal;
  /** Yield heartbeats too (default: skipped). */
  heartbeats?: boolean;
  /** Give up when no stream could be opened for this long (default 120 s). */
  giveUpAfterMs?: number;
  /** Called before each reconnect with the cursor it resumes from and the error, if any. */
  onReconnect?(cursor: string | undefined, error?: LashError): void;
}

type Observe = (req: DeepPartial<ObserveSessionRequest>, opts?: CallOpts) => AsyncIterable<ObserveSessionResponse>;

const RECONNECT: RetryPolicy = { maxAttempts: Infinity, initialBackoffMs: 100, maxBackoffMs: 2_000 };

/** Transport failures: the service's own refusals carry an ErrorInfo reason (UNAVAILABLE ones are retryable too). */
const transient = (e: LashError) =>
  e.code === status.UNAVAILABLE || (e.reason === undefined && [status.CANCELLED, status.INTERNAL, status.UNKNOWN, status.DEADLINE_EXCEEDED].includes(e.code));

export async function* observe(observeSession: Observe, sessionId: string, opts: ObserveOptions = {}): AsyncGenerator<FeedMessage> {
  let cursor = opts.cursor || undefined;
  let lastSequence: bigint | undefined;
  let failingSince: number | undefined;
  let attempt = 0;
  const giveUpAfter = opts.giveUpAfterMs ?? 120_000;
  for (;;) {
    let error: LashError | undefined;
    try {
      for await (const response of observeSession({ sessionId, cursor }, { signal: opts.signal, retry: false })) {
        failingSince = undefined;
        attempt = 0;
        for (const m of response.messages) {
          if (m.kind?.$case === 'event') {
            // The server resumes after the cursor; this guards against a replayed event anyway.
            if (lastSequence !== undefined && m.sequence <= lastSequence) continue;
            lastSequence = m.sequence;
          }
          if (m.cursor) cursor = m.cursor;
          if (m.kind?.$case === 'heartbeat' && !opts.heartbeats) continue;
          yield m;
        }
      }
    } catch (err) {
      if (opts.signal?.aborted) throw abortError(opts.signal);
      const e = toLashError(err);
      if (!transient(e)) throw e;
      error = e;
    }
    if (opts.signal?.aborted) return;
    failingSince ??= Date.now();
    if (Date.now() - failingSince > giveUpAfter)
      throw error ?? new LashError(status.UNAVAILABLE, `observing "${sessionId}" kept failing for ${giveUpAfter} ms`);
    opts.onReconnect?.(cursor, error);
    await backoff(RECONNECT, ++attempt, opts.signal);
  }
}
