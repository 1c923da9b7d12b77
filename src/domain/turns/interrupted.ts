// Whether a turn that is neither running nor committed died with its process: the session's feed
// still marks it as the open turn (its events were stored, no commit followed), or a later turn
// reported it with a `turn_interrupted` event that retention has not trimmed yet. Two single-row
// reads: a GetTurn of an unknown id costs no scan of the feed in this process.

import type { FeedStore } from '../ports.js';

export function interruptedTurns(feed: Pick<FeedStore, 'openTurn' | 'reportedInterrupted'>) {
  return async (tenantId: string, sessionId: string, turnId: string): Promise<boolean> =>
    (await feed.openTurn(tenantId, sessionId)) === turnId || feed.reportedInterrupted(tenantId, sessionId, turnId);
}
