// Which calls the guard hands to the start pacer (ADR 0075): streaming methods and StartTurn, each
// of which starts lasting work; unary reads such as GetSession never wait behind a burst's starts.

import { Metadata, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { SessionServiceService } from '../../gen/lash/v1/session_service.js';
import { TurnServiceService } from '../../gen/lash/v1/turn_service.js';
import type { Authenticator } from '../../src/auth/authenticator.js';
import { guardService, type GuardEnv } from '../../src/auth/guard.js';

const log = { info: () => {}, error: () => {} };

function guarded(definition: typeof SessionServiceService | typeof TurnServiceService) {
  const paced: string[] = [];
  const handled: string[] = [];
  const env: GuardEnv = {
    authenticator: { anonymous: true } as Authenticator,
    log,
    // Holds every start: a paced handler must not run until the pacer lets it go.
    pacer: { start: (_go, _cancelled) => void paced.push('held') },
  };
  const impl: UntypedServiceImplementation = {};
  for (const name of Object.keys(definition)) impl[name] = () => void handled.push(name);
  const handlers = guardService(env, definition, impl) as Record<string, (call: unknown, cb?: unknown) => void>;
  const call = (name: string) => {
    const fakeCall = { metadata: new Metadata(), getPeer: () => 'test', emit: () => true, cancelled: false };
    handlers[name]!(fakeCall, () => {});
  };
  return { call, paced, handled };
}

describe('guard pacing', () => {
  it('hands RunTurn, StartTurn and ServeTools starts to the pacer', () => {
    const g = guarded(TurnServiceService);
    g.call('runTurn');
    g.call('startTurn');
    g.call('serveTools');
    expect(g.paced).toHaveLength(3);
    expect(g.handled).toEqual([]);
  });

  it('hands ObserveSession to the pacer and runs GetSession at once', () => {
    const g = guarded(SessionServiceService);
    g.call('observeSession');
    g.call('getSession');
    expect(g.paced).toHaveLength(1);
    expect(g.handled).toEqual(['getSession']);
  });
});
