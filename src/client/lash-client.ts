// LashClient: the TypeScript client library of lash-grpc. One connection (address, TLS, bearer
// token) with the four lash.v1 services as promise / async-iterator APIs (`sessions`, `turns`,
// `queue`, `admin`), plus helpers for what raw stubs make awkward: a turn as a stream of events
// then its result, a drain, observation that resumes across disconnects, and a session's state
// exported in pieces of any size.

import { randomUUID } from 'node:crypto';
import { ChannelCredentials, Client, credentials, Metadata } from '@grpc/grpc-js';
import * as adminMessages from '../../gen/lash/v1/admin_service.js';
import * as processAdminMessages from '../../gen/lash/v1/process_admin.js';
import { AdminServiceService } from '../../gen/lash/v1/admin_service.js';
import * as queueMessages from '../../gen/lash/v1/queue_service.js';
import { QueueServiceService, type RunQueuedTurnRequest } from '../../gen/lash/v1/queue_service.js';
import * as sessionMessages from '../../gen/lash/v1/session_service.js';
import { SessionServiceService, type DeepPartial } from '../../gen/lash/v1/session_service.js';
import * as turnMessages from '../../gen/lash/v1/turn_service.js';
import { TurnServiceService, type RunTurnRequest } from '../../gen/lash/v1/turn_service.js';
import type { FeedMessage } from '../../gen/lash/v1/feed.js';
import { LashError, toLashError } from './errors.js';
import { observe, type ObserveOptions } from './observe.js';
import { backoff, DEFAULT_RETRY, type RetryPolicy } from './retry.js';
import { serviceApi, type CallContext, type CallOpts, type ServiceApi } from './service.js';
import { TurnStream } from './turn-stream.js';

export interface LashClientOptions {
  /** "host:port"; default LASH_ADDRESS or 127.0.0.1:50051. */
  address?: string;
  /** Sent as `authorization: Bearer <token>` on every call. */
  token?: string;
  /**
   * false/undefined: plaintext. true: TLS with the system roots. An object: TLS with a private CA
   * (`ca`) and/or a client certificate for mutual TLS (`cert` + `key`), PEM. Or ready credentials.
   */
  tls?: boolean | { ca?: Buffer | string; cert?: Buffer | string; key?: Buffer | string } | ChannelCredentials;
  /** Deadline of unary calls without their own (ms); undefined means none. */
  deadlineMs?: number;
  /** Retry policy of idempotent unary calls (default: 4 attempts, 100 ms doubling to 2 s). */
  retry?: RetryPolicy;
  /** grpc-js channel options. */
  channelOptions?: Record<string, unknown>;
}

const pem = (v?: Buffer | string) => (v === undefined ? null : Buffer.isBuffer(v) ? v : Buffer.from(v));

function channelCredentials(tls: LashClientOptions['tls']): ChannelCredentials {
  if (!tls) return credentials.createInsecure();
  if (tls === true) return credentials.createSsl();
  if (tls instanceof ChannelCredentials) return tls;
  return credentials.createSsl(pem(tls.ca), pem(tls.key), pem(tls.cert));
}

export class LashClient {
  readonly address: string;
  readonly sessions: ServiceApi<typeof SessionServiceService>;
  readonly turns: ServiceApi<typeof TurnServiceService>;
  readonly queue: ServiceApi<typeof QueueServiceService>;
  readonly admin: ServiceApi<typeof AdminServiceService>;
  /** The grpc-js client under the services, for calls they do not cover (ServeTools). */
  readonly grpc: Client;
  private readonly token?: string;

  constructor(options: LashClientOptions = {}) {
    this.address = options.address ?? process.env.LASH_ADDRESS ?? '127.0.0.1:50051';
    this.token = options.token;
    // A restarted server should be found again in seconds, not after grpc's default backoff (2 min).
    this.grpc = new Client(this.address, channelCredentials(options.tls), {
      'grpc.max_reconnect_backoff_ms': 5_000,
      'grpc.initial_reconnect_backoff_ms': 200,
      ...options.channelOptions,
    });
    const ctx: CallContext = {
      client: this.grpc,
      metadata: (extra) => this.metadata(extra),
      defaultDeadlineMs: options.deadlineMs,
      retry: options.retry ?? DEFAULT_RETRY,
    };
    this.sessions = serviceApi(SessionServiceService, sessionMessages, ctx);
    this.turns = serviceApi(TurnServiceService, turnMessages, ctx);
    this.queue = serviceApi(QueueServiceService, queueMessages, ctx);
    // AdminService's process and trigger requests live in their own proto file.
    this.admin = serviceApi(AdminServiceService, { ...adminMessages, ...processAdminMessages }, ctx);
  }

  /** Call metadata: the bearer token (if any) and `extra`. */
  metadata(extra: Record<string, string> = {}): Metadata {
    const md = new Metadata();
    if (this.token) md.set('authorization', `Bearer ${this.token}`);
    for (const [k, v] of Object.entries(extra)) md.set(k, v);
    return md;
  }

  /**
   * Runs one turn. The turn gets a fresh id unless the request names one, so a connection that
   * fails before anything streamed is retried safely (the server deduplicates on the turn id).
   */
  runTurn(req: DeepPartial<RunTurnRequest>, opts: CallOpts = {}): TurnStream {
    const turnId = req.turnId || randomUUID();
    return new TurnStream(
      this.retryUntilFirst((o) => this.turns.runTurn({ ...req, turnId }, o), opts),
      turnId,
    );
  }

  /** Claims ready queued work and runs it as one turn (`nothingToDo` when there was none). */
  drain(req: DeepPartial<RunQueuedTurnRequest>, opts: CallOpts = {}): TurnStream {
    const drainId = req.drainId || randomUUID();
    return new TurnStream(this.retryUntilFirst((o) => this.queue.runQueuedTurn({ ...req, drainId }, o), opts));
  }

  /** The session feed, resuming from its last cursor across disconnects and server restarts. */
  observe(sessionId: string, opts: ObserveOptions = {}): AsyncGenerator<FeedMessage> {
    return observe(this.sessions.observeSession, sessionId, opts);
  }

  /**
   * The session's state document as UTF-8 JSON text, whatever its size: read piece by piece with
   * ExportSessionStateChunk (each answer at most 2 MiB, under a default client's 4 MiB limit), so
   * it works where ExportSessionState answers STATE_NEEDS_CHUNKS. A session that changes between
   * pieces (ABORTED / STATE_CHANGED_DURING_EXPORT) is read again from the start, up to `attempts`
   * times. The text imports back through `SessionState.document_json`.
   */
  async exportState(sessionId: string, opts: CallOpts & { attempts?: number } = {}): Promise<Buffer> {
    const attempts = opts.attempts ?? 3;
    for (let attempt = 1; ; attempt++) {
      try {
        const pieces: Buffer[] = [];
        let pageToken = '';
        do {
          const r = await this.sessions.exportSessionStateChunk({ sessionId, pageToken }, opts);
          pieces.push(Buffer.from(r.chunk));
          pageToken = r.nextPageToken;
        } while (pageToken);
        return Buffer.concat(pieces);
      } catch (err) {
        if (!(err instanceof LashError && err.reason === 'STATE_CHANGED_DURING_EXPORT') || attempt >= attempts) throw err;
      }
    }
  }

  close(): void {
    this.grpc.close();
  }

  /** A stream re-opened after UNAVAILABLE as long as nothing has arrived yet (then it is not a repeat). */
  private async *retryUntilFirst<T>(open: (o: CallOpts) => AsyncIterable<T>, opts: CallOpts): AsyncGenerator<T> {
    const policy = opts.retry === false ? { ...DEFAULT_RETRY, maxAttempts: 1 } : (opts.retry ?? DEFAULT_RETRY);
    for (let attempt = 1; ; attempt++) {
      let received = false;
      try {
        for await (const m of open(opts)) {
          received = true;
          yield m;
        }
        return;
      } catch (err) {
        const e = toLashError(err);
        // Only an unreachable server is retried on the caller's behalf; a conflict or a limit the
        // server calls retryable is the caller's to handle (it may want to read again first).
        if (received || !e.unavailable || attempt >= policy.maxAttempts) throw e;
        await backoff(policy, attempt, opts.signal);
      }
    }
  }
}
