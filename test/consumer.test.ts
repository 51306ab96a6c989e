// SPDX-License-Identifier: GPL-2.0-only
/**
 * The package as a fresh consumer project sees it: installed from exactly the
 * files `npm pack` ships (no sources, no fixtures), with only its declared
 * dependencies beside it. Every entry point of package.json `exports` must
 * load from ESM (`import`) and from CommonJS (`require`, which Node ≥ 20.19
 * resolves to the same ES module), export the same names both ways, and
 * type-check in a strict TypeScript project of each module kind.
 *
 * Why a separate project and not `import('percpu')` from the tests: the
 * repository's own node_modules, dist/test and tsconfig would hide a file
 * missing from `files`, a dependency listed only under devDependencies, or a
 * declaration that needs the repository's compiler options.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT } from '../test-support/fixtures.js';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string; exports: Record<string, unknown>; dependencies: Record<string, string>; engines: { node: string };
};
const specifiers = Object.keys(pkg.exports).map((sub) => (sub === '.' ? pkg.name : `${pkg.name}/${sub.slice(2)}`));

/** A consumer project with the packed files under node_modules/percpu; removed by the caller. */
function consumerProject(): string {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-consumer-'));
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const [packed] = JSON.parse(out) as { files: { path: string }[] }[];
  assert.ok(packed, 'npm pack printed no package');
  const installed = join(dir, 'node_modules', pkg.name);
  for (const { path } of packed.files) {
    mkdirSync(dirname(join(installed, path)), { recursive: true });
    cpSync(join(ROOT, path), join(installed, path));
  }
  // What a consumer installs beside it: the dependencies, the optional prom-client peer, and Node's types.
  for (const dep of [...Object.keys(pkg.dependencies), 'prom-client', '@types/node']) {
    mkdirSync(dirname(join(dir, 'node_modules', dep)), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules', dep), join(dir, 'node_modules', dep), 'dir');
  }
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'commonjs' }));
  return dir;
}

/** A short program that loads every entry point and uses the allocator; prints the names each entry exports. */
function program(load: (spec: string) => string): string {
  return [
    `const specs = ${JSON.stringify(specifiers)};`,
    'const names = {};',
    `for (const s of specs) names[s] = Object.keys(${load('s')}).filter((k) => k !== '__esModule' && k !== 'module.exports').sort();`,
    `const p = ${load(JSON.stringify(pkg.name))};`,
    "const a = p.createAllocator({ kernel: '7.0', geometry: { unitSize: 1 << 20, staticSize: 16392, nrUnits: 2 } });",
    'const ptr = a.alloc(64, 8);',
    'a.free(ptr);',
    'console.log(JSON.stringify({ names, chunk: p.ptrChunk(ptr), offset: p.ptrOffset(ptr), problems: a.check().length }));',
  ].join('\n');
}

function run(dir: string, file: string): { names: Record<string, string[]>; chunk: number; offset: number; problems: number } {
  const r = spawnSync(process.execPath, [file], { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, `${file} failed:\n${r.stderr}`);
  assert.equal(r.stderr, '', `${file} printed warnings`);
  return JSON.parse(r.stdout) as ReturnType<typeof run>;
}

test('a fresh consumer project: every entry point loads from ESM and from CommonJS, with the same exports', () => {
  const dir = consumerProject();
  try {
    writeFileSync(join(dir, 'esm.mjs'), program((s) => `(await import(${s}))`));
    writeFileSync(join(dir, 'cjs.cjs'), program((s) => `require(${s})`));
    const esm = run(dir, 'esm.mjs');
    const cjs = run(dir, 'cjs.cjs');
    for (const s of specifiers) assert.ok((esm.names[s]?.length ?? 0) > 0, `${s} exports nothing`);
    assert.deepEqual(cjs.names, esm.names, 'require() and import see different exports');
    // The first dynamic allocation of a fresh allocator lands in the first chunk, past nothing else.
    assert.deepEqual({ chunk: cjs.chunk, offset: cjs.offset, problems: cjs.problems }, { chunk: esm.chunk, offset: esm.offset, problems: 0 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a fresh consumer project: strict TypeScript type-checks imports of every entry point, as ESM (.mts) and as CommonJS (.cts)', () => {
  const dir = consumerProject();
  try {
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { strict: true, noUncheckedIndexedAccess: true, exactOptionalPropertyTypes: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', lib: ['es2022', 'ES2024.SharedMemory', 'ES2024.ArrayBuffer'], types: ['node'], noEmit: true, skipLibCheck: false },
      include: ['*.mts', '*.cts'],
    }));
    const alias = (s: string) => s.replace(/[^a-z]/gi, '_');
    const body = [
      "const a: root.PercpuAllocator = root.createAllocator({ kernel: '4.14', geometry: { unitSize: 1 << 20, staticSize: 16392, nrUnits: 2 } });",
      'const ptr: number = a.alloc(8, 4);',
      'const problems: root.HintProblem[] = a.check();',
      `console.log(ptr, problems.length, ${specifiers.map((s) => `Object.keys(${alias(s)}).length`).join(', ')});`,
    ];
    const esm = specifiers.map((s) => `import * as ${alias(s)} from '${s}';`);
    const cjs = specifiers.map((s) => `import ${alias(s)} = require('${s}');`);
    writeFileSync(join(dir, 'esm.mts'), [...esm, `import * as root from '${pkg.name}';`, ...body].join('\n'));
    writeFileSync(join(dir, 'cjs.cts'), [...cjs, `import root = require('${pkg.name}');`, ...body].join('\n'));
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { cwd: dir, encoding: 'utf8' });
    assert.equal(tsc.status, 0, `tsc found errors:\n${tsc.stdout}${tsc.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('engines names the first Node 20 that loads ES modules from require()', () => {
  assert.equal(pkg.engines.node, '>=20.19');
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  assert.ok(major > 20 || (major === 20 && minor >= 19), `this Node (${process.version}) is older than package.json allows`);
});
