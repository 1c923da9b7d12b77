// Behind a real L7 proxy: nginx (grpc_pass) in front of two replicas on one PostgreSQL. Unary
// calls, a streamed turn, ObserveSession, ServeTools and client cancellation pass through; when a
// replica drains (SIGTERM) or a connection reaches its maximum age, observer and tool host streams
// end with UNAVAILABLE (retryable, never a cut that nginx reports as INTERNAL): observers resume
// from their cursor without a gap, tool hosts reconnect, and a tool call in flight is answered
// before its stream is recycled.

import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { StopReason } from '../../gen/lash/v1/turn.js';
import { TurnStatus } from '../../gen/lash/v1/turn_service.js';
import type { FeedMessage } from '../../gen/lash/v1/feed.js';
import { connect, type LashClients } from '../../src/client/promised.js';
import { errorInfoOf } from '../../src/grpc/errors.js';
import { engines } from '../support/engines.js';
import { startFakeModelServer, type FakeModelServer } from '../support/fake-model-server.js';
import { killAllChildServers, startChildServer, type ChildServer } from '../support/child-server.js';
import { NGINX, startNginx, type Nginx } from '../support/nginx.js';
import { observe, payloadCase, sequenceProblems, type Observed } from '../support/observe.js';
import { connectToolHost, type HostReply, type TestToolHost } from '../support/tool-host.js';
import type { ToolCallRequest } from '../../gen/lash/v1/turn_service.js';
import { ProcessKind, type ProcessEvent } from '../../gen/lash/v1/process.js';
import { runTurn, startRunTurn, textInput, until } from '../support/turns.js';

const pg = engines.find((e) => e.name === 'postgresql')!;

/** Observes through `clients`; when the stream ends with UNAVAILABLE, resumes from the last cursor. */
function resumingObserver(connectTo: () => LashClients, sessionId: string) {
  const all: FeedMessage[] = [];
  const endings: { code: number; reason?: string }[] = [];
  let current: Observed | undefined;
  let stopped = false;
  const attach = (cursor?: string) => {
    const o = observe(connectTo(), sessionId, cursor);
    current = o;
    o.call.on('data', () => {
      all.push(...o.messages.splice(0));
    });
    // Every stream ends with exactly one status (OK included); errors also emit 'error'.
    o.call.on('error', () => {});
    o.call.on('status', (st: { code: number; metadata: import('@grpc/grpc-js').Metadata }) => {
      endings.push({ code: st.code, reason: errorInfoOf(st)?.reason });
      if (!stopped && st.code === status.UNAVAILABLE) setTimeout(() => attach(all.at(-1)?.cursor), 100);
    });
  };
  attach();
  return { all, endings, close: () => ((stopped = true), current?.close()) };
}

/** A tool host serving `lookup` that reconnects (through `connectTo`) whenever its stream ends with UNAVAILABLE, as the Python ToolHost does. */
function reconnectingToolHost(connectTo: () => LashClients, sessionId: string, reply: (call: ToolCallRequest) => HostReply | Promise<HostReply>) {
  const endings: { code: number; reason?: string }[] = [];
  const hosts: TestToolHost[] = [];
  let stopped = false;
  const attach = (): void => {
    if (stopped) return;
    connectToolHost(connectTo(), { sessionId, tools: [{ name: 'lookup' }], reply }).then(
      (h) => {
        hosts.push(h);
        h.stream.on('status', (st: { code: number; metadata: import('@grpc/grpc-js').Metadata }) => {
          endings.push({ code: st.code, reason: errorInfoOf(st)?.reason });
          if (st.code === status.UNAVAILABLE) setTimeout(attach, 100);
        });
      },
      // Not admitted (the replica was gone or refused the hello while draining): try again.
      () => setTimeout(attach, 200),
    );
  };
  attach();
  return { endings, hosts, close: () => ((stopped = true), hosts.at(-1)?.close()) };
}

/** Follows a process's events; when the stream ends with UNAVAILABLE, watches again after the last seq. */
function resumingWatch(connectTo: () => LashClients, processId: string) {
  const events: ProcessEvent[] = [];
  const endings: { code: number; reason?: string }[] = [];
  const attach = () => {
    const call = connectTo().admin.raw.watchProcessEvents({ processId, afterSeq: events.at(-1)?.seq ?? 0n });
    call.on('data', (r: { events: ProcessEvent[] }) => events.push(...r.events));
    call.on('error', () => {});
    call.on('status', (st: { code: number; metadata: import('@grpc/grpc-js').Metadata }) => {
      endings.push({ code: st.code, reason: errorInfoOf(st)?.reason });
      if (st.code === status.UNAVAILABLE) setTimeout(attach, 100);
    });
  };
  attach();
  return { events, endings };
}

/** An external process (it waits for the signal "result"), started through `clients`. */
async function externalProcess(clients: LashClients): Promise<string> {
  const { process } = await clients.admin.startProcess({
    kind: ProcessKind.PROCESS_KIND_EXTERNAL,
    input: undefined,
    scopeFrameId: '',
    scopeSessionId: '',
    wakeSessionId: '',
    idempotencyKey: '',
    maxRunMs: 0n,
  });
  return process!.processId;
}

describe.skipIf(!pg.enabled || !NGINX)('behind nginx (grpc_pass), two replicas on PostgreSQL', () => {
  let fake: FakeModelServer;
  let target: Awaited<ReturnType<typeof pg.provision>>;
  let a: ChildServer;
  let b: ChildServer;
  let proxy: Nginx;
  let viaProxy: LashClients;
  let viaA: LashClients;
  let viaB: LashClients;
  const extra: LashClients[] = [];
  const fresh = (address: string) => {
    const c = connect(address);
    extra.push(c);
    return c;
  };
  beforeAll(async () => {
    fake = await startFakeModelServer();
    target = await pg.provision();
    const env = {
      OPENAI_BASE_URL: fake.url,
      LASH_DEFAULT_PROVIDER: 'openai-compatible',
      LASH_DEFAULT_MODEL: 'fake-model',
      DATABASE_URL: target.databaseUrl!,
      LASH_FEED_HEARTBEAT_MS: '500',
      LASH_SHUTDOWN_GRACE_MS: '4000',
      LASH_SHUTDOWN_NOTICE_MS: '0',
    };
    a = await startChildServer(env);
    // Replica B recycles its connections quickly (every 6 s, 10 s grace: streams end themselves
    // after 8 s), so observers and tool hosts there meet the maximum age.
    b = await startChildServer({ ...env, LASH_GRPC_MAX_CONNECTION_AGE_MS: '6000', LASH_GRPC_MAX_CONNECTION_AGE_GRACE_MS: '10000' });
    proxy = await startNginx([a.address, b.address]);
    viaProxy = connect(proxy.balanced);
    viaA = connect(proxy.pinned[0]!);
    viaB = connect(proxy.pinned[1]!);
  }, 600_000);
  afterAll(async () => {
    for (const c of [viaProxy, viaA, viaB, ...extra]) c?.close();
    await proxy?.stop();
    killAllChildServers();
    await fake?.close();
    await target?.cleanup();
  });
  beforeEach(() => fake.reset());

  it('unary calls, a streamed turn and ObserveSession pass through, on both replicas', async () => {
    const opened = await viaProxy.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'px-basic', metadata: { via: 'nginx' } }));
    expect(opened.created).toBe(true);
    // Round-robin: consecutive calls reach both replicas; both read the same database.
    for (let i = 0; i < 4; i++) expect((await viaProxy.sessions.getSession({ sessionId: 'px-basic' })).session?.metadata).toEqual({ via: 'nginx' });
    // The observer on replica A (B recycles its streams every few seconds, see below).
    const o = observe(viaA, 'px-basic');
    await o.waitFor((m) => m.length >= 1, 30_000);
    fake.script({ steps: [{ text: 'through ' }, { delayMs: 20 }, { text: 'the proxy' }] });
    const t = await runTurn(viaProxy, { sessionId: 'px-basic', turnId: 'p1', input: textInput('hi') });
    expect(t.error).toBeUndefined();
    expect(t.result?.outcome?.$case).toBe('finished');
    expect(t.events.length).toBeGreaterThan(2);
    await o.waitFor((m) => m.some((x) => payloadCase(x) === 'committed'), 30_000);
    expect(sequenceProblems(o.messages)).toEqual([]);
    o.close();
  }, 120_000);

  it('ServeTools passes through: a tool host connected via the proxy serves a turn on its replica', async () => {
    await viaA.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'px-tools', spec: { remoteTools: { bindings: [{ name: 'lookup' }] } } }));
    const host = await connectToolHost(viaA, { sessionId: 'px-tools', tools: [{ name: 'lookup' }], reply: (c) => ({ success: { found: c.args } }) });
    fake.script({ steps: [{ toolCall: { name: 'lookup', args: { q: 'proxy' } } }] }, { steps: [{ text: 'found it' }] });
    const t = await runTurn(viaA, { sessionId: 'px-tools', input: textInput('look it up') });
    expect(t.result?.toolCalls[0]).toMatchObject({ tool: 'lookup', output: { found: { q: 'proxy' } }, isError: false });
    expect(host.calls).toHaveLength(1);
    host.close();
  }, 120_000);

  it('client cancellation passes through: a RunTurn the client cancels commits as cancelled', async () => {
    await viaProxy.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'px-cancel' }));
    fake.script({ steps: [{ text: 'starting' }, { hang: true }] });
    const running = startRunTurn(viaProxy, { sessionId: 'px-cancel', turnId: 'c1', input: textInput('hang') });
    running.call.on('error', () => {});
    await running.firstEvent;
    running.call.cancel();
    await until(async () => (await viaProxy.turns.getTurn({ sessionId: 'px-cancel', turnId: 'c1' })).status === TurnStatus.TURN_STATUS_COMMITTED, 60_000);
    const got = await viaProxy.turns.getTurn({ sessionId: 'px-cancel', turnId: 'c1' });
    expect(got.result?.outcome).toMatchObject({ $case: 'stopped', value: { reason: StopReason.STOP_REASON_CANCELLED } });
  }, 120_000);

  it('a connection at its maximum age: the observer ends with UNAVAILABLE before the cut and resumes from its cursor without a gap', async () => {
    await viaProxy.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'px-age' }));
    const r = resumingObserver(() => fresh(proxy.pinned[1]!), 'px-age');
    await until(() => r.all.length >= 1, 30_000);
    // Turns keep committing (on A) while replica B recycles the observer twice.
    let n = 0;
    while (r.endings.length < 2) {
      const t = await runTurn(viaA, { sessionId: 'px-age', input: textInput(`turn ${n++}`) });
      expect(t.result?.outcome?.$case).toBe('finished');
    }
    expect(r.endings.slice(0, 2)).toEqual([
      { code: status.UNAVAILABLE, reason: 'STREAM_RECYCLED' },
      { code: status.UNAVAILABLE, reason: 'STREAM_RECYCLED' },
    ]);
    await until(() => r.all.filter((m) => payloadCase(m) === 'committed').length >= n, 60_000);
    r.close();
    expect(sequenceProblems(r.all)).toEqual([]);
    // Nothing was cut by the proxy: no stream of B ended otherwise.
    expect(r.endings.filter((e) => e.code !== status.UNAVAILABLE && e.code !== status.CANCELLED)).toEqual([]);
  }, 180_000);

  it('a tool host at its maximum age: a call in flight is answered first, then the stream ends with UNAVAILABLE STREAM_RECYCLED and the host reconnects', async () => {
    await viaB.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'px-tools-age', spec: { remoteTools: { bindings: [{ name: 'lookup' }] } } }));
    // The first call is held past the moment its stream is due to be recycled (8 s after it
    // started) and well before the grace could cut the connection (16 s).
    let heldStarted: number | undefined;
    let connectedAt = 0;
    const host = reconnectingToolHost(
      () => fresh(proxy.pinned[1]!),
      'px-tools-age',
      async (c) => {
        if (c.args?.hold) {
          heldStarted = Date.now();
          await new Promise((r) => setTimeout(r, 9_000 - (Date.now() - connectedAt)));
        }
        return { success: { found: c.args } };
      },
    );
    await until(() => host.hosts.length >= 1, 30_000);
    connectedAt = Date.now();
    fake.script({ steps: [{ toolCall: { name: 'lookup', args: { hold: true } } }] }, { steps: [{ text: 'held' }] });
    const held = await runTurn(viaB, { sessionId: 'px-tools-age', input: textInput('hold it') });
    expect(heldStarted).toBeDefined();
    expect(held.result?.toolCalls[0]).toMatchObject({ tool: 'lookup', output: { found: { hold: true } }, isError: false });
    await until(() => host.hosts.length >= 2, 60_000);
    expect(host.endings[0]).toEqual({ code: status.UNAVAILABLE, reason: 'STREAM_RECYCLED' });
    // The reconnected host serves the next turn.
    fake.script({ steps: [{ toolCall: { name: 'lookup', args: { q: 'again' } } }] }, { steps: [{ text: 'again' }] });
    const again = await runTurn(viaB, { sessionId: 'px-tools-age', input: textInput('again') });
    expect(again.result?.toolCalls[0]).toMatchObject({ tool: 'lookup', output: { found: { q: 'again' } }, isError: false });
    host.close();
    // No stream of the host was cut by the proxy or ended otherwise.
    expect(host.endings.filter((e) => !(e.code === status.UNAVAILABLE && e.reason === 'STREAM_RECYCLED') && e.code !== status.CANCELLED)).toEqual([]);
  }, 180_000);

  it('a process watch at its maximum age ends with UNAVAILABLE STREAM_RECYCLED and resumes after its last event without a gap', async () => {
    const id = await externalProcess(viaB);
    const w = resumingWatch(() => fresh(proxy.pinned[1]!), id);
    await until(() => w.events.length >= 1 && w.endings.length >= 1, 60_000);
    expect(w.endings[0]).toEqual({ code: status.UNAVAILABLE, reason: 'STREAM_RECYCLED' });
    await viaB.admin.signalProcess({ processId: id, name: 'result', payload: { ok: true }, idempotencyKey: 'age' });
    await until(() => w.endings.at(-1)?.code === status.OK, 60_000);
    expect(w.events.map((e) => [e.seq, e.kind])).toEqual([
      [1n, 'created'],
      [2n, 'signal'],
      [3n, 'completed'],
    ]);
    expect(w.endings.filter((e) => !(e.code === status.UNAVAILABLE && e.reason === 'STREAM_RECYCLED') && e.code !== status.OK)).toEqual([]);
  }, 180_000);

  it('a replica draining (SIGTERM): its observer ends with UNAVAILABLE SERVER_DRAINING and resumes on the other replica without a gap; its tool host reconnects there, its process watch resumes there; a running turn returns its cancelled result', async () => {
    await viaProxy.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'px-drain', spec: { remoteTools: { bindings: [{ name: 'lookup' }] } } }));
    // Pinned to A for the first attach; the resumes go through the balanced listener.
    let attached = 0;
    const r = resumingObserver(() => fresh(attached++ === 0 ? proxy.pinned[0]! : proxy.balanced), 'px-drain');
    const seen = () => `endings ${JSON.stringify(r.endings)}, ${r.all.length} messages: ${r.all.map(payloadCase).join(' ')}`;
    await until(() => r.all.length >= 1, 30_000).catch((err: Error) => {
      throw new Error(`${err.message}; ${seen()}`);
    });
    // A tool host of the session on A; its reconnects go through the balanced listener.
    let hostAttached = 0;
    const host = reconnectingToolHost(
      () => fresh(hostAttached++ === 0 ? proxy.pinned[0]! : proxy.balanced),
      'px-drain',
      (c) => ({ success: { found: c.args } }),
    );
    await until(() => host.hosts.length >= 1, 30_000);
    await runTurn(viaB, { sessionId: 'px-drain', input: textInput('before') });
    await until(() => r.all.some((m) => payloadCase(m) === 'committed'), 30_000).catch((err: Error) => {
      throw new Error(`${err.message}; ${seen()}`);
    });
    // A streamed turn on A, through the proxy, still running when A is told to stop.
    await viaProxy.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'px-drain-turn' }));
    fake.script({ steps: [{ text: 'working ' }, { hang: true }] });
    const cut = startRunTurn(viaA, { sessionId: 'px-drain-turn', turnId: 'd1', input: textInput('hang') });
    await cut.firstEvent;
    // A process watch on A; its resumes go through the balanced listener.
    const processId = await externalProcess(viaB);
    let watchAttached = 0;
    const w = resumingWatch(() => fresh(watchAttached++ === 0 ? proxy.pinned[0]! : proxy.balanced), processId);
    await until(() => w.events.length >= 1, 30_000);
    const stopping = a.kill('SIGTERM');
    await until(() => r.endings.length >= 1, 60_000).catch((err: Error) => {
      throw new Error(
        `${err.message}; endings ${JSON.stringify(r.endings)}; replica A said:\n${a.output().slice(-3000)}\nnginx:\n${proxy.errorLog().slice(-3000)}`,
      );
    });
    expect(r.endings[0]).toEqual({ code: status.UNAVAILABLE, reason: 'SERVER_DRAINING' });
    await until(() => w.endings.length >= 1, 60_000);
    expect(w.endings[0]).toEqual({ code: status.UNAVAILABLE, reason: 'SERVER_DRAINING' });
    // While A stops and after, turns commit on B; the resumed observer sees every one.
    for (let i = 0; i < 3; i++)
      expect((await runTurn(viaB, { sessionId: 'px-drain', input: textInput(`during ${i}`) })).result?.outcome?.$case).toBe('finished');
    expect((await stopping).code).toBe(0);
    // The turn's caller got the committed result (cancelled by the drain), not a cut stream.
    const cutTurn = await cut.done;
    expect(cutTurn.error).toBeUndefined();
    expect(cutTurn.result?.outcome).toMatchObject({ $case: 'stopped', value: { reason: StopReason.STOP_REASON_CANCELLED } });
    // The tool host was told to go (not cut when the grace ran out), reconnected, and serves B.
    expect(a.output()).not.toContain('grace period over');
    expect(host.endings[0]).toEqual({ code: status.UNAVAILABLE, reason: 'SERVER_DRAINING' });
    // One open stream, on B (A is gone).
    await until(() => host.hosts.length >= 2 && host.hosts.length === host.endings.length + 1, 60_000);
    fake.script({ steps: [{ toolCall: { name: 'lookup', args: { q: 'after drain' } } }] }, { steps: [{ text: 'found' }] });
    const served = await runTurn(viaB, { sessionId: 'px-drain', input: textInput('look it up') });
    expect(served.result?.toolCalls[0]).toMatchObject({ tool: 'lookup', output: { found: { q: 'after drain' } }, isError: false });
    host.close();
    // The process watch resumed on B and sees the process finish, every event once.
    await viaB.admin.signalProcess({ processId, name: 'result', payload: { ok: true }, idempotencyKey: 'drain' });
    await until(() => w.endings.at(-1)?.code === status.OK, 60_000);
    expect(w.events.map((e) => Number(e.seq))).toEqual([1, 2, 3]);
    await until(() => r.all.filter((m) => payloadCase(m) === 'committed').length >= 5, 60_000).catch((err: Error) => {
      throw new Error(`${err.message}; ${seen()}`);
    });
    r.close();
    expect(sequenceProblems(r.all)).toEqual([]);
    // With A gone, the balanced listener still serves every call from B.
    for (let i = 0; i < 3; i++) expect((await viaProxy.sessions.getSession({ sessionId: 'px-drain' })).session?.sessionId).toBe('px-drain');
  }, 180_000);
});
