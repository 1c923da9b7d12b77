// Remote tools are bound, not claimed: which tool hosts may serve which tools. A session-scoped
// host serves a session only the tools that session's policy binds (by name, optionally to one
// host identity); a tenant-wide host serves only tools the operator opted in for its tenant; a
// built-in tool name is never served remotely. Checked when a host says hello and again each
// time a session's catalog is built, so unbinding a tool takes effect at the next turn.

import { DomainError, invalid } from '../errors.js';

/** A remote tool a session accepts; `host` (a principal subject) limits who may serve it. */
export interface RemoteToolBinding {
  name: string;
  host?: string;
}

/** A tool the operator lets tenant-wide hosts of a tenant serve (LASH_TENANT_WIDE_TOOLS). */
export interface TenantWideTool {
  tenantId: string;
  tool: string;
  host?: string;
}

export const TOOL_NAME = /^[a-zA-Z_][\w-]{0,63}$/;
/** Bindings one session may hold (each is checked on every catalog build). */
export const MAX_BINDINGS = 64;

/** Whether `bindings` let the host `subject` serve `tool`. */
export const isBound = (bindings: readonly RemoteToolBinding[] | undefined, tool: string, subject: string): boolean =>
  (bindings ?? []).some((b) => b.name === tool && (b.host === undefined || b.host === subject));

export function validateBindings(bindings: RemoteToolBinding[], field: string): void {
  if (bindings.length > MAX_BINDINGS) throw invalid('REMOTE_TOOLS_TOO_MANY', `${field} has ${bindings.length} bindings; at most ${MAX_BINDINGS} are allowed`);
  const seen = new Set<string>();
  for (const [i, b] of bindings.entries()) {
    if (!TOOL_NAME.test(b.name)) throw invalid('TOOL_NAME_INVALID', `${field}[${i}].name "${b.name}" must match ${TOOL_NAME.source}`);
    if (b.host !== undefined && (b.host.length === 0 || b.host.length > 256))
      throw invalid('TOOL_HOST_INVALID', `${field}[${i}].host must be 1 to 256 characters, or empty for any host`);
    const key = `${b.name}\u0000${b.host ?? ''}`;
    if (seen.has(key)) throw invalid('TOOL_BINDING_DUPLICATE', `${field}[${i}] binds "${b.name}" to the same host twice`);
    seen.add(key);
  }
}

/** The admission rules a host's hello must pass; the session lookup is the caller's. */
export class ToolHostRules {
  constructor(
    /** Names of every built-in tool the server knows (enabled or not). */
    private readonly reserved: ReadonlySet<string>,
    private readonly tenantWide: readonly TenantWideTool[],
  ) {}

  /** A host may not announce a built-in tool name: it would otherwise answer calls meant for the built-in. */
  refuseReserved(names: string[]): void {
    const i = names.findIndex((n) => this.reserved.has(n));
    if (i >= 0)
      throw invalid('TOOL_NAME_RESERVED', `hello.tools[${i}].name "${names[i]}" is a built-in tool; a remote host cannot serve it, choose another name`, {
        tool: names[i]!,
      });
  }

  /** Every tool of a tenant-wide host must be opted in for the tenant (and this host, when the opt-in names one). */
  requireTenantWide(tenantId: string, names: string[], subject: string): void {
    for (const [i, name] of names.entries()) {
      if (this.tenantWide.some((t) => t.tenantId === tenantId && t.tool === name && (t.host === undefined || t.host === subject))) continue;
      throw new DomainError(
        'TOOL_NOT_OPTED_IN',
        `hello.tools[${i}] "${name}" is not opted in for tenant-wide hosts of this tenant (for host "${subject}"); the operator lists it in LASH_TENANT_WIDE_TOOLS, or serve it to a session that binds it`,
        { tool: name },
      );
    }
  }

  /** Every tool of a session-scoped host must be bound by the session to this host (or any host). */
  requireSessionBinding(sessionId: string, bindings: readonly RemoteToolBinding[] | undefined, names: string[], subject: string): void {
    for (const [i, name] of names.entries()) {
      if (isBound(bindings, name, subject)) continue;
      throw new DomainError(
        'TOOL_NOT_BOUND',
        `session "${sessionId}" does not bind remote tool "${name}" (hello.tools[${i}]) to host "${subject}"; add it to the session's spec.remote_tools (OpenSession or UpdateSessionConfig)`,
        { tool: name, session_id: sessionId },
      );
    }
  }
}

/** Parses LASH_TENANT_WIDE_TOOLS: comma-separated `tenant:tool` or `tenant:tool@host`. */
export function parseTenantWideTools(value: string): TenantWideTool[] | string {
  const out: TenantWideTool[] = [];
  for (const entry of value
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const m = /^([^:@\s]+):([^:@\s]+)(?:@(\S+))?$/.exec(entry);
    if (!m || !TOOL_NAME.test(m[2]!)) return `"${entry}" is not tenant:tool or tenant:tool@host`;
    out.push({ tenantId: m[1]!, tool: m[2]!, host: m[3] });
  }
  return out;
}
