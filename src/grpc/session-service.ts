// lash.v1.SessionService handlers: decode, call the domain, encode; ObserveSession streams the
// session's feed through a bounded, batching writer.

import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type { SessionServiceServer } from '../../gen/lash/v1/session_service.js';
import type { RequestContext } from '../domain/ports.js';
import type { SessionService } from '../domain/sessions.js';
import { unary, type CallEnv } from './call.js';
import { messageToPb, usageToPb } from './mappers/common.js';
import { configPatchFromPb, openRequestFromPb, sessionToPb } from './mappers/session.js';
import type { ServerWritableStream } from '@grpc/grpc-js';
import { FeedMessage as PbFeedMessage } from '../../gen/lash/v1/feed.js';
import {
  ExportSessionStateResponse,
  type ExportSessionStateChunkRequest,
  type ObserveSessionRequest,
  type ObserveSessionResponse,
} from '../../gen/lash/v1/session_service.js';
import { DomainError, precondition } from '../domain/errors.js';
import type { FeedObservations, ObserverSink } from '../domain/feed/observation.js';
import { callSignal, rpcContext } from './call.js';
import { wellFormed } from './decode-guard.js';
import { toServiceError } from './errors.js';
import { feedMessageToPb } from './mappers/feed.js';
import { BatchingWriter } from './stream.js';

type FeedMessage = PbFeedMessage;

const DOMAIN = 'lash.v1.SessionService';
/** An unchunked export answers in one message only below the client's 4 MiB, with room to spare. */
const MAX_UNCHUNKED_STATE_MESSAGE_BYTES = 4 * 1024 * 1024 - 64 * 1024;

/** `holdObserver`: takes one of the tenant's observer places (throws past the limit); its result gives it back. */
export function sessionServiceHandlers(
  env: CallEnv,
  sessions: SessionService,
  feed: Pick<FeedObservations, 'observe'>,
  limits: { items: number; bytes: number; stallMs: number; maxStreamMs?: number },
  /** Registers what an open observer does when the replica drains; returns the undo (run when the stream ends). */
  onShutdown: (fn: () => void) => () => void,
  holdObserver?: (tenantId: string) => () => void,
  detachProcesses: (ctx: RequestContext, sessionId: string) => Promise<{ orphaned: string[]; kept: string[]; failed: string[] }> = async () => ({
    orphaned: [],
    kept: [],
    failed: [],
  }),
): SessionServiceServer & UntypedServiceImplementation {
  const rpc = <Req, Res>(method: string, fn: Parameters<typeof unary<Req, Res>>[3]) => unary<Req, Res>(env, DOMAIN, method, fn);
  return {
    openSession: rpc('OpenSession', async (req, ctx) => {
      const { head, created } = await sessions.open(ctx, openRequestFromPb(req));
      return { session: sessionToPb(head), created };
    }),
    getSession: rpc('GetSession', async (req, ctx) => ({ session: sessionToPb(await sessions.describe(ctx, req.sessionId)) })),
    listSessions: rpc('ListSessions', async (req, ctx) => {
      const page = await sessions.list(
        ctx,
        { parentSessionId: req.filter?.parentSessionId, metadata: req.filter?.metadata ?? {} },
        req.pageSize,
        req.pageToken,
      );
      return { sessions: page.sessions.map((h) => sessionToPb(h)), nextPageToken: page.nextPageToken };
    }),
    closeSession: rpc('CloseSession', async (req, ctx) => {
      await sessions.close(ctx, req.sessionId);
      return {};
    }),
    deleteSession: rpc('DeleteSession', async (req, ctx) => {
      // Its processes are never cancelled by a delete: their wakes and grants are revoked and they
      // are reported, for the session and each child session deleted with it.
      const r = { orphaned: [] as string[], kept: [] as string[], failed: [] as string[] };
      const deleted = await sessions.delete(ctx, req.sessionId, async (id) => {
        const d = await detachProcesses(ctx, id);
        r.orphaned.push(...d.orphaned);
        r.kept.push(...d.kept);
        r.failed.push(...d.failed);
      });
      return { deleted, orphanedProcessIds: r.orphaned, keptProcessIds: r.kept, failedProcessIds: r.failed };
    }),
    getReadView: rpc('GetReadView', async (req, ctx) => {
      const view = await sessions.readView(ctx, req.sessionId, req.pageSize, req.pageToken);
      return {
        messages: view.messages.map(messageToPb),
        nextPageToken: view.nextPageToken,
        turnIndex: view.turnIndex,
        lastPromptUsage: view.lastPromptUsage && usageToPb(view.lastPromptUsage),
        frameId: view.frameId,
      };
    }),
    getAttachment: rpc('GetAttachment', async (req, ctx) => {
      const a = await sessions.attachment(ctx, req.sessionId, req.attachmentId);
      return { mediaType: a.mimeType, data: Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength) };
    }),
    getUsageReport: rpc('GetUsageReport', async (req, ctx) => {
      const r = await sessions.usageReport(ctx, req.sessionId);
      return {
        total: usageToPb(r.total),
        bySource: r.bySource.map((s) => ({ source: s.source, usage: usageToPb(s.usage) })),
        byModel: r.byModel.map((m) => ({ model: m.model, usage: usageToPb(m.usage) })),
        bySourceAndModel: r.bySourceAndModel.map((x) => ({ source: x.source, model: x.model, usage: usageToPb(x.usage) })),
      };
    }),
    updateSessionConfig: rpc('UpdateSessionConfig', async (req, ctx) => ({
      session: sessionToPb(await sessions.updateConfig(ctx, req.sessionId, configPatchFromPb(req))),
    })),
    exportSessionState: rpc('ExportSessionState', async (req, ctx) => {
      const document = await sessions.exportState(ctx, req.sessionId);
      const res: ExportSessionStateResponse = { state: { version: document.version, sessionId: document.sessionId, document, documentJson: Buffer.alloc(0) } };
      // As a Struct a document can be several times its JSON size (every number takes 9 bytes).
      const size = ExportSessionStateResponse.encode(res).finish().length;
      if (size > MAX_UNCHUNKED_STATE_MESSAGE_BYTES)
        throw precondition(
          'STATE_NEEDS_CHUNKS',
          `the state of session "${req.sessionId}" encodes to ${size} bytes, more than one answer holds; export it with ExportSessionStateChunk`,
          { session_id: req.sessionId },
        );
      return res;
    }),
    exportSessionStateChunk: rpc('ExportSessionStateChunk', async (req: ExportSessionStateChunkRequest, ctx) => {
      const piece = await sessions.exportStateChunk(ctx, req.sessionId, req.pageToken);
      return {
        sessionId: req.sessionId,
        version: piece.version,
        chunk: Buffer.from(piece.chunk.buffer, piece.chunk.byteOffset, piece.chunk.byteLength),
        nextPageToken: piece.nextPageToken,
        totalBytes: BigInt(piece.totalBytes),
      };
    }),
    observeSession(call: ServerWritableStream<ObserveSessionRequest, ObserveSessionResponse>) {
      const ctx = rpcContext(env, `${DOMAIN}/ObserveSession`, call.metadata, callSignal(call));
      const sessionId = call.request.sessionId;
      let observer: { close(): void } | undefined;
      // The observation paces itself by what the client has taken; one that takes nothing for the
      // stall time while at the limit is cut off (it resumes from its last cursor).
      const out = new BatchingWriter<FeedMessage, ObserveSessionResponse>(
        call as ServerWritableStream<unknown, ObserveSessionResponse>,
        (messages) => ({ messages }),
        { ...limits, sizeOf: (m) => PbFeedMessage.encode(m as FeedMessage).finish().length },
        () => {
          observer?.close();
          out.fail(
            toServiceError(
              new DomainError(
                'OBSERVER_TOO_SLOW',
                `this observer left ${limits.items} messages or ${limits.bytes} bytes untaken for ${limits.stallMs} ms; reconnect with the cursor of the last message you processed`,
                { session_id: sessionId },
              ),
              DOMAIN,
            ).error,
          );
        },
      );
      const fail = (err: unknown) => {
        observer?.close();
        const { error, correlationId } = toServiceError(err, DOMAIN);
        if (correlationId) ctx.log.error({ err, correlationId }, 'observation failed');
        out.fail(error);
      };
      call.on('cancelled', () => observer?.close());
      const sink: ObserverSink = {
        send: (m) => out.push(feedMessageToPb(m, sessionId)),
        fail,
        hasRoom: () => out.hasRoom(),
        room: () => out.room(),
        whenRoom: () => out.whenRoom(),
      };
      let release: (() => void) | undefined;
      // The place is given back however the stream ends.
      for (const event of ['close', 'finish', 'cancelled', 'error']) call.once(event, () => release?.());
      Promise.resolve()
        .then(() => wellFormed(call.request))
        .then(() => {
          release = holdObserver?.(ctx.tenantId);
          if (out.isClosed) release?.(); // gone before the place was taken
          return feed.observe(ctx, sessionId, call.request.cursor || undefined, sink);
        })
        .then((o) => {
          observer = o;
          if (out.isClosed) o.close();
          const endRetryable = (reason: 'SERVER_DRAINING' | 'STREAM_RECYCLED', why: string) => {
            o.close();
            out.fail(
              toServiceError(
                new DomainError(reason, `${why}; reconnect and resume from the cursor of the last message you processed`, { session_id: sessionId }),
                DOMAIN,
              ).error,
            );
          };
          // A draining replica ends observers with UNAVAILABLE, the status clients, proxies and
          // meshes retry; the observer resumes from its cursor on another replica (ADR 0052).
          const offShutdown = onShutdown(() => endRetryable('SERVER_DRAINING', 'this replica is shutting down'));
          // With a connection age grace, an observer ends itself before the grace could cut its
          // connection (a cut stream reaches the client as INTERNAL through proxies).
          const recycle =
            limits.maxStreamMs === undefined
              ? undefined
              : setTimeout(
                  () => out.isClosed || endRetryable('STREAM_RECYCLED', 'this stream is recycled before its connection reaches its maximum age'),
                  limits.maxStreamMs,
                ).unref();
          // The registration and the timer go when the stream ends, however it ends: each holds the
          // stream, so finished observers leave nothing behind (a timer cleared only on cancel kept
          // a completed stream for the rest of maxStreamMs).
          const ended = () => {
            offShutdown();
            clearTimeout(recycle);
          };
          if (out.isClosed || call.cancelled) ended();
          else for (const event of ['close', 'finish', 'cancelled', 'error']) call.once(event, ended);
        }, fail);
    },
  };
}
