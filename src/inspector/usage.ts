// Token usage by source × model as a small inline SVG bar chart (input, cached input and output).

import type { JsonObject } from '@bufbuild/protobuf';
import { h } from './dom.js';

const SVG = 'http://www.w3.org/2000/svg';
const BAR = 14;
const GAP = 22;
const LABEL = 220;
const WIDTH = 560;

function svg(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

const n = (v: unknown) => Number(v ?? 0);

export function usageChart(report: JsonObject): HTMLElement {
  const rows = ((report.bySourceAndModel ?? []) as JsonObject[]).map((r) => {
    const u = (r.usage ?? {}) as JsonObject;
    return { label: `${String(r.source)} · ${String(r.model)}`, input: n(u.inputTokens), cached: n(u.cachedInputTokens), output: n(u.outputTokens) };
  });
  if (rows.length === 0) return h('p.note', {}, 'No usage recorded yet.');
  const max = Math.max(1, ...rows.map((r) => r.input + r.output));
  const scale = (WIDTH - LABEL - 70) / max;
  const chart = svg('svg', { class: 'usage', width: WIDTH, height: rows.length * GAP + 24, viewBox: `0 0 ${WIDTH} ${rows.length * GAP + 24}`, role: 'img' });
  chart.appendChild(svg('title', {}, 'tokens by source and model'));
  rows.forEach((r, i) => {
    const y = i * GAP + 4;
    chart.appendChild(svg('text', { x: 0, y: y + BAR - 3, class: 'label' }, r.label));
    const fresh = (r.input - r.cached) * scale;
    chart.appendChild(svg('rect', { x: LABEL, y, width: fresh, height: BAR, class: 'input' }));
    chart.appendChild(svg('rect', { x: LABEL + fresh, y, width: r.cached * scale, height: BAR, class: 'cached' }));
    chart.appendChild(svg('rect', { x: LABEL + r.input * scale, y, width: r.output * scale, height: BAR, class: 'output' }));
    chart.appendChild(svg('text', { x: LABEL + (r.input + r.output) * scale + 4, y: y + BAR - 3, class: 'value' }, `${r.input}/${r.output}`));
  });
  const legendY = rows.length * GAP + 16;
  [
    ['input', 'input'],
    ['cached', 'cached input'],
    ['output', 'output'],
  ].forEach(([cls, text], i) => {
    chart.appendChild(svg('rect', { x: LABEL + i * 110, y: legendY - 9, width: 10, height: 10, class: cls! }));
    chart.appendChild(svg('text', { x: LABEL + i * 110 + 14, y: legendY, class: 'label' }, text));
  });
  const total = (report.total ?? {}) as JsonObject;
  return h(
    'div',
    {},
    chart as unknown as HTMLElement,
    h('p.note', {}, `total: ${n(total.inputTokens)} input (${n(total.cachedInputTokens)} cached), ${n(total.outputTokens)} output tokens`),
  );
}
