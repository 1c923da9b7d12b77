// Provider settings from the environment (gateways, headers, timeout) and what they do to a call:
// bad values fail at start-up naming the variable; a call that outlives the timeout is aborted
// (the HTTP request ends) and reported as a retryable failure.

import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { ProviderError } from '../../src/domain/turns/model.js';
import { buildProviders } from '../../src/providers/registry.js';
import { startFakeAnthropic } from '../support/fake-anthropic.js';

describe('provider configuration', () => {
  it('parses base URLs, extra headers and the timeout, and names the variable of a bad value', () => {
    const c = loadConfig({
      ANTHROPIC_API_KEY: 'k',
      ANTHROPIC_BASE_URL: 'https://gw.example/anthropic',
      LASH_ANTHROPIC_HEADERS: '{"x-gateway":"g"}',
      LASH_PROVIDER_TIMEOUT_MS: '5000',
    });
    expect(c.providers).toMatchObject({ anthropicBaseUrl: 'https://gw.example/anthropic', headers: { anthropic: { 'x-gateway': 'g' } }, timeoutMs: 5000 });
    expect(() => loadConfig({ LASH_GOOGLE_HEADERS: '["a"]' })).toThrow(
      new ConfigError('LASH_GOOGLE_HEADERS must be a JSON object of header names to string values without line breaks, e.g. {"api-key":"..."}'),
    );
    expect(() => loadConfig({ LASH_OPENAI_HEADERS: '{"bad name":"v"}' })).toThrow(/LASH_OPENAI_HEADERS/);
    expect(() => loadConfig({ GOOGLE_GENERATIVE_AI_BASE_URL: 'ftp://x' })).toThrow(/GOOGLE_GENERATIVE_AI_BASE_URL must be an http\(s\) URL/);
    expect(() => loadConfig({ LASH_PROVIDER_TIMEOUT_MS: '10' })).toThrow(/LASH_PROVIDER_TIMEOUT_MS must be an integer from 1000/);
  });

  it('aborts a call that outlives LASH_PROVIDER_TIMEOUT_MS as a retryable failure', async () => {
    const fake = await startFakeAnthropic('k-1');
    try {
      const config = loadConfig({ ANTHROPIC_API_KEY: 'k-1', ANTHROPIC_BASE_URL: fake.url, LASH_PROVIDER_TIMEOUT_MS: '1000' });
      const provider = buildProviders(config.providers).get('anthropic')!;
      fake.script({ hang: ['partial'] });
      const parts: unknown[] = [];
      const err = await (async () => {
        for await (const part of provider.stream({
          model: { id: 'claude-sonnet-4-5', contextWindowTokens: 200_000 },
          system: 's',
          messages: [{ role: 'user', parts: [{ type: 'text', text: 'hi' }] }],
          tools: [],
          signal: new AbortController().signal,
        }))
          parts.push(part);
      })().catch((e: unknown) => e);
      // The partial delta arrives unless the machine is slower than the timeout; either way the call ends.
      expect(parts.filter((p) => JSON.stringify(p) !== JSON.stringify({ type: 'text_delta', text: 'partial' }))).toEqual([]);
      expect(err).toBeInstanceOf(ProviderError);
      expect(err).toMatchObject({ retryable: true, message: 'anthropic call timed out after 1000 ms' });
      await expect.poll(() => fake.aborted, { timeout: 10_000 }).toBe(1);
      expect(fake.violations).toEqual([]);
    } finally {
      await fake.close();
    }
  });
});
