// Mapping of feed messages to the wire.

import { GapReason, QueueChange, type FeedEvent as PbFeedEvent, type FeedMessage as PbFeedMessage } from '../../../gen/lash/v1/feed.js';
import { encodeCursor } from '../../domain/feed/cursor.js';
import type { FeedMessage, FeedPayload, QueueChange as Change } from '../../domain/feed/types.js';
import { messageToPb } from './common.js';
import { sessionToPb } from './session.js';
import { eventToPb } from './turn.js';

const CHANGE: Record<Change, QueueChange> = {
  enqueued: QueueChange.QUEUE_CHANGE_ENQUEUED,
  cancelled: QueueChange.QUEUE_CHANGE_CANCELLED,
  claimed: QueueChange.QUEUE_CHANGE_CLAIMED,
  done: QueueChange.QUEUE_CHANGE_DONE,
};

function payloadToPb(p: FeedPayload, sessionId: string, epoch: number, seq: bigint): PbFeedEvent['payload'] {
  switch (p.kind) {
    case 'turn_activity':
      return { $case: 'turnActivity', value: { turnId: p.turnId, event: eventToPb(p.event) } };
    // Everything up to and including this marker is durable: its own cursor is the "through" cursor.
    case 'committed':
      return {
        $case: 'committed',
        value: { headRevision: p.revision, turnId: p.turnId ?? '', throughCursor: encodeCursor({ sessionId, epoch, seq, revision: p.revision }) },
      };
    case 'agent_frame_switched':
      return { $case: 'agentFrameSwitched', value: { frameId: p.frameId } };
    case 'queue_changed':
      return { $case: 'queueChanged', value: { change: CHANGE[p.change], batchIds: p.batchIds } };
    case 'process_changed':
      return { $case: 'processChanged', value: { processId: p.processId, state: p.state } };
    case 'turn_interrupted':
      return { $case: 'turnInterrupted', value: { turnId: p.turnId } };
    case 'session_changed':
      return { $case: 'sessionChanged', value: { what: p.what } };
  }
}

export function feedMessageToPb(m: FeedMessage, sessionId: string): PbFeedMessage {
  switch (m.kind) {
    case 'snapshot':
      return {
        cursor: m.cursor,
        sequence: m.seq,
        time: new Date(),
        kind: {
          $case: 'snapshot',
          value: {
            session: sessionToPb(m.head),
            turnIndex: m.head.turnIndex,
            headRevision: m.head.headRevision,
            messages: m.messages.map(messageToPb),
            messagesTruncated: m.truncated,
          },
        },
      };
    case 'event':
      return {
        cursor: m.cursor,
        sequence: m.record.seq,
        time: m.record.time,
        kind: { $case: 'event', value: { payload: payloadToPb(m.record.payload, sessionId, m.epoch, m.record.seq) } },
      };
    case 'gap':
      return {
        cursor: m.cursor,
        sequence: m.seq,
        time: new Date(),
        kind: {
          $case: 'gap',
          value: {
            requestedCursor: m.requestedCursor,
            latestCursor: m.cursor,
            latestRevision: m.latestRevision,
            reason: m.reason === 'trimmed' ? GapReason.GAP_REASON_TRIMMED : GapReason.GAP_REASON_UNAVAILABLE,
          },
        },
      };
    case 'heartbeat':
      return { cursor: m.cursor, sequence: m.seq, time: new Date(), kind: { $case: 'heartbeat', value: {} } };
  }
}
