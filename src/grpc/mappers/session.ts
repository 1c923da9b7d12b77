// Mapping of sessions, policies, prompt layers and open requests between wire and domain.

import {
  OpenMode as PbOpenMode,
  ReasoningEffort as PbEffort,
  PromptSlot as PbSlot,
  ResidencyPolicy,
  SessionMode as PbMode,
  SessionStatus,
  type FinalAnswerFormat as PbFaf,
  type ModelSpec as PbModel,
  type PromptLayer as PbPrompt,
  type RemoteTools as PbRemoteTools,
  type Session as PbSession,
  type SessionSpec,
} from '../../../gen/lash/v1/session.js';
import type { SessionState } from '../../../gen/lash/v1/session.js';
import type { OpenSessionRequest, UpdateSessionConfigRequest } from '../../../gen/lash/v1/session_service.js';
import { invalid } from '../../domain/errors.js';
import { portableJson } from '../../domain/json-values.js';
import type { JsonValue } from '../../domain/messages.js';
import type { ModelSpec, PolicyPatch, ReasoningEffort, SessionPolicy } from '../../domain/policy.js';
import type { PromptLayer, PromptSlot, TemplateSection } from '../../domain/prompt.js';
import type { RemoteToolBinding } from '../../domain/tools/bindings.js';
import type { FinalAnswerFormat, Residency, SessionHead, SessionMode } from '../../domain/session.js';
import type { OpenMode, OpenRequest } from '../../domain/sessions.js';
import { stateFromJsonText } from '../../domain/state-chunks.js';
import { decodeEnum, encodeTable } from './enums.js';

const MODES: Record<number, SessionMode | undefined> = {
  [PbMode.SESSION_MODE_UNSPECIFIED]: undefined,
  [PbMode.SESSION_MODE_STANDARD]: 'standard',
  [PbMode.SESSION_MODE_RLM]: 'rlm',
};
const OPEN_MODES: Record<number, OpenMode> = {
  [PbOpenMode.OPEN_MODE_UNSPECIFIED]: 'resume',
  [PbOpenMode.OPEN_MODE_RESUME]: 'resume',
  [PbOpenMode.OPEN_MODE_FRESH]: 'fresh',
  [PbOpenMode.OPEN_MODE_WITH_STATE]: 'with_state',
};
const RESIDENCY: Record<number, Residency | undefined> = {
  [ResidencyPolicy.RESIDENCY_POLICY_UNSPECIFIED]: undefined,
  [ResidencyPolicy.RESIDENCY_POLICY_KEEP_ALL]: 'keep_all',
  [ResidencyPolicy.RESIDENCY_POLICY_ACTIVE_PATH_ONLY]: 'active_path_only',
};
const SLOTS: Record<number, PromptSlot> = {
  [PbSlot.PROMPT_SLOT_INTRO]: 'intro',
  [PbSlot.PROMPT_SLOT_EXECUTION]: 'execution',
  [PbSlot.PROMPT_SLOT_GUIDANCE]: 'guidance',
  [PbSlot.PROMPT_SLOT_PROJECT_INSTRUCTIONS]: 'project_instructions',
  [PbSlot.PROMPT_SLOT_RUNTIME_CONTEXT]: 'runtime_context',
  [PbSlot.PROMPT_SLOT_ENVIRONMENT]: 'environment',
};
const MODE_OUT = encodeTable(MODES);
const EFFORTS: Record<number, ReasoningEffort | undefined> = {
  [PbEffort.REASONING_EFFORT_UNSPECIFIED]: undefined,
  [PbEffort.REASONING_EFFORT_NONE]: 'none',
  [PbEffort.REASONING_EFFORT_MINIMAL]: 'minimal',
  [PbEffort.REASONING_EFFORT_LOW]: 'low',
  [PbEffort.REASONING_EFFORT_MEDIUM]: 'medium',
  [PbEffort.REASONING_EFFORT_HIGH]: 'high',
  [PbEffort.REASONING_EFFORT_XHIGH]: 'xhigh',
  [PbEffort.REASONING_EFFORT_MAX]: 'max',
};
const EFFORT_OUT = encodeTable(EFFORTS);

export const effortToPb = (e: ReasoningEffort | undefined): PbEffort => (e ? EFFORT_OUT.get(e)! : PbEffort.REASONING_EFFORT_UNSPECIFIED);
const RESIDENCY_OUT = encodeTable(RESIDENCY);
const SLOT_OUT = encodeTable(SLOTS);

export const modeFromPb = (field: string, v: number) => decodeEnum(field, v, MODES, 'SessionMode');
export const residencyFromPb = (field: string, v: number) => decodeEnum(field, v, RESIDENCY, 'ResidencyPolicy');

/** The document of a state given as a Struct (`document`) or as JSON text (`document_json`), not both. */
export function stateDocumentFromPb(field: string, state: SessionState): unknown {
  // A Struct may hold Infinity or NaN (JSON text cannot): the portable spelling, as everywhere.
  if (state.documentJson.length === 0) return state.document === undefined ? undefined : portableJson(state.document as JsonValue);
  if (state.document !== undefined) throw invalid('STATE_DOCUMENT_INVALID', `${field} sets both document and document_json; set one of them`, { field });
  return stateFromJsonText(`${field}.document_json`, state.documentJson);
}

export function openRequestFromPb(r: OpenSessionRequest): OpenRequest {
  return {
    sessionId: r.sessionId,
    mode: modeFromPb('mode', r.mode),
    openMode: decodeEnum('open_mode', r.openMode, OPEN_MODES, 'OpenMode'),
    state: r.state ? { sessionId: r.state.sessionId, document: stateDocumentFromPb('state', r.state) } : undefined,
    parentSessionId: r.parentSessionId || undefined,
    policy: specFromPb(r.spec, 'spec'),
    residency: residencyFromPb('residency', r.residency),
    finalAnswerFormat: fafFromPb(r.finalAnswerFormat),
    metadata: r.metadata,
  };
}

export function specFromPb(spec: SessionSpec | undefined, field: string): PolicyPatch {
  if (!spec) return {};
  return {
    model: spec.model ? modelFromPb(spec.model, `${field}.model`) : undefined,
    providerId: spec.providerId || undefined,
    maxTurns: spec.maxTurns,
    prompt: spec.prompt ? promptFromPb(spec.prompt, `${field}.prompt`) : undefined,
    autonomous: spec.autonomous,
    remoteTools: spec.remoteTools ? bindingsFromPb(spec.remoteTools) : undefined,
  };
}

function bindingsFromPb(r: PbRemoteTools): RemoteToolBinding[] {
  return r.bindings.map((b) => ({ name: b.name, host: b.host || undefined }));
}

export function modelFromPb(m: PbModel, field: string): Partial<ModelSpec> {
  const num = (name: string, v: bigint | undefined) => {
    if (v === undefined) return undefined;
    if (v <= 0n || v > BigInt(Number.MAX_SAFE_INTEGER))
      throw invalid('MODEL_SPEC_INVALID', `${field}.${name} must be greater than 0`, { field: `${field}.${name}` });
    return Number(v);
  };
  return {
    id: m.id || undefined,
    variant: m.variant || undefined,
    contextWindowTokens: num('context_window_tokens', m.contextWindowTokens),
    maxOutputTokens: num('max_output_tokens', m.maxOutputTokens),
    reasoningEffort: decodeEnum(`${field}.reasoning_effort`, m.reasoningEffort, EFFORTS, 'ReasoningEffort'),
    promptCache: m.promptCache,
  };
}

export function promptFromPb(p: PbPrompt, field: string): PromptLayer {
  const template = p.template?.sections.map((s, i): TemplateSection => {
    const e = s.entry;
    if (e?.$case === 'text') return { text: e.value };
    if (e?.$case === 'builtinBlock') return { builtin: e.value };
    if (e?.$case === 'slot') return { slot: decodeEnum(`${field}.template.sections[${i}].slot`, e.value, SLOTS, 'PromptSlot') };
    throw invalid('TEMPLATE_SECTION_EMPTY', `${field}.template.sections[${i}] must set text, builtin_block or slot`);
  });
  return {
    template,
    slots: p.slots.map((s, i) => ({
      slot: decodeEnum(`${field}.slots[${i}].slot`, s.slot, SLOTS, 'PromptSlot'),
      reset: s.reset,
      contributions: s.contributions.map((c) => ({ title: c.title, priority: c.priority, content: c.content, requiresTool: c.requiresTool })),
    })),
  };
}

export function fafFromPb(f: PbFaf | undefined): FinalAnswerFormat | undefined {
  switch (f?.kind?.$case) {
    case 'markdown':
      return { kind: 'markdown' };
    case 'custom':
      return { kind: 'custom', guidance: f.kind.value.guidance };
    case 'rawSubmitValue':
      return { kind: 'raw_submit_value' };
    default:
      return undefined;
  }
}

function fafToPb(f: FinalAnswerFormat): PbFaf {
  if (f.kind === 'custom') return { kind: { $case: 'custom', value: { guidance: f.guidance } } };
  if (f.kind === 'raw_submit_value') return { kind: { $case: 'rawSubmitValue', value: {} } };
  return { kind: { $case: 'markdown', value: {} } };
}

export function promptToPb(p: PromptLayer): PbPrompt {
  return {
    template: p.template
      ? {
          sections: p.template.map((s) => ({
            entry:
              'text' in s
                ? { $case: 'text' as const, value: s.text }
                : 'builtin' in s
                  ? { $case: 'builtinBlock' as const, value: s.builtin }
                  : { $case: 'slot' as const, value: SLOT_OUT.get(s.slot)! },
          })),
        }
      : undefined,
    slots: p.slots.map((s) => ({ slot: SLOT_OUT.get(s.slot)!, reset: s.reset, contributions: s.contributions.map((c) => ({ ...c })) })),
  };
}

export function policyToPb(p: SessionPolicy): SessionSpec {
  return {
    model: {
      id: p.model.id,
      variant: p.model.variant ?? '',
      contextWindowTokens: BigInt(p.model.contextWindowTokens),
      maxOutputTokens: p.model.maxOutputTokens !== undefined ? BigInt(p.model.maxOutputTokens) : undefined,
      reasoningEffort: effortToPb(p.model.reasoningEffort),
      promptCache: p.model.promptCache,
    },
    providerId: p.providerId,
    maxTurns: p.maxTurns,
    prompt: p.prompt ? promptToPb(p.prompt) : undefined,
    autonomous: p.autonomous,
    remoteTools: p.remoteTools ? { bindings: p.remoteTools.map((b) => ({ name: b.name, host: b.host ?? '' })) } : undefined,
  };
}

export function sessionToPb(h: SessionHead): PbSession {
  return {
    sessionId: h.sessionId,
    mode: MODE_OUT.get(h.mode)!,
    parentSessionId: h.parentSessionId ?? '',
    spec: policyToPb(h.policy),
    residency: RESIDENCY_OUT.get(h.residency)!,
    finalAnswerFormat: fafToPb(h.finalAnswerFormat),
    headRevision: h.headRevision,
    turnIndex: h.turnIndex,
    status:
      h.status === 'running'
        ? SessionStatus.SESSION_STATUS_RUNNING
        : h.status === 'parked'
          ? SessionStatus.SESSION_STATUS_PARKED
          : SessionStatus.SESSION_STATUS_IDLE,
    createTime: h.createdAt,
    updateTime: h.updatedAt,
    metadata: h.metadata,
    frameId: h.currentFrameId,
  };
}

const CONFIG_PATHS = new Set(['model', 'provider_id', 'prompt', 'remote_tools']);

/**
 * UpdateSessionConfig's fields under its update mask as a policy patch: with a mask, exactly the
 * named paths (an unset field in the mask clears or is refused); without one, the fields that are set.
 */
export function configPatchFromPb(req: UpdateSessionConfigRequest): PolicyPatch {
  const mask = req.updateMask ?? [];
  for (const path of mask) {
    if (!CONFIG_PATHS.has(path))
      throw invalid('UPDATE_MASK_INVALID', `update_mask path "${path}" is not updatable; use model, provider_id, prompt or remote_tools`, { path });
  }
  const wants = (path: string, present: boolean) => (mask.length === 0 ? present : mask.includes(path));
  const patch: PolicyPatch = {};
  if (wants('model', req.model !== undefined)) {
    if (!req.model?.id) throw invalid('MODEL_ID_MISSING', 'model.id is required when updating the model');
    patch.model = modelFromPb(req.model, 'model');
  }
  if (wants('provider_id', req.providerId !== '')) {
    if (!req.providerId) throw invalid('PROVIDER_ID_MISSING', 'provider_id must not be empty when it is in update_mask');
    patch.providerId = req.providerId;
  }
  if (wants('prompt', req.prompt !== undefined)) patch.prompt = req.prompt ? promptFromPb(req.prompt, 'prompt') : { slots: [] };
  if (wants('remote_tools', req.remoteTools !== undefined)) patch.remoteTools = req.remoteTools ? bindingsFromPb(req.remoteTools) : [];
  if (Object.keys(patch).length === 0)
    throw invalid('NOTHING_TO_UPDATE', 'set model, provider_id, prompt or remote_tools (and optionally update_mask) to change the session config');
  return patch;
}
