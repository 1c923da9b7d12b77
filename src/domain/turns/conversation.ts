// Conversion between persisted messages and what a model call sees. Tool results are stored as
// `event` messages with tool_result parts and travel to the model as tool messages (consecutive
// ones merged: one step's results may be stored over several messages).

import type { Message } from '../messages.js';
import type { ModelAssistantPart, ModelMessage, ModelUserPart } from './model.js';

export type ImageLoader = (attachmentId: string) => Promise<{ data: Uint8Array; mimeType: string } | undefined>;

export async function toModelMessages(messages: Message[], loadImage: ImageLoader): Promise<ModelMessage[]> {
  const out: ModelMessage[] = [];
  for (const m of messages) {
    if (m.role === 'user') {
      const parts: ModelUserPart[] = [];
      for (const p of m.parts) {
        if (p.kind === 'text') parts.push({ type: 'text', text: p.text });
        else if (p.kind === 'image') {
          const img = await loadImage(p.attachmentId);
          parts.push(
            img ? { type: 'image', data: img.data, mimeType: img.mimeType } : { type: 'text', text: `[image ${p.attachmentId} is no longer available]` },
          );
        }
      }
      if (parts.length) out.push({ role: 'user', parts });
    } else if (m.role === 'assistant') {
      const parts = m.parts.flatMap((p): ModelAssistantPart[] =>
        p.kind === 'text' || p.kind === 'prose'
          ? [{ type: 'text' as const, text: p.text }]
          : p.kind === 'reasoning'
            ? [{ type: 'reasoning' as const, text: p.text, ...(p.replay ? { replay: p.replay } : {}) }]
            : p.kind === 'tool_call'
              ? [{ type: 'tool_call' as const, callId: p.callId, toolName: p.toolName, args: p.args }]
              : p.kind === 'code'
                ? [{ type: 'text' as const, text: '```' + p.language + '\n' + p.code + '\n```' }]
                : [],
      );
      if (parts.length) out.push({ role: 'assistant', parts });
    } else if (m.role === 'event') {
      const results = m.parts.flatMap((p) =>
        p.kind === 'tool_result' ? [{ callId: p.callId, toolName: p.toolName, output: p.output, isError: p.isError }] : [],
      );
      // One model step's results may be stored over several messages: the model sees them as one.
      const previous = out[out.length - 1];
      if (results.length && previous?.role === 'tool') previous.results = previous.results.concat(results);
      else if (results.length) out.push({ role: 'tool', results });
      const notes = m.parts.flatMap((p) => (p.kind === 'output' ? [p.text] : p.kind === 'error' ? [`error: ${p.message}`] : []));
      if (notes.length) out.push({ role: 'user', parts: [{ type: 'text', text: notes.join('\n') }] });
    } else {
      const text = m.parts.map((p) => (p.kind === 'text' ? p.text : '')).join('');
      if (text) out.push({ role: 'system', text });
    }
  }
  return out;
}
