// Mapping of the shared lash.v1 types (messages, parts, usage) between wire and domain.

import { MessageRole, type Message as PbMessage, type Part as PbPart, type Usage as PbUsage } from '../../../gen/lash/v1/common.js';
import { invalid } from '../../domain/errors.js';
import { portableJson } from '../../domain/json-values.js';
import type { JsonValue, Message, MessageRole as Role, Part } from '../../domain/messages.js';
import type { Usage } from '../../domain/usage.js';
import { decodeEnum, encodeTable } from './enums.js';

const ROLES: Record<number, Role> = {
  [MessageRole.MESSAGE_ROLE_USER]: 'user',
  [MessageRole.MESSAGE_ROLE_ASSISTANT]: 'assistant',
  [MessageRole.MESSAGE_ROLE_SYSTEM]: 'system',
  [MessageRole.MESSAGE_ROLE_EVENT]: 'event',
};
const ROLE_OUT = encodeTable(ROLES);

export function messageFromPb(m: PbMessage, field: string): Message {
  if (m.role === MessageRole.MESSAGE_ROLE_UNSPECIFIED)
    throw invalid('MESSAGE_ROLE_MISSING', `${field}.role is required (MESSAGE_ROLE_USER, _ASSISTANT, _SYSTEM or _EVENT)`, { field: `${field}.role` });
  return { id: m.id, role: decodeEnum(`${field}.role`, m.role, ROLES, 'MessageRole'), parts: m.parts.map((p, i) => partFromPb(p, `${field}.parts[${i}]`)) };
}

function partFromPb(p: PbPart, field: string): Part {
  const k = p.kind;
  switch (k?.$case) {
    case 'text':
      return { kind: 'text', text: k.value.text };
    case 'image':
      return { kind: 'image', attachmentId: k.value.attachmentId, mimeType: k.value.mimeType };
    case 'code':
      return { kind: 'code', language: k.value.language, code: k.value.code };
    case 'output':
      return { kind: 'output', text: k.value.text };
    case 'error':
      return { kind: 'error', message: k.value.message };
    case 'prose':
      return { kind: 'prose', text: k.value.text };
    // Struct and Value carry Infinity and NaN, JSON does not: spelled as strings here, the one
    // spelling tool results have everywhere (README, text and numbers).
    case 'toolCall':
      return {
        kind: 'tool_call',
        callId: k.value.callId,
        toolName: k.value.toolName,
        args: portableJson((k.value.args ?? {}) as JsonValue) as Record<string, JsonValue>,
      };
    case 'toolResult':
      return {
        kind: 'tool_result',
        callId: k.value.callId,
        toolName: k.value.toolName,
        output: portableJson((k.value.output ?? null) as JsonValue),
        isError: k.value.isError,
      };
    case 'reasoning':
      return { kind: 'reasoning', text: k.value.text };
    default:
      throw invalid('PART_KIND_MISSING', `${field} must set exactly one part kind`, { field });
  }
}

export function messageToPb(m: Message): PbMessage {
  return { id: m.id, role: ROLE_OUT.get(m.role) ?? MessageRole.MESSAGE_ROLE_UNSPECIFIED, parts: m.parts.map(partToPb) };
}

function partToPb(p: Part): PbPart {
  switch (p.kind) {
    case 'text':
      return { kind: { $case: 'text', value: { text: p.text } } };
    case 'image':
      return { kind: { $case: 'image', value: { attachmentId: p.attachmentId, mimeType: p.mimeType } } };
    case 'code':
      return { kind: { $case: 'code', value: { language: p.language, code: p.code } } };
    case 'output':
      return { kind: { $case: 'output', value: { text: p.text } } };
    case 'error':
      return { kind: { $case: 'error', value: { message: p.message } } };
    case 'prose':
      return { kind: { $case: 'prose', value: { text: p.text } } };
    case 'tool_call':
      return { kind: { $case: 'toolCall', value: { callId: p.callId, toolName: p.toolName, args: p.args } } };
    case 'tool_result':
      return { kind: { $case: 'toolResult', value: { callId: p.callId, toolName: p.toolName, output: p.output, isError: p.isError } } };
    case 'reasoning':
      return { kind: { $case: 'reasoning', value: { text: p.text } } };
  }
}

export const usageToPb = (u: Usage): PbUsage => ({ ...u });
