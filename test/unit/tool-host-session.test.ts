// The ServeTools protocol as a domain state machine, driven without a server: hello first, then
// tool results only; the first fault ends the stream, and only a refused hello counts as the
// connect attempt; messages after the end are not taken. A host asked to reconnect (drain, stream
// recycling) is told at once or, when recycled, once no call of it is in flight.

import { describe, expect, it } from 'vitest';
import { DomainError } from '../../src/domain/errors.js';
import type { RequestContext } from '../../src/domain/ports.js';
import { ToolHostRules } from '../../src/domain/tools/bindings.js';
import { ToolHostGate } from '../../src/domain/tools/host-gate.js';
import { ToolHostSession, type HostMessage, type HostStream } from '../../src/domain/tools/host-session.js';
import { RemoteToolHosts, type RemoteToolSpec } from '../../src/domain/tools/remote-hosts.js';
import type { ToolContext } from '../../src/domain/tools/types.js';

/** Calls the tool `name` of tenant t1 as a turn would, with call id `callId`. */
function callTool(hosts: RemoteToolHosts, name: string, callId: string) {
  const tool = hosts.toolsFor('t1', 's1').find((t) => t.name === name)!;
  const toolCtx = { tenantId: 't1', sessionId: 's1', turnId: 'turn1', callId, signal: new AbortController().signal } as ToolContext;
  return tool.execute({}, toolCtx);
}

const ctx: RequestContext = { tenantId: 't1' };
const spec = (name: string): RemoteToolSpec => ({ name, description: '', inputSchema: {}, scheduling: 'parallel' });

function harness() {
  const events: string[] = [];
  const failures: { reason: string; refusedHello?: { sessionId: string } }[] = [];
  const stream: HostStream = {
    call: (c) => events.push(`call ${c.callId}`),
    cancel: (callId) => events.push(`cancel ${callId}`),
    ready: (a) => events.push(`ready ${a.tools.join(',')} for ${a.sessionId || 'tenant'}`),
    fail: (err, refusedHello) => failures.push({ reason: err instanceof DomainError ? err.reason : String(err), refusedHello }),
    ignored: (callId) => events.push(`ignored ${callId}`),
    disconnected: () => events.push('disconnected'),
  };
  const hosts = new RemoteToolHosts();
  const gate = new ToolHostGate(new ToolHostRules(new Set(['run_child']), [{ tenantId: 't1', tool: 'lookup' }]), {
    get: async () => {
      throw new DomainError('SESSION_NOT_FOUND', 'no such session');
    },
  });
  const session = new ToolHostSession(ctx, gate, hosts, stream);
  const settle = () => session.settled;
  return { session, events, failures, hosts, settle, send: (m: HostMessage) => session.receive(() => m) };
}

describe('ToolHostSession', () => {
  it('refuses a first message that is not hello, as the connect attempt, and takes nothing after', async () => {
    const h = harness();
    h.send({ kind: 'tool_result', callId: 'c1', answer: { kind: 'cancelled' } });
    h.send({ kind: 'hello', hello: { scope: { kind: 'tenant' }, tools: () => [spec('lookup')] } });
    await h.settle();
    expect(h.failures).toEqual([{ reason: 'HELLO_REQUIRED', refusedHello: { sessionId: '' } }]);
    expect(h.events).toEqual([]);
  });

  it('checks the scope before decoding the tools, and names the addressed session of a refused hello', async () => {
    const h = harness();
    h.send({
      kind: 'hello',
      hello: {
        scope: undefined,
        tools: () => {
          throw new Error('tools decoded before the scope was checked');
        },
      },
    });
    await h.settle();
    expect(h.failures).toEqual([{ reason: 'SCOPE_REQUIRED', refusedHello: { sessionId: '' } }]);
    const g = harness();
    g.send({ kind: 'hello', hello: { scope: { kind: 'session', sessionId: 's9' }, tools: () => [spec('lookup')] } });
    await g.settle();
    expect(g.failures).toEqual([{ reason: 'SESSION_NOT_FOUND', refusedHello: { sessionId: 's9' } }]);
  });

  it('serves after an admitted hello: results are taken, unknown calls ignored, other messages end the stream (not as a connect attempt)', async () => {
    const h = harness();
    h.send({ kind: 'hello', hello: { scope: { kind: 'tenant' }, tools: () => [spec('lookup')] } });
    h.send({ kind: 'tool_result', callId: 'nobody', answer: { kind: 'success', value: 1 } });
    h.send({ kind: 'tool_result', callId: 'c2', answer: undefined });
    h.send({ kind: 'tool_result', callId: 'c3', answer: { kind: 'cancelled' } });
    await h.settle();
    expect(h.events).toEqual(['ready lookup for tenant', 'ignored nobody']);
    expect(h.failures).toEqual([{ reason: 'TOOL_RESULT_EMPTY', refusedHello: undefined }]);
    expect(h.hosts.toolsFor('t1', 's1').map((t) => t.name)).toEqual([]);
  });

  it('a client that goes away while serving takes the host out of the catalog', async () => {
    const h = harness();
    h.send({ kind: 'hello', hello: { scope: { kind: 'tenant' }, tools: () => [spec('lookup')] } });
    await h.settle();
    expect(h.hosts.toolsFor('t1', 's1').map((t) => t.name)).toEqual(['lookup']);
    h.session.end();
    h.send({ kind: 'other' });
    await h.settle();
    expect(h.events).toEqual(['ready lookup for tenant', 'disconnected']);
    expect(h.failures).toEqual([]);
    expect(h.hosts.toolsFor('t1', 's1')).toEqual([]);
  });

  it('recycled while a call is in flight: the call is answered first, then the stream ends asking the host to reconnect', async () => {
    const h = harness();
    h.send({ kind: 'hello', hello: { scope: { kind: 'tenant' }, tools: () => [spec('lookup')] } });
    await h.settle();
    const first = callTool(h.hosts, 'lookup', 'c1');
    h.session.retire(new DomainError('STREAM_RECYCLED', 'recycled'), 'idle');
    // Still serving: a call that arrives meanwhile goes to this host too.
    const second = callTool(h.hosts, 'lookup', 'c2');
    h.send({ kind: 'tool_result', callId: 'c1', answer: { kind: 'success', value: 1 } });
    await h.settle();
    expect(h.failures).toEqual([]);
    h.send({ kind: 'tool_result', callId: 'c2', answer: { kind: 'success', value: 2 } });
    await h.settle();
    expect(await first).toEqual({ kind: 'ok', output: 1 });
    expect(await second).toEqual({ kind: 'ok', output: 2 });
    expect(h.failures).toEqual([{ reason: 'STREAM_RECYCLED', refusedHello: undefined }]);
    expect(h.hosts.toolsFor('t1', 's1')).toEqual([]);
  });

  it('recycled while idle, or drained: the stream ends at once; a drain fails the calls still in flight', async () => {
    const idle = harness();
    idle.send({ kind: 'hello', hello: { scope: { kind: 'tenant' }, tools: () => [spec('lookup')] } });
    await idle.settle();
    idle.session.retire(new DomainError('STREAM_RECYCLED', 'recycled'), 'idle');
    expect(idle.failures).toEqual([{ reason: 'STREAM_RECYCLED', refusedHello: undefined }]);
    const drained = harness();
    drained.send({ kind: 'hello', hello: { scope: { kind: 'tenant' }, tools: () => [spec('lookup')] } });
    await drained.settle();
    const inFlight = callTool(drained.hosts, 'lookup', 'c1');
    drained.session.retire(new DomainError('SERVER_DRAINING', 'draining'), 'now');
    expect(await inFlight).toMatchObject({ kind: 'error' });
    expect(drained.failures).toEqual([{ reason: 'SERVER_DRAINING', refusedHello: undefined }]);
    // Nothing more happens on an ended stream.
    drained.session.retire(new DomainError('SERVER_DRAINING', 'again'), 'now');
    expect(drained.failures).toHaveLength(1);
  });
});
