// Token usage: the five counters, their arithmetic, and the report shapes.

export interface Usage {
  inputTokens: bigint;
  outputTokens: bigint;
  cachedInputTokens: bigint;
  reasoningTokens: bigint;
  /** Part of inputTokens written to the provider's prompt cache (Anthropic cache creation). */
  cacheWriteTokens: bigint;
}

export const zeroUsage = (): Usage => ({ inputTokens: 0n, outputTokens: 0n, cachedInputTokens: 0n, reasoningTokens: 0n, cacheWriteTokens: 0n });

export function addUsage(a: Usage, b: Usage): Usage {
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    cachedInputTokens: a.cachedInputTokens + b.cachedInputTokens,
    reasoningTokens: a.reasoningTokens + b.reasoningTokens,
    cacheWriteTokens: a.cacheWriteTokens + b.cacheWriteTokens,
  };
}

/** One ledger entry: usage attributed to a source (turn, child, compaction…) and a model. */
export interface UsageDelta {
  source: string;
  model: string;
  usage: Usage;
}

export interface UsageReport {
  total: Usage;
  bySource: { source: string; usage: Usage }[];
  byModel: { model: string; usage: Usage }[];
  bySourceAndModel: UsageDelta[];
}

/** Builds the report from per (source, model) sums; the store aggregates, we only fold. */
export function buildUsageReport(rows: UsageDelta[]): UsageReport {
  const bySource = new Map<string, Usage>();
  const byModel = new Map<string, Usage>();
  let total = zeroUsage();
  for (const row of rows) {
    total = addUsage(total, row.usage);
    bySource.set(row.source, addUsage(bySource.get(row.source) ?? zeroUsage(), row.usage));
    byModel.set(row.model, addUsage(byModel.get(row.model) ?? zeroUsage(), row.usage));
  }
  const sorted = <T>(m: Map<string, T>) => [...m.entries()].sort(([a], [b]) => a.localeCompare(b));
  return {
    total,
    bySource: sorted(bySource).map(([source, usage]) => ({ source, usage })),
    byModel: sorted(byModel).map(([model, usage]) => ({ model, usage })),
    bySourceAndModel: [...rows].sort((a, b) => a.source.localeCompare(b.source) || a.model.localeCompare(b.model)),
  };
}
