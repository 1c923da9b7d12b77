// Fails (exit 1) when modules under src/ import each other in a cycle, type-only imports
// included: a cycle means two modules are one concept split badly (or a dependency bag shared
// both ways). No eslint import plugin is installed, so this walks the relative imports itself.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(process.argv[2] ?? 'src');
const files: string[] = [];
const walk = (dir: string) => {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (path.endsWith('.ts') && !path.endsWith('.d.ts')) files.push(path);
  }
};
walk(root);

const known = new Set(files);
const edges = new Map<string, string[]>();
const specifier = /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]/g;
for (const file of files) {
  const text = readFileSync(file, 'utf8');
  const targets: string[] = [];
  for (const m of text.matchAll(specifier)) {
    const target = resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts'));
    if (known.has(target)) targets.push(target);
  }
  edges.set(file, targets);
}

// Tarjan's strongly connected components: every component of more than one module is a cycle.
let index = 0;
const order = new Map<string, number>();
const low = new Map<string, number>();
const stack: string[] = [];
const onStack = new Set<string>();
const cycles: string[][] = [];
const visit = (v: string) => {
  order.set(v, index);
  low.set(v, index++);
  stack.push(v);
  onStack.add(v);
  for (const w of edges.get(v) ?? []) {
    if (!order.has(w)) {
      visit(w);
      low.set(v, Math.min(low.get(v)!, low.get(w)!));
    } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, order.get(w)!));
  }
  if (low.get(v) === order.get(v)) {
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || (edges.get(v) ?? []).includes(v)) cycles.push(component);
  }
};
for (const file of files) if (!order.has(file)) visit(file);

if (cycles.length > 0) {
  for (const c of cycles)
    console.error(
      `import cycle: ${c
        .map((f) => relative(process.cwd(), f))
        .sort()
        .join(' <-> ')}`,
    );
  process.exit(1);
}
console.log(`no import cycles among ${files.length} modules under ${relative(process.cwd(), root) || '.'}`);
