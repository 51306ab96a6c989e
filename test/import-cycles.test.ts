// SPDX-License-Identifier: GPL-2.0-only
/**
 * No import cycles in src/: the graph of static imports between the compiled
 * modules (dist/src/**.js, what Node loads) and, separately, between the
 * sources (src/**.ts, whose type-only imports the JavaScript drops). A cycle is
 * printed as the chain of files that closes it.
 * Lazy `import()` calls are left out: they load after every module has run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ROOT } from '../test-support/fixtures.js';

const DIST_SRC = join(ROOT, 'dist', 'src');
const SRC = join(ROOT, 'src');

function files(dir: string, suffix: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? files(p, suffix) : e.name.endsWith(suffix) ? [p] : [];
  });
}

/** Relative specifiers of static imports and re-exports (`import … from`, `export … from`, bare `import '…'`), plus, in sources, `import("…")` type references. */
export function importSpecifiers(text: string, declarations: boolean): string[] {
  const out: string[] = [];
  // Comments first, so an example in a doc comment is not an import.
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  for (const m of code.matchAll(/(?:^|[\s;}])(?:import|export)\s[^'";]*?\sfrom\s*['"]([^'"]+)['"]/g)) out.push(m[1]!);
  for (const m of code.matchAll(/(?:^|[\s;])import\s*['"]([^'"]+)['"]/g)) out.push(m[1]!);
  // `import('…').T` names a type; `await import('…')` is a lazy load, left out.
  if (declarations) for (const m of code.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)\./g)) out.push(m[1]!);
  return out.filter((s) => s.startsWith('.'));
}

function graph(kind: 'dist' | 'src'): Map<string, string[]> {
  const g = new Map<string, string[]>();
  const dir = kind === 'dist' ? DIST_SRC : SRC;
  for (const f of files(dir, kind === 'dist' ? '.js' : '.ts')) {
    const deps = importSpecifiers(readFileSync(f, 'utf8'), kind === 'src')
      .map((s) => resolve(dirname(f), kind === 'src' ? s.replace(/\.js$/, '.ts') : s))
      .filter((p) => p.startsWith(dir) && existsSync(p));
    g.set(f, [...new Set(deps)]);
  }
  return g;
}

/** Every elementary cycle found by a depth-first walk (one per back edge), as file chains. */
export function findCycles(g: Map<string, string[]>): string[][] {
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (n: string) => {
    state.set(n, 1);
    stack.push(n);
    for (const d of g.get(n) ?? []) {
      if (state.get(d) === 1) cycles.push([...stack.slice(stack.indexOf(d)), d]);
      else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(n, 2);
  };
  for (const n of [...g.keys()].sort()) if (!state.has(n)) visit(n);
  return cycles;
}

const show = (cycles: string[][]) => cycles.map((c) => c.map((f) => relative(ROOT, f)).join(' → ')).join('\n');

test('the cycle finder finds a cycle and reads every import form', () => {
  const g = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]);
  assert.deepEqual(findCycles(g), [['a', 'b', 'c', 'a']]);
  assert.deepEqual(findCycles(new Map([['a', ['b']], ['b', []]])), []);
  const text = "import { x } from './a.js';\nexport * from './b.js';\nimport './c.js';\nexport type { T } from \"./d.js\";\nimport fs from 'node:fs';\n/** import { y } from './e.js' */\nconst t: import('./f.js').T;\nconst m = await import('./g.js');";
  assert.deepEqual(importSpecifiers(text, false), ['./a.js', './b.js', './d.js', './c.js']);
  assert.deepEqual(importSpecifiers(text, true), ['./a.js', './b.js', './d.js', './c.js', './f.js']);
});

test('no import cycle among the compiled modules of src/ (run-time imports)', () => {
  const g = graph('dist');
  assert.ok(g.size > 50, `only ${g.size} modules under dist/src: build first`);
  const cycles = findCycles(g);
  assert.equal(cycles.length, 0, `import cycles:\n${show(cycles)}`);
});

test('no import cycle among the sources of src/ (type-only imports included)', () => {
  const g = graph('src');
  assert.ok(g.size > 50, `only ${g.size} sources under src/`);
  const cycles = findCycles(g);
  assert.equal(cycles.length, 0, `import cycles (types included):\n${show(cycles)}`);
});

/** Modules `node dist/src/cli/main.js` loads before any subcommand runs: the static closure, and the packages it names. */
function cliStartup(): { modules: string[]; packages: string[] } {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const visit = (f: string) => {
    if (seen.has(f)) return;
    seen.add(f);
    const text = readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
    for (const m of text.matchAll(/(?:^|[\s;}])(?:import|export)\s[^'";]*?\sfrom\s*['"]([^'"]+)['"]|(?:^|[\s;])import\s*['"]([^'"]+)['"]/g)) {
      const s = (m[1] ?? m[2])!;
      if (s.startsWith('.')) visit(resolve(dirname(f), s));
      else if (!s.startsWith('node:')) packages.add(s);
    }
  };
  visit(join(DIST_SRC, 'cli', 'main.js'));
  return { modules: [...seen].map((f) => relative(join(ROOT, 'dist'), f)).sort(), packages: [...packages].sort() };
}

test('the CLI loads a subcommand\'s code only when it runs: main.js statically loads no command module, no format parser, no tools (replay, capture, doctor, viz, top) and no bench code', () => {
  const { modules, packages } = cliStartup();
  assert.ok(modules.includes('src/cli/exit.js'), modules.join('\n'));
  const eager = modules.filter((m) =>
    /^src\/cli\/(verify|stats|map|doctor|demo|bench|trace-tools)\.js$/.test(m) || /^src\/formats\/(trace|golden|stats-parse|files)\.js$/.test(m) || m.startsWith('bench/') ||
    // percpu top's option choices (sort keys, site groupings) come from src/tools/top/sites.js and view.js; its engine does not.
    (m.startsWith('src/tools/') && !/^src\/tools\/top\/(sites|view|leaks)\.js$/.test(m)));
  assert.deepEqual(eager, [], 'loaded at CLI start-up');
  assert.deepEqual(packages, ['commander'], 'packages loaded at CLI start-up');
});
