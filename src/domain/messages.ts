// Conversation messages as clients read them: a role and typed parts.

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
  | { kind: 'reasoning'; text: string };

export interface Message {
  id: string;
  role: MessageRole;
  parts: Part[];
}
