// Whether a turn that is neither running nor committed died with its process: the session's feed
// still marks it as the open turn (its events were stored, no commit followed), or a later turn
// reported it with a `turn_interrupted` event that retention has not trimmed yet.

import type { FeedStore } from '../ports.js';

const PAGE = 1_000;

export function interruptedTurns(feed: Pick<FeedStore, 'openTurn' | 'read' | 'head'>) {
  return async (tenantId: string, sessionId: string, turnId: string): Promise<boolean> => {
    if ((await feed.openTurn(tenantId, sessionId)) === turnId) return true;
    // Only GetTurn of an id that is neither running nor committed gets here: a scan of the
    // retained feed is affordable, and it keeps the answer stable after the next turn ran.
    let after = (await feed.head(tenantId, sessionId)).trimmedThrough;
    for (;;) {
      const page = await feed.read(tenantId, sessionId, after, PAGE);
      if (page.some((r) => r.payload.kind === 'turn_interrupted' && r.payload.turnId === turnId)) return true;
      if (page.length < PAGE) return false;
      after = page[page.length - 1]!.seq;
    }
  };
}
