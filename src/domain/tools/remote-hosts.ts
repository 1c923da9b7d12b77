// Remote tool hosts: clients in any language that hold a ServeTools stream, advertise tools for
// a session (or their whole tenant) and answer calls. A host that disconnects fails its
// in-flight calls as tool errors and its tools leave the catalog. Which host may serve what is
// decided by bindings.ts: a session-scoped host's tools reach a session only while the session
// binds them to that host; a session-scoped host wins over a tenant-wide one of the same name.

import { systemIds, type Ids } from '../clock.js';
import { invalid } from '../errors.js';
import type { JsonValue } from '../messages.js';
import { isBound, TOOL_NAME, type RemoteToolBinding } from './bindings.js';
import type { Scheduling, ToolDefinition, ToolOutcome, ToolSource } from './types.js';

export interface RemoteToolSpec {
  name: string;
  description: string;
  inputSchema: Record<string, JsonValue>;
  scheduling: Scheduling;
}

export type HostScope = { kind: 'session'; sessionId: string } | { kind: 'tenant' };

export interface OutgoingCall {
  callId: string;
  sessionId: string;
  turnId: string;
  toolName: string;
  args: Record<string, JsonValue>;
  completionKey: string;
}

export type HostAnswer =
  { kind: 'success'; value: JsonValue } | { kind: 'failure'; message: string } | { kind: 'cancelled' } | { kind: 'pending'; completionKey: string };

interface Host {
  id: string;
  tenantId: string;
  /** Identity of the host's caller (principal subject; "anonymous" without authentication). */
  subject: string;
  scope: HostScope;
  tools: ToolDefinition[];
  inFlight: Map<string, (outcome: ToolOutcome) => void>;
}

const NAME = TOOL_NAME;

export class RemoteToolHosts implements ToolSource {
  private readonly hosts = new Map<string, Host>();

  constructor(private readonly ids: Ids = systemIds) {}

  /** Registers a host; `send` delivers calls and cancels to it. Returns its handle. */
  /** The shape checks of a hello (before its bindings are checked). */
  static validate(specs: RemoteToolSpec[]): void {
    if (specs.length === 0) throw invalid('TOOLS_EMPTY', 'hello.tools must advertise at least one tool');
    const seen = new Set<string>();
    for (const [i, s] of specs.entries()) {
      if (!NAME.test(s.name)) throw invalid('TOOL_NAME_INVALID', `hello.tools[${i}].name "${s.name}" must match ${NAME.source}`);
      if (seen.has(s.name)) throw invalid('TOOL_NAME_DUPLICATE', `hello.tools[${i}].name "${s.name}" is advertised twice`);
      seen.add(s.name);
    }
  }

  /** Registers a host whose hello passed the binding rules; `send` delivers calls and cancels to it. Returns its handle. */
  connect(
    tenantId: string,
    subject: string,
    scope: HostScope,
    specs: RemoteToolSpec[],
    send: { call(c: OutgoingCall): void; cancel(callId: string, reason: string): void },
  ) {
    RemoteToolHosts.validate(specs);
    const host: Host = { id: this.ids.uuid(), tenantId, subject, scope, tools: [], inFlight: new Map() };
    host.tools = specs.map((s) => ({
      name: s.name,
      description: s.description,
      inputSchema: Object.keys(s.inputSchema).length ? s.inputSchema : { type: 'object' },
      scheduling: s.scheduling,
      availability: 'callable',
      activation: 'always',
      retry: { maxAttempts: 1, initialBackoffMs: 0 },
      execute: (args, ctx) =>
        new Promise<ToolOutcome>((resolve) => {
          if (!this.hosts.has(host.id)) return resolve({ kind: 'error', message: `tool host for ${s.name} disconnected` });
          host.inFlight.set(ctx.callId, resolve);
          const onAbort = () => send.cancel(ctx.callId, 'turn cancelled');
          ctx.signal.addEventListener('abort', onAbort, { once: true });
          send.call({
            callId: ctx.callId,
            sessionId: ctx.sessionId,
            turnId: ctx.turnId,
            toolName: s.name,
            args,
            completionKey: `${ctx.sessionId}/${ctx.turnId}/${ctx.callId}`,
          });
        }),
    }));
    this.hosts.set(host.id, host);
    return {
      hostId: host.id,
      answer: (callId: string, answer: HostAnswer): boolean => {
        const resolve = host.inFlight.get(callId);
        if (!resolve) return false;
        host.inFlight.delete(callId);
        resolve(
          answer.kind === 'success'
            ? { kind: 'ok', output: answer.value }
            : answer.kind === 'failure'
              ? { kind: 'error', message: answer.message }
              : answer.kind === 'cancelled'
                ? { kind: 'error', message: 'the tool host cancelled the call' }
                : { kind: 'pending', completionKey: answer.completionKey },
        );
        return true;
      },
      /** Whether a call sent to this host waits for its answer. */
      busy: (): boolean => host.inFlight.size > 0,
      disconnect: () => {
        this.hosts.delete(host.id);
        for (const resolve of host.inFlight.values()) resolve({ kind: 'error', message: 'the tool host disconnected before answering' });
        host.inFlight.clear();
      },
    };
  }

  toolsFor(tenantId: string, sessionId: string, bindings?: readonly RemoteToolBinding[]): ToolDefinition[] {
    const byName = new Map<string, ToolDefinition>();
    // Session-scoped hosts the session binds come first (the latest connected wins a name), then
    // tenant-wide hosts (opted in at hello) for names no session host serves.
    for (const h of this.hosts.values()) {
      if (h.tenantId !== tenantId || h.scope.kind !== 'session' || h.scope.sessionId !== sessionId) continue;
      for (const t of h.tools) if (isBound(bindings, t.name, h.subject)) byName.set(t.name, t);
    }
    for (const h of this.hosts.values()) {
      if (h.tenantId !== tenantId || h.scope.kind !== 'tenant') continue;
      for (const t of h.tools) if (!byName.has(t.name)) byName.set(t.name, t);
    }
    return [...byName.values()];
  }
}
