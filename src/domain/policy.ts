// Session policy: model, provider kind, max turns, prompt layer, autonomy. Credentials are never
// part of a policy: a policy names the provider *kind*, the server config holds the secrets.

import { invalid } from './errors.js';
import { optionalId, requireId } from './ids.js';
import { checkAgainstCatalog, knownModel } from './model-catalog.js';
import { validatePromptLayer, type PromptLayer } from './prompt.js';
import { validateBindings, type RemoteToolBinding } from './tools/bindings.js';

/** How hard a reasoning model thinks; each provider maps it to its own setting. */
export const REASONING_EFFORTS = ['none', 'minimal', 'low', 'medium', 'high', 'xhigh', 'max'] as const;
export type ReasoningEffort = (typeof REASONING_EFFORTS)[number];

export interface ModelSpec {
  id: string;
  variant?: string;
  contextWindowTokens: number;
  maxOutputTokens?: number;
  /** Unset: the provider's default. */
  reasoningEffort?: ReasoningEffort;
  /** Mark the stable prompt prefix as a prompt-cache breakpoint (where the provider takes them). */
  promptCache?: boolean;
}

export interface SessionPolicy {
  model: ModelSpec;
  providerId: string;
  maxTurns?: number;
  prompt?: PromptLayer;
  autonomous: boolean;
  /** Remote tools the session accepts from tool hosts (absent: none). */
  remoteTools?: RemoteToolBinding[];
}

/** What an open request may set; unset fields keep the persisted (or default) value. */
export interface PolicyPatch {
  model?: Partial<ModelSpec>;
  providerId?: string;
  maxTurns?: number;
  prompt?: PromptLayer;
  autonomous?: boolean;
  /** Replaces the whole list when set. */
  remoteTools?: RemoteToolBinding[];
}

export const DEFAULT_CONTEXT_WINDOW = 128_000;

export function applyPolicyPatch(base: SessionPolicy, patch: PolicyPatch): SessionPolicy {
  const next: SessionPolicy = { ...base };
  if (patch.providerId) next.providerId = patch.providerId;
  if (patch.model && patch.model.id) {
    // A new model id starts from the model defaults (its catalog window when it is a known
    // model); the same id keeps the other knobs.
    const window = knownModel(next.providerId, patch.model.id)?.contextWindowTokens ?? DEFAULT_CONTEXT_WINDOW;
    const start: ModelSpec = patch.model.id === base.model.id ? base.model : { id: patch.model.id, contextWindowTokens: window };
    next.model = { ...start, ...definedOnly(patch.model) } as ModelSpec;
  } else if (patch.model) {
    next.model = { ...base.model, ...definedOnly(patch.model) } as ModelSpec;
  }
  if (patch.maxTurns !== undefined) next.maxTurns = patch.maxTurns;
  if (patch.prompt !== undefined) next.prompt = patch.prompt;
  if (patch.autonomous !== undefined) next.autonomous = patch.autonomous;
  if (patch.remoteTools !== undefined) next.remoteTools = patch.remoteTools.length ? patch.remoteTools : undefined;
  validatePolicy(next);
  return next;
}

export function validatePolicy(policy: SessionPolicy): void {
  if (!policy.model.id) throw invalid('MODEL_ID_MISSING', 'spec.model.id must not be empty');
  requireId('spec.model.id', policy.model.id);
  optionalId('spec.model.variant', policy.model.variant);
  requireId('spec.provider_id', policy.providerId);
  if (policy.prompt) validatePromptLayer(policy.prompt, 'spec.prompt');
  if (policy.remoteTools) validateBindings(policy.remoteTools, 'spec.remote_tools.bindings');
  if (!(policy.model.contextWindowTokens > 0)) {
    throw invalid('CONTEXT_WINDOW_INVALID', 'spec.model.context_window_tokens must be greater than 0');
  }
  if (policy.model.maxOutputTokens !== undefined && !(policy.model.maxOutputTokens > 0)) {
    throw invalid('MAX_OUTPUT_TOKENS_INVALID', 'spec.model.max_output_tokens must be greater than 0 when set');
  }
  if (policy.maxTurns !== undefined && !(policy.maxTurns > 0)) {
    throw invalid('MAX_TURNS_INVALID', 'spec.max_turns must be greater than 0 when set');
  }
  checkAgainstCatalog(policy.providerId, policy.model);
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
