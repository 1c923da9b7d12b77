// The wire-format fakes refuse what the real APIs refuse, so a wrong request fails a test: a
// wrong key, a tool result answering no call, a malformed image, an unknown route; the chat
// completions checks name the same for the OpenAI paths. Correct
// requests (the shapes the SDK sends) pass and are described.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic } from './fake-anthropic.js';
import { checkChatRequest } from './fake-chat-check.js';
import { startFakeGoogle } from './fake-google.js';
import type { WireFake } from './fake-wire.js';

const post = (url: string, headers: Record<string, string>, body: unknown) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

describe('Anthropic Messages fake', () => {
  let fake: WireFake;
  beforeAll(async () => (fake = await startFakeAnthropic('k-right', 'gw')));
  afterAll(() => fake.close());

  it('answers a correct request with the SSE events and refuses a wrong key, orphan tool_result or bad image', async () => {
    const good = {
      model: 'claude-sonnet-4-5',
      max_tokens: 100,
      stream: true,
      system: [{ type: 'text', text: 'be brief' }],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }],
    };
    const headers = { 'x-api-key': 'k-right', 'anthropic-version': '2023-06-01', 'x-gateway': 'gw' };
    fake.script({ text: ['yo'], usage: { input: 9, output: 2, cacheRead: 4, cacheWrite: 3 } });
    const ok = await post(`${fake.url}/messages`, headers, good);
    const sse = await ok.text();
    expect(sse.match(/^event: (\w+)/gm)).toEqual([
      'event: message_start',
      'event: content_block_start',
      'event: content_block_delta',
      'event: content_block_stop',
      'event: message_delta',
      'event: message_stop',
    ]);
    expect(sse).toContain('"input_tokens":2,"cache_read_input_tokens":4,"cache_creation_input_tokens":3');
    expect(fake.seen[0]).toMatchObject({ model: 'claude-sonnet-4-5', system: 'be brief', userTexts: ['hi'] });
    expect(fake.violations).toEqual([]);

    expect((await post(`${fake.url}/messages`, { ...headers, 'x-api-key': 'k-wrong' }, good)).status).toBe(400);
    const orphan = {
      ...good,
      messages: [
        ...good.messages,
        { role: 'assistant', content: [{ type: 'text', text: 'x' }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'nope', content: '1' }] },
      ],
    };
    expect((await post(`${fake.url}/messages`, headers, orphan)).status).toBe(400);
    const badImage = { ...good, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'url', url: 'http://x' } }] }] };
    expect((await post(`${fake.url}/messages`, headers, badImage)).status).toBe(400);
    expect(fake.violations.join('\n')).toMatch(/x-api-key is "k-wrong"[\s\S]*answers no tool_use[\s\S]*without a base64 source/);
  });
});

describe('Gemini fake', () => {
  let fake: WireFake;
  beforeAll(async () => (fake = await startFakeGoogle('g-right')));
  afterAll(() => fake.close());

  it('streams chunks with usage metadata and refuses a wrong key, route or orphan functionResponse', async () => {
    const route = `${fake.url}/models/gemini-2.5-flash:streamGenerateContent?alt=sse`;
    const good = { contents: [{ role: 'user', parts: [{ text: 'hi' }] }], systemInstruction: { parts: [{ text: 'sys' }] } };
    fake.script({
      reasoning: ['hmm'],
      toolCalls: [
        { id: 'a', name: 'f', args: { x: 1 } },
        { id: 'b', name: 'g', args: {} },
      ],
      usage: { input: 10, output: 6, cacheRead: 4, reasoning: 2 },
    });
    const sse = await (await post(route, { 'x-goog-api-key': 'g-right' }, good)).text();
    expect(sse).toContain('"thought":true');
    expect(sse).toContain('{"functionCall":{"name":"f","args":{"x":1}}},{"functionCall":{"name":"g","args":{}}}');
    expect(sse).toContain('"promptTokenCount":10,"candidatesTokenCount":4,"totalTokenCount":16,"cachedContentTokenCount":4,"thoughtsTokenCount":2');
    expect(fake.seen[0]).toMatchObject({ model: 'gemini-2.5-flash', system: 'sys', userTexts: ['hi'] });

    expect((await post(route, { 'x-goog-api-key': 'nope' }, good)).status).toBe(400);
    expect((await post(`${fake.url}/models/m:generateContent`, { 'x-goog-api-key': 'g-right' }, good)).status).toBe(400);
    const orphan = {
      contents: [
        { role: 'user', parts: [{ text: 'hi' }] },
        { role: 'model', parts: [{ text: 'x' }] },
        { role: 'user', parts: [{ functionResponse: { name: 'f', response: {} } }] },
      ],
    };
    expect((await post(route, { 'x-goog-api-key': 'g-right' }, orphan)).status).toBe(400);
    expect(fake.violations.join('\n')).toMatch(/x-goog-api-key is "nope"[\s\S]*unknown route[\s\S]*answers no functionCall/);
  });
});

describe('Chat Completions checks', () => {
  const o = { apiKey: 'o-right', gatewayHeader: 'gw', openaiReasoningRules: true };
  const headers = { authorization: 'Bearer o-right', 'x-gateway': 'gw' };
  const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } }];
  const call = { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{"x":1}' } }] };
  const good = {
    model: 'o4-mini',
    stream: true,
    max_completion_tokens: 100,
    reasoning_effort: 'high',
    tools,
    messages: [
      { role: 'developer', content: 'sys' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'hi' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0K' } },
        ],
      },
      call,
      { role: 'tool', tool_call_id: 'c1', content: '{"ok":true}' },
    ],
  };

  it('passes the request the SDK sends and names each thing a real server would refuse', () => {
    expect(checkChatRequest(good, headers, o)).toEqual([]);
    const wrong = (patch: Record<string, unknown>, h: Record<string, unknown> = headers) => checkChatRequest({ ...good, ...patch }, h, o).join('\n');
    expect(wrong({}, { ...headers, authorization: 'Bearer o-wrong' })).toMatch(/authorization/);
    expect(wrong({}, { authorization: 'Bearer o-right' })).toMatch(/x-gateway/);
    expect(wrong({ model: '' })).toMatch(/model missing/);
    expect(wrong({ max_tokens: 100 })).toMatch(/use max_completion_tokens/);
    expect(wrong({ reasoning_effort: 'extreme' })).toMatch(/reasoning_effort "extreme"/);
    expect(wrong({ tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'string' } } }] })).toMatch(/parameters of type object/);
    expect(wrong({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x/y.png' } }] }] })).toMatch(/base64 image data URL/);
    expect(wrong({ messages: [{ role: 'user', content: 'hi' }, call] })).toMatch(/ends with tool calls unanswered: c1/);
    expect(
      wrong({ messages: [{ role: 'user', content: 'hi' }, call, { role: 'user', content: 'x' }, { role: 'tool', tool_call_id: 'c1', content: '1' }] }),
    ).toMatch(/comes before tool messages answering c1[\s\S]*tool message c1 answers no open tool call/);
    const badArgs = { ...call, tool_calls: [{ ...call.tool_calls[0], function: { name: 'f', arguments: '[1]' } }] };
    expect(wrong({ messages: [{ role: 'user', content: 'hi' }, badArgs, { role: 'tool', tool_call_id: 'c1', content: '1' }] })).toMatch(
      /not a JSON object string/,
    );
    expect(wrong({ messages: [{ role: 'robot', content: 'hi' }] })).toMatch(/no valid role/);
    // The reasoning-model rules are OpenAI's own; an OpenAI-compatible server takes max_tokens.
    expect(checkChatRequest({ ...good, max_tokens: 100 }, headers, { ...o, openaiReasoningRules: false })).toEqual([]);
  });
});
