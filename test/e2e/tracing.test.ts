// OpenTelemetry over real OTLP/HTTP: a turn exports one `lash.turn` span with a child per model
// call and per tool call, joins the caller's trace when it sends `traceparent`, and marks a
// stopped turn and a failing tool as errors. The collector is a small HTTP server here.

import { Metadata } from '@grpc/grpc-js';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { RunTurnRequest } from '../../gen/lash/v1/turn_service.js';
import { loadConfig } from '../../src/config.js';
import { engines } from '../support/engines.js';
import { fakeModelSuite } from '../support/fake-model-suite.js';
import { startRunTurn, textInput, until } from '../support/turns.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: { key: string; value: Record<string, unknown> }[];
  status?: { code?: number; message?: string };
}
const attr = (s: OtlpSpan, key: string) => {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v === undefined ? undefined : Object.values(v)[0];
};

/** An OTLP/HTTP JSON collector: keeps every span it is sent, and the service name. */
async function startCollector(): Promise<{ url: string; spans: OtlpSpan[]; services: string[]; close(): Promise<void> }> {
  const spans: OtlpSpan[] = [];
  const services: string[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const doc = JSON.parse(body) as {
        resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: OtlpSpan[] }[] }[];
      };
      for (const rs of doc.resourceSpans) {
        services.push(rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '');
        for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, spans, services, close: () => new Promise((r) => server.close(() => r())) };
}

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`tracing on ${engine.name}`, () => {
    let collector: Awaited<ReturnType<typeof startCollector>>;
    // Registered before the suite, so it runs after the suite's teardown (hooks unwind as a
    // stack): the server stops exporting before the collector closes.
    afterAll(async () => {
      await collector?.close();
    });
    const suite = fakeModelSuite(engine, {
      prefix: 'tracing',
      env: async () => {
        collector = await startCollector();
        return {
          LASH_TOOLS: 'calculate,run_child',
          LASH_QUEUE_WORKERS: '0',
          OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
          OTEL_BSP_SCHEDULE_DELAY: '50',
          OTEL_SERVICE_NAME: 'lash-under-test',
        };
      },
    });

    it("a turn is one span with a child per model call and per tool call, in the caller's trace", async () => {
      await suite.s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'traced' }));
      suite.fake.script(
        { steps: [{ toolCall: { name: 'calculate', args: { op: 'add', a: 2, b: 3 } } }], usage: { input: 10, output: 2 } },
        { steps: [{ text: 'five' }], usage: { input: 12, output: 1 } },
      );
      const callerTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
      const metadata = new Metadata();
      metadata.set('traceparent', `00-${callerTrace}-00f067aa0ba902b7-01`);
      const call = suite.s.clients.turns.raw.runTurn(
        RunTurnRequest.fromPartial({ sessionId: 'traced', turnId: 'traced-1', input: textInput('add 2 and 3') }),
        metadata,
      );
      await new Promise<void>((resolve, reject) =>
        call
          .on('end', resolve)
          .on('error', reject)
          .on('data', () => {}),
      );
      await until(() => collector.spans.filter((x) => x.traceId === callerTrace).length >= 4);
      const inTrace = collector.spans.filter((x) => x.traceId === callerTrace);
      const turn = inTrace.find((x) => x.name === 'lash.turn')!;
      expect(turn.parentSpanId).toBe('00f067aa0ba902b7');
      expect([attr(turn, 'lash.session_id'), attr(turn, 'lash.turn_id'), attr(turn, 'lash.outcome')]).toEqual(['traced', 'traced-1', 'finished']);
      const models = inTrace.filter((x) => x.name === 'lash.model_call');
      expect(models.map((m) => [m.parentSpanId, attr(m, 'lash.iteration'), attr(m, 'gen_ai.request.model'), attr(m, 'gen_ai.usage.input_tokens')])).toEqual([
        [turn.spanId, 1, 'fake-model', 10],
        [turn.spanId, 2, 'fake-model', 12],
      ]);
      const tool = inTrace.find((x) => x.name === 'lash.tool_call')!;
      expect([tool.parentSpanId, attr(tool, 'lash.tool.name'), attr(tool, 'lash.tool.outcome')]).toEqual([turn.spanId, 'calculate', 'ok']);
      expect(collector.services).toContain('lash-under-test');
    });

    it('a child run by run_child is traced under the tool call that ran it: one tree', async () => {
      await suite.s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'traced-parent' }));
      suite.fake.script(
        { steps: [{ toolCall: { name: 'run_child', args: { child_session_id: 'traced-kid', task: 'say hi' } } }] },
        { steps: [{ text: 'hi' }] },
        { steps: [{ text: 'the child said hi' }] },
      );
      await startRunTurn(suite.s.clients, { sessionId: 'traced-parent', turnId: 'tree', input: textInput('delegate') }).done;
      const turnOf = (sessionId: string) => collector.spans.find((x) => x.name === 'lash.turn' && attr(x, 'lash.session_id') === sessionId);
      await until(() => turnOf('traced-parent') !== undefined && turnOf('traced-kid') !== undefined);
      const parent = turnOf('traced-parent')!;
      const tool = collector.spans.find((x) => x.name === 'lash.tool_call' && x.parentSpanId === parent.spanId)!;
      expect(attr(tool, 'lash.tool.name')).toBe('run_child');
      const child = turnOf('traced-kid')!;
      expect([child.traceId, child.parentSpanId]).toEqual([parent.traceId, tool.spanId]);
    });

    it('a failing tool and a stopped turn are error spans that say why', async () => {
      await suite.s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'traced-err' }));
      suite.fake.script(
        { steps: [{ toolCall: { name: 'calculate', args: { op: 'divide', a: 1, b: 0 } } }] },
        { error: { status: 400, message: 'no more today' } },
      );
      await startRunTurn(suite.s.clients, { sessionId: 'traced-err', turnId: 'err-1', input: textInput('divide') }).done;
      await until(() => collector.spans.some((x) => x.name === 'lash.turn' && attr(x, 'lash.turn_id') === 'err-1'));
      const turn = collector.spans.find((x) => x.name === 'lash.turn' && attr(x, 'lash.turn_id') === 'err-1')!;
      expect(turn.status).toMatchObject({ code: 2 });
      expect(turn.status?.message).toContain('stopped: provider_error');
      const tool = collector.spans.find((x) => x.name === 'lash.tool_call' && x.parentSpanId === turn.spanId)!;
      expect(tool.status).toMatchObject({ code: 2, message: 'division by zero' });
      const failedModel = collector.spans.find((x) => x.name === 'lash.model_call' && x.parentSpanId === turn.spanId && attr(x, 'lash.iteration') === 2)!;
      expect(failedModel.status?.message).toContain('no more today');
    });
  });
}

describe('OTEL_* configuration', () => {
  it('an OTLP endpoint turns tracing on; none or no endpoint leaves it off; a bad URL is named', () => {
    expect(loadConfig({}).tracing).toBeUndefined();
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).tracing).toEqual({
      url: 'http://collector:4318/v1/traces',
      serviceName: 'lash-grpc',
      scheduledDelayMs: 5000,
    });
    expect(loadConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/traces', OTEL_SERVICE_NAME: 'x' }).tracing?.url).toBe('http://c:4318/traces');
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' }).tracing).toBeUndefined();
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(/must be an http\(s\) URL/);
  });
});
