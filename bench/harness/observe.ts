// ObserveSession on raw clients: one decode per response, as the generated client does.

import { Client, credentials, Metadata, type ClientReadableStream } from '@grpc/grpc-js';
import { ObserveSessionRequest, ObserveSessionResponse, SessionServiceService } from '../../gen/lash/v1/session_service.js';
import { identity } from './echo.js';

export interface Observer {
  /** Sequence of the newest event received (0 before any). */
  lastSeq: number;
  events: number;
  /** performance.now() of the first message and of the newest event. */
  firstAt: number;
  /** Cursor of the first message (a snapshot's is the feed position when observing began). */
  firstCursor: string;
  lastEventAt: number;
  /** Every response as received after `record()` (for the raw replay). */
  recorded?: Buffer[];
  /** The most feed messages one response carried. */
  maxMessagesPerResponse: number;
  error?: string;
  ended: boolean;
  cancel(): void;
}

export type OnEvent = (message: ObserveSessionResponse['messages'][number], at: number) => void;

/** Clients on connections of their own (grpc-js otherwise shares one connection per target). */
export function channels(address: string, count: number): Client[] {
  return Array.from({ length: count }, () => new Client(address, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }));
}

export function observe(client: Client, sessionId: string, cursor: string | undefined, onEvent?: OnEvent): Observer {
  const call: ClientReadableStream<Buffer> = client.makeServerStreamRequest<ObserveSessionRequest, Buffer>(
    SessionServiceService.observeSession.path,
    (r) => Buffer.from(ObserveSessionRequest.encode(r).finish()),
    identity,
    { sessionId, cursor },
    new Metadata(),
    {},
  );
  const o: Observer = {
    lastSeq: 0,
    events: 0,
    firstAt: 0,
    firstCursor: '',
    lastEventAt: 0,
    maxMessagesPerResponse: 0,
    ended: false,
    cancel: () => call.cancel(),
  };
  call.on('data', (buf: Buffer) => {
    const at = performance.now();
    if (o.firstAt === 0) o.firstAt = at;
    o.recorded?.push(buf);
    const res = ObserveSessionResponse.decode(buf);
    if (!o.firstCursor && res.messages[0]) o.firstCursor = res.messages[0].cursor;
    o.maxMessagesPerResponse = Math.max(o.maxMessagesPerResponse, res.messages.length);
    for (const m of res.messages) {
      if (m.kind?.$case === 'snapshot' || m.kind?.$case === 'gap') o.lastSeq = Math.max(o.lastSeq, Number(m.sequence));
      if (m.kind?.$case !== 'event') continue;
      o.events++;
      o.lastSeq = Number(m.sequence);
      o.lastEventAt = at;
      onEvent?.(m, at);
    }
  });
  call.on('error', (e: { code: number; details: string }) => {
    if (e.code !== 1 /* CANCELLED: ours */) o.error = `${e.code} ${e.details}`;
    o.ended = true;
  });
  call.on('end', () => (o.ended = true));
  return o;
}
