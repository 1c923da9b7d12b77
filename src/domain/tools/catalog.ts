// A session's tool catalog: every source's tools, with per-session availability overrides
// applied. Only callable (or showcased) tools are offered to the model.

import type { Availability, ToolDefinition, ToolSource } from './types.js';

export function catalogFor(sources: ToolSource[], tenantId: string, sessionId: string, overrides: Record<string, string>): ToolDefinition[] {
  const byName = new Map<string, ToolDefinition>();
  // Later sources win on a name clash (a remote host can shadow a built-in for its scope).
  for (const source of sources) for (const tool of source.toolsFor(tenantId, sessionId)) byName.set(tool.name, tool);
  return [...byName.values()].filter((t) => isCallable((overrides[t.name] as Availability | undefined) ?? t.availability));
}

export const isCallable = (a: Availability) => a === 'callable' || a === 'showcased';
