// The parsing pieces of authentication that need no server: peer addresses, Envoy XFCC values,
// certificate names and identity rules, token and identity files, and the role ladder.

import { describe, expect, it } from 'vitest';
import { loadAuthConfig } from '../../src/auth/config.js';
import { parseIdentitiesFile, parseTokensFile } from '../../src/auth/files.js';
import { certificateNames, mapIdentity, xfccNames } from '../../src/auth/identities.js';
import { peerAddress } from '../../src/auth/peer.js';
import { satisfies } from '../../src/auth/roles.js';

describe('authentication parsing', () => {
  it('reads the peer address of IPv4, IPv6 and IPv4-mapped peers', () => {
    expect(peerAddress('127.0.0.1:5555')).toEqual({ ip: '127.0.0.1', family: 'ipv4' });
    expect(peerAddress('ipv4:10.1.2.3:80')).toEqual({ ip: '10.1.2.3', family: 'ipv4' });
    expect(peerAddress('[::1]:5555')).toEqual({ ip: '::1', family: 'ipv6' });
    expect(peerAddress('::1:5555')).toEqual({ ip: '::1', family: 'ipv6' });
    expect(peerAddress('::ffff:192.0.2.7:443')).toEqual({ ip: '192.0.2.7', family: 'ipv4' });
    expect(peerAddress('unix:/tmp/sock')).toBeUndefined();
  });

  it('takes the names of the last XFCC element, quoted values included', () => {
    const value = 'By=spiffe://a/proxy;URI=spiffe://a/first,By=spiffe://a/lash;Hash=ab;Subject="CN=app\\,x,O=org";URI=spiffe://a/ns/n/sa/app;DNS=app.local';
    expect(xfccNames(value)).toEqual({ uri: ['spiffe://a/ns/n/sa/app'], dns: ['app.local'], cn: ['app,x'] });
    expect(xfccNames('Hash=ab')).toBeUndefined();
  });

  it('maps names by the first matching rule; a trailing * matches a prefix', () => {
    const rules = parseIdentitiesFile(
      JSON.stringify([
        { uri: 'spiffe://a/ns/n/*', tenant: 'n', roles: ['runner'] },
        { cn: 'ops', tenant: 'o', roles: ['admin'] },
      ]),
    );
    const names = certificateNames({ subject: { CN: 'ops' }, subjectaltname: 'DNS:x.local, URI:spiffe://a/ns/n/sa/app' } as never);
    expect(mapIdentity(rules, names, 'mtls')).toMatchObject({ subject: 'uri:spiffe://a/ns/n/sa/app', tenantId: 'n', source: 'mtls' });
    expect(mapIdentity(rules, { uri: [], dns: [], cn: ['ops'] }, 'mtls')?.tenantId).toBe('o');
    expect(mapIdentity(rules, { uri: ['spiffe://a/ns/m/sa/app'], dns: [], cn: [] }, 'mtls')).toBeUndefined();
  });

  it('refuses malformed token and identity files with a message naming the entry', () => {
    expect(() => parseTokensFile('{"tokens":[{"name":"a","sha256":"xyz","tenant":"t","roles":[]}]}')).toThrow(/tokens\[0\]\.sha256/);
    expect(() => parseTokensFile(`[{"name":"a","sha256":"${'a'.repeat(64)}","tenant":"t","roles":["root"]}]`)).toThrow(/tokens\[0\]\.roles/);
    expect(() => parseIdentitiesFile('[{"uri":"x","dns":"y","tenant":"t","roles":[]}]')).toThrow(/identities\[0\]/);
  });

  it('allows anonymous mode only on loopback unless LASH_AUTH=none', () => {
    const fail = (m: string) => new Error(m);
    expect(loadAuthConfig({}, '127.0.0.1', false, fail)).toMatchObject({ mode: 'anonymous', anonymousBecause: 'loopback' });
    expect(loadAuthConfig({}, '[::1]', false, fail).mode).toBe('anonymous');
    expect(() => loadAuthConfig({}, '0.0.0.0', false, fail)).toThrow(/LASH_AUTH=none/);
    expect(loadAuthConfig({ LASH_AUTH: 'none' }, '0.0.0.0', false, fail)).toMatchObject({ mode: 'anonymous', anonymousBecause: 'LASH_AUTH=none' });
    expect(() => loadAuthConfig({ LASH_AUTH_JWKS: 'http://x/jwks' }, '0.0.0.0', false, fail)).toThrow(/LASH_AUTH_JWT_ISSUER/);
    expect(() => loadAuthConfig({ LASH_AUTH_FORWARDED: '1' }, '0.0.0.0', false, fail)).toThrow(/LASH_AUTH_TRUSTED_PROXIES/);
  });

  it('orders roles observer ⊂ runner ⊂ admin, with tool_host apart', () => {
    expect(satisfies(new Set(['admin']), 'observer')).toBe(true);
    expect(satisfies(new Set(['runner']), 'admin')).toBe(false);
    expect(satisfies(new Set(['admin']), 'tool_host')).toBe(false);
    expect(satisfies(new Set(['tool_host']), 'observer')).toBe(false);
  });
});
