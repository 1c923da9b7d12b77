// The sessions list: id, status (idle / running / parked), turns, last activity and labels,
// narrowed by a label filter (key=value, ANDed), refreshed by polling while it is shown.

import type { JsonObject } from '@bufbuild/protobuf';
import type { Api } from './api.js';
import { ago, fill, h } from './dom.js';

const POLL_MS = 2000;
const PAGE = 100;

export function statusName(status: unknown): string {
  return typeof status === 'string' ? status.replace('SESSION_STATUS_', '').toLowerCase() : 'idle';
}

/** "k=v, k2=v2" → { k: v, k2: v2 }; entries without "=" are ignored. */
function parseFilter(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

export function labels(metadata: unknown): string {
  return Object.entries((metadata ?? {}) as Record<string, string>)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
}

/** Renders the list into `root` and keeps it fresh; returns a function that stops the polling. */
export function showList(api: Api, root: HTMLElement): () => void {
  const params = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const filter = h('input#filter', { placeholder: 'label filter: team=ops, env=prod', value: params.get('labels') ?? '' }) as HTMLInputElement;
  const body = h('tbody');
  const note = h('p.note');
  const table = h(
    'table#sessions',
    {},
    h('thead', {}, h('tr', {}, h('th', {}, 'session'), h('th', {}, 'status'), h('th', {}, 'turns'), h('th', {}, 'last activity'), h('th', {}, 'labels'))),
    body,
  );
  fill(root, h('section', {}, h('h2', {}, 'Sessions'), h('div.bar', {}, filter), table, note));
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const refresh = async () => {
    clearTimeout(timer);
    try {
      const metadata = parseFilter(filter.value);
      const res = await api.call('SessionService', 'ListSessions', { pageSize: PAGE, ...(Object.keys(metadata).length ? { filter: { metadata } } : {}) });
      if (stopped) return;
      const sessions = (res.sessions ?? []) as JsonObject[];
      fill(body, sessions.map(row));
      fill(note, sessions.length === 0 ? 'No sessions match.' : res.nextPageToken ? `Showing the first ${PAGE}; narrow the filter to see others.` : '');
      note.classList.remove('error');
    } catch (err) {
      if (stopped) return;
      fill(note, api.describe(err));
      note.classList.add('error');
    }
    if (!stopped) timer = setTimeout(() => void refresh(), POLL_MS);
  };
  filter.addEventListener('change', () => void refresh());
  void refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function row(s: JsonObject): HTMLElement {
  const id = String(s.sessionId);
  const status = statusName(s.status);
  return h(
    'tr',
    { 'data-session': id },
    h('td', {}, h('a', { href: `#/s/${encodeURIComponent(id)}` }, id)),
    h('td', {}, h(`span.status.${status}`, {}, status)),
    h('td', {}, String(s.turnIndex ?? 0)),
    h('td', { title: String(s.updateTime ?? '') }, ago(s.updateTime as string | undefined)),
    h('td.labels', {}, labels(s.metadata)),
  );
}
