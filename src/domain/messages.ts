// Conversation messages as clients read them: a role and typed parts.

import { optionalId } from './ids.js';

export type MessageRole = 'user' | 'assistant' | 'system' | 'event';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export type Part =
  | { kind: 'text'; text: string }
  | { kind: 'image'; attachmentId: string; mimeType: string }
  | { kind: 'code'; language: string; code: string }
  | { kind: 'output'; text: string }
  | { kind: 'error'; message: string }
  | { kind: 'prose'; text: string }
  | { kind: 'tool_call'; callId: string; toolName: string; args: Record<string, JsonValue> }
  | { kind: 'tool_result'; callId: string; toolName: string; output: JsonValue; isError: boolean }
  /** `replay`: the provider's check data for the block (a signature), sent back with it verbatim. */
  | { kind: 'reasoning'; text: string; replay?: Record<string, Record<string, JsonValue>> };

export interface Message {
  id: string;
  role: MessageRole;
  parts: Part[];
}

/**
 * Refuses NUL and control characters in the names a message part carries (call ids, tool names,
 * attachment ids, mime types, code languages); free text (text, code, output, JSON) is not checked here.
 */
export function requirePartNames(messages: Message[], field = 'messages'): void {
  messages.forEach((m, i) =>
    m.parts.forEach((p, j) => {
      const at = (name: string) => `${field}[${i}].parts[${j}].${name}`;
      if (p.kind === 'tool_call' || p.kind === 'tool_result') {
        optionalId(at('call_id'), p.callId);
        optionalId(at('tool_name'), p.toolName);
      } else if (p.kind === 'image') {
        optionalId(at('attachment_id'), p.attachmentId);
        optionalId(at('mime_type'), p.mimeType);
      } else if (p.kind === 'code') {
        optionalId(at('language'), p.language);
      }
    }),
  );
}
