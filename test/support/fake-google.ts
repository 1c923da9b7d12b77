// A fake of the Gemini API (POST /v1beta/models/{model}:streamGenerateContent?alt=sse) for
// @ai-sdk/google. It checks what a real server would refuse (x-goog-api-key, the model in the
// path, contents roles user/model, functionResponse parts answering the previous functionCall
// parts by name, tools as functionDeclarations) and streams replies as Gemini SSE chunks
// (`data: {candidates:[{content:{parts}}], usageMetadata}`): thought parts, text parts, several
// functionCall parts at once, usageMetadata with cachedContentTokenCount and thoughtsTokenCount,
// finishReason SAFETY or MAX_TOKENS, a prompt blocked by promptFeedback.blockReason; errors as
// {error:{code,message,status}}, a retry delay as the google.rpc.RetryInfo detail of the body.

import type { ServerResponse } from 'node:http';
import { isObject, startSse, WireFake, type Reply, type SeenRequest, type WireFormat } from './fake-wire.js';

type Part = Record<string, unknown>;
type Content = { role: string; parts: Part[] };

const STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};
const ROUTE = /^\/v1beta\/models\/([^/:?]+):streamGenerateContent\?alt=sse$/;

export async function startFakeGoogle(apiKey: string, extraHeader?: string): Promise<WireFake> {
  return new WireFake(googleWire(apiKey, extraHeader)).listen();
}

function googleWire(apiKey: string, extraHeader?: string): WireFormat {
  return {
    basePath: '/v1beta',
    errorBody: (status, message) => ({ error: { code: status, message, status: STATUS[status] ?? 'UNKNOWN' } }),
    // Gemini says when to retry in the error details, not in a retry-after header.
    retryAfterError: (status, message, seconds) => ({
      error: {
        code: status,
        message,
        status: STATUS[status] ?? 'UNKNOWN',
        details: [
          {
            '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
            violations: [{ quotaMetric: 'generativelanguage.googleapis.com/generate_content_requests' }],
          },
          { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${seconds}s` },
        ],
      },
    }),
    check(path, headers, raw) {
      const body = raw as Record<string, unknown>;
      const problems: string[] = [];
      if (!ROUTE.test(path)) problems.push(`unknown route ${path} (expected /v1beta/models/{model}:streamGenerateContent?alt=sse)`);
      if (headers['x-goog-api-key'] !== apiKey) problems.push(`x-goog-api-key is "${String(headers['x-goog-api-key'])}", not the configured key`);
      if (extraHeader !== undefined && headers['x-gateway'] !== extraHeader) problems.push('the configured extra header x-gateway is missing');
      const contents = body.contents as Content[] | undefined;
      if (!Array.isArray(contents) || contents.length === 0) return [...problems, 'contents must be a non-empty array'];
      contents.forEach((c, i) => {
        if (c.role !== 'user' && c.role !== 'model') problems.push(`contents[${i}].role is ${c.role}; must be user or model`);
        if (!Array.isArray(c.parts) || c.parts.length === 0) problems.push(`contents[${i}].parts must be a non-empty array`);
        for (const p of c.parts ?? []) {
          if (p.inlineData && !(isObject(p.inlineData) && typeof p.inlineData.data === 'string' && /^image\//.test(String(p.inlineData.mimeType))))
            problems.push(`contents[${i}] inlineData without base64 data and an image mimeType`);
          if (isObject(p.functionResponse)) {
            const prev = contents[i - 1];
            const names = prev?.role === 'model' ? prev.parts.filter((x) => isObject(x.functionCall)).map((x) => (x.functionCall as Part).name) : [];
            if (!names.includes(p.functionResponse.name))
              problems.push(`contents[${i}] functionResponse ${String(p.functionResponse.name)} answers no functionCall of the previous content`);
          }
        }
      });
      const tools = (body.tools as Part[] | undefined) ?? [];
      for (const t of tools) {
        for (const f of (t.functionDeclarations as Part[] | undefined) ?? []) {
          const schema = f.parametersJsonSchema ?? f.parameters;
          if (typeof f.name !== 'string' || (schema !== undefined && !(isObject(schema) && schema.type === 'object')))
            problems.push(`function ${String(f.name)} needs parameters of type object`);
        }
      }
      if (body.systemInstruction !== undefined && !(isObject(body.systemInstruction) && Array.isArray(body.systemInstruction.parts)))
        problems.push('systemInstruction must have parts');
      return problems;
    },
    describe(path, headers, raw): SeenRequest {
      const body = raw as Record<string, unknown>;
      const contents = body.contents as Content[];
      const parts: Part[] = contents.flatMap((c) => c.parts.map((p) => ({ ...p, role: c.role })));
      const config = (body.generationConfig ?? {}) as Part;
      return {
        model: ROUTE.exec(path)![1]!,
        key: headers['x-goog-api-key'] as string | undefined,
        system: (((body.systemInstruction as Part | undefined)?.parts as Part[] | undefined) ?? []).map((p) => p.text).join('\n'),
        tools: ((body.tools as Part[] | undefined) ?? []).flatMap((t) =>
          ((t.functionDeclarations as Part[] | undefined) ?? []).map((f) => ({ name: String(f.name), schema: f.parametersJsonSchema ?? f.parameters })),
        ),
        userTexts: parts.filter((p) => p.role === 'user' && typeof p.text === 'string').map((p) => String(p.text)),
        images: parts
          .filter((p) => isObject(p.inlineData))
          .map((p) => ({ mimeType: String((p.inlineData as Part).mimeType), base64: String((p.inlineData as Part).data) })),
        toolResults: parts
          .filter((p) => isObject(p.functionResponse))
          .map((p) => ({ name: String((p.functionResponse as Part).name), output: (p.functionResponse as Part).response })),
        reasoning: config.thinkingConfig,
        cacheBreakpoints: 0,
        extraHeader: headers['x-gateway'] as string | undefined,
      };
    },
    render: (reply, res, _raw, closed) => render(reply as Rendered, res, closed),
  };
}

function chunk(res: ServerResponse, data: Record<string, unknown>): void {
  res.write(`data: ${JSON.stringify(data)}\n\n`);
}

const candidate = (parts: Part[], finishReason?: string) => ({
  candidates: [{ content: { role: 'model', parts }, index: 0, ...(finishReason ? { finishReason } : {}) }],
});

type Rendered = Exclude<Reply, { error: unknown }>;

async function render(reply: Rendered, res: ServerResponse, closed: Promise<void>): Promise<void> {
  startSse(res);
  if ('overloadedInStream' in reply) throw new Error('overloadedInStream is an Anthropic reply');
  if ('hang' in reply) {
    for (const text of reply.hang) chunk(res, candidate([{ text }]));
    await closed;
    return;
  }
  for (const text of reply.reasoning ?? []) chunk(res, candidate([{ text, thought: true }]));
  for (const text of reply.text ?? []) chunk(res, candidate([{ text }]));
  // Parallel calls arrive together, as parts of one chunk.
  const calls = (reply.toolCalls ?? []).map((c) => ({ functionCall: { name: c.name, args: c.args } }));
  const u = reply.usage ?? { input: 10, output: 5 };
  const usageMetadata = {
    promptTokenCount: u.input,
    candidatesTokenCount: u.output - (u.reasoning ?? 0),
    totalTokenCount: u.input + u.output,
    ...(u.cacheRead ? { cachedContentTokenCount: u.cacheRead } : {}),
    ...(u.reasoning ? { thoughtsTokenCount: u.reasoning } : {}),
  };
  // A blocked prompt has no candidate at all, only the prompt feedback.
  if (reply.finish === 'promptBlocked') {
    chunk(res, {
      promptFeedback: { blockReason: 'SAFETY', safetyRatings: [{ category: 'HARM_CATEGORY_DANGEROUS_CONTENT', probability: 'HIGH', blocked: true }] },
      usageMetadata,
    });
    return;
  }
  if (reply.finish === 'safety') {
    chunk(res, {
      candidates: [{ index: 0, finishReason: 'SAFETY', safetyRatings: [{ category: 'HARM_CATEGORY_DANGEROUS_CONTENT', probability: 'HIGH', blocked: true }] }],
      usageMetadata,
    });
    return;
  }
  chunk(res, { ...candidate(calls.length ? calls : [{ text: '' }], reply.finish === 'length' ? 'MAX_TOKENS' : 'STOP'), usageMetadata, modelVersion: 'fake' });
}
