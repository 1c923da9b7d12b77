// The door of ServeTools: a host's hello is admitted only if its tools are well formed, none is a
// built-in, and each is bound — by the addressed session's policy (session scope, the session
// must exist in the caller's tenant) or by the operator's tenant-wide opt-in (tenant scope).

import { subjectOf } from '../auth/caller.js';
import type { RequestContext } from '../ports.js';
import type { SessionHead } from '../session.js';
import type { ToolHostRules } from './bindings.js';
import { RemoteToolHosts, type HostScope, type RemoteToolSpec } from './remote-hosts.js';

export class ToolHostGate {
  constructor(
    private readonly rules: ToolHostRules,
    private readonly sessions: { get(ctx: RequestContext, sessionId: string): Promise<SessionHead> },
  ) {}

  /** Refuses a hello that may not be served; returns the host's identity (principal subject). */
  async admit(ctx: RequestContext, scope: HostScope, specs: RemoteToolSpec[]): Promise<string> {
    RemoteToolHosts.validate(specs);
    const names = specs.map((s) => s.name);
    this.rules.refuseReserved(names);
    const subject = subjectOf(ctx);
    if (scope.kind === 'tenant') this.rules.requireTenantWide(ctx.tenantId, names, subject);
    else this.rules.requireSessionBinding(scope.sessionId, (await this.sessions.get(ctx, scope.sessionId)).policy.remoteTools, names, subject);
    return subject;
  }
}
