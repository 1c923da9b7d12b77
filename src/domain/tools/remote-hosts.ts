// Remote tool hosts: clients in any language that hold a ServeTools stream, advertise tools for
// a session (or their whole tenant) and answer calls. A host that disconnects fails its
// in-flight calls as tool errors and its tools leave the catalog.

import { randomUUID } from 'node:crypto';
import { invalid } from '../errors.js';
import type { JsonValue } from '../messages.js';
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

export type HostAnswer = { kind: 'success'; value: JsonValue } | { kind: 'failure'; message: string } | { kind: 'cancelled' } | { kind: 'pending'; completionKey: string };

interface Host {
  id: string;
  tenantId: string;
  scope: HostScope;
  tools: ToolDefinition[];
  inFlight: Map<string, (outcome: ToolOutcome) => void>;
}

const NAME = /^[a-zA-Z_][\w-]{0,63}$/;

export class RemoteToolHosts implements ToolSource {
  private readonly hosts = new Map<string, Host>();

  /** Registers a host; `send` delivers calls and cancels to it. Returns its handle. */
  connect(tenantId: string, scope: HostScope, specs: RemoteToolSpec[], send: { call(c: OutgoingCall): void; cancel(callId: string, reason: string): void }) {
    if (specs.length === 0) throw invalid('TOOLS_EMPTY', 'hello.tools must advertise at least one tool');
    const seen = new Set<string>();
    for (const [i, s] of specs.entries()) {
      if (!NAME.test(s.name)) throw invalid('TOOL_NAME_INVALID', `hello.tools[${i}].name "${s.name}" must match ${NAME.source}`);
      if (seen.has(s.name)) throw invalid('TOOL_NAME_DUPLICATE', `hello.tools[${i}].name "${s.name}" is advertised twice`);
      seen.add(s.name);
    }
    const host: Host = { id: randomUUID(), tenantId, scope, tools: [], inFlight: new Map() };
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
          send.call({ callId: ctx.callId, sessionId: ctx.sessionId, turnId: ctx.turnId, toolName: s.name, args, completionKey: `${ctx.sessionId}/${ctx.turnId}/${ctx.callId}` });
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
          answer.kind === 'success' ? { kind: 'ok', output: answer.value }
          : answer.kind === 'failure' ? { kind: 'error', message: answer.message }
          : answer.kind === 'cancelled' ? { kind: 'error', message: 'the tool host cancelled the call' }
          : { kind: 'pending', completionKey: answer.completionKey },
        );
        return true;
      },
      disconnect: () => {
        this.hosts.delete(host.id);
        for (const resolve of host.inFlight.values()) resolve({ kind: 'error', message: 'the tool host disconnected before answering' });
        host.inFlight.clear();
      },
    };
  }

  toolsFor(tenantId: string, sessionId: string): ToolDefinition[] {
    const out: ToolDefinition[] = [];
    // Tenant-wide hosts first so a session-scoped host can shadow them.
    for (const h of this.hosts.values()) if (h.tenantId === tenantId && h.scope.kind === 'tenant') out.push(...h.tools);
    for (const h of this.hosts.values()) if (h.tenantId === tenantId && h.scope.kind === 'session' && h.scope.sessionId === sessionId) out.push(...h.tools);
    return out;
  }
}
