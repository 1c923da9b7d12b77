// Mapping of tool manifests and availability levels.

import type { ToolEntry as PbEntry } from '../../../gen/lash/v1/admin_service.js';
import { ToolActivation, ToolAvailability, ToolScheduling } from '../../../gen/lash/v1/tool.js';
import type { ToolEntry } from '../../domain/admin/tool-state.js';
import type { Availability } from '../../domain/tools/types.js';
import { decodeEnum, encodeTable } from './enums.js';

const LEVELS: Record<number, Availability> = {
  [ToolAvailability.TOOL_AVAILABILITY_OFF]: 'off',
  [ToolAvailability.TOOL_AVAILABILITY_SEARCHABLE]: 'searchable',
  [ToolAvailability.TOOL_AVAILABILITY_CALLABLE]: 'callable',
  [ToolAvailability.TOOL_AVAILABILITY_SHOWCASED]: 'showcased',
};
const LEVEL_OUT = encodeTable(LEVELS);

export function availabilityMapFromPb(map: Record<string, number>, field: string): Record<string, Availability> {
  return Object.fromEntries(Object.entries(map).map(([name, v]) => [name, decodeEnum(`${field}["${name}"]`, v, LEVELS, 'ToolAvailability')]));
}

export function toolEntryToPb(e: ToolEntry): PbEntry {
  const m = e.manifest;
  return {
    manifest: {
      id: m.name,
      name: m.name,
      description: m.description ?? '',
      availability: m.availability ? LEVEL_OUT.get(m.availability)! : ToolAvailability.TOOL_AVAILABILITY_UNSPECIFIED,
      activation:
        m.activation === 'internal'
          ? ToolActivation.TOOL_ACTIVATION_INTERNAL
          : m.activation
            ? ToolActivation.TOOL_ACTIVATION_ALWAYS
            : ToolActivation.TOOL_ACTIVATION_UNSPECIFIED,
      scheduling:
        m.scheduling === 'serial'
          ? ToolScheduling.TOOL_SCHEDULING_SERIAL
          : m.scheduling
            ? ToolScheduling.TOOL_SCHEDULING_PARALLEL
            : ToolScheduling.TOOL_SCHEDULING_UNSPECIFIED,
      retryPolicy: m.retry ? { maxAttempts: m.retry.maxAttempts, initialBackoffMs: BigInt(m.retry.initialBackoffMs) } : undefined,
      inputSchema: m.inputSchema,
    },
    orphaned: e.orphaned,
    effectiveAvailability: LEVEL_OUT.get(e.effective)!,
    override: e.override ? LEVEL_OUT.get(e.override) : undefined,
  };
}
