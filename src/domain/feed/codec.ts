// The stored form of a feed batch: one JSON text per flush holding every event of the batch in a
// compact, schema-aware encoding. Any JavaScript string round-trips exactly (JSON escapes NUL and
// lone surrogates, and the text is stored as text, not jsonb), bigints are revived only where the
// schema has them (a text "5n" stays a string), and an event that cannot be encoded is replaced by
// an explicit error event instead of failing the batch it travels with.

import type { TurnEvent, TurnEventKind } from '../turns/types.js';
import type { Usage } from '../usage.js';
import type { FeedPayload } from './types.js';

/** Encoded size above which one event is replaced by an error event (keeps feed messages readable). */
export const DEFAULT_MAX_EVENT_BYTES = 1024 * 1024;

/** One encoded entry; the keys are short because deltas dominate the feed's bytes. */
interface ActivityEntry {
  k: 'a';
  /** Turn id; absent when it is the previous activity entry's. */
  t?: string;
  /** Event id. */
  i: string;
  /** Correlation id when it is neither the event id nor (`p`) the previous entry's. */
  c?: string;
  /** 1: the correlation id is the previous activity entry's. */
  p?: 1;
  /** Turn-local sequence. */
  s: number;
  /** Milliseconds from the event's time to the batch time (usually small and positive). */
  m: number;
  /** Prose delta text. */
  d?: string;
  /** Reasoning delta text. */
  r?: string;
  /** Any other event, with usage counters as decimal strings. */
  e?: unknown;
}
type Entry = ActivityEntry | { k: 'c'; v: string; t?: string } | { k: 'i'; t: string } | { k: 'x'; p: FeedPayload };

export interface EncodedBatch {
  text: string;
  /** The payloads as stored: the input, with any unencodable event replaced by an error event. */
  payloads: FeedPayload[];
}

const USAGE_KEYS = ['inputTokens', 'outputTokens', 'cachedInputTokens', 'reasoningTokens', 'cacheWriteTokens'] as const;
const usageOut = (u: Usage) => Object.fromEntries(USAGE_KEYS.map((k) => [k, u[k].toString()]));
const usageIn = (u: Record<string, string>): Usage => ({
  inputTokens: BigInt(u.inputTokens ?? 0),
  outputTokens: BigInt(u.outputTokens ?? 0),
  cachedInputTokens: BigInt(u.cachedInputTokens ?? 0),
  reasoningTokens: BigInt(u.reasoningTokens ?? 0),
  cacheWriteTokens: BigInt(u.cacheWriteTokens ?? 0),
});

function encodeEvent(e: TurnEventKind): unknown {
  if (e.kind === 'usage' || e.kind === 'child_usage') return { ...e, usage: usageOut(e.usage), cumulative: usageOut(e.cumulative) };
  return e;
}

function decodeEvent(raw: Record<string, unknown>): TurnEventKind {
  if (raw.kind === 'usage' || raw.kind === 'child_usage')
    return { ...raw, usage: usageIn(raw.usage as Record<string, string>), cumulative: usageIn(raw.cumulative as Record<string, string>) } as TurnEventKind;
  return raw as unknown as TurnEventKind;
}

/** Encodes a batch written at `time`; never throws for one event's sake. */
export function encodeBatch(payloads: FeedPayload[], time: Date, maxEventBytes = DEFAULT_MAX_EVENT_BYTES): EncodedBatch {
  const parts: string[] = [];
  const stored: FeedPayload[] = [];
  const now = time.getTime();
  let prevTurn: string | undefined;
  let prevCorr: string | undefined;
  for (const payload of payloads) {
    let p = payload;
    let text: string;
    try {
      text = JSON.stringify(toEntry(p, now, prevTurn, prevCorr));
      if (text.length > maxEventBytes && Buffer.byteLength(text, 'utf8') > maxEventBytes)
        throw new Error(`${Buffer.byteLength(text, 'utf8')} bytes exceeds the feed's ${maxEventBytes}-byte event limit`);
    } catch (err) {
      p = unstorable(p, err);
      text = JSON.stringify(toEntry(p, now, prevTurn, prevCorr));
    }
    if (p.kind === 'turn_activity') {
      prevTurn = p.turnId;
      prevCorr = p.event.correlationId;
    }
    parts.push(text);
    stored.push(p);
  }
  return { text: `[${parts.join(',')}]`, payloads: stored };
}

function toEntry(p: FeedPayload, now: number, prevTurn: string | undefined, prevCorr: string | undefined): Entry {
  if (p.kind === 'committed') return p.turnId === undefined ? { k: 'c', v: p.revision.toString() } : { k: 'c', v: p.revision.toString(), t: p.turnId };
  if (p.kind === 'turn_interrupted') return { k: 'i', t: p.turnId };
  if (p.kind !== 'turn_activity') return { k: 'x', p };
  const ev = p.event;
  const entry: ActivityEntry = { k: 'a', i: ev.id, s: ev.sequence, m: now - ev.time.getTime() };
  if (p.turnId !== prevTurn) entry.t = p.turnId;
  if (ev.correlationId === prevCorr && ev.correlationId !== ev.id) entry.p = 1;
  else if (ev.correlationId !== ev.id) entry.c = ev.correlationId;
  if (ev.event.kind === 'assistant_prose_delta') entry.d = ev.event.text;
  else if (ev.event.kind === 'reasoning_delta') entry.r = ev.event.text;
  else entry.e = encodeEvent(ev.event);
  return entry;
}

/** The same event slot, now saying why its content could not be stored. */
function unstorable(p: FeedPayload, err: unknown): FeedPayload {
  const why = `feed event could not be stored: ${(err as Error).message}`;
  if (p.kind === 'turn_activity')
    return { ...p, event: { ...p.event, event: { kind: 'error', message: `${p.event.event.kind} ${why}; the turn's result carries its content` } } };
  return { kind: 'session_changed', what: `${p.kind} ${why}` };
}

/**
 * The exact text an interrupted-turn entry has in a stored batch: the store can find it without
 * decoding (one `strpos` per retained batch row).
 */
export const interruptedEntryText = (turnId: string): string => JSON.stringify({ k: 'i', t: turnId });

/** Decodes a stored batch whose first event has sequence `firstSeq`. */
export function decodeBatch(
  text: string,
  time: Date,
  firstSeq: bigint,
  revision: bigint,
): { seq: bigint; time: Date; revision: bigint; payload: FeedPayload }[] {
  const entries = JSON.parse(text) as (Entry | LegacyPayload)[];
  const now = time.getTime();
  let turn: string | undefined;
  let corr: string | undefined;
  return entries.map((raw, i) => {
    let payload: FeedPayload;
    if ('kind' in raw) payload = legacyPayload(raw);
    else if (raw.k === 'c')
      payload = raw.t === undefined ? { kind: 'committed', revision: BigInt(raw.v) } : { kind: 'committed', revision: BigInt(raw.v), turnId: raw.t };
    else if (raw.k === 'i') payload = { kind: 'turn_interrupted', turnId: raw.t };
    else if (raw.k === 'x') payload = raw.p;
    else {
      turn = raw.t ?? turn;
      const correlationId = raw.c ?? (raw.p === 1 ? corr! : raw.i);
      const event: TurnEventKind =
        raw.d !== undefined
          ? { kind: 'assistant_prose_delta', text: raw.d }
          : raw.r !== undefined
            ? { kind: 'reasoning_delta', text: raw.r }
            : decodeEvent(raw.e as Record<string, unknown>);
      const ev: TurnEvent = { id: raw.i, correlationId, sequence: raw.s, time: new Date(now - raw.m), event };
      payload = { kind: 'turn_activity', turnId: turn!, event: ev };
    }
    if (payload.kind === 'turn_activity') {
      turn = payload.turnId;
      corr = payload.event.correlationId;
    }
    return { seq: firstSeq + BigInt(i), time, revision, payload };
  });
}

/** Rows written before batches were stored (one payload each, bigints as `"123n"`). */
type LegacyPayload = { kind: string } & Record<string, unknown>;
function legacyPayload(raw: LegacyPayload): FeedPayload {
  const revive = (v: unknown): unknown => {
    if (typeof v === 'string' && /^-?\d+n$/.test(v)) return BigInt(v.slice(0, -1));
    if (Array.isArray(v)) return v.map(revive);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, revive(x)]));
    return v;
  };
  const p = revive(raw) as FeedPayload;
  if (p.kind === 'turn_activity') p.event.time = new Date(p.event.time);
  return p;
}
