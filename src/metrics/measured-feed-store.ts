// A FeedStore that records each append in the metrics: its duration, its events, and for turn
// events how long after being emitted they became durable (the feed's lag behind live turns).

import type { FeedStore } from '../domain/ports.js';
import type { FeedPayload } from '../domain/feed/types.js';
import type { LashMetrics } from './metrics.js';

/** Seconds from each turn event's emission to now (its lag behind the live turn). */
export function feedLags(payloads: FeedPayload[]): number[] {
  const now = Date.now();
  return payloads.flatMap((p) => (p.kind === 'turn_activity' ? [(now - p.event.time.getTime()) / 1000] : []));
}

export function measuredFeedStore(inner: FeedStore, metrics: LashMetrics): FeedStore {
  return {
    get wakesReplicas() {
      return inner.wakesReplicas;
    },
    async append(tenantId: string, sessionId: string, revision: bigint, payloads: FeedPayload[]) {
      const started = performance.now();
      const records = await inner.append(tenantId, sessionId, revision, payloads);
      metrics.feedAppend(records.length, (performance.now() - started) / 1000, feedLags(payloads));
      return records;
    },
    read: (...args) => inner.read(...args),
    head: (...args) => inner.head(...args),
    openTurn: (...args) => inner.openTurn(...args),
    reportedInterrupted: (...args) => inner.reportedInterrupted(...args),
    trim: (...args) => inner.trim(...args),
  };
}
