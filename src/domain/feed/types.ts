// The observation feed's vocabulary: durable per-session events with gap-free sequence numbers,
// and the messages an observer receives (snapshot, event, gap, heartbeat).

import type { Message } from '../messages.js';
import type { SessionHead } from '../session.js';
import type { TurnEvent } from '../turns/types.js';

export type QueueChange = 'enqueued' | 'cancelled' | 'claimed' | 'done';

export type FeedPayload =
  | { kind: 'turn_activity'; turnId: string; event: TurnEvent }
  | { kind: 'committed'; revision: bigint; turnId?: string }
  | { kind: 'agent_frame_switched'; frameId: string }
  | { kind: 'queue_changed'; change: QueueChange; batchIds: string[] }
  | { kind: 'process_changed'; processId: string; state: string }
  | { kind: 'turn_interrupted'; turnId: string }
  | { kind: 'session_changed'; what: string };

/** One stored feed event. */
export interface FeedRecord {
  seq: bigint;
  time: Date;
  /** Head revision when the event was appended. */
  revision: bigint;
  payload: FeedPayload;
}

export interface FeedHead {
  lastSeq: bigint;
  /** Events with seq ≤ this were trimmed by retention. */
  trimmedThrough: bigint;
}

export type FeedMessage =
  | { kind: 'snapshot'; cursor: string; seq: bigint; head: SessionHead; messages: Message[]; truncated: boolean }
  | { kind: 'event'; cursor: string; record: FeedRecord; epoch: number }
  | { kind: 'gap'; cursor: string; seq: bigint; requestedCursor: string; reason: 'trimmed' | 'unavailable'; latestRevision: bigint }
  | { kind: 'heartbeat'; cursor: string; seq: bigint };
