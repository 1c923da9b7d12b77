// Prompt layers: an optional template of sections plus per-slot contributions. Layers stack
// server default → session → turn; a higher `reset` hides the lower contributions of that slot
// and a higher template replaces the lower ones.

import { optionalId, requireId, requireNoNul } from './ids.js';
import { MAX_PROMPT_LAYER_BYTES, requireWithin, utf8Bytes } from './limits.js';

export const PROMPT_SLOTS = ['intro', 'execution', 'guidance', 'project_instructions', 'runtime_context', 'environment'] as const;
export type PromptSlot = (typeof PROMPT_SLOTS)[number];

export interface Contribution {
  title?: string;
  priority: number;
  content: string;
  /** Only included while this tool is available to the session. */
  requiresTool?: string;
}

export interface SlotLayer {
  slot: PromptSlot;
  reset: boolean;
  contributions: Contribution[];
}

export type TemplateSection = { text: string } | { builtin: string } | { slot: PromptSlot };

export interface PromptLayer {
  template?: TemplateSection[];
  slots: SlotLayer[];
}

/** Refuses what a prompt layer cannot hold: NUL in its text, control characters in the names it gives. */
export function validatePromptLayer(layer: PromptLayer, field: string): void {
  layer.template?.forEach((s, i) => {
    if ('text' in s) requireNoNul(`${field}.template.sections[${i}].text`, s.text);
    if ('builtin' in s) requireId(`${field}.template.sections[${i}].builtin_block`, s.builtin);
  });
  layer.slots.forEach((s, i) =>
    s.contributions.forEach((c, j) => {
      const at = `${field}.slots[${i}].contributions[${j}]`;
      requireNoNul(`${at}.title`, c.title);
      requireNoNul(`${at}.content`, c.content);
      optionalId(`${at}.requires_tool`, c.requiresTool);
    }),
  );
  // The layer is sent with every model call of every turn it applies to: bounded as a whole.
  let bytes = 0;
  layer.template?.forEach((s) => ('text' in s ? (bytes += utf8Bytes(s.text)) : undefined));
  layer.slots.forEach((s) => s.contributions.forEach((c) => (bytes += utf8Bytes(c.title ?? '') + utf8Bytes(c.content))));
  requireWithin('PROMPT_TOO_LARGE', field, bytes, MAX_PROMPT_LAYER_BYTES);
}

export interface ResolvedPrompt {
  template?: TemplateSection[];
  slots: Map<PromptSlot, Contribution[]>;
}

/** Stacks layers from lowest to highest. */
export function stackPromptLayers(layers: (PromptLayer | undefined)[]): ResolvedPrompt {
  let template: TemplateSection[] | undefined;
  const slots = new Map<PromptSlot, Contribution[]>();
  for (const layer of layers) {
    if (!layer) continue;
    if (layer.template) template = layer.template;
    for (const slotLayer of layer.slots) {
      const current = slotLayer.reset ? [] : (slots.get(slotLayer.slot) ?? []);
      slots.set(slotLayer.slot, [...current, ...slotLayer.contributions]);
    }
  }
  return { template, slots };
}

/** Renders the system prompt: the template if any, else every slot in canonical order. */
export function renderPrompt(resolved: ResolvedPrompt, isToolAvailable: (name: string) => boolean = () => true): string {
  const renderSlot = (slot: PromptSlot) =>
    (resolved.slots.get(slot) ?? [])
      .filter((c) => !c.requiresTool || isToolAvailable(c.requiresTool))
      .map((c, index) => ({ c, index }))
      // Ascending priority; equal priorities keep their stacking order.
      .sort((a, b) => a.c.priority - b.c.priority || a.index - b.index)
      .map(({ c }) => (c.title ? `## ${c.title}\n${c.content}` : c.content))
      .join('\n\n');
  const sections: TemplateSection[] = resolved.template ?? PROMPT_SLOTS.map((slot) => ({ slot }));
  return sections
    .map((section) => ('text' in section ? section.text : 'slot' in section ? renderSlot(section.slot) : ''))
    .filter((text) => text.length > 0)
    .join('\n\n');
}
