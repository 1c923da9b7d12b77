// A provider's retry hint, from whichever place it puts it: headers (ms, seconds, HTTP date) or
// Google's RetryInfo error detail; anything malformed is no hint (our own backoff applies).

import { describe, expect, it } from 'vitest';
import { providerRetryAfterMs } from '../../src/providers/retry-after.js';

const google = (details: unknown) => JSON.stringify({ error: { code: 429, message: 'quota', status: 'RESOURCE_EXHAUSTED', details } });
const retryInfo = (retryDelay: unknown) => ({ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay });

describe('providerRetryAfterMs', () => {
  it('reads retry-after-ms first, then retry-after in seconds or as an HTTP date', () => {
    expect(providerRetryAfterMs({ 'retry-after-ms': '250', 'retry-after': '9' }, undefined)).toBe(250);
    expect(providerRetryAfterMs({ 'retry-after': '2' }, undefined)).toBe(2000);
    const soon = providerRetryAfterMs({ 'retry-after': new Date(Date.now() + 60_000).toUTCString() }, undefined)!;
    expect(soon).toBeGreaterThan(50_000);
    expect(soon).toBeLessThanOrEqual(60_000);
    expect(providerRetryAfterMs({ 'retry-after': 'whenever' }, undefined)).toBeUndefined();
  });

  it("reads Google's RetryInfo retryDelay from the error body when no header says", () => {
    expect(providerRetryAfterMs({}, google([{ '@type': 'type.googleapis.com/google.rpc.QuotaFailure' }, retryInfo('37s')]))).toBe(37_000);
    expect(providerRetryAfterMs(undefined, google([retryInfo('1.5s')]))).toBe(1500);
    expect(providerRetryAfterMs({ 'retry-after': '3' }, google([retryInfo('37s')]))).toBe(3000);
  });

  it('takes no hint from a body that is not one', () => {
    for (const body of [
      undefined,
      '',
      'not json RetryInfo',
      google(retryInfo('5s')),
      google([retryInfo('5m')]),
      google([retryInfo(5)]),
      google([{ retryDelay: '5s' }]),
    ])
      expect(providerRetryAfterMs({}, body)).toBeUndefined();
  });
});
