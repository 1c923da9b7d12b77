// Provider settings from the environment: keys, base URLs and extra headers per provider (for
// gateways such as Azure OpenAI, Vertex-style proxies, OpenRouter or LiteLLM) and the request
// timeout of one model call. Parsed once at start-up with config.ts; a bad value fails fast.

export interface ProviderCredentials {
  openaiApiKey?: string;
  openaiBaseUrl?: string;
  anthropicApiKey?: string;
  anthropicBaseUrl?: string;
  googleApiKey?: string;
  googleBaseUrl?: string;
  /** Extra request headers per provider kind (openai also covers openai-compatible). */
  headers: { openai?: Record<string, string>; anthropic?: Record<string, string>; google?: Record<string, string> };
  /** One model call (request and whole stream) is aborted after this long and retried. */
  timeoutMs: number;
  /** The `scripted` load-test model (LASH_SCRIPTED_PROVIDER=1). */
  scripted?: boolean;
}

const DEFAULT_TIMEOUT_MS = 600_000;

export function loadProviderCredentials(env: NodeJS.ProcessEnv, fail: (message: string) => never, scripted: boolean): ProviderCredentials {
  const url = (name: string) => {
    const v = env[name] || undefined;
    if (v && !/^https?:\/\//.test(v)) fail(`${name} must be an http(s) URL (got "${v}")`);
    return v;
  };
  const timeoutRaw = env.LASH_PROVIDER_TIMEOUT_MS;
  const timeoutMs = timeoutRaw === undefined || timeoutRaw === '' ? DEFAULT_TIMEOUT_MS : Number(timeoutRaw);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1_000 || timeoutMs > 3_600_000)
    fail(`LASH_PROVIDER_TIMEOUT_MS must be an integer from 1000 to 3600000 (got "${timeoutRaw}")`);
  return {
    openaiApiKey: env.OPENAI_API_KEY || undefined,
    openaiBaseUrl: url('OPENAI_BASE_URL'),
    anthropicApiKey: env.ANTHROPIC_API_KEY || undefined,
    anthropicBaseUrl: url('ANTHROPIC_BASE_URL'),
    googleApiKey: env.GOOGLE_GENERATIVE_AI_API_KEY || undefined,
    googleBaseUrl: url('GOOGLE_GENERATIVE_AI_BASE_URL'),
    headers: {
      openai: headersVar(env, 'LASH_OPENAI_HEADERS', fail),
      anthropic: headersVar(env, 'LASH_ANTHROPIC_HEADERS', fail),
      google: headersVar(env, 'LASH_GOOGLE_HEADERS', fail),
    },
    timeoutMs,
    scripted,
  };
}

/** Every configured secret (keys and header values), for redaction of provider error text. */
export function providerSecrets(c: ProviderCredentials): string[] {
  const headerValues = Object.values(c.headers).flatMap((h) => Object.values(h ?? {}));
  return [c.openaiApiKey, c.anthropicApiKey, c.googleApiKey, ...headerValues].filter((s): s is string => Boolean(s));
}

/** A JSON object of header name to string value, e.g. {"api-key":"…","HTTP-Referer":"https://…"}. */
function headersVar(env: NodeJS.ProcessEnv, name: string, fail: (message: string) => never): Record<string, string> | undefined {
  const raw = env[name];
  if (!raw) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    fail(`${name} must be a JSON object of header names to string values, e.g. {"api-key":"..."}`);
  }
  if (
    !parsed ||
    typeof parsed !== 'object' ||
    Array.isArray(parsed) ||
    !Object.entries(parsed).every(([k, v]) => /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k) && typeof v === 'string' && !/[\r\n]/.test(v))
  ) {
    fail(`${name} must be a JSON object of header names to string values without line breaks, e.g. {"api-key":"..."}`);
  }
  return parsed as Record<string, string>;
}
