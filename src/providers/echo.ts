// The built-in `echo` model: no credentials, deterministic. It streams the last user text back
// in a few deltas with usage. `/tool NAME {json}` makes it call that tool first and then report
// the tool's output, so tools can be tried without a real model. In rlm sessions a fenced code
// block in the input is echoed (so it runs); other input is submitted as the answer.

import type { ModelMessage, ModelProvider, ModelRequest, ModelStreamPart } from '../domain/turns/model.js';
import type { Usage } from '../domain/usage.js';

const TOOL_COMMAND = /^\/tool\s+([\w.-]+)\s*([\s\S]*)$/;

const tokens = (text: string) => BigInt(Math.ceil(text.length / 4));

export class EchoProvider implements ModelProvider {
  readonly id = 'echo';

  async *stream(request: ModelRequest): AsyncIterable<ModelStreamPart> {
    const last = request.messages[request.messages.length - 1];
    const promptText = request.system + request.messages.map(textOf).join('\n');
    const usage = (output: string): Usage => ({
      inputTokens: tokens(promptText),
      outputTokens: tokens(output),
      cachedInputTokens: 0n,
      reasoningTokens: 0n,
      cacheWriteTokens: 0n,
    });
    if (last?.role === 'tool') {
      const answer = last.results.map((r) => `${r.toolName} returned ${JSON.stringify(r.output)}`).join('\n');
      yield* this.deltas(answer, request.signal);
      yield { type: 'finish', usage: usage(answer), finishReason: 'stop' };
      return;
    }
    // An input with no text (an image alone) is described, so echo still answers something.
    const text = last ? textOf(last) || describeParts(last) : '';
    if (request.system.includes('submit(value)')) {
      // rlm: code in the input runs as written; anything else is submitted as the answer.
      const answer = /```/.test(text) ? text : '```js\nsubmit(' + JSON.stringify(text.replace(/^Output:\n/, '').trim()) + ');\n```';
      yield* this.deltas(answer, request.signal);
      yield { type: 'finish', usage: usage(answer), finishReason: 'stop' };
      return;
    }
    const command = TOOL_COMMAND.exec(text.trim());
    if (command) {
      yield { type: 'tool_call', callId: `echo-${Date.now().toString(36)}`, toolName: command[1]!, argsJson: command[2]!.trim() || '{}' };
      yield { type: 'finish', usage: usage(command[0]), finishReason: 'tool_calls' };
      return;
    }
    yield* this.deltas(text, request.signal);
    yield { type: 'finish', usage: usage(text), finishReason: 'stop' };
  }

  private *deltas(text: string, signal: AbortSignal): Iterable<ModelStreamPart> {
    // A few deltas, split on word boundaries, so clients see streaming.
    const words = text.split(/(?<=\s)/);
    const per = Math.max(1, Math.ceil(words.length / 3));
    for (let i = 0; i < words.length; i += per) {
      if (signal.aborted) return;
      yield { type: 'text_delta', text: words.slice(i, i + per).join('') };
    }
  }
}

function describeParts(m: ModelMessage): string {
  if (m.role !== 'user') return '';
  return m.parts
    .map((p) => (p.type === 'image' ? `[image ${p.mimeType}, ${p.data.byteLength} bytes]` : ''))
    .filter((d) => d !== '')
    .join(' ');
}

function textOf(m: ModelMessage): string {
  if (m.role === 'system') return m.text;
  if (m.role === 'tool') return m.results.map((r) => JSON.stringify(r.output)).join('\n');
  return m.parts.map((p) => (p.type === 'text' ? p.text : '')).join('');
}
