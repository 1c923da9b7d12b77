// Child usage within one parent turn: every report becomes a `child_usage` event (with the
// child's running total in this turn) and is summed per (source, model) for the turn result.
// The parent's stored usage report needs no copy: it sums the children's own ledgers.

import type { ChildUsageReport } from '../tools/types.js';
import { addUsage, zeroUsage, type Usage } from '../usage.js';
import type { TurnEventKind } from './types.js';

export interface ChildUsageEntry {
  source: string;
  model: string;
  usage: Usage;
}

export class ChildUsageLedger {
  private readonly perChild = new Map<string, Usage>();
  private readonly bySourceModel = new Map<string, ChildUsageEntry>();

  constructor(private readonly emit: (event: TurnEventKind, correlationId?: string) => void) {}

  report(r: ChildUsageReport, callId: string): void {
    const cumulative = addUsage(this.perChild.get(r.sessionId) ?? zeroUsage(), r.usage);
    this.perChild.set(r.sessionId, cumulative);
    const key = `${r.source}\u0000${r.model}`;
    const entry = this.bySourceModel.get(key) ?? { source: r.source, model: r.model, usage: zeroUsage() };
    this.bySourceModel.set(key, { ...entry, usage: addUsage(entry.usage, r.usage) });
    this.emit({ kind: 'child_usage', sessionId: r.sessionId, source: r.source, model: r.model, usage: r.usage, cumulative }, callId);
  }

  entries(): ChildUsageEntry[] {
    return [...this.bySourceModel.values()].sort((a, b) => a.source.localeCompare(b.source) || a.model.localeCompare(b.model));
  }
}
