// A fake of the Anthropic Messages API (POST /v1/messages, stream: true) for @ai-sdk/anthropic.
// It checks what a real server would refuse (key header, version header, model, max_tokens,
// alternating roles, tool_result ids answering the previous tool_use blocks, tool schemas) and
// streams replies as Anthropic's SSE events: message_start (input and cache usage),
// content_block_start/delta/stop (thinking_delta, text_delta, input_json_delta), message_delta
// (stop_reason end_turn, tool_use, max_tokens or refusal; output usage), message_stop;
// thinking blocks are signed over their text, and with thinking on, the assistant message of an
// open tool round must come back starting with its thinking block, signature intact (as the real
// API demands); errors as {type:"error",error:{type,message}}.

import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { halves, isObject, startSse, WireFake, type Reply, type SeenRequest, type WireFormat } from './fake-wire.js';

type Block = Record<string, unknown> & { type: string };
type Msg = { role: string; content: string | Block[] };

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

export async function startFakeAnthropic(apiKey: string, extraHeader?: string): Promise<WireFake> {
  return new WireFake(anthropicWire(apiKey, extraHeader)).listen();
}

function anthropicWire(apiKey: string, extraHeader?: string): WireFormat {
  return {
    basePath: '/v1',
    errorBody: (status, message) => ({ type: 'error', error: { type: ERROR_TYPES[status] ?? 'api_error', message } }),
    check(path, headers, raw) {
      const body = raw as Record<string, unknown>;
      const problems: string[] = [];
      if (path !== '/v1/messages') problems.push(`unknown route ${path}`);
      if (headers['x-api-key'] !== apiKey) problems.push(`x-api-key is "${String(headers['x-api-key'])}", not the configured key`);
      if (!headers['anthropic-version']) problems.push('anthropic-version header missing');
      if (extraHeader !== undefined && headers['x-gateway'] !== extraHeader) problems.push('the configured extra header x-gateway is missing');
      if (typeof body.model !== 'string' || !body.model) problems.push('model missing');
      if (!Number.isInteger(body.max_tokens) || (body.max_tokens as number) < 1) problems.push('max_tokens must be a positive integer');
      if (body.stream !== true) problems.push('stream must be true');
      const messages = body.messages as Msg[] | undefined;
      if (!Array.isArray(messages) || messages.length === 0) return [...problems, 'messages must be a non-empty array'];
      messages.forEach((m, i) => {
        if (m.role !== (i % 2 === 0 ? 'user' : 'assistant')) problems.push(`messages[${i}].role is ${m.role}; roles must alternate starting with user`);
        const blocks = typeof m.content === 'string' ? [] : m.content;
        for (const b of blocks) {
          if (!['text', 'image', 'tool_use', 'tool_result', 'thinking', 'redacted_thinking'].includes(b.type))
            problems.push(`messages[${i}] has a ${b.type} block`);
          if (
            b.type === 'image' &&
            !(isObject(b.source) && b.source.type === 'base64' && typeof b.source.data === 'string' && /^image\//.test(String(b.source.media_type)))
          )
            problems.push(`messages[${i}] image block without a base64 source`);
          if (b.type === 'tool_result') {
            const prev = messages[i - 1];
            const ids = prev && typeof prev.content !== 'string' ? prev.content.filter((x) => x.type === 'tool_use').map((x) => x.id) : [];
            if (!ids.includes(b.tool_use_id)) problems.push(`messages[${i}] tool_result ${String(b.tool_use_id)} answers no tool_use of the previous message`);
          }
        }
      });
      problems.push(...checkThinking(body, messages));
      for (const t of (body.tools as Block[] | undefined) ?? []) {
        if (typeof t.name !== 'string' || !isObject(t.input_schema) || t.input_schema.type !== 'object')
          problems.push(`tool ${String(t.name)} needs input_schema of type object`);
      }
      if (body.system !== undefined && !(Array.isArray(body.system) && body.system.every((s: Block) => s.type === 'text')))
        problems.push('system must be a list of text blocks');
      return problems;
    },
    describe(_path, headers, raw): SeenRequest {
      const body = raw as Record<string, unknown>;
      const messages = body.messages as Msg[];
      const blocks: Block[] = messages.flatMap((m) =>
        typeof m.content === 'string' ? [{ type: 'text', text: m.content, role: m.role }] : m.content.map((b) => ({ ...b, role: m.role })),
      );
      const system = (body.system as Block[] | undefined) ?? [];
      const breakpoints = [...system, ...blocks, ...((body.tools as Block[] | undefined) ?? [])].filter((b) => b.cache_control).length;
      return {
        model: String(body.model),
        key: headers['x-api-key'] as string | undefined,
        system: system.map((s) => s.text).join('\n'),
        tools: ((body.tools as Block[] | undefined) ?? []).map((t) => ({ name: String(t.name), schema: t.input_schema })),
        userTexts: blocks.filter((b) => b.role === 'user' && b.type === 'text').map((b) => String(b.text)),
        images: blocks
          .filter((b) => b.type === 'image')
          .map((b) => ({ mimeType: String((b.source as Block).media_type), base64: String((b.source as Block).data) })),
        toolResults: blocks.filter((b) => b.type === 'tool_result').map((b) => ({ callId: String(b.tool_use_id), output: b.content })),
        reasoning: body.thinking ?? (isObject(body.output_config) ? body.output_config.effort : undefined),
        cacheBreakpoints: breakpoints,
        extraHeader: headers['x-gateway'] as string | undefined,
      };
    },
    render: (reply, res, raw, closed) => render(reply as Rendered, res, String((raw as Record<string, unknown>).model), closed),
  };
}

/** The opaque payload of the redacted thinking blocks the fake sends; it must come back as is. */
const REDACTED_DATA = 'EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB5URj';

/** What the fake signs a thinking block with: a replayed block whose text changed fails. */
export const signThinking = (thinking: string) => `sig-${createHash('sha256').update(thinking).digest('base64url').slice(0, 22)}`;

/**
 * Thinking blocks sent back must carry their own signature; with thinking on, an assistant
 * message whose tool_use blocks the last message answers must start with its thinking block.
 */
function checkThinking(body: Record<string, unknown>, messages: Msg[]): string[] {
  const problems: string[] = [];
  messages.forEach((m, i) => {
    for (const b of typeof m.content === 'string' ? [] : m.content) {
      if (b.type === 'thinking' && b.signature !== signThinking(String(b.thinking))) problems.push(`messages[${i}] thinking block with an invalid signature`);
      if (b.type === 'redacted_thinking' && b.data !== REDACTED_DATA) problems.push(`messages[${i}] redacted_thinking block whose data was altered`);
    }
  });
  const thinkingOn = isObject(body.thinking) && ['enabled', 'adaptive'].includes(String(body.thinking.type));
  const open = messages.length - 2;
  const last = messages[messages.length - 1];
  const answersTools = last && typeof last.content !== 'string' && last.content.some((b) => b.type === 'tool_result');
  const assistant = messages[open];
  if (thinkingOn && answersTools && assistant && typeof assistant.content !== 'string') {
    const first = assistant.content[0]?.type;
    if (first !== 'thinking' && first !== 'redacted_thinking')
      problems.push(
        `messages[${open}]: with thinking on, the assistant message of an open tool round must start with a thinking block (found ${String(first)})`,
      );
  }
  return problems;
}

function event(res: ServerResponse, data: Record<string, unknown>): void {
  res.write(`event: ${String(data.type)}\ndata: ${JSON.stringify(data)}\n\n`);
}

type Rendered = Exclude<Reply, { error: unknown }>;

async function render(reply: Rendered, res: ServerResponse, model: string, closed: Promise<void>): Promise<void> {
  startSse(res);
  if ('overloadedInStream' in reply) {
    event(res, { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
    return;
  }
  const usage = 'hang' in reply ? { input: 10, output: 1 } : (reply.usage ?? { input: 10, output: 5 });
  const cacheRead = usage.cacheRead ?? 0;
  const cacheWrite = usage.cacheWrite ?? 0;
  event(res, {
    type: 'message_start',
    message: {
      id: 'msg_fake',
      type: 'message',
      role: 'assistant',
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: {
        input_tokens: usage.input - cacheRead - cacheWrite,
        cache_read_input_tokens: cacheRead,
        cache_creation_input_tokens: cacheWrite,
        output_tokens: 1,
      },
    },
  });
  let index = 0;
  const block = (start: Record<string, unknown>, deltas: Record<string, unknown>[]) => {
    event(res, { type: 'content_block_start', index, content_block: start });
    for (const delta of deltas) event(res, { type: 'content_block_delta', index, delta });
    event(res, { type: 'content_block_stop', index: index++ });
  };
  if ('hang' in reply) {
    event(res, { type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
    for (const text of reply.hang) event(res, { type: 'content_block_delta', index, delta: { type: 'text_delta', text } });
    await closed;
    return;
  }
  if (reply.redactedReasoning) block({ type: 'redacted_thinking', data: REDACTED_DATA }, []);
  if (reply.reasoning?.length)
    block({ type: 'thinking', thinking: '' }, [
      ...reply.reasoning.map((thinking) => ({ type: 'thinking_delta', thinking })),
      { type: 'signature_delta', signature: signThinking(reply.reasoning.join('')) },
    ]);
  if (reply.text?.length)
    block(
      { type: 'text', text: '' },
      reply.text.map((text) => ({ type: 'text_delta', text })),
    );
  for (const call of reply.toolCalls ?? [])
    block(
      { type: 'tool_use', id: call.id, name: call.name, input: {} },
      halves(JSON.stringify(call.args)).map((partial_json) => ({ type: 'input_json_delta', partial_json })),
    );
  if (reply.finish === 'promptBlocked') throw new Error('promptBlocked is a Gemini reply');
  const stop = reply.finish === 'safety' ? 'refusal' : reply.finish === 'length' ? 'max_tokens' : reply.toolCalls?.length ? 'tool_use' : 'end_turn';
  event(res, {
    type: 'message_delta',
    delta: { stop_reason: stop, stop_sequence: null },
    usage: { output_tokens: usage.output, ...(usage.reasoning ? { output_tokens_details: { thinking_tokens: usage.reasoning } } : {}) },
  });
  event(res, { type: 'message_stop' });
}
