// One session: its header (status, model, frame, revision), the operator actions (admin role on
// the server decides), the conversation, the live turn view, usage by source × model, tool state
// and children. The read views reload when the feed reports a commit or a change.

import type { JsonObject } from '@bufbuild/protobuf';
import type { Api } from './api.js';
import { attachmentImage } from './attachments.js';
import { renderMessages } from './conversation.js';
import { ago, fill, h } from './dom.js';
import { followFeed } from './feed.js';
import { labels, statusName } from './list.js';
import { usageChart } from './usage.js';

const READ_PAGE = 200;
const READ_PAGES = 10;

export function showSession(api: Api, root: HTMLElement, sessionId: string): () => void {
  const header = h('div.session-header', { id: 'session-header' });
  const conversation = h('div.conversation', { id: 'conversation' });
  const live = h('div', { id: 'live' });
  const usage = h('div', { id: 'usage' });
  const tools = h('div', { id: 'tools' });
  const children = h('div', { id: 'children' });
  const input = h('textarea#turn-input', { placeholder: 'input text for a turn or the queue', rows: '2' }) as HTMLTextAreaElement;
  const result = h('p.action-result', { id: 'action-result' });
  const act = (label: string, id: string, run: () => Promise<string>) =>
    h(
      'button',
      {
        id,
        onclick: async () => {
          result.className = 'action-result';
          result.textContent = `${label}…`;
          try {
            result.textContent = await run();
          } catch (err) {
            result.textContent = api.describe(err);
            result.classList.add('error');
          }
        },
      },
      label,
    );
  const turnInput = () => ({ items: [{ text: { text: input.value } }] });
  const actions = h(
    'div.actions',
    {},
    input,
    h(
      'div.buttons',
      {},
      act(
        'Start turn',
        'start-turn',
        async () => `started turn ${String((await api.call('TurnService', 'StartTurn', { sessionId, input: turnInput() })).turnId)}`,
      ),
      act(
        'Enqueue input',
        'enqueue',
        async () => `enqueued: ${JSON.stringify(await api.call('QueueService', 'EnqueueTurnInput', { sessionId, input: turnInput() }))}`,
      ),
      act(
        'Cancel running turns',
        'cancel',
        async () => `cancelled ${String((await api.call('TurnService', 'CancelRunningTurns', { sessionId })).cancelledCount ?? 0)} turn(s)`,
      ),
      act('Close session', 'close', async () => {
        await api.call('SessionService', 'CloseSession', { sessionId });
        return 'closed';
      }),
      act('Delete session', 'delete', async () => {
        if (!confirm(`Delete session ${sessionId} and everything it holds?`)) return 'not deleted';
        await api.call('SessionService', 'DeleteSession', { sessionId });
        location.hash = '#/';
        return 'deleted';
      }),
    ),
    result,
  );
  fill(
    root,
    h(
      'section',
      { id: 'session' },
      h('p', {}, h('a', { href: '#/' }, '← sessions')),
      header,
      actions,
      h(
        'div.grid',
        {},
        h('div.col', {}, h('h3', {}, 'Conversation'), conversation),
        h(
          'div.col',
          {},
          h('h3', {}, 'Live turn'),
          live,
          h('h3', {}, 'Usage by source × model'),
          usage,
          h('h3', {}, 'Tool state'),
          tools,
          h('h3', {}, 'Children'),
          children,
        ),
      ),
    ),
  );

  const panel = async (el: HTMLElement, load: () => Promise<Node | Node[] | string>) => {
    try {
      const out = await load();
      fill(el, out as never);
    } catch (err) {
      fill(el, h('p.error', {}, api.describe(err)));
    }
  };
  const branch = async (nodeId: string) => {
    try {
      await api.call('AdminService', 'BranchToNode', { sessionId, nodeId });
      result.textContent = `head moved to ${nodeId}`;
      refresh();
    } catch (err) {
      result.textContent = api.describe(err);
    }
  };
  const refresh = () => {
    void panel(header, async () => {
      const s = (await api.call('SessionService', 'GetSession', { sessionId })).session as JsonObject;
      const spec = (s.spec ?? {}) as JsonObject;
      const status = statusName(s.status);
      return [
        h('h2', {}, String(s.sessionId), ' ', h(`span.status.${status}`, { id: 'session-status' }, status)),
        h(
          'p.meta',
          {},
          `${
            String(s.mode ?? '')
              .replace('SESSION_MODE_', '')
              .toLowerCase() || 'standard'
          } · ${String(spec.providerId ?? '')}/${String((spec.model as JsonObject | undefined)?.id ?? '')} · `,
          `turns ${String(s.turnIndex ?? 0)} · revision ${String(s.headRevision ?? 0)} · frame ${String(s.frameId || 'root')} · last activity ${ago(s.updateTime as string | undefined)}`,
          s.parentSessionId
            ? h('span', {}, ' · parent ', h('a', { href: `#/s/${encodeURIComponent(String(s.parentSessionId))}` }, String(s.parentSessionId)))
            : null,
          labels(s.metadata) ? ` · ${labels(s.metadata)}` : '',
        ),
      ];
    });
    void panel(conversation, async () => {
      const messages: JsonObject[] = [];
      let pageToken = '';
      for (let i = 0; i < READ_PAGES; i++) {
        const page = await api.call('SessionService', 'GetReadView', { sessionId, pageSize: READ_PAGE, pageToken });
        messages.push(...((page.messages ?? []) as JsonObject[]));
        pageToken = String(page.nextPageToken ?? '');
        if (!pageToken) break;
      }
      return messages.length
        ? renderMessages(
            messages,
            (id) => void branch(id),
            (attachmentId, mimeType) => attachmentImage(api, sessionId, attachmentId, mimeType),
          )
        : h('p.note', {}, 'No messages yet.');
    });
    void panel(usage, async () => usageChart(await api.call('SessionService', 'GetUsageReport', { sessionId })));
    void panel(tools, async () => {
      const state = await api.call('AdminService', 'GetToolState', { sessionId });
      const entries = (state.tools ?? []) as JsonObject[];
      if (!entries.length) return h('p.note', {}, 'No tools.');
      return h(
        'table.tools',
        {},
        entries.map((t) => {
          const m = (t.manifest ?? {}) as JsonObject;
          return h(
            'tr',
            {},
            h('td', {}, String(m.name ?? '')),
            h(
              'td',
              {},
              String(t.effectiveAvailability ?? '')
                .replace('TOOL_AVAILABILITY_', '')
                .toLowerCase(),
            ),
            h('td', {}, t.override ? 'override' : ''),
            h('td', {}, t.orphaned ? 'orphaned' : ''),
          );
        }),
      );
    });
    void panel(children, async () => {
      const list = ((await api.call('AdminService', 'ListChildSessions', { sessionId, pageSize: 100 })).sessions ?? []) as JsonObject[];
      if (!list.length) return h('p.note', {}, 'No child sessions.');
      return h(
        'ul',
        {},
        list.map((c) => h('li', {}, h('a', { href: `#/s/${encodeURIComponent(String(c.sessionId))}` }, String(c.sessionId)), ` ${statusName(c.status)}`)),
      );
    });
  };
  let pending: ReturnType<typeof setTimeout> | undefined;
  // Commits can come in bursts (queued work): coalesce the reloads.
  const changed = () => {
    clearTimeout(pending);
    pending = setTimeout(refresh, 150);
  };
  refresh();
  const stopFeed = followFeed(api, sessionId, live, { changed });
  return () => {
    clearTimeout(pending);
    stopFeed();
  };
}
