// Names of a certificate-like identity (URI SANs such as SPIFFE ids, DNS SANs, subject CN), read
// from a TLS peer certificate or a sidecar's forwarded header, and the rules that map them to a
// tenant and roles (LASH_AUTH_IDENTITIES_FILE, first matching rule wins).

import type { PeerCertificate } from 'node:tls';
import type { IdentitySource, Principal } from '../domain/auth/principal.js';
import type { IdentityRule, NameKind } from './files.js';

export type Names = Record<NameKind, string[]>;

const matches = (pattern: string, name: string) => (pattern.endsWith('*') ? name.startsWith(pattern.slice(0, -1)) : name === pattern);

export function mapIdentity(rules: IdentityRule[], names: Names, source: IdentitySource): Principal | undefined {
  for (const rule of rules) {
    const name = names[rule.kind].find((n) => matches(rule.pattern, n));
    if (name !== undefined) return { subject: `${rule.kind}:${name}`, tenantId: rule.tenant, roles: new Set(rule.roles), source };
  }
  return undefined;
}

/** The names of a verified client certificate. */
export function certificateNames(cert: PeerCertificate): Names {
  const names: Names = { uri: [], dns: [], cn: [] };
  const cn = cert.subject?.CN;
  if (cn) names.cn.push(...(Array.isArray(cn) ? cn : [cn]));
  for (const part of (cert.subjectaltname ?? '').split(/,\s*/)) {
    const i = part.indexOf(':');
    const kind = part.slice(0, i);
    const value = part.slice(i + 1).replace(/^"|"$/g, '');
    if (kind === 'URI') names.uri.push(value);
    else if (kind === 'DNS') names.dns.push(value);
  }
  return names;
}

/** Splits on `sep` outside double quotes. */
function splitOutsideQuotes(text: string, sep: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && quoted && i + 1 < text.length) {
      current += c + text[++i];
    } else if (c === '"') {
      quoted = !quoted;
      current += c;
    } else if (c === sep && !quoted) {
      parts.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  parts.push(current);
  return parts;
}

const unquote = (v: string) => (v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1).replace(/\\(.)/g, '$1') : v);

/**
 * Envoy's `x-forwarded-client-cert`: elements separated by commas (each proxy appends one; the
 * last describes the client of the proxy that called us), each `Key=value;Key=value`. Returns
 * undefined when the value holds no name.
 */
export function xfccNames(value: string): Names | undefined {
  const last = splitOutsideQuotes(value, ',').pop() ?? '';
  const names: Names = { uri: [], dns: [], cn: [] };
  for (const pair of splitOutsideQuotes(last, ';')) {
    const i = pair.indexOf('=');
    if (i <= 0) continue;
    const key = pair.slice(0, i).trim().toLowerCase();
    const raw = pair.slice(i + 1).trim();
    if (key === 'uri') names.uri.push(unquote(raw));
    else if (key === 'dns') names.dns.push(unquote(raw));
    else if (key === 'subject') {
      // A distinguished name keeps its own escapes (`\,` inside a value): only the quoting is undone first.
      const dn = raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1).replace(/\\"/g, '"') : raw;
      const cn = /(?:^|,)\s*CN=((?:\\.|[^,])*)/.exec(dn);
      if (cn) names.cn.push(cn[1]!.replace(/\\(.)/g, '$1'));
    }
  }
  return names.uri.length + names.dns.length + names.cn.length ? names : undefined;
}

/** A plain identity header (not XFCC) carries one name: a URI (SPIFFE id) if it has a scheme, else a DNS-like name. */
export function plainHeaderNames(value: string): Names | undefined {
  const v = value.trim();
  if (!v || v.length > 2048) return undefined;
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(v) ? { uri: [v], dns: [], cn: [] } : { uri: [], dns: [v], cn: [v] };
}
