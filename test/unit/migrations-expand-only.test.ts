// Rolling upgrades run old and new replicas on one database (deploy/README.md, "Migrations and
// rolling upgrades"), so every migration from 012 on must be expand-only: nothing the previous
// release reads or writes may be dropped, renamed, retyped or made stricter. This reads the SQL
// each migration runs and refuses contracting statements. 001–011 predate the rule (006 drops
// feed_events, 007 retypes columns), which also shows the check catches such statements.

import { describe, expect, it } from 'vitest';
import { migrationsList } from '../../src/store/migrations.js';

const EXPAND_ONLY_FROM = 12;

/** The statements `up()` of a migration runs. */
async function sqlOf(cls: (typeof migrationsList)[number]['class']): Promise<string[]> {
  // The migrations only collect SQL; they need neither driver nor configuration for that.
  const m = new cls({} as never, { get: () => undefined } as never);
  await m.up();
  return m.getQueries().map((q) => (typeof q === 'string' ? q : String(q)).replace(/\s+/g, ' ').toLowerCase());
}

const CONTRACTING: [RegExp, string][] = [
  [/\bdrop (table|column|view|type)\b/, 'drops what an older replica may use'],
  [/\brename\b/, 'renames what an older replica names'],
  [/\balter column \S+ (set data )?type\b/, 'retypes a column an older replica writes'],
  [/\bset not null\b/, 'makes a column required that an older replica may leave empty'],
  [/\badd constraint\b/, 'adds a constraint an older replica does not respect'],
];

/** Why `sql` would break a replica of the previous release, or undefined. */
function contracting(sql: string): string | undefined {
  for (const [pattern, why] of CONTRACTING) if (pattern.test(sql)) return why;
  // A new required column without a default: an older replica's inserts leave it out.
  if (/\badd column\b/.test(sql) && /\bnot null\b/.test(sql) && !/\bdefault\b/.test(sql)) return 'adds a required column without a default';
  return undefined;
}

const numberOf = (name: string) => Number(name.slice(0, 3));

describe('migrations are safe with old and new replicas running', () => {
  it(`every migration from ${String(EXPAND_ONLY_FROM).padStart(3, '0')} on is expand-only`, async () => {
    const problems: string[] = [];
    for (const m of migrationsList.filter((x) => numberOf(x.name) >= EXPAND_ONLY_FROM))
      for (const sql of await sqlOf(m.class)) {
        const why = contracting(sql);
        if (why) problems.push(`${m.name}: ${why}: ${sql.slice(0, 120)}`);
      }
    expect(problems).toEqual([]);
  });

  it('the check recognises contracting migrations of the past and passes expanding ones', async () => {
    const verdicts = async (name: string) => (await sqlOf(migrationsList.find((m) => m.name === name)!.class)).map(contracting).filter(Boolean);
    expect(await verdicts('006_feed_batches')).toContain('drops what an older replica may use');
    expect(await verdicts('007_text_payloads')).toContain('retypes a column an older replica writes');
    expect(await verdicts('010_cache_write_tokens')).toEqual([]);
    expect(await verdicts('011_process_grants')).toEqual([]);
    expect(contracting('alter table t add column c text not null')).toBe('adds a required column without a default');
    expect(contracting("alter table t add column c text not null default ''")).toBeUndefined();
  });
});
