// Static bearer tokens: a set of SHA-256 hashes (from LASH_AUTH_TOKENS_FILE), each naming a
// tenant and roles. A presented token is hashed and looked up; the file is followed and a broken
// version leaves the last good set in force.

import { hash } from 'node:crypto';
import type { Principal } from '../domain/auth/principal.js';
import { parseTokensFile, type TokenEntry } from './files.js';
import { watchText } from './watch.js';

export const sha256Hex = (token: string) => hash('sha256', token, 'hex');

export class StaticTokens {
  private byHash = new Map<string, Principal>();
  private stopWatching?: () => void;

  constructor(entries: TokenEntry[]) {
    this.replace(entries);
  }

  get size(): number {
    return this.byHash.size;
  }

  /** The principal of a token, by the hash of its bytes; undefined if it is not listed. */
  lookup(tokenHash: string): Principal | undefined {
    return this.byHash.get(tokenHash);
  }

  replace(entries: TokenEntry[]): void {
    this.byHash = new Map(entries.map((e) => [e.sha256, { subject: e.name, tenantId: e.tenant, roles: new Set(e.roles), source: 'static_token' as const }]));
  }

  follow(path: string, intervalMs: number, log: { info(o: object, m: string): void; error(o: object, m: string): void }): void {
    this.stopWatching = watchText(
      path,
      intervalMs,
      (text) => {
        try {
          this.replace(parseTokensFile(text));
          log.info({ path, tokens: this.byHash.size }, 'static tokens reloaded');
        } catch (err) {
          log.error({ path, err: (err as Error).message }, 'static tokens file is not valid; keeping the previous tokens');
        }
      },
      (err) => log.error({ path, err: err.message }, 'static tokens file cannot be read; keeping the previous tokens'),
    );
  }

  close(): void {
    this.stopWatching?.();
  }
}
