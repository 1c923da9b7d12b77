// The ServeTools protocol as a domain state machine, driven without a server: hello first, then
// tool results only; the first fault ends the stream, and only a refused hello counts as the
// connect attempt; messages after the end are not taken.

import { describe, expect, it } from 'vitest';
import { DomainError } from '../../src/domain/errors.js';
import type { RequestContext } from '../../src/domain/ports.js';
import { ToolHostRules } from '../../src/domain/tools/bindings.js';
import { ToolHostGate } from '../../src/domain/tools/host-gate.js';
import { ToolHostSession, type HostMessage, type HostStream } from '../../src/domain/tools/host-session.js';
import { RemoteToolHosts, type RemoteToolSpec } from '../../src/domain/tools/remote-hosts.js';

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
});
