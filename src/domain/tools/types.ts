// Tools as the turn loop sees them: a manifest plus an execute function. Built-in tools and
// remote tool hosts both provide these.

import type { JsonValue } from '../messages.js';
import type { RemoteToolBinding } from './bindings.js';
import type { TurnScope } from '../turns/turn-scope.js';
import type { Usage } from '../usage.js';

export type Availability = 'off' | 'searchable' | 'callable' | 'showcased';
export type Scheduling = 'parallel' | 'serial';

export type ToolOutcome =
  | { kind: 'ok'; output: JsonValue }
  | { kind: 'error'; message: string }
  /** Ends the turn as finished with this tool value. */
  | { kind: 'terminal_value'; value: JsonValue }
  /** Ends the turn as stopped: tool_error. */
  | { kind: 'terminal_error'; value: JsonValue }
  /** The answer arrives later through ResolveCompletion(completionKey). */
  | { kind: 'pending'; completionKey: string };

export interface ToolContext {
  tenantId: string;
  sessionId: string;
  turnId: string;
  callId: string;
  /** Fires when the turn is cancelled; tools should stop promptly. */
  signal: AbortSignal;
  /** Books model usage of a child session run by this tool into the turn (`child_usage` events). */
  reportChildUsage(report: ChildUsageReport): void;
  /** The tool call's span as W3C trace context, for work it starts (a child turn); none when not traced. */
  traceparent?: string;
  /** Shared by the tool calls of this turn: work the turn must wait for, per-turn counters. */
  scope: TurnScope;
}

/** Usage of one model call of a child session (or of its descendants), as a tool reports it. */
export interface ChildUsageReport {
  sessionId: string;
  source: string;
  model: string;
  usage: Usage;
}

export interface ToolManifest {
  name: string;
  description: string;
  inputSchema: Record<string, JsonValue>;
  scheduling: Scheduling;
  /** Default availability before per-session overrides. */
  availability: Availability;
  activation: 'always' | 'internal';
  retry: { maxAttempts: number; initialBackoffMs: number };
}

export interface ToolDefinition extends ToolManifest {
  execute(args: Record<string, JsonValue>, ctx: ToolContext): Promise<ToolOutcome>;
}

/** Anything that contributes tools to a session's catalog (built-ins, remote hosts). */
export interface ToolSource {
  /** `bindings`: the remote tools the session's policy accepts (remote sources offer only those). */
  toolsFor(tenantId: string, sessionId: string, bindings?: readonly RemoteToolBinding[]): ToolDefinition[];
}

export type CompletionResolution =
  { kind: 'value'; value: JsonValue } | { kind: 'error'; message: string; details?: JsonValue } | { kind: 'timeout' } | { kind: 'cancelled' };

/** Durable pending tool answers (a remote host answered "pending"). */
export interface CompletionStore {
  /** Records a pending completion; idempotent for the same key. */
  register(key: string, owner: { tenantId: string; sessionId: string; turnId: string; callId: string }): Promise<void>;
  /** Resolves if still pending; otherwise reports the first resolution. */
  resolve(
    tenantId: string,
    key: string,
    resolution: CompletionResolution,
  ): Promise<{ outcome: 'accepted' } | { outcome: 'already_resolved'; first: CompletionResolution } | { outcome: 'unknown' }>;
  /** Waits until the key is resolved (or the signal fires). */
  wait(tenantId: string, key: string, signal: AbortSignal): Promise<CompletionResolution>;
}
