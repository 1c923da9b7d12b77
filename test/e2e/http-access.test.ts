// The lash.v1 API over the HTTP listener (LASH_HTTP_LISTEN): a unary call with real curl, errors
// with the same code and ErrorInfo reason as over gRPC, a streamed turn and ObserveSession through
// the Connect client, a gRPC-web call, CORS, and the bidi method refused (it needs HTTP/2).

import { brotliCompressSync, gzipSync } from 'node:zlib';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Client, credentials, status } from '@grpc/grpc-js';
import { createFileRegistry, fromBinary, toJson, type DescService, type JsonObject } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { ConnectError, createClient, type CallOptions } from '@connectrpc/connect';
import { createConnectTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorInfo } from '../../gen/google/rpc/error_details.js';
import { Status } from '../../gen/google/rpc/status.js';
import { loadConfig } from '../../src/config.js';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { RunTurnRequest } from '../../gen/lash/v1/turn_service.js';
import { metadataOf } from '../../src/http/grpc-bridge.js';
import { engines } from '../support/engines.js';
import { sendRaw } from '../support/hostile-requests.js';
import { rejection, startTestServer, type TestServer } from '../support/server.js';
import { until } from '../support/turns.js';

const run = promisify(execFile);
const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(fileURLToPath(new URL('../../gen/descriptors.binpb', import.meta.url)))));
const service = (name: string) => registry.getService(name)!;
const SESSIONS = service('lash.v1.SessionService');
const TURNS = service('lash.v1.TurnService');

/** The methods used here, typed loosely: the services are built at run time from the descriptors. */
interface HttpSessions {
  openSession(request: object): Promise<{ session?: { sessionId: string } }>;
  getSession(request: object): Promise<unknown>;
  observeSession(request: object, options?: CallOptions): AsyncIterable<unknown>;
}
interface HttpTurns {
  runTurn(request: object): AsyncIterable<unknown>;
}
const sessionsClient = (transport: Parameters<typeof createClient>[1]) => createClient(SESSIONS, transport) as unknown as HttpSessions;

/** POSTs a Connect unary call as JSON with curl; returns the HTTP status and the parsed body. */
async function curl(base: string, path: string, body: unknown, headers: string[] = []): Promise<{ httpStatus: number; body: Record<string, unknown> }> {
  const args = [
    '-sS',
    '-w',
    '\n%{http_code}',
    '-H',
    'content-type: application/json',
    ...headers.flatMap((h) => ['-H', h]),
    '-d',
    JSON.stringify(body),
    `${base}${path}`,
  ];
  const { stdout } = await run('curl', args);
  const cut = stdout.lastIndexOf('\n');
  return { httpStatus: Number(stdout.slice(cut + 1)), body: JSON.parse(stdout.slice(0, cut)) as Record<string, unknown> };
}

const echoSpec = { providerId: 'echo', model: { id: 'echo' } };

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`HTTP access (Connect, gRPC-web) on ${engine.name}`, () => {
    let s: TestServer;
    let base: string;
    let sessions: HttpSessions;
    let turns: HttpTurns;
    const json = (desc: DescService, method: string, message: unknown) =>
      toJson(desc.methods.find((m) => m.name === method)!.output, message as never) as JsonObject;

    beforeAll(async () => {
      s = await startTestServer(engine, { LASH_HTTP_LISTEN: '127.0.0.1:0', LASH_HTTP_CORS_ORIGINS: 'https://ops.example.com' });
      base = `http://${s.app.httpAddress}`;
      const transport = createConnectTransport({ baseUrl: base, httpVersion: '1.1' });
      sessions = sessionsClient(transport);
      turns = createClient(TURNS, transport) as unknown as HttpTurns;
    });
    afterAll(async () => {
      await s?.close();
    });

    it('opens a session with curl (Connect JSON) and gRPC sees it', async () => {
      const r = await curl(base, '/lash.v1.SessionService/OpenSession', { sessionId: 'curl-1', spec: echoSpec });
      expect(r.httpStatus).toBe(200);
      expect((r.body.session as { sessionId: string }).sessionId).toBe('curl-1');
      const viaGrpc = await s.clients.sessions.getSession({ sessionId: 'curl-1' });
      expect(viaGrpc.session?.sessionId).toBe('curl-1');
    });

    it('refuses bad input with the same code and ErrorInfo reason as gRPC', async () => {
      const grpc = await rejection(s.clients.sessions.getSession({ sessionId: 'no-such-session' }));
      expect(grpc.code).toBe(status.NOT_FOUND);
      const r = await curl(base, '/lash.v1.SessionService/GetSession', { sessionId: 'no-such-session' });
      expect(r.httpStatus).toBe(404);
      expect(r.body.code).toBe('not_found');
      expect(r.body.message).toBe(grpc.message);
      const details = r.body.details as { type: string; value: string }[];
      expect(details[0]!.type).toBe('google.rpc.ErrorInfo');
      const info = ErrorInfo.decode(Buffer.from(details[0]!.value, 'base64'));
      expect(info.reason).toBe(grpc.reason);
      expect(info.reason).toBe('SESSION_NOT_FOUND');
      // A bad id is INVALID_ARGUMENT with the gRPC reason, not something Connect made up.
      const badGrpc = await rejection(s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: '' })));
      const bad = await curl(base, '/lash.v1.SessionService/OpenSession', { sessionId: '' });
      expect(bad.body.code).toBe('invalid_argument');
      expect(ErrorInfo.decode(Buffer.from((bad.body.details as { value: string }[])[0]!.value, 'base64')).reason).toBe(badGrpc.reason);
    });

    it('applies the gRPC decode guards to HTTP requests (nesting limit, unknown enum values)', async () => {
      await curl(base, '/lash.v1.SessionService/OpenSession', { sessionId: 'guarded', spec: echoSpec });
      let args: unknown = 'leaf';
      for (let i = 0; i < 40; i++) args = { a: args };
      const deep = await curl(base, '/lash.v1.AdminService/AppendMessages', {
        sessionId: 'guarded',
        messages: [{ role: 'MESSAGE_ROLE_ASSISTANT', parts: [{ toolCall: { callId: 'c1', toolName: 'calc', args } }] }],
      });
      expect(deep.body.code).toBe('invalid_argument');
      expect(ErrorInfo.decode(Buffer.from((deep.body.details as { value: string }[])[0]!.value, 'base64')).reason).toBe('REQUEST_TOO_DEEP');
      const mode = await curl(base, '/lash.v1.SessionService/OpenSession', { sessionId: 'guarded-2', mode: 99 });
      expect(mode.body.code).toBe('invalid_argument');
      expect(ErrorInfo.decode(Buffer.from((mode.body.details as { value: string }[])[0]!.value, 'base64')).reason).toBe('ENUM_VALUE_UNKNOWN');
      // Nothing was stored by either.
      expect((await rejection(s.clients.sessions.getSession({ sessionId: 'guarded-2' }))).reason).toBe('SESSION_NOT_FOUND');
      const view = await s.clients.sessions.getReadView({ sessionId: 'guarded', pageSize: 0, pageToken: '' });
      expect(view.messages).toHaveLength(0);
    });

    it('refuses a malformed binary body (Connect unary, application/proto) like gRPC: INVALID_ARGUMENT / REQUEST_MALFORMED', async () => {
      const raw = new Client(s.app.address, credentials.createInsecure());
      const grpc = await sendRaw(raw, { path: '/lash.v1.SessionService/OpenSession', kind: 'unary' }, [Uint8Array.of(0xff)]).finally(() => raw.close());
      expect(grpc.reason).toBe('REQUEST_MALFORMED');
      // Field 1 (session_id), length-delimited, claiming 100 bytes but carrying 2: truncated.
      const garbage = new Uint8Array([0x0a, 0x64, 0x41, 0x42, 0xff, 0xff, 0xff]);
      for (const body of [garbage, new Uint8Array([0x0f, 0xff, 0xff])]) {
        const res = await fetch(`${base}/lash.v1.SessionService/OpenSession`, { method: 'POST', headers: { 'content-type': 'application/proto' }, body });
        expect(res.status).toBe(400);
        const out = (await res.json()) as { code: string; message: string; details: { type: string; value: string }[] };
        expect(out.code).toBe('invalid_argument');
        expect(out.details[0]!.type).toBe('google.rpc.ErrorInfo');
        const info = ErrorInfo.decode(Buffer.from(out.details[0]!.value, 'base64'));
        expect(info.reason).toBe('REQUEST_MALFORMED');
        expect(info.reason).toBe(grpc.reason);
        expect(out.message).toBe(grpc.details);
      }
      // A well-formed binary body still works (the body read for the check is handed on).
      await s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'bin-ok' }));
      const ok = await fetch(`${base}/lash.v1.SessionService/GetSession`, {
        method: 'POST',
        headers: { 'content-type': 'application/proto' },
        body: new Uint8Array([0x0a, 0x06, ...Buffer.from('bin-ok')]),
      });
      expect(ok.status).toBe(200);
      // Nothing was stored.
      expect((await rejection(s.clients.sessions.getSession({ sessionId: 'AB' }))).reason).toBe('SESSION_NOT_FOUND');
    });

    it('refuses malformed enveloped binary bodies (gRPC-web, Connect streaming) the same way', async () => {
      const garbage = new Uint8Array([0x0a, 0x64, 0x41, 0x42, 0xff]);
      const envelope = new Uint8Array([0, 0, 0, 0, garbage.length, ...garbage]);
      // gRPC-web, unary: the status comes in the trailers (grpc-status 3 = INVALID_ARGUMENT).
      const res = await fetch(`${base}/lash.v1.SessionService/GetSession`, {
        method: 'POST',
        headers: { 'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1' },
        body: envelope,
      });
      const raw = Buffer.from(await res.arrayBuffer()).toString('latin1');
      const trailers = res.headers.get('grpc-status') ?? raw;
      expect(trailers).toMatch(/grpc-status:\s*3|^3$/);
      const details = res.headers.get('grpc-status-details-bin') ?? /grpc-status-details-bin:\s*([A-Za-z0-9+/=]+)/.exec(raw)?.[1];
      expect(ErrorInfo.decode(Status.decode(Buffer.from(details!, 'base64')).details[0]!.value).reason).toBe('REQUEST_MALFORMED');
      // Connect server streaming (ObserveSession): the end-of-stream message carries the error.
      const stream = await fetch(`${base}/lash.v1.SessionService/ObserveSession`, {
        method: 'POST',
        headers: { 'content-type': 'application/connect+proto' },
        body: envelope,
      });
      const body = Buffer.from(await stream.arrayBuffer());
      const end = JSON.parse(body.subarray(5).toString('utf8')) as { error: { code: string; details: { value: string }[] } };
      expect(body[0]).toBe(2);
      expect(end.error.code).toBe('invalid_argument');
      expect(ErrorInfo.decode(Buffer.from(end.error.details[0]!.value, 'base64')).reason).toBe('REQUEST_MALFORMED');
    });

    it('refuses a malformed body compressed with gzip or brotli the same way, and never answers INTERNAL for bad compressed bytes', async () => {
      const garbage = Buffer.from([0x0a, 0x64, 0x41, 0x42, 0xff, 0xff, 0xff]);
      const reasonOf = (out: { details: { value: string }[] }) => ErrorInfo.decode(Buffer.from(out.details[0]!.value, 'base64')).reason;
      for (const [encoding, body] of [
        ['gzip', gzipSync(garbage)],
        ['br', brotliCompressSync(garbage)],
      ] as const) {
        const res = await fetch(`${base}/lash.v1.SessionService/OpenSession`, {
          method: 'POST',
          headers: { 'content-type': 'application/proto', 'content-encoding': encoding },
          body,
        });
        expect(res.status, encoding).toBe(400);
        const out = (await res.json()) as { code: string; details: { value: string }[] };
        expect(out.code).toBe('invalid_argument');
        expect(reasonOf(out)).toBe('REQUEST_MALFORMED');
      }
      // gRPC-web with a compressed envelope (flag 1).
      const packed = gzipSync(garbage);
      const envelope = new Uint8Array([1, 0, 0, 0, packed.length, ...packed]);
      const web = await fetch(`${base}/lash.v1.SessionService/GetSession`, {
        method: 'POST',
        headers: { 'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1', 'grpc-encoding': 'gzip' },
        body: envelope,
      });
      const raw = Buffer.from(await web.arrayBuffer()).toString('latin1');
      expect(web.headers.get('grpc-status') ?? raw).toMatch(/grpc-status:\s*3|^3$/);
      // Bytes that are not gzip at all: refused by Connect, as a client error, never a server fault.
      const notGzip = await fetch(`${base}/lash.v1.SessionService/OpenSession`, {
        method: 'POST',
        headers: { 'content-type': 'application/proto', 'content-encoding': 'gzip' },
        body: garbage,
      });
      expect(notGzip.status).toBeLessThan(500);
      expect(((await notGzip.json()) as { code: string }).code).not.toBe('internal');
      // A well-formed compressed body still works.
      await s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'gz-ok' }));
      const ok = await fetch(`${base}/lash.v1.SessionService/GetSession`, {
        method: 'POST',
        headers: { 'content-type': 'application/proto', 'content-encoding': 'gzip' },
        body: gzipSync(Buffer.from([0x0a, 0x05, ...Buffer.from('gz-ok')])),
      });
      expect(ok.status).toBe(200);
    });

    it('streams a turn with its deltas through the Connect client', async () => {
      await sessions.openSession({ sessionId: 'stream-1', spec: echoSpec });
      const activities: JsonObject[] = [];
      for await (const response of turns.runTurn({
        sessionId: 'stream-1',
        input: { items: [{ item: { case: 'text', value: { text: 'hello over http' } } }] },
      })) {
        activities.push(...((json(TURNS, 'RunTurn', response).activities ?? []) as JsonObject[]));
      }
      const deltas = activities.flatMap((a) => ((a.event as JsonObject | undefined)?.assistantProseDelta as { text: string } | undefined)?.text ?? []);
      expect(deltas.join('')).toBe('hello over http');
      const last = activities.at(-1)!;
      expect(last.result).toBeDefined();
      expect(JSON.stringify(last.result)).toContain('hello over http');
      // The turn committed: the read view over gRPC shows it.
      const view = await s.clients.sessions.getReadView({ sessionId: 'stream-1', pageSize: 0, pageToken: '' });
      expect(view.messages).toHaveLength(2);
    });

    it('observes a session: snapshot, then a turn run over gRPC arrives live up to its commit', async () => {
      await sessions.openSession({ sessionId: 'observe-1', spec: echoSpec });
      const abort = new AbortController();
      const seen: JsonObject[] = [];
      let started = false;
      const observed = (async () => {
        try {
          for await (const response of sessions.observeSession({ sessionId: 'observe-1' }, { signal: abort.signal })) {
            for (const m of (json(SESSIONS, 'ObserveSession', response).messages ?? []) as JsonObject[]) {
              seen.push(m);
              if (m.snapshot && !started) {
                started = true;
                s.clients.turns.raw
                  .runTurn(RunTurnRequest.fromPartial({ sessionId: 'observe-1', input: { items: [{ item: { $case: 'text', value: { text: 'watched' } } }] } }))
                  .on('data', () => {})
                  .on('error', () => {});
              }
              if ((m.event as JsonObject | undefined)?.committed) return;
            }
          }
        } finally {
          abort.abort();
        }
      })();
      await observed;
      expect(seen[0]!.snapshot).toBeDefined();
      const deltas = seen.flatMap(
        (m) =>
          ((((m.event as JsonObject | undefined)?.turnActivity as JsonObject | undefined)?.event as JsonObject | undefined)?.assistantProseDelta as
            { text: string } | undefined) ?? [],
      );
      expect(deltas.map((d) => d.text).join('')).toBe('watched');
      expect(typeof seen.at(-1)!.cursor).toBe('string');
    });

    it('answers a gRPC-web call', async () => {
      const web = sessionsClient(createGrpcWebTransport({ baseUrl: base, httpVersion: '1.1' }));
      const r = await web.openSession({ sessionId: 'web-1', spec: echoSpec });
      expect(r.session?.sessionId).toBe('web-1');
      const err = await web.getSession({ sessionId: 'web-missing' }).then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      expect(err?.code).toBe(status.NOT_FOUND);
      expect(ErrorInfo.decode(err!.details[0]!.value as Uint8Array).reason).toBe('SESSION_NOT_FOUND');
    });

    it("hands the caller's HTTP headers on as gRPC metadata, without the transport's own", () => {
      const md = metadataOf(
        new Headers({ authorization: 'Bearer t', 'x-request-id': 'r-1', 'content-type': 'application/json', 'connect-protocol-version': '1' }),
      );
      expect(md.get('authorization')).toEqual(['Bearer t']);
      expect(md.get('x-request-id')).toEqual(['r-1']);
      expect(md.get('content-type')).toEqual([]);
      expect(md.get('connect-protocol-version')).toEqual([]);
    });

    it('allows only the configured CORS origins', async () => {
      const allowed = await run('curl', [
        '-sS',
        '-i',
        '-X',
        'OPTIONS',
        '-H',
        'origin: https://ops.example.com',
        '-H',
        'access-control-request-method: POST',
        `${base}/lash.v1.SessionService/GetSession`,
      ]);
      expect(allowed.stdout).toMatch(/^HTTP\/1\.1 204/);
      expect(allowed.stdout.toLowerCase()).toContain('access-control-allow-origin: https://ops.example.com');
      expect(allowed.stdout.toLowerCase()).toContain('authorization');
      const other = await run('curl', [
        '-sS',
        '-i',
        '-H',
        'origin: https://evil.example.com',
        '-H',
        'content-type: application/json',
        '-d',
        '{"sessionId":"curl-1"}',
        `${base}/lash.v1.SessionService/GetSession`,
      ]);
      expect(other.stdout.toLowerCase()).not.toContain('access-control-allow-origin');
    });

    it('refuses the bidi ServeTools with 505: it needs HTTP/2, i.e. the gRPC port', async () => {
      // A Connect streaming request: one empty enveloped message (flags 0, length 0).
      const res = await fetch(`${base}/lash.v1.TurnService/ServeTools`, {
        method: 'POST',
        headers: { 'content-type': 'application/connect+json' },
        body: new Uint8Array(5),
      });
      expect(res.status).toBe(505);
      // Other calls still work afterwards (the listener closed only that connection).
      const r = await curl(base, '/lash.v1.SessionService/GetSession', { sessionId: 'curl-1' });
      expect(r.httpStatus).toBe(200);
    });

    // Last: it stops the server.
    it('ends an HTTP observer with unavailable / SERVER_DRAINING when the server shuts down', async () => {
      await sessions.openSession({ sessionId: 'drain-1', spec: echoSpec });
      let snapshot = false;
      const ended = (async () => {
        for await (const response of sessions.observeSession({ sessionId: 'drain-1' })) {
          if (((json(SESSIONS, 'ObserveSession', response).messages ?? []) as JsonObject[]).some((m) => m.snapshot)) snapshot = true;
        }
      })().then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      await until(() => snapshot);
      await s.stop();
      const err = await ended;
      expect(err?.code).toBe(status.UNAVAILABLE);
      expect(ErrorInfo.decode(err!.details[0]!.value as Uint8Array).reason).toBe('SERVER_DRAINING');
    });
  });
}

describe('LASH_HTTP_LISTEN and LASH_HTTP_CORS_ORIGINS', () => {
  it('are off unless set, and bad values name the variable', () => {
    expect(loadConfig({}).http).toBeUndefined();
    expect(loadConfig({ LASH_HTTP_LISTEN: '127.0.0.1:8080' }).http).toEqual({ listen: { host: '127.0.0.1', port: 8080 }, corsOrigins: [] });
    expect(
      loadConfig({ LASH_HTTP_LISTEN: '127.0.0.1:8080', LASH_HTTP_CORS_ORIGINS: 'https://a.example.com, http://localhost:5173' }).http?.corsOrigins,
    ).toEqual(['https://a.example.com', 'http://localhost:5173']);
    expect(() => loadConfig({ LASH_HTTP_LISTEN: '8080' })).toThrow(/LASH_HTTP_LISTEN must be host:port, e.g. 127.0.0.1:8080/);
    expect(() => loadConfig({ LASH_HTTP_LISTEN: '127.0.0.1:8080', LASH_HTTP_CORS_ORIGINS: 'https://a.example.com/app' })).toThrow(
      /LASH_HTTP_CORS_ORIGINS entries must be origins/,
    );
  });
});
