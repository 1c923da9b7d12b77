// The read view as a conversation: each message by role, its parts as text, prose, reasoning,
// tool calls with their arguments and results, rlm code blocks with their output, errors, images.

import type { JsonObject } from '@bufbuild/protobuf';
import { h, pretty, type Child } from './dom.js';

const ROLE = /^MESSAGE_ROLE_/;

/** Draws an image part from its attachment; without one, images show as their id. */
export type ImageRenderer = (attachmentId: string, mimeType: string) => Child;

export function renderMessages(messages: JsonObject[], branch?: (nodeId: string) => void, image?: ImageRenderer): HTMLElement[] {
  return messages.map((m) => {
    const role = String(m.role ?? 'MESSAGE_ROLE_UNSPECIFIED')
      .replace(ROLE, '')
      .toLowerCase();
    const id = String(m.id ?? '');
    return h(
      `article.message.${role}`,
      { 'data-node': id, title: `node ${id}` },
      h(
        'header',
        {},
        h('span.role', {}, role),
        branch && id
          ? h('button.small.branch', { onclick: () => branch(id), title: 'move the session head to this node (a new branch from here)' }, 'branch here')
          : null,
      ),
      ((m.parts ?? []) as JsonObject[]).map((p) => renderPart(p, image)),
    );
  });
}

export function renderPart(part: JsonObject, image?: ImageRenderer): Child {
  const [kind, value] = Object.entries(part)[0] ?? ['', {}];
  const v = (value ?? {}) as JsonObject;
  switch (kind) {
    case 'text':
    case 'prose':
      return h('p.text', {}, String(v.text ?? ''));
    case 'reasoning':
      return h('details.reasoning', {}, h('summary', {}, 'reasoning'), h('p', {}, String(v.text ?? '')));
    case 'code':
      return h('figure.code', {}, h('figcaption', {}, `code (${String(v.language || 'rlm')})`), h('pre', {}, String(v.code ?? '')));
    case 'output':
      return h('figure.output', {}, h('figcaption', {}, 'output'), h('pre', {}, String(v.text ?? '')));
    case 'error':
      return h('p.error', {}, String(v.message ?? ''));
    case 'toolCall':
      return h(
        'div.tool-call',
        { 'data-call': String(v.callId ?? '') },
        h('span.tool-name', {}, `${String(v.toolName)}(…)`),
        h('pre.args', {}, pretty(v.args ?? {})),
      );
    case 'toolResult':
      return h(
        `div.tool-result${v.isError ? '.failed' : ''}`,
        { 'data-call': String(v.callId ?? '') },
        h('span.tool-name', {}, `${String(v.toolName)} → ${v.isError ? 'error' : 'result'}`),
        h('pre', {}, pretty(v.output)),
      );
    case 'image':
      return h(
        'figure.image',
        {},
        image && v.attachmentId ? image(String(v.attachmentId), String(v.mimeType ?? '')) : h('div.image-placeholder', {}, '🖼'),
        h('figcaption', {}, `image ${String(v.attachmentId ?? '')} (${String(v.mimeType ?? 'unknown type')})`),
      );
    default:
      return h('pre.unknown', {}, pretty(part));
  }
}
