// Test helper: an ObserveSession call over plain node:http2 that can stop reading at the
// transport level. A paused grpc-js client keeps draining the connection into its own buffers;
// this one, paused, stops granting HTTP/2 flow-control window, as a stuck process would.

import { connect, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import type { FeedMessage } from '../../gen/lash/v1/feed.js';
import { ObserveSessionRequest, ObserveSessionResponse } from '../../gen/lash/v1/session_service.js';

export interface RawObserver {
  /** Feed messages decoded from what was read so far. */
  messages: FeedMessage[];
  /** grpc-status and grpc-message once the call ended. */
  status?: { code: number; message: string };
  pause(): void;
  resume(): void;
  close(): void;
}

export function observeRaw(address: string, sessionId: string, cursor = ''): RawObserver {
  const session: ClientHttp2Session = connect(`http://${address}`);
  session.on('error', () => {});
  const req: ClientHttp2Stream = session.request({
    ':method': 'POST',
    ':path': '/lash.v1.SessionService/ObserveSession',
    'content-type': 'application/grpc',
    te: 'trailers',
  });
  const body = ObserveSessionRequest.encode({ sessionId, cursor }).finish();
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt32BE(body.length, 1);
  Buffer.from(body).copy(frame, 5);
  req.end(frame);
  const o: RawObserver = {
    messages: [],
    pause: () => req.pause(),
    resume: () => req.resume(),
    close: () => {
      req.close();
      session.close();
    },
  };
  let pending = Buffer.alloc(0);
  req.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
      const len = pending.readUInt32BE(1);
      o.messages.push(...ObserveSessionResponse.decode(pending.subarray(5, 5 + len)).messages);
      pending = pending.subarray(5 + len);
    }
  });
  const onStatus = (headers: Record<string, unknown>) => {
    if (headers['grpc-status'] !== undefined)
      o.status = { code: Number(headers['grpc-status']), message: decodeURIComponent(String(headers['grpc-message'] ?? '')) };
  };
  req.on('response', onStatus); // a trailers-only response carries the status in its headers
  req.on('trailers', onStatus);
  req.on('error', () => {});
  return o;
}
