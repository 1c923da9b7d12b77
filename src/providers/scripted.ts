// The `scripted` model, for load tests: streams a fixed number of short tokens per call with no
// I/O and no parsing, so a benchmark of it measures the session runtime itself rather than a
// provider. The token count comes from the model id (`tokens-50`, default 50). Off unless
// LASH_SCRIPTED_PROVIDER=1, and never the default provider.

import type { ModelProvider, ModelRequest, ModelStreamPart } from '../domain/turns/model.js';

const DEFAULT_TOKENS = 50;
const MAX_TOKENS = 100_000;

/** Tokens per call named by a model id such as `tokens-50`. */
export function scriptedTokens(modelId: string): number {
  const m = /(\d+)$/.exec(modelId);
  return m ? Math.min(MAX_TOKENS, Math.max(1, Number(m[1]))) : DEFAULT_TOKENS;
}

/** The text the scripted model streams for `tokens` tokens: "w0 w1 … w49 " (what a bench checks). */
export function scriptedText(tokens: number): string {
  let s = '';
  for (let i = 0; i < tokens; i++) s += `w${i} `;
  return s;
}

export class ScriptedProvider implements ModelProvider {
  readonly id = 'scripted';

  async *stream(request: ModelRequest): AsyncIterable<ModelStreamPart> {
    const tokens = scriptedTokens(request.model.id);
    for (let i = 0; i < tokens; i++) {
      if (request.signal.aborted) return;
      yield { type: 'text_delta', text: `w${i} ` };
    }
    yield {
      type: 'finish',
      usage: { inputTokens: BigInt(request.messages.length), outputTokens: BigInt(tokens), cachedInputTokens: 0n, reasoningTokens: 0n, cacheWriteTokens: 0n },
      finishReason: 'stop',
    };
  }
}
