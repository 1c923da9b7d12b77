// Proves the fake model server against the real provider adapters: whatever these tests see is
// what the runtime's model calls will see when pointed at the fake.

import { createOpenAI } from '@ai-sdk/openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import {
  APICallError,
  type LanguageModelV4,
  type LanguageModelV4FunctionTool,
  type LanguageModelV4Prompt,
  type LanguageModelV4StreamPart,
} from '@ai-sdk/provider';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startFakeModelServer, type FakeModelServer } from './fake-model-server.js';

let server: FakeModelServer;
let model: LanguageModelV4;

const prompt: LanguageModelV4Prompt = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: [{ type: 'text', text: 'What is the weather in Paris?' }] },
];

const weatherTool: LanguageModelV4FunctionTool = {
  type: 'function',
  name: 'get_weather',
  description: 'Look up the weather',
  inputSchema: {
    type: 'object',
    properties: { city: { type: 'string' }, days: { type: 'number' } },
    required: ['city'],
    additionalProperties: false,
  },
};

beforeAll(async () => {
  server = await startFakeModelServer();
  model = createOpenAICompatible({ name: 'fake', baseURL: server.url, apiKey: 'test-key', includeUsage: true }).chatModel('fake-model');
});

afterEach(() => server.reset());

afterAll(async () => {
  await server.close();
});

async function readAll(stream: ReadableStream<LanguageModelV4StreamPart>): Promise<LanguageModelV4StreamPart[]> {
  const parts: LanguageModelV4StreamPart[] = [];
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return parts;
    parts.push(value);
  }
}

async function streamParts(m: LanguageModelV4 = model, p: LanguageModelV4Prompt = prompt) {
  const { stream } = await m.doStream({ prompt: p, tools: [weatherTool] });
  return readAll(stream);
}

function ofType<T extends LanguageModelV4StreamPart['type']>(parts: LanguageModelV4StreamPart[], type: T) {
  return parts.filter((p): p is Extract<LanguageModelV4StreamPart, { type: T }> => p.type === type);
}

function finishOf(parts: LanguageModelV4StreamPart[]) {
  const finishes = ofType(parts, 'finish');
  expect(finishes).toHaveLength(1);
  return finishes[0]!;
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

describe('fake model server with @ai-sdk/openai-compatible', () => {
  it('streams text deltas in order, without errors', async () => {
    server.script({ steps: [{ text: 'Hel' }, { text: 'lo, ' }, { text: 'world' }] });
    const parts = await streamParts();

    expect(ofType(parts, 'error')).toEqual([]);
    expect(ofType(parts, 'text-delta').map((p) => p.delta)).toEqual(['Hel', 'lo, ', 'world']);
    expect(parts.map((p) => p.type).filter((t) => t.startsWith('text'))).toEqual(['text-start', 'text-delta', 'text-delta', 'text-delta', 'text-end']);
    expect(finishOf(parts).finishReason).toEqual({ unified: 'stop', raw: 'stop' });
    expect(server.deltaWrittenAt).toHaveLength(3);
    expect([...server.deltaWrittenAt].sort((a, b) => a - b)).toEqual(server.deltaWrittenAt);
  });

  it('streams reasoning deltas as reasoning parts before the text', async () => {
    server.script({ steps: [{ reasoning: 'The user wants ' }, { reasoning: 'weather.' }, { text: 'Sunny.' }] });
    const parts = await streamParts();

    expect(ofType(parts, 'reasoning-delta').map((p) => p.delta)).toEqual(['The user wants ', 'weather.']);
    const types = parts.map((p) => p.type);
    expect(types.indexOf('reasoning-start')).toBeLessThan(types.indexOf('reasoning-end'));
    expect(types.indexOf('reasoning-end')).toBeLessThan(types.indexOf('text-start'));
    expect(ofType(parts, 'text-delta').map((p) => p.delta)).toEqual(['Sunny.']);
    expect(server.deltaWrittenAt).toHaveLength(3);
  });

  it('assembles tool calls whose arguments arrive in pieces', async () => {
    server.script({
      steps: [
        { text: 'Checking.' },
        { toolCall: { id: 'call_1', name: 'get_weather', args: { city: 'Paris', days: 3 } } },
        { toolCall: { name: 'get_weather', args: { city: 'Lyon' } } },
      ],
    });
    const parts = await streamParts();

    expect(ofType(parts, 'error')).toEqual([]);
    const calls = ofType(parts, 'tool-call');
    expect(calls).toHaveLength(2);
    expect(calls[0]).toMatchObject({ toolCallId: 'call_1', toolName: 'get_weather' });
    expect(JSON.parse(calls[0]!.input)).toEqual({ city: 'Paris', days: 3 });
    expect(calls[1]!.toolName).toBe('get_weather');
    expect(calls[1]!.toolCallId).toMatch(/^call_/);
    expect(calls[1]!.toolCallId).not.toBe('call_1');
    expect(JSON.parse(calls[1]!.input)).toEqual({ city: 'Lyon' });
    // The arguments really were split: the adapter saw more than one input delta for the first call.
    const firstCallDeltas = ofType(parts, 'tool-input-delta').filter((p) => p.id === 'call_1');
    expect(firstCallDeltas.length).toBeGreaterThanOrEqual(2);
    expect(firstCallDeltas.map((p) => p.delta).join('')).toBe('{"city":"Paris","days":3}');
    expect(finishOf(parts).finishReason).toEqual({ unified: 'tool-calls', raw: 'tool_calls' });
  });

  it('reports the scripted usage and finish reason in the finish part', async () => {
    server.script({
      steps: [{ reasoning: 'hmm' }, { text: 'cut off' }],
      finishReason: 'length',
      usage: { input: 100, output: 50, cached: 30, reasoning: 20 },
    });
    const finish = finishOf(await streamParts());

    expect(finish.finishReason).toEqual({ unified: 'length', raw: 'length' });
    expect(finish.usage.inputTokens).toEqual({ total: 100, noCache: 70, cacheRead: 30, cacheWrite: undefined });
    expect(finish.usage.outputTokens).toEqual({ total: 50, text: 30, reasoning: 20 });
    expect(finish.usage.raw).toEqual({
      prompt_tokens: 100,
      completion_tokens: 50,
      total_tokens: 150,
      prompt_tokens_details: { cached_tokens: 30 },
      completion_tokens_details: { reasoning_tokens: 20 },
    });
  });

  it('maps content_filter and derives a default usage from text lengths', async () => {
    server.script({ steps: [{ text: '12345678' }], finishReason: 'content_filter' });
    const finish = finishOf(await streamParts());

    expect(finish.finishReason).toEqual({ unified: 'content-filter', raw: 'content_filter' });
    expect(finish.usage.outputTokens.total).toBe(2);
    expect(finish.usage.inputTokens.total).toBeGreaterThan(0);
  });

  it('sends no usage chunk when the client did not ask for one', async () => {
    const noUsage = createOpenAICompatible({ name: 'fake', baseURL: server.url, apiKey: 'k' }).chatModel('m');
    server.script({ steps: [{ text: 'hi' }], usage: { input: 1, output: 1 } });
    const finish = finishOf(await streamParts(noUsage));

    expect(server.requests[0]!.body.stream_options).toBeUndefined();
    expect(finish.usage.inputTokens.total).toBeUndefined();
  });

  it('answers a scripted 500/503/429 with a retryable APICallError, and 400 with a non-retryable one', async () => {
    server.script(
      { error: { status: 500, message: 'upstream exploded' } },
      { error: { status: 503, message: 'overloaded' } },
      { error: { status: 429, message: 'slow down', type: 'rate_limit_exceeded' } },
      { error: { status: 400, message: 'bad prompt' } },
    );
    const errors: unknown[] = [];
    for (let i = 0; i < 4; i++) errors.push(await rejectionOf(streamParts()));

    const [e500, e503, e429, e400] = errors;
    for (const e of errors) expect(APICallError.isInstance(e)).toBe(true);
    expect(e500).toMatchObject({ statusCode: 500, isRetryable: true, message: 'upstream exploded' });
    expect(e503).toMatchObject({ statusCode: 503, isRetryable: true });
    expect(e429).toMatchObject({ statusCode: 429, isRetryable: true, message: 'slow down' });
    expect((e429 as APICallError).data).toMatchObject({ error: { type: 'rate_limit_exceeded' } });
    expect(e400).toMatchObject({ statusCode: 400, isRetryable: false, message: 'bad prompt' });
    expect(server.requests).toHaveLength(4);
  });

  it('keeps a hung stream open until the client aborts, then counts the abort', async () => {
    server.script({ steps: [{ text: 'partial' }, { hang: true }] });
    const controller = new AbortController();
    const { stream } = await model.doStream({ prompt, abortSignal: controller.signal });
    const reader = stream.getReader();

    const seen: LanguageModelV4StreamPart[] = [];
    while (!seen.some((p) => p.type === 'text-delta')) {
      const { done, value } = await reader.read();
      expect(done).toBe(false);
      seen.push(value!);
    }
    expect(ofType(seen, 'text-delta')[0]!.delta).toBe('partial');

    // Nothing more arrives while the server hangs.
    const pending = reader.read();
    const raced = await Promise.race([pending.then(() => 'data'), new Promise((r) => setTimeout(() => r('quiet'), 150))]);
    expect(raced).toBe('quiet');
    expect(server.aborted).toBe(0);

    controller.abort();
    const outcome = await pending.then(
      (r) => (r.done ? 'done' : 'more'),
      (e: unknown) => e,
    );
    expect(outcome === 'done' || (outcome instanceof Error && outcome.name === 'AbortError')).toBe(true);
    await vi.waitFor(() => expect(server.aborted).toBe(1));
  });

  it('delays the response headers when asked', async () => {
    server.script({ headersDelayMs: 200, steps: [{ text: 'late' }] });
    const started = performance.now();
    const { stream } = await model.doStream({ prompt });
    expect(performance.now() - started).toBeGreaterThanOrEqual(180);
    expect(ofType(await readAll(stream), 'text-delta').map((p) => p.delta)).toEqual(['late']);
  });

  it('records the request the client sent, prompt and tools included', async () => {
    server.script({ steps: [{ text: 'ok' }] });
    await streamParts();

    expect(server.requests).toHaveLength(1);
    const [req] = server.requests;
    expect(req!.body).toMatchObject({
      model: 'fake-model',
      stream: true,
      stream_options: { include_usage: true },
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'What is the weather in Paris?' },
      ],
      tools: [
        {
          type: 'function',
          function: { name: 'get_weather', description: 'Look up the weather', parameters: weatherTool.inputSchema },
        },
      ],
    });
    expect(req!.headers.authorization).toBe('Bearer test-key');
    expect(req!.receivedAt).toBeLessThanOrEqual(performance.now());
  });

  it('consumes scripted responses first-in first-out, then echoes the last user message', async () => {
    server.script({ steps: [{ text: 'first' }] }, { steps: [{ text: 'second' }] });
    const conversation: LanguageModelV4Prompt = [
      { role: 'user', content: [{ type: 'text', text: 'earlier question' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'earlier answer' }] },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'echo ' },
          { type: 'text', text: 'me please' },
        ],
      },
    ];
    const texts: string[] = [];
    for (let i = 0; i < 3; i++) {
      texts.push(
        ofType(await streamParts(model, conversation), 'text-delta')
          .map((p) => p.delta)
          .join(''),
      );
    }
    expect(texts).toEqual(['first', 'second', 'echo me please']);
  });

  it('uses the default function when the queue is empty, until it is cleared', async () => {
    server.setDefault((req) => ({ steps: [{ text: `you sent ${req.body.messages.length} messages` }] }));
    expect(ofType(await streamParts(), 'text-delta')[0]!.delta).toBe('you sent 2 messages');
    server.setDefault(undefined);
    expect(ofType(await streamParts(), 'text-delta')[0]!.delta).toBe('What is the weather in Paris?');
  });

  it('answers stream: false with a whole completion (doGenerate)', async () => {
    server.script({
      steps: [{ reasoning: 'think' }, { text: 'Here ' }, { text: 'you go' }, { toolCall: { id: 'c9', name: 'get_weather', args: { city: 'Oslo' } } }],
      usage: { input: 10, output: 7, cached: 4, reasoning: 2 },
    });
    const result = await model.doGenerate({ prompt, tools: [weatherTool] });

    expect(server.requests[0]!.body.stream).toBeUndefined();
    expect(result.content).toEqual([
      { type: 'reasoning', text: 'think' },
      { type: 'text', text: 'Here you go' },
      { type: 'tool-call', toolCallId: 'c9', toolName: 'get_weather', input: '{"city":"Oslo"}' },
    ]);
    expect(result.finishReason).toEqual({ unified: 'tool-calls', raw: 'tool_calls' });
    expect(result.usage.inputTokens).toMatchObject({ total: 10, cacheRead: 4, noCache: 6 });
    expect(result.usage.outputTokens).toEqual({ total: 7, text: 5, reasoning: 2 });
  });

  it('waitForRequests resolves on arrival and times out otherwise', async () => {
    await expect(server.waitForRequests(1, 50)).rejects.toThrow(/expected 1 requests/);
    const waiting = server.waitForRequests(2, 5000);
    server.script({ steps: [{ text: 'a' }] }, { steps: [{ text: 'b' }] });
    await streamParts();
    await streamParts();
    await waiting;
    expect(server.requests).toHaveLength(2);
  });

  it('reset clears the queue, the recorded requests and the counters', async () => {
    server.script({ steps: [{ text: 'scripted' }] });
    server.setDefault(() => ({ steps: [{ text: 'default' }] }));
    const requests = server.requests;
    await streamParts();
    server.reset();
    expect(server.requests).toBe(requests);
    expect(server.requests).toEqual([]);
    expect(server.deltaWrittenAt).toEqual([]);
    expect(server.aborted).toBe(0);
    server.script(); // nothing queued
    expect(ofType(await streamParts(), 'text-delta')[0]!.delta).toBe('What is the weather in Paris?');
  });
});

describe('fake model server with @ai-sdk/openai (chat)', () => {
  it('streams text, tool calls and usage that the OpenAI adapter accepts', async () => {
    const openai = createOpenAI({ apiKey: 'sk-test', baseURL: server.url }).chat('gpt-fake');
    server.script({
      steps: [{ reasoning: 'ignored by this adapter' }, { text: 'A' }, { text: 'B' }, { toolCall: { id: 't1', name: 'get_weather', args: { city: 'Rome' } } }],
      usage: { input: 12, output: 8, cached: 2, reasoning: 3 },
    });
    const parts = await streamParts(openai);

    expect(ofType(parts, 'error')).toEqual([]);
    expect(ofType(parts, 'reasoning-delta')).toEqual([]);
    expect(ofType(parts, 'text-delta').map((p) => p.delta)).toEqual(['A', 'B']);
    expect(ofType(parts, 'tool-call')).toEqual([expect.objectContaining({ toolCallId: 't1', toolName: 'get_weather', input: '{"city":"Rome"}' })]);
    const finish = finishOf(parts);
    expect(finish.finishReason).toEqual({ unified: 'tool-calls', raw: 'tool_calls' });
    expect(finish.usage.inputTokens).toMatchObject({ total: 12, cacheRead: 2, noCache: 10 });
    expect(finish.usage.outputTokens).toEqual({ total: 8, text: 5, reasoning: 3 });
    expect(server.requests[0]!.body.stream_options).toEqual({ include_usage: true });
  });

  it('rejects with the scripted HTTP error', async () => {
    const openai = createOpenAI({ apiKey: 'sk-test', baseURL: server.url }).chat('gpt-fake');
    server.script({ error: { status: 503, message: 'try later' } });
    const error = await rejectionOf(streamParts(openai));
    expect(error).toMatchObject({ statusCode: 503, isRetryable: true, message: 'try later' });
  });

  it('generates a whole completion', async () => {
    const openai = createOpenAI({ apiKey: 'sk-test', baseURL: server.url }).chat('gpt-fake');
    const result = await openai.doGenerate({ prompt });
    expect(result.content).toEqual([{ type: 'text', text: 'What is the weather in Paris?' }]);
    expect(result.finishReason).toEqual({ unified: 'stop', raw: 'stop' });
  });
});

describe('fake model server HTTP surface', () => {
  it('lists models and rejects unknown routes with an OpenAI error body', async () => {
    const models = await fetch(`${server.url}/models`);
    expect(models.status).toBe(200);
    const list = (await models.json()) as { object: string; data: Array<{ id: string; object: string }> };
    expect(list.object).toBe('list');
    expect(list.data[0]).toMatchObject({ id: 'fake-model', object: 'model' });

    const missing = await fetch(`${server.url}/embeddings`, { method: 'POST', body: '{}' });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { type: 'invalid_request_error' } });
    expect(server.requests).toEqual([]);
  });

  it('writes raw SSE with the expected headers and framing', async () => {
    server.script({ steps: [{ text: 'x' }, { toolCall: { id: 'c', name: 'f', args: { a: 1 } } }] });
    const res = await fetch(`${server.url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', stream: true, stream_options: { include_usage: true }, messages: [] }),
    });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const text = await res.text();
    const events = text.split('\n\n').filter(Boolean);
    expect(events.every((e) => e.startsWith('data: '))).toBe(true);
    expect(events.at(-1)).toBe('data: [DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.slice('data: '.length)));
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
    expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant' });
    expect(chunks[1].choices[0].delta).toEqual({ content: 'x' });
    expect(chunks[2].choices[0].delta.tool_calls[0]).toEqual({
      index: 0,
      id: 'c',
      type: 'function',
      function: { name: 'f', arguments: '{"a"' },
    });
    expect(chunks[3].choices[0].delta.tool_calls[0]).toEqual({ index: 0, function: { arguments: ':1}' } });
    expect(chunks[4].choices[0]).toEqual({ index: 0, delta: {}, finish_reason: 'tool_calls' });
    expect(chunks[5].choices).toEqual([]);
    // Default usage: ~4 characters a token; "[]" is the prompt, "x" + "f" + {"a":1} the output.
    expect(chunks[5].usage).toMatchObject({ prompt_tokens: 1, completion_tokens: 3, total_tokens: 4 });
  });

  it('close() ends hung streams and stops listening', async () => {
    const own = await startFakeModelServer();
    const ownModel = createOpenAICompatible({ name: 'own', baseURL: own.url, includeUsage: true }).chatModel('m');
    own.script({ steps: [{ hang: true }] });
    const { stream } = await ownModel.doStream({ prompt });
    const reader = stream.getReader();
    expect((await reader.read()).value?.type).toBe('stream-start');
    const next = reader.read().then(
      () => 'ended',
      () => 'errored',
    );
    await own.close();
    expect(['ended', 'errored']).toContain(await next);
    await expect(fetch(`${own.url}/models`)).rejects.toThrow();
  });
});
