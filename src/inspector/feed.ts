// The live turn view: follows ObserveSession from a cursor. Deltas stream into the running turn's
// block, tool calls, code blocks, retries and errors appear as lines, and the committed marker
// closes the turn. The cursor of the last snapshot or commit is kept in sessionStorage, so a
// reloaded page replays the running turn from its start; a broken stream (a server restart, a
// network blip) reconnects from the last cursor seen, with backoff.

import type { JsonObject } from '@bufbuild/protobuf';
import type { Api } from './api.js';
import { fill, h, pretty } from './dom.js';

/** Most turn blocks kept on the page; older ones are dropped (the read view has them). */
const MAX_TURNS = 20;
const RETRY_MS = [500, 1000, 2000, 4000];

export interface FeedHandlers {
  /** A turn committed, a frame switched or the session changed: reload the read views. */
  changed(): void;
}

const storeKey = (sessionId: string) => `lash.inspector.feed.${sessionId}`;

export function followFeed(api: Api, sessionId: string, panel: HTMLElement, handlers: FeedHandlers): () => void {
  const state = h('p.feed-state', { id: 'feed-state' });
  const log = h('div.feed', { id: 'feed' });
  fill(panel, state, log);
  const abort = new AbortController();
  const turns = new Map<string, HTMLElement>();
  let cursor: string | undefined = sessionStorage.getItem(storeKey(sessionId)) ?? undefined;
  const setState = (text: string, cls = '') => {
    state.textContent = text;
    state.className = `feed-state ${cls}`;
  };
  const line = (parent: HTMLElement, cls: string, ...text: (string | HTMLElement)[]) => parent.appendChild(h(`div.ev.${cls}`, {}, ...text));
  const turnBlock = (turnId: string): HTMLElement => {
    let block = turns.get(turnId);
    if (!block) {
      block = h('section.turn', { 'data-turn': turnId }, h('h4', {}, `turn ${turnId}`));
      turns.set(turnId, block);
      log.appendChild(block);
      // A turn started: the session's status changed.
      handlers.changed();
      if (turns.size > MAX_TURNS) {
        const [oldest] = turns.keys();
        turns.get(oldest!)!.remove();
        turns.delete(oldest!);
      }
    }
    return block;
  };
  /** Appends streamed text to the block's trailing span of `cls`, starting one after other lines. */
  const stream = (block: HTMLElement, cls: string, text: string) => {
    const last = block.lastElementChild;
    const target = last?.classList.contains(cls) ? last : block.appendChild(h(`span.${cls}`));
    target.textContent += text;
  };

  const onActivity = (turnId: string, event: JsonObject) => {
    const block = turnBlock(turnId);
    const [kind, value] = Object.entries(event).find(([k]) => !['id', 'correlationId', 'sequence', 'time'].includes(k)) ?? ['', {}];
    const v = (value ?? {}) as JsonObject;
    switch (kind) {
      case 'assistantProseDelta':
        return stream(block, 'prose', String(v.text ?? ''));
      case 'reasoningDelta':
        return stream(block, 'reasoning', String(v.text ?? ''));
      case 'modelRequestStarted':
        return line(block, 'model', `model request ${String(v.iteration ?? '')}: ${String(v.providerId ?? '')}/${String(v.modelId ?? '')}`);
      case 'toolCallStarted':
        return block.appendChild(
          h(
            'div.ev.tool-call',
            { 'data-call': String(v.callId ?? '') },
            h('span.tool-name', {}, `tool ${String(v.name)}`),
            h('pre.args', {}, pretty(v.args ?? {})),
          ),
        );
      case 'toolCallCompleted':
        return block.appendChild(
          h(
            `div.ev.tool-result${v.isError ? '.failed' : ''}`,
            { 'data-call': String(v.callId ?? '') },
            h('span.tool-name', {}, `${String(v.name)} → ${v.isError ? 'error' : 'result'} (${String(v.durationMs ?? 0)} ms)`),
            h('pre', {}, pretty(v.output)),
          ),
        );
      case 'codeBlockStarted':
        return block.appendChild(h('figure.ev.code', {}, h('figcaption', {}, `code (${String(v.language || 'rlm')})`), h('pre', {}, String(v.code ?? ''))));
      case 'codeBlockCompleted':
        return block.appendChild(
          h(
            `figure.ev.output${v.success ? '' : '.failed'}`,
            {},
            h('figcaption', {}, `output (${String(v.durationMs ?? 0)} ms)`),
            h('pre', {}, String(v.output ?? '') + (v.error ? `\n${String(v.error)}` : '')),
          ),
        );
      case 'retryStatus':
        return line(
          block,
          'retry',
          `retry ${String(v.attempt)}/${String(v.maxAttempts)} in ${Number(v.waitSeconds ?? 0).toFixed(1)} s: ${String(v.reason ?? '')}`,
        );
      case 'error':
        return line(block, 'error', `error: ${String(v.message ?? '')}`);
      case 'usage': {
        const u = (v.usage ?? {}) as JsonObject;
        return line(block, 'usage', `usage: ${String(u.inputTokens ?? 0)} in / ${String(u.outputTokens ?? 0)} out`);
      }
      case 'submittedValue':
        return line(block, 'submitted', `submitted: ${pretty(v.value)}`);
      case 'toolValue':
        return line(block, 'submitted', `${String(v.toolName)} value: ${pretty(v.value)}`);
      case 'queuedWorkStarted':
        return line(block, 'queue', `queued work started (${String(v.boundary ?? '')})`);
      case 'queuedInputAccepted':
        return line(block, 'queue', `queued input accepted at ${String(v.checkpoint ?? '')}`);
      default:
        return line(block, 'other', `${kind}`);
    }
  };

  const onMessage = (m: JsonObject) => {
    if (m.snapshot) {
      const snap = m.snapshot as JsonObject;
      line(log, 'marker', `snapshot at revision ${String(snap.headRevision ?? 0)} (turn ${String(snap.turnIndex ?? 0)})`);
      sessionStorage.setItem(storeKey(sessionId), String(m.cursor));
      return;
    }
    if (m.gap) {
      const gap = m.gap as JsonObject;
      line(log, 'gap', `gap (${String(gap.reason ?? '')}): events were missed; the read view is reloaded`);
      handlers.changed();
      return;
    }
    const event = m.event as JsonObject | undefined;
    if (!event) return; // a heartbeat
    if (event.turnActivity) {
      const a = event.turnActivity as JsonObject;
      onActivity(String(a.turnId ?? ''), (a.event ?? {}) as JsonObject);
    } else if (event.committed) {
      const c = event.committed as JsonObject;
      line(c.turnId ? turnBlock(String(c.turnId)) : log, 'committed', `committed at revision ${String(c.headRevision ?? '')}`);
      sessionStorage.setItem(storeKey(sessionId), String(m.cursor));
      handlers.changed();
    } else if (event.turnInterrupted) {
      line(turnBlock(String((event.turnInterrupted as JsonObject).turnId ?? '')), 'interrupted', 'turn interrupted (cancelled or its server stopped)');
      handlers.changed();
    } else if (event.agentFrameSwitched) {
      line(log, 'marker', `agent frame switched to ${String((event.agentFrameSwitched as JsonObject).frameId ?? '')}`);
      handlers.changed();
    } else if (event.queueChanged) {
      const q = event.queueChanged as JsonObject;
      line(
        log,
        'queue',
        `queue ${String(q.change ?? '')
          .replace('QUEUE_CHANGE_', '')
          .toLowerCase()}: ${((q.batchIds ?? []) as string[]).join(', ')}`,
      );
    } else if (event.processChanged) {
      const p = event.processChanged as JsonObject;
      line(log, 'process', `process ${String(p.processId)} ${String(p.state)}`);
    } else if (event.sessionChanged) {
      line(log, 'marker', `session changed: ${String((event.sessionChanged as JsonObject).what ?? '')}`);
      handlers.changed();
    }
  };

  void (async () => {
    let failures = 0;
    let first = true;
    while (!abort.signal.aborted) {
      setState(cursor ? (first ? 'resuming from the stored cursor…' : 'reconnecting from the last cursor…') : 'connecting…');
      try {
        for await (const res of api.stream('SessionService', 'ObserveSession', { sessionId, ...(cursor ? { cursor } : {}) }, abort.signal)) {
          if (failures || first) setState(cursor && first ? 'live (resumed from cursor)' : cursor ? 'live (reconnected from cursor)' : 'live', 'live');
          failures = 0;
          first = false;
          for (const m of (res.messages ?? []) as JsonObject[]) {
            onMessage(m);
            if (m.cursor) cursor = String(m.cursor);
          }
        }
      } catch (err) {
        if (abort.signal.aborted) return;
        const why = api.describe(err);
        // A cursor the server no longer knows (another server's, or trimmed): start from a snapshot.
        if (/CURSOR_/.test(why)) {
          cursor = undefined;
          sessionStorage.removeItem(storeKey(sessionId));
        }
        setState(`disconnected (${why}); retrying`, 'down');
      }
      first = false;
      await new Promise((r) => setTimeout(r, RETRY_MS[Math.min(failures++, RETRY_MS.length - 1)]));
    }
  })();
  return () => abort.abort();
}
