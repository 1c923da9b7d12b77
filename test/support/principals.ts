// Clients that call as a given tenant and identity, through the test principal header a server
// started with `{ testPrincipalHeader: true }` reads (src/grpc/test-principal.ts). Once real
// authentication lands, these become clients with credentials.

import { credentials, type InterceptingCall, type Interceptor, InterceptingCall as Call } from '@grpc/grpc-js';
import { connect, type LashClients } from '../../src/client/promised.js';
import { TEST_PRINCIPAL_HEADER } from '../../src/grpc/test-principal.js';

export function clientsAs(address: string, tenantId: string, subject: string): LashClients {
  const identify: Interceptor = (options, next): InterceptingCall =>
    new Call(next(options), {
      start(metadata, listener, nextStart) {
        metadata.set(TEST_PRINCIPAL_HEADER, `${tenantId}/${subject}`);
        nextStart(metadata, listener);
      },
    });
  return connect(address, credentials.createInsecure(), { interceptors: [identify] });
}
