// Per-session tool administration: availability overrides guarded by a generation, applied
// whole (only on the current generation) or restored (adopting the state's generation). Every
// change is one commit; tools named in overrides that no source provides are "orphaned".

import { DomainError, invalid } from '../errors.js';
import { requireId } from '../ids.js';
import type { RequestContext } from '../ports.js';
import type { SessionHead } from '../session.js';
import { MAX_CLIENT_COUNTER } from '../state.js';
import type { SessionService } from '../sessions.js';
import { type Availability, type ToolManifest, type ToolSource } from '../tools/types.js';

export interface ToolEntry {
  manifest: Pick<ToolManifest, 'name'> & Partial<ToolManifest>;
  orphaned: boolean;
  effective: Availability;
  override?: Availability;
}

export interface ToolStateView {
  generation: bigint;
  tools: ToolEntry[];
}

export class ToolAdmin {
  constructor(
    private readonly sessions: SessionService,
    private readonly sources: ToolSource[],
  ) {}

  private catalog(tenantId: string, head: SessionHead): Map<string, ToolManifest> {
    const byName = new Map<string, ToolManifest>();
    // The same precedence as a turn's catalog: the first source (built-ins) wins a name.
    for (const s of this.sources) for (const t of s.toolsFor(tenantId, head.sessionId, head.policy.remoteTools)) if (!byName.has(t.name)) byName.set(t.name, t);
    return byName;
  }

  async get(ctx: RequestContext, sessionId: string): Promise<ToolStateView> {
    const head = await this.sessions.get(ctx, sessionId);
    return this.view(ctx, head);
  }

  private view(ctx: RequestContext, head: SessionHead): ToolStateView {
    const catalog = this.catalog(ctx.tenantId, head);
    const overrides = head.toolState.overrides as Record<string, Availability>;
    const tools: ToolEntry[] = [...catalog.values()].map((m) => ({
      manifest: m,
      orphaned: false,
      override: overrides[m.name],
      effective: overrides[m.name] ?? m.availability,
    }));
    for (const [name, level] of Object.entries(overrides))
      if (!catalog.has(name)) tools.push({ manifest: { name }, orphaned: true, override: level, effective: level });
    return { generation: head.toolState.generation, tools: tools.sort((a, b) => a.manifest.name.localeCompare(b.manifest.name)) };
  }

  async setAvailability(ctx: RequestContext, sessionId: string, levels: Record<string, Availability>, expectedGeneration?: bigint): Promise<bigint> {
    if (Object.keys(levels).length === 0) throw invalid('AVAILABILITY_EMPTY', 'availability must name at least one tool');
    requireToolNames('availability', levels);
    return this.change(ctx, sessionId, expectedGeneration, (h) => ({
      generation: h.toolState.generation + 1n,
      overrides: { ...h.toolState.overrides, ...levels },
    }));
  }

  async clear(ctx: RequestContext, sessionId: string, names: string[]): Promise<bigint> {
    if (names.length === 0) throw invalid('NAMES_EMPTY', 'names must list at least one tool whose override to clear');
    return this.change(ctx, sessionId, undefined, (h) => ({
      generation: h.toolState.generation + 1n,
      overrides: Object.fromEntries(Object.entries(h.toolState.overrides).filter(([n]) => !names.includes(n))),
    }));
  }

  /** Replaces the overrides, only if the caller saw the current generation. */
  async apply(ctx: RequestContext, sessionId: string, overrides: Record<string, Availability>, expectedGeneration: bigint): Promise<bigint> {
    requireToolNames('state.overrides', overrides);
    return this.change(ctx, sessionId, expectedGeneration, (h) => ({ generation: h.toolState.generation + 1n, overrides }));
  }

  /** Restores a saved state: its generation is adopted; overrides of unknown tools are kept and reported. */
  async restore(
    ctx: RequestContext,
    sessionId: string,
    overrides: Record<string, Availability>,
    generation: bigint,
  ): Promise<{ generation: bigint; orphaned: string[] }> {
    requireToolNames('state.overrides', overrides);
    // The adopted generation keeps counting up afterwards: it must leave room in the store's 64-bit column.
    if (generation > MAX_CLIENT_COUNTER)
      throw invalid('GENERATION_OUT_OF_RANGE', `state.generation must be at most ${MAX_CLIENT_COUNTER}; pass a generation GetToolState returned`, {
        field: 'state.generation',
      });
    const g = await this.change(ctx, sessionId, undefined, () => ({ generation, overrides }));
    const catalog = this.catalog(ctx.tenantId, await this.sessions.get(ctx, sessionId));
    return {
      generation: g,
      orphaned: Object.keys(overrides)
        .filter((n) => !catalog.has(n))
        .sort(),
    };
  }

  private async change(
    ctx: RequestContext,
    sessionId: string,
    expected: bigint | undefined,
    next: (h: SessionHead) => SessionHead['toolState'],
  ): Promise<bigint> {
    requireId('session_id', sessionId);
    return this.sessions.withWriter(ctx, sessionId, async (lease, current) => {
      const head = await current();
      if (expected !== undefined && expected !== head.toolState.generation) {
        throw new DomainError(
          'GENERATION_CONFLICT',
          `tool state of session "${sessionId}" is at generation ${head.toolState.generation}, not ${expected}; read it again (GetToolState) and retry`,
          { session_id: sessionId, generation: String(head.toolState.generation) },
        );
      }
      const toolState = next(head);
      await this.sessions.commit(
        ctx,
        { expectedRevision: head.headRevision, kind: 'tool_state', head: { ...head, toolState }, graph: { kind: 'none' }, frames: [] },
        lease,
      );
      return toolState.generation;
    });
  }
}

/** Tool names are ids: the keys of an override map are checked before anything is stored. */
function requireToolNames(field: string, overrides: Record<string, unknown>): void {
  Object.keys(overrides).forEach((name) => requireId(`${field} key (tool name)`, name));
}
