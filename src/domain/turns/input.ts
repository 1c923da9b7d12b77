// Turn input: identity (turn id, content hash for idempotency) and normalisation into the user
// message, with images stored as content-addressed attachments.

import { hash } from 'node:crypto';
import type { Ids } from '../clock.js';
import { invalid } from '../errors.js';
import { optionalId, requireId } from '../ids.js';
import { validatePromptLayer } from '../prompt.js';
import { MAX_INPUT_TEXT_BYTES, requireWithin, utf8Bytes } from '../limits.js';
import type { Message, Part } from '../messages.js';
import type { TurnRequest } from './types.js';

export const MAX_INPUT_ITEMS = 256;

/** Refuses a request shape error before anything runs: ids are checked like every other id. */
export function validateTurnRequest(req: TurnRequest): void {
  // trace_turn_id becomes the turn id when turn_id is unset, so it obeys the same rules.
  optionalId('input.trace_turn_id', req.input.traceTurnId);
  if (req.overrides.model?.id) requireId('overrides.model.id', req.overrides.model.id);
  optionalId('overrides.model.variant', req.overrides.model?.variant);
  optionalId('overrides.provider_id', req.overrides.providerId);
  if (req.overrides.prompt) validatePromptLayer(req.overrides.prompt, 'overrides.prompt');
  for (const [i, item] of req.input.items.entries()) if (item.kind === 'image_ref') optionalId(`input.items[${i}].image_ref.id`, item.id);
  for (const [id, blob] of Object.entries(req.input.imageBlobs)) {
    requireId('input.image_blobs key', id);
    optionalId('input.image_blobs mime_type', blob.mimeType);
  }
  if (req.input.items.length === 0) throw invalid('INPUT_EMPTY', 'input.items must contain at least one text or image_ref item');
  if (req.input.items.length > MAX_INPUT_ITEMS)
    throw invalid('INPUT_TOO_LARGE', `input.items has ${req.input.items.length} items; use at most ${MAX_INPUT_ITEMS}`);
  let bytes = 0;
  for (const item of req.input.items) if (item.kind === 'text') bytes += utf8Bytes(item.text);
  requireWithin('INPUT_TOO_LARGE', 'input text', bytes, MAX_INPUT_TEXT_BYTES);
}

export const turnIdOf = (req: TurnRequest, ids: Ids): string => req.turnId || req.input.traceTurnId || ids.uuid();

// One-shot hashing: no Hash object per call (the turn's content hash is on the hot path).
const sha256 = (data: Uint8Array | string) => hash('sha256', data, 'hex');

/** Hash of everything that defines the turn, so a retried turn id can be told from a reused one. */
export function contentHashOf(req: TurnRequest): string {
  const blobs = Object.fromEntries(
    Object.entries(req.input.imageBlobs)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([id, b]) => [id, `${b.mimeType}:${sha256(b.data)}`]),
  );
  return sha256(JSON.stringify({ items: req.input.items, blobs, overrides: req.overrides, rlm: req.rlm ?? null }));
}

export interface NormalisedInput {
  message: Message;
  blobs: { hash: string; mimeType: string; data: Uint8Array }[];
  /** Set when the input cannot be used: the turn stops as invalid_input. */
  problem?: string;
}

export function normaliseInput(req: TurnRequest, ids: Ids): NormalisedInput {
  const parts: Part[] = [];
  const blobs: NormalisedInput['blobs'] = [];
  let problem: string | undefined;
  for (const [i, item] of req.input.items.entries()) {
    if (item.kind === 'text') {
      parts.push({ kind: 'text', text: item.text });
      continue;
    }
    if (!item.id) {
      problem ??= `input.items[${i}] is an image_ref with an empty id`;
      continue;
    }
    const blob = req.input.imageBlobs[item.id];
    if (!blob) {
      problem ??= `input.items[${i}] refers to image "${item.id}", but image_blobs has no entry with that id`;
      continue;
    }
    if (!/^image\/[\w.+-]+$/.test(blob.mimeType) || blob.data.byteLength === 0) {
      problem ??= `image "${item.id}" must have an image/* mime type and non-empty data`;
      continue;
    }
    const hash = sha256(blob.data);
    if (!blobs.some((b) => b.hash === hash)) blobs.push({ hash, mimeType: blob.mimeType, data: blob.data });
    parts.push({ kind: 'image', attachmentId: hash, mimeType: blob.mimeType });
  }
  return { message: { id: ids.uuid(), role: 'user', parts }, blobs: problem ? [] : blobs, problem };
}
