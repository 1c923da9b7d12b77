// Scrubs secrets out of provider error text before it becomes a turn result, a retry_status
// reason, a feed event or a log line. Providers quote what they were sent (an auth error may echo
// the key, a gateway may echo a URL with credentials), so every provider error passes here once,
// where it is turned into our ProviderError. Known keys are removed verbatim; shapes that look
// like credentials are removed by pattern, so a key we were never told about is caught too.

const MASK = '[redacted]';

/** Shapes of credentials, each replaced by the mask (the leading label is kept, so text still reads). */
const PATTERNS: [RegExp, string][] = [
  // Authorization headers and bearer tokens: "Bearer abc…", "authorization: Basic …".
  [/\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi, `$1 ${MASK}`],
  // Credentials in a URL: scheme://user:password@host.
  [/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@:]+:[^\s/@]+@/gi, `$1${MASK}@`],
  // Key-like query parameters and key/value pairs: key=…, api_key=…, x-api-key: …, "access_token":"…".
  [/(\b(?:api[_-]?key|x-goog-api-key|x-api-key|access[_-]?token|secret|password|token|key|sig|signature)"?\s*[=:]\s*"?)[^\s&"',;)]{4,}/gi, `$1${MASK}`],
  // Well-known key prefixes, wherever they appear: OpenAI/Anthropic sk-…, Google AIza…, GitHub-style tokens.
  [/\b(?:sk|pk|rk)-[A-Za-z0-9_-]{8,}/g, MASK],
  [/\bAIza[0-9A-Za-z_-]{20,}/g, MASK],
  [/\b(?:ghp|gho|ghs|xox[abp])_[A-Za-z0-9]{10,}/g, MASK],
];

/** The shortest configured secret we remove verbatim; shorter strings would mask ordinary words. */
const MIN_SECRET_LENGTH = 6;

export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length >= MIN_SECRET_LENGTH) out = out.split(secret).join(MASK);
  }
  for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement);
  return out;
}
