// FeedStore in memory: the same numbering, batching, open-turn tracking and retention as the
// database's (src/store/feed-store.ts), each batch kept as the feed codec's text so that what
// survives a round trip is exactly what survives the database's.

import { decodeBatch, encodeBatch } from '../../domain/feed/codec.js';
import type { FeedHead, FeedPayload, FeedRecord } from '../../domain/feed/types.js';
import type { FeedStore } from '../../domain/ports.js';
import { sessionKey, type MemoryTables } from './tables.js';

export class MemoryFeedStore implements FeedStore {
  /** Replicas share no memory: there is nobody else to wake. */
  readonly wakesReplicas = false;

  constructor(private readonly tables: MemoryTables) {}

  async append(tenantId: string, sessionId: string, revision: bigint, payloads: FeedPayload[]): Promise<FeedRecord[]> {
    return this.appendNow(tenantId, sessionId, revision, payloads);
  }

  /** The append as one synchronous step (a commit carries its feed events through this). */
  appendNow(tenantId: string, sessionId: string, revision: bigint, input: FeedPayload[]): FeedRecord[] {
    if (input.length === 0) return [];
    const now = this.tables.clock.now();
    const { text, payloads } = encodeBatch(input, now);
    const feed = this.tables.feedOf(tenantId, sessionId);
    const first = feed.lastSeq + 1n;
    feed.lastSeq += BigInt(payloads.length);
    const committedIdx = payloads.map((p) => p.kind === 'committed').lastIndexOf(true);
    if (committedIdx >= 0) feed.lastCommittedSeq = first + BigInt(committedIdx) > feed.lastCommittedSeq ? first + BigInt(committedIdx) : feed.lastCommittedSeq;
    // Activity opens its turn; its commit or interruption closes it (as in the database).
    const mark = [...payloads].reverse().find((p) => p.kind === 'turn_activity' || (p.kind === 'committed' && p.turnId) || p.kind === 'turn_interrupted');
    if (mark?.kind === 'turn_activity') feed.openTurnId = mark.turnId;
    else if (mark && (mark.kind === 'committed' || mark.kind === 'turn_interrupted') && feed.openTurnId === mark.turnId) feed.openTurnId = undefined;
    feed.batches.push({ firstSeq: first, lastSeq: feed.lastSeq, revision, createdAt: now, events: text });
    return payloads.map((payload, i) => ({ seq: first + BigInt(i), time: now, revision, payload }));
  }

  async read(tenantId: string, sessionId: string, afterSeq: bigint, limit: number): Promise<FeedRecord[]> {
    const feed = this.tables.feeds.get(sessionKey(tenantId, sessionId));
    const out: FeedRecord[] = [];
    for (const b of feed?.batches ?? []) {
      if (b.lastSeq <= afterSeq) continue;
      for (const record of decodeBatch(b.events, b.createdAt, b.firstSeq, b.revision)) {
        if (record.seq > afterSeq && out.length < limit) out.push(record);
      }
      if (out.length >= limit) break;
    }
    return out;
  }

  async head(tenantId: string, sessionId: string): Promise<FeedHead> {
    const feed = this.tables.feeds.get(sessionKey(tenantId, sessionId));
    return { lastSeq: feed?.lastSeq ?? 0n, trimmedThrough: feed?.trimmedThrough ?? 0n };
  }

  async openTurn(tenantId: string, sessionId: string): Promise<string | undefined> {
    return this.tables.feeds.get(sessionKey(tenantId, sessionId))?.openTurnId;
  }

  async reportedInterrupted(tenantId: string, sessionId: string, turnId: string): Promise<boolean> {
    const feed = this.tables.feeds.get(sessionKey(tenantId, sessionId));
    return (feed?.batches ?? []).some((b) =>
      decodeBatch(b.events, b.createdAt, b.firstSeq, b.revision).some((e) => e.payload.kind === 'turn_interrupted' && e.payload.turnId === turnId),
    );
  }

  async trim(olderThan: Date, keepPerSession: number): Promise<number> {
    let dropped = 0;
    for (const feed of this.tables.feeds.values()) {
      // Whole batches, never past the last committed marker.
      const keep = feed.batches.filter(
        (b) => !(b.lastSeq < feed.lastCommittedSeq && (b.createdAt < olderThan || b.lastSeq <= feed.lastSeq - BigInt(keepPerSession))),
      );
      dropped += feed.batches.length - keep.length;
      feed.batches = keep;
      const floor = keep.length > 0 ? keep[0]!.firstSeq - 1n : feed.lastSeq;
      if (floor > feed.trimmedThrough) feed.trimmedThrough = floor;
    }
    return dropped;
  }
}
