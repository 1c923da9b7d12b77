// Resolving a pending remote tool completion (ResolveCompletion): the key is checked and looked up
// in the caller's tenant only, and the first resolution wins; a later one learns what it was.

import { invalid } from '../errors.js';
import { requireId } from '../ids.js';
import { portableJson } from '../json-values.js';
import { requireToolResultWithin } from '../limits.js';
import type { RequestContext } from '../ports.js';
import type { CompletionResolution, CompletionStore } from './types.js';

export type ResolveOutcome = Awaited<ReturnType<CompletionStore['resolve']>>;

export class CompletionService {
  constructor(private readonly store: CompletionStore) {}

  /** Resolves `completionKey` of the caller's tenant if it is still pending; `resolution` undefined when none was given. */
  async resolve(ctx: RequestContext, completionKey: string, given: CompletionResolution | undefined): Promise<ResolveOutcome> {
    requireId('completion_key', completionKey);
    // Non-finite numbers spelled before the store (JSON text, where they would become null): the
    // waiting turn, GetTurn, the model and a later resolve's first_resolution read the same value.
    const resolution = spelled(given);
    if (resolution?.kind === 'value') requireToolResultWithin('resolution.value', resolution.value);
    if (resolution?.kind === 'error') requireToolResultWithin('resolution.error', resolution.details, resolution.message);
    if (!resolution) throw invalid('RESOLUTION_MISSING', 'resolution must set one of value, error, timeout or cancelled');
    return this.store.resolve(ctx.tenantId, completionKey, resolution);
  }
}

function spelled(r: CompletionResolution | undefined): CompletionResolution | undefined {
  if (r?.kind === 'value') return { ...r, value: portableJson(r.value) };
  if (r?.kind === 'error' && r.details !== undefined) return { ...r, details: portableJson(r.details) };
  return r;
}
