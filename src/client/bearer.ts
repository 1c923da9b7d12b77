// A client interceptor that sends `authorization: Bearer <token>` with every call (the CLI's
// --token / LASH_TOKEN, the benchmarks, the tests). Works on plaintext channels too, unlike
// grpc-js call credentials, which refuse to travel without TLS.

import type { Interceptor } from '@grpc/grpc-js';
import { InterceptingCall } from '@grpc/grpc-js';

export function bearerInterceptor(token: string): Interceptor {
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set('authorization', `Bearer ${token}`);
        next(metadata, listener);
      },
    });
}

/** Client options (for `connect`) that authenticate every call with `token`, if one is given. */
export const withToken = (token: string | undefined): Record<string, unknown> => (token ? { interceptors: [bearerInterceptor(token)] } : {});
