// One face for the provider fakes, so a provider suite runs the same scenarios against each:
// `openai` and `openai-compatible` (Chat Completions, fake-model-server.ts, its requests checked
// by fake-chat-check.ts), Anthropic Messages and Gemini. Each reports its requests as SeenRequest, its violations (a wrong request), the
// requests it saw aborted, the server environment that points lash at it, and which token
// classes its wire format reports.

import { startFakeAnthropic } from './fake-anthropic.js';
import { checkChatRequest } from './fake-chat-check.js';
import { startFakeGoogle } from './fake-google.js';
import { startFakeModelServer, type FakeModelServer, type ScriptedResponse, type ScriptStep } from './fake-model-server.js';
import type { Reply, SeenRequest, Tokens, WireFake } from './fake-wire.js';

export type ProviderName = 'openai' | 'openai-compatible' | 'anthropic' | 'google';

export interface ProviderFake {
  provider: ProviderName;
  /** A model of the provider's catalog (so the catalog checks apply). */
  model: string;
  apiKey: string;
  /** Environment that points the server at this fake (key, base URL, the gateway header). */
  env: Record<string, string>;
  /** The wire format streams reasoning text (OpenAI's own chat completions does not). */
  streamsReasoning: boolean;
  /** Token classes this wire format reports; the others are recorded as 0. */
  tokenClasses: (keyof Tokens)[];
  script(...replies: Reply[]): void;
  seen(): SeenRequest[];
  violations(): string[];
  aborted(): number;
  reset(): void;
  close(): Promise<void>;
}

export const GATEWAY_HEADER = 'gw-7d1c';

export async function startProviderFake(provider: ProviderName, apiKey: string): Promise<ProviderFake> {
  if (provider === 'openai' || provider === 'openai-compatible') return chatFake(provider, await startFakeModelServer(), apiKey);
  const wire = provider === 'anthropic' ? await startFakeAnthropic(apiKey, GATEWAY_HEADER) : await startFakeGoogle(apiKey, GATEWAY_HEADER);
  const prefix = provider === 'anthropic' ? 'ANTHROPIC' : 'GOOGLE';
  return {
    provider,
    model: provider === 'anthropic' ? 'claude-sonnet-4-5' : 'gemini-2.5-flash',
    apiKey,
    env:
      provider === 'anthropic'
        ? { ANTHROPIC_API_KEY: apiKey, ANTHROPIC_BASE_URL: wire.url, LASH_ANTHROPIC_HEADERS: JSON.stringify({ 'x-gateway': GATEWAY_HEADER }) }
        : {
            GOOGLE_GENERATIVE_AI_API_KEY: apiKey,
            GOOGLE_GENERATIVE_AI_BASE_URL: wire.url,
            [`LASH_${prefix}_HEADERS`]: JSON.stringify({ 'x-gateway': GATEWAY_HEADER }),
          },
    streamsReasoning: true,
    tokenClasses: provider === 'anthropic' ? ['input', 'output', 'cacheRead', 'cacheWrite', 'reasoning'] : ['input', 'output', 'cacheRead', 'reasoning'],
    ...wireFace(wire),
  };
}

function wireFace(wire: WireFake) {
  return {
    script: (...r: Reply[]) => wire.script(...r),
    seen: () => wire.seen,
    violations: () => wire.violations,
    aborted: () => wire.aborted,
    reset: () => wire.reset(),
    close: () => wire.close(),
  };
}

/**
 * The chat-completions fake behind the same face; requests are checked here, as they are read.
 * `openai-compatible` is the same protocol through its own SDK package (a local server or proxy:
 * a model the catalog does not know, reasoning streamed as `reasoning_content`).
 */
function chatFake(provider: 'openai' | 'openai-compatible', fake: FakeModelServer, apiKey: string): ProviderFake {
  const openai = provider === 'openai';
  const toScripted = (r: Reply): ScriptedResponse => {
    if ('error' in r) return { error: r.error };
    if ('hang' in r) return { steps: [...r.hang.map((text) => ({ text })), { hang: true }] };
    if ('overloadedInStream' in r) throw new Error('overloadedInStream is an Anthropic reply');
    if (r.finish === 'promptBlocked') throw new Error('promptBlocked is a Gemini reply');
    if (r.redactedReasoning) throw new Error('redactedReasoning is an Anthropic reply');
    const steps: ScriptStep[] = [
      ...(r.reasoning ?? []).map((reasoning) => ({ reasoning })),
      ...(r.text ?? []).map((text) => ({ text })),
      ...(r.toolCalls ?? []).map((c) => ({ toolCall: c })),
    ];
    const u = r.usage;
    return {
      steps,
      finishReason: r.finish === 'safety' ? 'content_filter' : r.finish === 'length' ? 'length' : undefined,
      usage: u && { input: u.input, output: u.output, cached: u.cacheRead, reasoning: u.reasoning },
    };
  };
  type ChatPart = { type: string; text?: string; image_url?: { url: string } };
  type ChatMessage = { role: string; content: string | ChatPart[] | null; tool_call_id?: string };
  const describe = (body: Record<string, unknown>, headers: Record<string, unknown>): SeenRequest => {
    const messages = body.messages as ChatMessage[];
    const parts = (m: ChatMessage): ChatPart[] => (typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : (m.content ?? []));
    return {
      model: String(body.model),
      key: String(headers.authorization ?? '').replace(/^Bearer /, '') || undefined,
      system: messages
        .filter((m) => m.role === 'system' || m.role === 'developer')
        .flatMap(parts)
        .map((p) => p.text)
        .join('\n'),
      tools: ((body.tools as { function: { name: string; parameters: unknown } }[] | undefined) ?? []).map((t) => ({
        name: t.function.name,
        schema: t.function.parameters,
      })),
      userTexts: messages
        .filter((m) => m.role === 'user')
        .flatMap(parts)
        .filter((p) => p.type === 'text')
        .map((p) => p.text!),
      images: messages
        .flatMap(parts)
        .filter((p) => p.type === 'image_url')
        .map((p) => {
          const m = /^data:([^;]+);base64,(.*)$/.exec(p.image_url!.url);
          return { mimeType: m?.[1] ?? '', base64: m?.[2] ?? '' };
        }),
      toolResults: messages.filter((m) => m.role === 'tool').map((m) => ({ callId: m.tool_call_id, output: m.content })),
      reasoning: body.reasoning_effort,
      cacheBreakpoints: 0,
      extraHeader: headers['x-gateway'] as string | undefined,
    };
  };
  return {
    provider,
    // openai: a reasoning model, so a reasoning effort is accepted.
    model: openai ? 'o4-mini' : 'llama3.1',
    apiKey,
    env: { OPENAI_API_KEY: apiKey, OPENAI_BASE_URL: fake.url, LASH_OPENAI_HEADERS: JSON.stringify({ 'x-gateway': GATEWAY_HEADER }) },
    streamsReasoning: !openai,
    tokenClasses: ['input', 'output', 'cacheRead', 'reasoning'],
    script: (...r) => fake.script(...r.map(toScripted)),
    seen: () => fake.requests.map((r) => describe(r.body as Record<string, unknown>, r.headers)),
    violations: () =>
      fake.requests.flatMap((r) => checkChatRequest(r.body, r.headers, { apiKey, gatewayHeader: GATEWAY_HEADER, openaiReasoningRules: openai })),
    aborted: () => fake.aborted,
    reset: () => fake.reset(),
    close: () => fake.close(),
  };
}
