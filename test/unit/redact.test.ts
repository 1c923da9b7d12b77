// Provider error text loses every credential before it reaches clients, logs or the feed.

import { describe, expect, it } from 'vitest';
import { redact } from '../../src/providers/redact.js';

describe('redact', () => {
  it('removes configured secrets verbatim, whatever their shape', () => {
    expect(redact('invalid x: my-odd-secret-value (check it)', ['my-odd-secret-value'])).toBe('invalid x: [redacted] (check it)');
  });

  it('removes bearer and basic tokens but keeps the label', () => {
    expect(redact('sent Authorization: Bearer abcDEF123456.xyz')).toBe('sent Authorization: Bearer [redacted]');
    expect(redact('basic dXNlcjpwYXNzd29yZA==')).toBe('basic [redacted]');
  });

  it('removes credentials in URLs and key-like query parameters', () => {
    expect(redact('POST https://user:hunter22@gateway.example/v1 failed')).toBe('POST https://[redacted]@gateway.example/v1 failed');
    expect(redact('GET https://g.example/v1beta/models/m:stream?alt=sse&key=abc123xyz')).toBe(
      'GET https://g.example/v1beta/models/m:stream?alt=sse&key=[redacted]',
    );
    expect(redact('{"api_key":"zz-998877"}')).toBe('{"api_key":"[redacted]"}');
    expect(redact('header x-api-key: qwerty-12345')).toBe('header x-api-key: [redacted]');
  });

  it('removes well-known key prefixes anywhere in the text', () => {
    expect(redact('Incorrect API key provided: sk-ant-api03-AAAAbbbbCCCC.')).toBe('Incorrect API key provided: [redacted].');
    expect(redact('API key not valid: AIzaSyA-1234567890abcdefghijk')).toBe('API key not valid: [redacted]');
  });

  it('leaves ordinary error text alone', () => {
    const text = 'overloaded: max_tokens: 4096 exceeds the model limit; retry in 2 s (monkey=banana)';
    expect(redact(text)).toBe(text);
  });
});
