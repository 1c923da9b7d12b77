// What a real Chat Completions server (OpenAI, and the OpenAI-compatible servers that copy its
// rules) refuses, checked against a request the chat fake (fake-model-server.ts) recorded: the
// key and the configured gateway header, the model, message roles, an assistant's tool_calls
// answered by tool messages right after it (one per id, nothing in between), argument strings
// that are JSON objects, image parts as base64 data URLs, function tools with object schemas,
// and, for OpenAI's reasoning models, max_completion_tokens instead of max_tokens and a known
// reasoning_effort. Each problem is a line; the provider suite fails on any.

import { isObject } from './fake-wire.js';

const ROLES = ['system', 'developer', 'user', 'assistant', 'tool'];
const EFFORTS = ['none', 'minimal', 'low', 'medium', 'high', 'xhigh'];
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const DATA_URL = /^data:image\/[a-z0-9.+-]+;base64,[A-Za-z0-9+/]+=*$/;

export interface ChatCheckOptions {
  apiKey: string;
  /** Value the x-gateway header must carry (the configured extra header). */
  gatewayHeader: string;
  /** OpenAI's own rules for its reasoning models apply (the `openai` provider). */
  openaiReasoningRules: boolean;
}

export function checkChatRequest(raw: unknown, headers: Record<string, unknown>, o: ChatCheckOptions): string[] {
  const problems: string[] = [];
  if (headers.authorization !== `Bearer ${o.apiKey}`) problems.push('authorization is not "Bearer <configured key>"');
  if (headers['x-gateway'] !== o.gatewayHeader) problems.push('the configured extra header x-gateway is missing');
  if (!isObject(raw)) return [...problems, 'body is not a JSON object'];
  const body = raw;
  if (typeof body.model !== 'string' || !body.model) problems.push('model missing');
  if (body.stream !== true) problems.push('stream must be true');
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) return [...problems, 'messages must be a non-empty array'];
  problems.push(...checkMessages(messages));
  problems.push(...checkTools(body.tools));
  if (o.openaiReasoningRules && /^(o\d|gpt-5)/.test(body.model as string)) {
    if (body.max_tokens !== undefined) problems.push(`max_tokens is not supported by ${String(body.model)}; use max_completion_tokens`);
    if (body.temperature !== undefined) problems.push(`temperature is not supported by ${String(body.model)}`);
  }
  if (body.reasoning_effort !== undefined && !EFFORTS.includes(body.reasoning_effort as string))
    problems.push(`reasoning_effort "${String(body.reasoning_effort)}" is not one of ${EFFORTS.join(', ')}`);
  return problems;
}

function checkMessages(messages: unknown[]): string[] {
  const problems: string[] = [];
  // Ids of the last assistant's tool_calls not answered yet; anything but a tool message must wait.
  let pending = new Set<string>();
  messages.forEach((m, i) => {
    if (!isObject(m) || !ROLES.includes(m.role as string)) return problems.push(`messages[${i}] has no valid role`);
    if (m.role !== 'tool' && pending.size > 0) {
      problems.push(`messages[${i}] (${String(m.role)}) comes before tool messages answering ${[...pending].join(', ')}`);
      pending = new Set();
    }
    if (m.role === 'tool') {
      if (!pending.delete(m.tool_call_id as string)) problems.push(`messages[${i}] tool message ${String(m.tool_call_id)} answers no open tool call`);
      if (typeof m.content !== 'string' && !Array.isArray(m.content)) problems.push(`messages[${i}] tool message without content`);
    }
    if (m.role === 'user') problems.push(...checkUserContent(m.content, i));
    if ((m.role === 'system' || m.role === 'developer') && typeof m.content !== 'string') problems.push(`messages[${i}] ${m.role} content must be text`);
    if (m.role === 'assistant' && m.tool_calls !== undefined) {
      if (!Array.isArray(m.tool_calls) || m.tool_calls.length === 0) return problems.push(`messages[${i}].tool_calls must be a non-empty array`);
      for (const call of m.tool_calls as unknown[]) {
        const fn = isObject(call) && isObject(call.function) ? call.function : undefined;
        if (!isObject(call) || typeof call.id !== 'string' || call.type !== 'function' || !fn || typeof fn.name !== 'string') {
          problems.push(`messages[${i}] has a malformed tool call`);
          continue;
        }
        if (!isJsonObjectText(fn.arguments)) problems.push(`messages[${i}] tool call ${call.id} arguments are not a JSON object string`);
        pending.add(call.id);
      }
    }
    return undefined;
  });
  if (pending.size > 0) problems.push(`the request ends with tool calls unanswered: ${[...pending].join(', ')}`);
  return problems;
}

function checkUserContent(content: unknown, i: number): string[] {
  if (typeof content === 'string') return [];
  if (!Array.isArray(content) || content.length === 0) return [`messages[${i}] user content must be text or a non-empty list of parts`];
  return content.flatMap((p: unknown) => {
    if (isObject(p) && p.type === 'text' && typeof p.text === 'string') return [];
    if (isObject(p) && p.type === 'image_url' && isObject(p.image_url) && DATA_URL.test(String(p.image_url.url))) return [];
    return [`messages[${i}] has a part that is neither text nor an image_url with a base64 image data URL`];
  });
}

function checkTools(tools: unknown): string[] {
  if (tools === undefined) return [];
  if (!Array.isArray(tools) || tools.length === 0) return ['tools must be a non-empty array when present'];
  return tools.flatMap((t: unknown) => {
    const fn = isObject(t) && isObject(t.function) ? t.function : undefined;
    if (!isObject(t) || t.type !== 'function' || !fn) return ['a tool is not {type:"function", function:{…}}'];
    const problems: string[] = [];
    if (typeof fn.name !== 'string' || !TOOL_NAME.test(fn.name)) problems.push(`tool name ${String(fn.name)} does not match ${TOOL_NAME.source}`);
    if (!isObject(fn.parameters) || fn.parameters.type !== 'object') problems.push(`tool ${String(fn.name)} needs parameters of type object`);
    return problems;
  });
}

function isJsonObjectText(v: unknown): boolean {
  if (typeof v !== 'string') return false;
  try {
    return isObject(JSON.parse(v));
  } catch {
    return false;
  }
}
