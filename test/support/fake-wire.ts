// The provider-neutral half of the wire-format fakes (fake-anthropic.ts, fake-google.ts): a real
// HTTP server on 127.0.0.1 that records each request, lets the wire format check it (a wrong
// request is a violation, answered 400, and fails the test that reads `violations`), and plays
// scripted replies FIFO. A reply says what the model does (text, reasoning, tool calls, usage,
// an error, a hang); each fake renders it in its own wire format.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** Token counts in our terms: input includes cache reads and writes, output includes reasoning. */
export interface Tokens {
  input: number;
  output: number;
  cacheRead?: number;
  cacheWrite?: number;
  reasoning?: number;
}

export type Reply =
  /** A streamed answer: reasoning first, then text deltas, then tool calls (all in one response). */
  | {
      reasoning?: string[];
      /** Anthropic only: a redacted thinking block (encrypted, no text) before anything else. */
      redactedReasoning?: boolean;
      text?: string[];
      toolCalls?: { id: string; name: string; args: Record<string, unknown> }[];
      usage?: Tokens;
      /** safety: the answer was filtered; length: the output cap was hit; promptBlocked: Gemini refused the prompt itself. */
      finish?: 'stop' | 'safety' | 'length' | 'promptBlocked';
    }
  /** An HTTP error in the provider's error shape. */
  | { error: { status: number; message: string; retryAfterSeconds?: number } }
  /** A 200 stream whose first event is the provider's overloaded error (Anthropic). */
  | { overloadedInStream: true }
  /** These text deltas, then nothing until the client aborts. */
  | { hang: string[] };

/** One request as every fake reports it, so a test asserts the same things of each provider. */
export interface SeenRequest {
  model: string;
  key: string | undefined;
  system: string;
  tools: { name: string; schema: unknown }[];
  userTexts: string[];
  images: { mimeType: string; base64: string }[];
  toolResults: { name?: string; callId?: string; output: unknown }[];
  /** The provider's reasoning setting as sent (thinking, thinkingConfig, reasoning_effort). */
  reasoning: unknown;
  /** Prompt-cache breakpoints in the request (Anthropic cache_control). */
  cacheBreakpoints: number;
  extraHeader: string | undefined;
}

export interface WireFormat {
  /** The path prefix clients are configured with, e.g. /v1 or /v1beta. */
  basePath: string;
  /** Problems of the request (empty when it is a correct request of this wire format). */
  check(path: string, headers: IncomingMessage['headers'], body: unknown): string[];
  describe(path: string, headers: IncomingMessage['headers'], body: unknown): SeenRequest;
  /** Writes the reply; resolves when done (a hang resolves when the client goes away). */
  render(reply: Reply, res: ServerResponse, body: unknown, closed: Promise<void>): Promise<void>;
  /** An error body of this wire format, for violations and unknown routes. */
  errorBody(status: number, message: string): unknown;
  /**
   * Where a scripted error's retry delay goes: the `retry-after` header (the default, as Anthropic
   * and OpenAI send it) or the body (Gemini's google.rpc.RetryInfo detail, no header).
   */
  retryAfterError?(status: number, message: string, retryAfterSeconds: number): unknown;
}

export class WireFake {
  url = '';
  readonly seen: SeenRequest[] = [];
  readonly violations: string[] = [];
  /** Responses the client abandoned before they ended (an aborted HTTP request). */
  aborted = 0;
  private readonly queue: Reply[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly server = createServer((req, res) => void this.handle(req, res).catch(() => res.destroy()));

  constructor(private readonly wire: WireFormat) {
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${this.wire.basePath}`;
    return this;
  }

  script(...replies: Reply[]): void {
    this.queue.push(...replies);
  }

  reset(): void {
    this.queue.length = 0;
    this.seen.length = 0;
    this.violations.length = 0;
    this.aborted = 0;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.on('error', () => {});
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      body = undefined;
    }
    const path = req.url ?? '/';
    const problems =
      req.method === 'POST' && body && typeof body === 'object'
        ? this.wire.check(path, req.headers, body)
        : [`${req.method} ${path} without a JSON object body`];
    if (problems.length > 0) {
      this.violations.push(...problems.map((p) => `${path}: ${p}`));
      return sendJson(res, 400, this.wire.errorBody(400, problems.join('; ')));
    }
    this.seen.push(this.wire.describe(path, req.headers, body));
    const reply = this.queue.shift();
    if (!reply) {
      this.violations.push(`${path}: a request with no scripted reply left`);
      return sendJson(res, 500, this.wire.errorBody(500, 'no scripted reply'));
    }
    // A response that closes before all of it was written: the client aborted the request.
    const closed = new Promise<void>((resolve) => res.on('close', () => resolve()));
    void closed.then(() => {
      if (!res.writableFinished) this.aborted++;
    });
    if ('error' in reply) {
      const { status, message, retryAfterSeconds } = reply.error;
      if (retryAfterSeconds === undefined) return sendJson(res, status, this.wire.errorBody(status, message));
      if (this.wire.retryAfterError) return sendJson(res, status, this.wire.retryAfterError(status, message, retryAfterSeconds));
      return sendJson(res, status, this.wire.errorBody(status, message), { 'retry-after': String(retryAfterSeconds) });
    }
    await this.wire.render(reply, res, body, closed);
    if (!res.writableEnded && !res.destroyed) res.end();
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

export function startSse(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.flushHeaders();
}

/** Splits a string in two halves (argument JSON is streamed in pieces, as providers do). */
export const halves = (s: string): [string, string] => [s.slice(0, Math.ceil(s.length / 2)), s.slice(Math.ceil(s.length / 2))];

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
