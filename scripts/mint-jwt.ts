// Mints a test JWT and the JWKS that verifies it, for trying LASH_AUTH_JWKS locally (never for
// production: real tokens come from your identity provider). The private key is kept in a file
// next to the JWKS so later runs sign with the same key.
//
//   node --import tsx scripts/mint-jwt.ts --tenant acme --roles runner,observer [--sub alice]
//       [--issuer https://issuer.example] [--audience lash] [--ttl 1h] [--dir .lash-jwt]
//
// Prints the token on stdout; writes <dir>/jwks.json (public) and <dir>/signing-key.json (private).

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';

const { values } = parseArgs({
  options: {
    tenant: { type: 'string', default: 'default' },
    roles: { type: 'string', default: 'runner' },
    sub: { type: 'string', default: 'test-user' },
    issuer: { type: 'string', default: 'https://issuer.lash.local' },
    audience: { type: 'string', default: 'lash' },
    ttl: { type: 'string', default: '1h' },
    dir: { type: 'string', default: '.lash-jwt' },
    'tenant-claim': { type: 'string', default: 'tenant' },
    'roles-claim': { type: 'string', default: 'roles' },
  },
});

const dir = values.dir!;
const keyFile = join(dir, 'signing-key.json');
mkdirSync(dir, { recursive: true });
let privateJwk: JWK;
if (existsSync(keyFile)) privateJwk = JSON.parse(readFileSync(keyFile, 'utf8')) as JWK;
else {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  privateJwk = { ...(await exportJWK(privateKey)), kid: `test-${Date.now().toString(36)}`, alg: 'ES256', use: 'sig' };
  writeFileSync(keyFile, JSON.stringify(privateJwk), { mode: 0o600 });
}
const { d: _private, ...publicJwk } = privateJwk;
writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [publicJwk] }, null, 2));

const token = await new SignJWT({
  [values['tenant-claim']!]: values.tenant,
  [values['roles-claim']!]: values
    .roles!.split(',')
    .map((r) => r.trim())
    .filter(Boolean),
})
  .setProtectedHeader({ alg: 'ES256', kid: privateJwk.kid! })
  .setSubject(values.sub!)
  .setIssuer(values.issuer!)
  .setAudience(values.audience!)
  .setIssuedAt()
  .setExpirationTime(values.ttl!)
  .sign(await importJWK(privateJwk, 'ES256'));
process.stdout.write(`${token}\n`);
process.stderr.write(
  `JWKS: ${join(dir, 'jwks.json')}  (LASH_AUTH_JWKS=${join(dir, 'jwks.json')} LASH_AUTH_JWT_ISSUER=${values.issuer} LASH_AUTH_JWT_AUDIENCE=${values.audience})\n`,
);
