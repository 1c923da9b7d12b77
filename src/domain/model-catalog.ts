// The models we know per provider kind: context window, output cap, whether they reason. A policy
// naming a known model is checked against it when it is set (OpenSession, UpdateSessionConfig,
// turn overrides), so a request no model call could satisfy is refused with a reason before any
// call is made. Unknown models (new releases, gateways, local servers) pass unchecked: the
// catalog refuses only what it knows to be impossible, it never gates what it has not heard of.

import { invalid } from './errors.js';

export interface KnownModel {
  contextWindowTokens: number;
  maxOutputTokens: number;
  /** Takes a reasoning effort (thinking budget or level). */
  reasoning: boolean;
}

const m = (contextWindowTokens: number, maxOutputTokens: number, reasoning: boolean): KnownModel => ({ contextWindowTokens, maxOutputTokens, reasoning });

/** Model ids as the provider names them; a dated snapshot (`-20250929`) matches its base id. */
export const MODEL_CATALOG: Record<string, Record<string, KnownModel>> = {
  openai: {
    'gpt-4o': m(128_000, 16_384, false),
    'gpt-4o-mini': m(128_000, 16_384, false),
    'gpt-4.1': m(1_047_576, 32_768, false),
    'gpt-4.1-mini': m(1_047_576, 32_768, false),
    'gpt-4.1-nano': m(1_047_576, 32_768, false),
    o3: m(200_000, 100_000, true),
    'o4-mini': m(200_000, 100_000, true),
    'gpt-5': m(400_000, 128_000, true),
    'gpt-5-mini': m(400_000, 128_000, true),
    'gpt-5-nano': m(400_000, 128_000, true),
  },
  anthropic: {
    'claude-opus-4-1': m(200_000, 32_000, true),
    'claude-opus-4': m(200_000, 32_000, true),
    'claude-sonnet-4-5': m(200_000, 64_000, true),
    'claude-sonnet-4': m(200_000, 64_000, true),
    'claude-haiku-4-5': m(200_000, 64_000, true),
    'claude-3-7-sonnet': m(200_000, 64_000, true),
    'claude-3-5-haiku': m(200_000, 8_192, false),
  },
  google: {
    'gemini-2.5-pro': m(1_048_576, 65_536, true),
    'gemini-2.5-flash': m(1_048_576, 65_536, true),
    'gemini-2.5-flash-lite': m(1_048_576, 65_536, true),
    'gemini-2.0-flash': m(1_048_576, 8_192, false),
  },
};

/** The catalog entry of a model: its exact id, else the longest known id it extends with `-…`. */
export function knownModel(providerId: string, modelId: string): KnownModel | undefined {
  const models = MODEL_CATALOG[providerId];
  if (!models) return undefined;
  if (Object.prototype.hasOwnProperty.call(models, modelId)) return models[modelId];
  let best: string | undefined;
  for (const id of Object.keys(models)) if (modelId.startsWith(`${id}-`) && (!best || id.length > best.length)) best = id;
  return best ? models[best] : undefined;
}

/** The parts of a model spec the catalog checks (policy.ts's ModelSpec has them). */
interface CheckedModel {
  id: string;
  contextWindowTokens: number;
  maxOutputTokens?: number;
  reasoningEffort?: string;
}

/** Refuses a model spec the named model cannot serve. */
export function checkAgainstCatalog(providerId: string, model: CheckedModel): void {
  const details = { provider_id: providerId, model_id: model.id };
  const known = knownModel(providerId, model.id);
  if (known) checkKnown(providerId, model, known, details);
  if (model.maxOutputTokens !== undefined && model.maxOutputTokens >= model.contextWindowTokens) {
    throw invalid(
      'MAX_OUTPUT_EXCEEDS_CONTEXT_WINDOW',
      `model.max_output_tokens (${model.maxOutputTokens}) must be smaller than model.context_window_tokens (${model.contextWindowTokens}): the prompt needs room too`,
      details,
    );
  }
}

function checkKnown(providerId: string, model: CheckedModel, known: KnownModel, details: Record<string, string>): void {
  if (model.contextWindowTokens > known.contextWindowTokens) {
    throw invalid(
      'CONTEXT_WINDOW_TOO_LARGE',
      `${providerId} model "${model.id}" has a context window of ${known.contextWindowTokens} tokens; set model.context_window_tokens to at most that (got ${model.contextWindowTokens})`,
      { ...details, limit: String(known.contextWindowTokens) },
    );
  }
  if (model.maxOutputTokens !== undefined && model.maxOutputTokens > known.maxOutputTokens) {
    throw invalid(
      'MAX_OUTPUT_TOKENS_TOO_LARGE',
      `${providerId} model "${model.id}" writes at most ${known.maxOutputTokens} tokens per call; set model.max_output_tokens to at most that (got ${model.maxOutputTokens})`,
      { ...details, limit: String(known.maxOutputTokens) },
    );
  }
  if (model.reasoningEffort && model.reasoningEffort !== 'none' && !known.reasoning) {
    throw invalid(
      'REASONING_UNSUPPORTED',
      `${providerId} model "${model.id}" does not reason; leave model.reasoning_effort unset or pick a reasoning model`,
      details,
    );
  }
}
