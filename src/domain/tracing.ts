// Tracing as the domain sees it: a span per turn, with one child per model call and per tool
// call. Parents are passed explicitly (no ambient context), so nothing here depends on a tracing
// library; the composition root plugs in OpenTelemetry or nothing.

export type SpanAttributes = Record<string, string | number | boolean>;

export interface Span {
  /** Starts a span under this one. */
  child(name: string, attributes?: SpanAttributes): Span;
  set(attributes: SpanAttributes): void;
  /** Marks the span failed, with a message that says why. */
  fail(message: string): void;
  end(): void;
  /** This span as a W3C `traceparent`, to make work started elsewhere its child; none when not traced. */
  traceparent(): string | undefined;
}

export interface Tracer {
  /** Starts a root span (or a child of the caller's trace, when `traceparent` names one). */
  start(name: string, attributes?: SpanAttributes, traceparent?: string): Span;
}

export const noSpan: Span = { child: () => noSpan, set: () => {}, fail: () => {}, end: () => {}, traceparent: () => undefined };
export const noTracer: Tracer = { start: () => noSpan };
