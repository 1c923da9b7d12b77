// OpenTelemetry behind the domain's Tracer port: spans go to an OTLP/HTTP collector through a
// batching processor. Parents are explicit (no global context manager or provider), so several
// servers in one process keep their traces apart; a caller's W3C `traceparent` becomes the
// parent of its turn's span.

import { ROOT_CONTEXT, SpanStatusCode, trace, type Span as OtelSpan, type Tracer as OtelTracer } from '@opentelemetry/api';
import { parseTraceParent } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider, type SpanExporter } from '@opentelemetry/sdk-trace';
import type { Span, SpanAttributes, Tracer } from '../domain/tracing.js';

export interface TracingSetup {
  tracer: Tracer;
  /** Exports what is buffered and stops. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  serviceName: string;
  /** OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:4318/v1/traces. */
  url?: string;
  /** Instead of OTLP (tests). */
  exporter?: SpanExporter;
  /** Longest a finished span waits before it is exported. */
  scheduledDelayMs?: number;
}

export function startTracing(options: TracingOptions): TracingSetup {
  const exporter = options.exporter ?? new OTLPTraceExporter({ url: options.url });
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName }),
    spanProcessors: [new BatchSpanProcessor({ exporter, scheduledDelayMillis: options.scheduledDelayMs ?? 1_000 })],
  });
  return { tracer: adapt(provider.getTracer('lash-grpc')), shutdown: () => provider.shutdown() };
}

function adapt(otel: OtelTracer): Tracer {
  const wrap = (span: OtelSpan): Span => ({
    child: (name, attributes) => wrap(otel.startSpan(name, { attributes }, trace.setSpan(ROOT_CONTEXT, span))),
    set: (attributes: SpanAttributes) => void span.setAttributes(attributes),
    fail: (message) => void span.setStatus({ code: SpanStatusCode.ERROR, message }),
    end: () => span.end(),
    traceparent: () => {
      const c = span.spanContext();
      return `00-${c.traceId}-${c.spanId}-${(c.traceFlags & 1) === 1 ? '01' : '00'}`;
    },
  });
  return {
    start(name, attributes, traceparent) {
      const remote = traceparent ? parseTraceParent(traceparent) : null;
      const parent = remote ? trace.setSpanContext(ROOT_CONTEXT, remote) : ROOT_CONTEXT;
      return wrap(otel.startSpan(name, { attributes }, parent));
    },
  };
}
