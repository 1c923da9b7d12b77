// Every way the server is started runs the same Node.js runtime (ADR 0080): `npm start`, the
// image's CMD, the child servers of the e2e tests and the test workers all pass
// --experimental-async-context-frame, so what the tests exercise is what ships.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');
const read = (f: string) => readFileSync(join(root, f), 'utf8');
const FLAG = '--experimental-async-context-frame';

describe('runtime flags', () => {
  it('npm start passes the flag before the entry point', () => {
    const start = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts.start!;
    expect(start).toMatch(new RegExp(`\\bnode\\b.*${FLAG}.*src/main\\.ts`));
  });

  it("the image's CMD passes it", () => {
    const cmd = read('Dockerfile')
      .split('\n')
      .filter((l) => l.startsWith('CMD '))
      .at(-1)!;
    expect(JSON.parse(cmd.slice(4)) as string[]).toEqual(['node', FLAG, '--import', 'tsx', 'src/main.ts']);
  });

  it('test workers and child servers run with it', () => {
    expect(process.execArgv).toContain(FLAG);
    expect(read('test/support/child-server.ts')).toContain(`'${FLAG}', '--import', 'tsx', 'src/main.ts'`);
  });
});
