// When a provider says to retry a failed call: the `retry-after-ms` or `retry-after` header
// (Anthropic, OpenAI and most gateways; seconds or an HTTP date), else the google.rpc.RetryInfo
// detail of a Google error body (`"retryDelay": "37s"`), which Gemini and Vertex send instead of
// a header. The loop caps whatever this returns.

/** Milliseconds the provider asked us to wait, or undefined when it did not say. */
export function providerRetryAfterMs(headers: Record<string, string> | undefined, body: string | undefined): number | undefined {
  return fromHeaders(headers) ?? fromRetryInfo(body);
}

function fromHeaders(headers: Record<string, string> | undefined): number | undefined {
  if (!headers) return undefined;
  const ms = Number(headers['retry-after-ms']);
  if (headers['retry-after-ms'] && Number.isFinite(ms) && ms >= 0) return ms;
  const raw = headers['retry-after'];
  if (!raw) return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(raw);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** A protobuf Duration in JSON is decimal seconds with an `s` suffix. */
const DURATION = /^(\d{1,9})(?:\.(\d{1,9}))?s$/;

function fromRetryInfo(body: string | undefined): number | undefined {
  // Error bodies are small; a huge one is not worth parsing for a hint.
  if (!body || body.length > 65_536 || !body.includes('RetryInfo')) return undefined;
  let details: unknown;
  try {
    details = (JSON.parse(body) as { error?: { details?: unknown } }).error?.details;
  } catch {
    return undefined;
  }
  if (!Array.isArray(details)) return undefined;
  for (const d of details) {
    if (typeof d !== 'object' || d === null) continue;
    const { '@type': type, retryDelay } = d as Record<string, unknown>;
    if (typeof type !== 'string' || !type.endsWith('google.rpc.RetryInfo') || typeof retryDelay !== 'string') continue;
    const m = DURATION.exec(retryDelay);
    if (m) return Number(m[1]) * 1000 + Math.round(Number(`0.${m[2] ?? '0'}`) * 1000);
  }
  return undefined;
}
