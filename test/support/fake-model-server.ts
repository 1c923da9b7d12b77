// A scriptable stand-in for an OpenAI-compatible model endpoint, for tests. It is a real HTTP
// server (node:http, 127.0.0.1, port 0) that speaks the chat-completions protocol closely enough
// for @ai-sdk/openai-compatible and @ai-sdk/openai to drive it unmodified:
//
//   POST /v1/chat/completions  stream: true  -> Server-Sent Events, `data: {chunk}\n\n` ... `data: [DONE]`
//                              stream: false -> one `chat.completion` JSON body
//   GET  /v1/models                          -> `{ object: 'list', data: [...] }`
//
// Responses are scripted (FIFO queue, one per chat request), produced by a default function, or,
// failing both, an echo of the last user message. Every chunk is written as soon as it is ready
// (Nagle disabled, no buffering) so tests can measure streaming latency end to end.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

export type ScriptStep =
  /** One content delta (`choices[0].delta.content`). */
  | { text: string }
  /** One reasoning delta (`choices[0].delta.reasoning_content`). */
  | { reasoning: string }
  /**
   * A complete tool call, streamed as two `delta.tool_calls` chunks (the arguments split in half)
   * so clients exercise argument assembly. `args` is JSON-encoded unless it is already a string,
   * which is sent verbatim (useful for malformed-arguments tests).
   */
  | { toolCall: { name: string; args: unknown; id?: string } }
  /** Pause before the next chunk. */
  | { delayMs: number }
  /** Send nothing more; the stream stays open until the client aborts or the server closes. */
  | { hang: true };

export interface ScriptedResponse {
  /** Streamed in order. */
  steps?: ScriptStep[];
  /** Default: 'tool_calls' if any step is a tool call, else 'stop'. */
  finishReason?: 'stop' | 'tool_calls' | 'length' | 'content_filter';
  /**
   * Token usage to report. `output` is the total completion tokens (reasoning included, as in the
   * OpenAI API). Default: about one token per four characters of prompt / generated text.
   */
  usage?: { input: number; output: number; cached?: number; reasoning?: number };
  /**
   * Answer with this HTTP status and an OpenAI error body (`{ error: { message, type, param, code } }`)
   * instead of a completion. 408/409/429/5xx are what the AI SDK treats as retryable.
   */
  error?: { status: number; message: string; type?: string; /** Sent as the retry-after header. */ retryAfterSeconds?: number };
  /** Wait this long before sending the response headers (or the error). */
  headersDelayMs?: number;
}

export interface RecordedRequest {
  // The parsed JSON body exactly as the client sent it (the raw text if it was not valid JSON).
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  headers: Record<string, string | string[] | undefined>;
  /** performance.now() in this process when the request arrived. */
  receivedAt: number;
}

export interface FakeModelServer {
  /** Base URL including /v1, e.g. http://127.0.0.1:PORT/v1 */
  url: string;
  /** Queue responses, consumed FIFO, one per chat-completions request. */
  script(...responses: ScriptedResponse[]): void;
  /** Used when the queue is empty; without one the server echoes the last user message's text. */
  setDefault(fn: ((req: RecordedRequest) => ScriptedResponse) | undefined): void;
  /** Chat-completions requests received, in arrival order (GET /v1/models is not recorded). */
  requests: RecordedRequest[];
  /** Resolves when `n` requests in total have been received (default timeout 5 s). */
  waitForRequests(n: number, timeoutMs?: number): Promise<void>;
  /** Count of responses the client abandoned (connection closed before the response ended). */
  aborted: number;
  /** performance.now() right after each content/reasoning delta chunk was written. */
  deltaWrittenAt: number[];
  /** Clears the queue, the default, the recorded requests and the counters. */
  reset(): void;
  /** Closes the server and destroys open sockets (hung streams included). */
  close(): Promise<void>;
}

export async function startFakeModelServer(): Promise<FakeModelServer> {
  const fake = new FakeModelServerImpl();
  await fake.listen();
  return fake;
}

const MODELS = ['fake-model', 'fake-reasoning-model'];

interface Waiter {
  n: number;
  resolve(): void;
}

class FakeModelServerImpl implements FakeModelServer {
  url = '';
  requests: RecordedRequest[] = [];
  aborted = 0;
  deltaWrittenAt: number[] = [];

  private readonly queue: ScriptedResponse[] = [];
  private defaultFn: ((req: RecordedRequest) => ScriptedResponse) | undefined;
  private waiters: Waiter[] = [];
  private readonly sockets = new Set<Socket>();
  private completionCounter = 0;
  private readonly server: Server;

  constructor() {
    this.server = createServer({ noDelay: true, keepAlive: true }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) {
          sendError(res, 500, `fake model server failure: ${String(err)}`, 'server_error');
        } else {
          res.destroy();
        }
      });
    });
    this.server.on('connection', (socket) => {
      socket.setNoDelay(true);
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => {
        this.server.off('error', reject);
        const { port } = this.server.address() as AddressInfo;
        this.url = `http://127.0.0.1:${port}/v1`;
        resolve();
      });
    });
  }

  script(...responses: ScriptedResponse[]): void {
    this.queue.push(...responses);
  }

  setDefault(fn: ((req: RecordedRequest) => ScriptedResponse) | undefined): void {
    this.defaultFn = fn;
  }

  waitForRequests(n: number, timeoutMs = 5000): Promise<void> {
    if (this.requests.length >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        n,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`fake model server: expected ${n} requests within ${timeoutMs} ms, got ${this.requests.length}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  reset(): void {
    this.queue.length = 0;
    this.defaultFn = undefined;
    this.requests.length = 0;
    this.deltaWrittenAt.length = 0;
    this.aborted = 0;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
      for (const socket of this.sockets) socket.destroy();
    });
  }

  private record(request: RecordedRequest): void {
    this.requests.push(request);
    const ready = this.waiters.filter((w) => this.requests.length >= w.n);
    this.waiters = this.waiters.filter((w) => this.requests.length < w.n);
    for (const w of ready) w.resolve();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const receivedAt = performance.now();
    res.on('error', () => {});
    const path = (req.url ?? '/').split('?')[0];

    if (req.method === 'GET' && path === '/v1/models') {
      req.resume();
      const created = Math.floor(Date.now() / 1000);
      sendJson(res, 200, {
        object: 'list',
        data: MODELS.map((id) => ({ id, object: 'model', created, owned_by: 'fake-model-server' })),
      });
      return;
    }
    if (path !== '/v1/chat/completions') {
      req.resume();
      sendError(res, 404, `Unknown route ${req.method} ${path}`, 'invalid_request_error');
      return;
    }
    if (req.method !== 'POST') {
      req.resume();
      sendError(res, 405, `Method ${req.method} not allowed`, 'invalid_request_error');
      return;
    }

    const raw = await readBody(req);
    let body: unknown;
    let parsed = true;
    try {
      body = JSON.parse(raw);
    } catch {
      body = raw;
      parsed = false;
    }
    const recorded: RecordedRequest = { body, headers: { ...req.headers }, receivedAt };
    this.record(recorded);
    if (!parsed || typeof body !== 'object' || body === null) {
      sendError(res, 400, 'Request body is not a JSON object', 'invalid_request_error');
      return;
    }

    const response = this.queue.shift() ?? this.defaultFn?.(recorded) ?? echoResponse(recorded);
    const exchange = new Exchange(res, () => this.aborted++);
    const request = body as ChatRequest;

    if (response.headersDelayMs) await exchange.sleep(response.headersDelayMs);
    if (exchange.closed) return;

    if (response.error) {
      const { status, message, type, retryAfterSeconds } = response.error;
      sendError(res, status, message, type ?? defaultErrorType(status), retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) });
      return;
    }

    const completion: Completion = {
      id: `chatcmpl-fake-${++this.completionCounter}`,
      created: Math.floor(Date.now() / 1000),
      model: typeof request.model === 'string' ? request.model : 'fake-model',
    };
    if (request.stream === true) {
      await this.stream(exchange, completion, request, response);
    } else {
      await respondWhole(exchange, completion, request, response);
    }
  }

  private async stream(ex: Exchange, completion: Completion, request: ChatRequest, response: ScriptedResponse): Promise<void> {
    const { res } = ex;
    res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache',
      Connection: 'keep-alive',
    });
    res.flushHeaders();

    const chunk = (delta: Record<string, unknown>, finishReason: string | null = null) => ({
      ...completion,
      object: 'chat.completion.chunk',
      choices: [{ index: 0, delta, finish_reason: finishReason }],
    });

    ex.send(chunk({ role: 'assistant' }));
    const steps = response.steps ?? [];
    let toolIndex = 0;
    for (const step of steps) {
      if (ex.closed) return;
      if ('text' in step) {
        if (ex.send(chunk({ content: step.text }))) this.deltaWrittenAt.push(performance.now());
      } else if ('reasoning' in step) {
        if (ex.send(chunk({ reasoning_content: step.reasoning }))) this.deltaWrittenAt.push(performance.now());
      } else if ('toolCall' in step) {
        const index = toolIndex++;
        const args = encodeArguments(step.toolCall.args);
        const half = Math.ceil(args.length / 2);
        ex.send(
          chunk({
            tool_calls: [
              {
                index,
                id: step.toolCall.id ?? toolCallId(completion, index),
                type: 'function',
                function: { name: step.toolCall.name, arguments: args.slice(0, half) },
              },
            ],
          }),
        );
        ex.send(chunk({ tool_calls: [{ index, function: { arguments: args.slice(half) } }] }));
      } else if ('delayMs' in step) {
        await ex.sleep(step.delayMs);
      } else if ('hang' in step) {
        await ex.untilClosed;
        return;
      }
    }
    if (ex.closed) return;

    ex.send(chunk({}, finishReasonOf(response)));
    if (request.stream_options?.include_usage === true) {
      ex.send({ ...completion, object: 'chat.completion.chunk', choices: [], usage: usageOf(request, response) });
    }
    ex.sendRaw('data: [DONE]\n\n');
    ex.end();
  }
}

interface ChatRequest {
  model?: unknown;
  stream?: unknown;
  stream_options?: { include_usage?: unknown } | null;
  messages?: unknown;
  tools?: unknown;
}

interface Completion {
  id: string;
  created: number;
  model: string;
}

/** One HTTP response in flight: knows when the client went away and counts that as an abort. */
class Exchange {
  closed = false;
  readonly untilClosed: Promise<void>;

  constructor(
    readonly res: ServerResponse,
    onAbort: () => void,
  ) {
    let markClosed!: () => void;
    this.untilClosed = new Promise((resolve) => (markClosed = resolve));
    res.on('close', () => {
      this.closed = true;
      if (!res.writableFinished) onAbort();
      markClosed();
    });
  }

  /** Writes one SSE data line; returns whether it was written. */
  send(value: unknown): boolean {
    return this.sendRaw(`data: ${JSON.stringify(value)}\n\n`);
  }

  sendRaw(text: string): boolean {
    if (this.closed || this.res.destroyed) return false;
    this.res.write(text);
    return true;
  }

  end(): void {
    if (!this.closed) this.res.end();
  }

  /** Waits `ms`, or less if the client goes away first. */
  async sleep(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))), this.untilClosed]);
    clearTimeout(timer);
  }
}

async function respondWhole(ex: Exchange, completion: Completion, request: ChatRequest, response: ScriptedResponse): Promise<void> {
  let content = '';
  let reasoning = '';
  const toolCalls: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }> = [];
  for (const step of response.steps ?? []) {
    if ('text' in step) content += step.text;
    else if ('reasoning' in step) reasoning += step.reasoning;
    else if ('toolCall' in step) {
      toolCalls.push({
        id: step.toolCall.id ?? toolCallId(completion, toolCalls.length),
        type: 'function',
        function: { name: step.toolCall.name, arguments: encodeArguments(step.toolCall.args) },
      });
    } else if ('delayMs' in step) await ex.sleep(step.delayMs);
    else if ('hang' in step) {
      await ex.untilClosed;
      return;
    }
    if (ex.closed) return;
  }
  const message: Record<string, unknown> = { role: 'assistant', content: content.length > 0 ? content : null };
  if (reasoning.length > 0) message.reasoning_content = reasoning;
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  sendJson(ex.res, 200, {
    ...completion,
    object: 'chat.completion',
    choices: [{ index: 0, message, finish_reason: finishReasonOf(response) }],
    usage: usageOf(request, response),
  });
}

function finishReasonOf(response: ScriptedResponse): string {
  if (response.finishReason) return response.finishReason;
  return (response.steps ?? []).some((s) => 'toolCall' in s) ? 'tool_calls' : 'stop';
}

function usageOf(request: ChatRequest, response: ScriptedResponse) {
  const steps = response.steps ?? [];
  const reasoningChars = steps.reduce((n, s) => n + ('reasoning' in s ? s.reasoning.length : 0), 0);
  const outputChars = steps.reduce((n, s) => {
    if ('text' in s) return n + s.text.length;
    if ('toolCall' in s) return n + s.toolCall.name.length + encodeArguments(s.toolCall.args).length;
    return n;
  }, reasoningChars);
  const input = response.usage?.input ?? tokensFor(JSON.stringify(request.messages ?? []).length);
  const output = response.usage?.output ?? tokensFor(outputChars);
  const reasoning = response.usage ? (response.usage.reasoning ?? 0) : tokensFor(reasoningChars);
  return {
    prompt_tokens: input,
    completion_tokens: output,
    total_tokens: input + output,
    prompt_tokens_details: { cached_tokens: response.usage?.cached ?? 0 },
    completion_tokens_details: { reasoning_tokens: reasoning },
  };
}

function toolCallId(completion: Completion, index: number): string {
  return `call_${completion.id.replace('chatcmpl-', '')}_${index}`;
}

function tokensFor(chars: number): number {
  return Math.ceil(chars / 4);
}

function encodeArguments(args: unknown): string {
  if (typeof args === 'string') return args;
  return JSON.stringify(args ?? {}) ?? '{}';
}

/** The default answer: the text of the last user message, as one content delta. */
function echoResponse(req: RecordedRequest): ScriptedResponse {
  const messages: unknown = (req.body as ChatRequest).messages;
  const last = Array.isArray(messages) ? [...messages].reverse().find((m): m is { content?: unknown } => isRecord(m) && m.role === 'user') : undefined;
  return { steps: [{ text: textOf(last?.content) }] };
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((part) => (isRecord(part) && part.type === 'text' && typeof part.text === 'string' ? part.text : '')).join('');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function defaultErrorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, message: string, type: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { error: { message, type, param: null, code: type } }, headers);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
