// The remote tool host protocol of one ServeTools stream, as a small state machine:
//   awaiting hello → (hello admitted by the gate) serving → closed.
// The first message must be a hello; once admitted, only tool results may follow. Messages are
// taken strictly in order, one at a time: the hello's checks read the store, and nothing after it
// may be taken before the host is admitted. The first fault ends the stream. The transport only
// decodes messages into `HostMessage` and carries out what `HostStream` asks (writes, the error,
// audit and log lines).

import { invalid } from '../errors.js';
import { requireId } from '../ids.js';
import { requireToolResultWithin } from '../limits.js';
import type { RequestContext } from '../ports.js';
import type { ToolHostGate } from './host-gate.js';
import type { HostAnswer, HostScope, OutgoingCall, RemoteToolHosts, RemoteToolSpec } from './remote-hosts.js';

/** What a hello asks for, as decoded (not yet checked). */
export interface HostHello {
  /** Undefined when the hello names neither a session nor the whole tenant. */
  scope: HostScope | undefined;
  /** Decoded after the scope is checked, so a hello is refused for its first fault in field order. */
  tools: () => RemoteToolSpec[];
}

/** One message of the stream, as decoded by the transport. */
export type HostMessage =
  | { kind: 'hello'; hello: HostHello }
  /** `answer` is undefined when the result sets no outcome. */
  | { kind: 'tool_result'; callId: string; answer: HostAnswer | undefined }
  | { kind: 'other' };

/** What the protocol asks of the stream it runs on. */
export interface HostStream {
  /** Sends a tool call, or the cancel of one, to the host. */
  call(c: OutgoingCall): void;
  cancel(callId: string, reason: string): void;
  /** The hello was admitted: the host is serving as `hostId`. */
  ready(admitted: { hostId: string; subject: string; tools: string[]; scope: HostScope; sessionId: string }): void;
  /** Ends the stream with `err`. `refusedHello` names the session a refused hello addressed ('' for none). */
  fail(err: unknown, refusedHello: { sessionId: string } | undefined): void;
  /** A result for a call the host does not hold (unknown, or already finished): ignored. */
  ignored(callId: string): void;
  /** The client went away while serving. */
  disconnected(hostId: string): void;
}

export class ToolHostSession {
  private handle: ReturnType<RemoteToolHosts['connect']> | undefined;
  private closed = false;
  /** True once the hello was admitted or refused: a later failure is not the connect attempt. */
  private helloSettled = false;
  /** The session a hello addressed, for the record of a refused hello. */
  private helloSession = '';
  private chain = Promise.resolve();
  /** Set by retire(..., 'idle'): the error the stream ends with once no call is in flight. */
  private retiring: unknown;

  constructor(
    private readonly ctx: RequestContext,
    private readonly gate: ToolHostGate,
    private readonly hosts: RemoteToolHosts,
    private readonly stream: HostStream,
  ) {}

  /** Takes the next message; `decode` runs in turn, so a message that fails to decode is the stream's fault in order. */
  receive(decode: () => HostMessage): void {
    this.chain = this.chain
      .then(() => (this.closed ? undefined : this.take(decode())))
      .catch((err: unknown) => {
        if (!this.closed) this.fail(err);
        this.closed = true;
      });
  }

  /** Settles once every message received so far has been handled. */
  get settled(): Promise<void> {
    return this.chain;
  }

  /** The client is gone (ended, cancelled or broken): the host leaves and its calls fail. */
  end(): void {
    this.closed = true;
    if (this.handle) this.stream.disconnected(this.handle.hostId);
    this.handle?.disconnect();
    this.handle = undefined;
  }

  /**
   * Asks the host to reconnect by ending the stream with `err` (an UNAVAILABLE reason): 'now', or
   * 'idle' once none of its calls is in flight, so recycling a stream loses no call (calls that
   * arrive meanwhile are served too). A host that is never idle stays until its connection is cut.
   */
  retire(err: unknown, when: 'now' | 'idle'): void {
    if (this.closed) return;
    this.retiring = err;
    if (when === 'now' || !this.handle?.busy()) this.retireNow();
  }

  private retireNow(): void {
    this.closed = true;
    this.fail(this.retiring);
  }

  private async take(m: HostMessage): Promise<void> {
    if (!this.handle) {
      if (m.kind !== 'hello') throw invalid('HELLO_REQUIRED', 'the first ServeTools message must be hello (tool definitions and scope)');
      return this.hello(m.hello);
    }
    if (m.kind !== 'tool_result') throw invalid('TOOL_RESULT_EXPECTED', 'after hello, send only tool_result messages');
    const answer = m.answer;
    if (!answer) throw invalid('TOOL_RESULT_EMPTY', `tool_result for call "${m.callId}" must set success, failure, cancelled or pending`);
    if (answer.kind === 'pending') requireId('tool_result.pending.completion_key', answer.completionKey);
    if (answer.kind === 'success' || answer.kind === 'failure')
      requireToolResultWithin('tool_result', answer.kind === 'success' ? answer.value : null, answer.kind === 'failure' ? answer.message : '');
    if (!this.handle.answer(m.callId, answer)) this.stream.ignored(m.callId);
    if (this.retiring !== undefined && !this.handle.busy()) this.retireNow();
  }

  private async hello(h: HostHello): Promise<void> {
    if (h.scope?.kind === 'session') this.helloSession = h.scope.sessionId;
    if (h.scope?.kind === 'session') requireId('hello.scope.session_id', h.scope.sessionId);
    if (!h.scope) throw invalid('SCOPE_REQUIRED', 'hello.scope must name a session_id or set tenant_wide');
    const scope = h.scope;
    const specs = h.tools();
    const subject = await this.gate.admit(this.ctx, scope, specs);
    if (this.closed) return;
    this.handle = this.hosts.connect(this.ctx.tenantId, subject, scope, specs, {
      call: (c) => this.stream.call(c),
      cancel: (callId, reason) => this.stream.cancel(callId, reason),
    });
    this.helloSettled = true;
    this.stream.ready({ hostId: this.handle.hostId, subject, tools: specs.map((s) => s.name), scope, sessionId: this.helloSession });
  }

  private fail(err: unknown): void {
    this.handle?.disconnect();
    this.handle = undefined;
    // A refused hello is the connect attempt the audit trail records.
    const refusedHello = this.helloSettled ? undefined : { sessionId: this.helloSession };
    this.helloSettled = true;
    this.stream.fail(err, refusedHello);
  }
}
