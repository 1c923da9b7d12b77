// A session's tool catalog: every source's tools, with per-session availability overrides
// applied. Only callable (or showcased) tools are offered to the model.

import type { RemoteToolBinding } from './bindings.js';
import type { Availability, ToolDefinition, ToolSource } from './types.js';

export function catalogFor(
  sources: ToolSource[],
  tenantId: string,
  sessionId: string,
  overrides: Record<string, string>,
  bindings?: readonly RemoteToolBinding[],
): ToolDefinition[] {
  const byName = new Map<string, ToolDefinition>();
  // Earlier sources win on a name clash: built-ins come first, so no remote host can shadow one.
  for (const source of sources) for (const tool of source.toolsFor(tenantId, sessionId, bindings)) if (!byName.has(tool.name)) byName.set(tool.name, tool);
  return [...byName.values()].filter((t) => isCallable((overrides[t.name] as Availability | undefined) ?? t.availability));
}

export const isCallable = (a: Availability) => a === 'callable' || a === 'showcased';
