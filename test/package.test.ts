// SPDX-License-Identifier: GPL-2.0-only
/**
 * The npm package as a user receives it: what `npm pack` would ship (size,
 * LICENSE, no test fixtures), the licence fields, no install-time scripts, and
 * the SPDX line on every source file (scripts/spdx.mjs).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../test-support/fixtures.js';

interface PackFile { path: string; size: number }
interface PackResult { size: number; unpackedSize: number; files: PackFile[] }

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;

test('npm pack: under 1 MB, with LICENSE and README, without fixtures, tests or sources', () => {
  // --ignore-scripts: the suite runs after the build; `prepare` would rebuild under the running tests.
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const [packed] = JSON.parse(out) as PackResult[];
  assert.ok(packed, 'npm pack printed no package');
  assert.ok(packed.size < 1_000_000, `tarball is ${packed.size} bytes, over 1 MB`);
  const paths = packed.files.map((f) => f.path);
  for (const must of ['LICENSE', 'README.md', 'package.json', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/main.js']) {
    assert.ok(paths.includes(must), `${must} is not in the package`);
  }
  const stray = paths.filter((p) => p.startsWith('fixtures/') || p.startsWith('dist/test') || p.startsWith('dist/test-support') || p.startsWith('test/') || /^src\//.test(p));
  assert.deepEqual(stray, [], 'test data or sources in the package');
  // Every file `exports` and `bin` name is shipped.
  const exported = Object.values(pkg.exports as Record<string, Record<string, string>>).flatMap((e) => Object.values(e));
  for (const f of [...exported, ...Object.values(pkg.bin as Record<string, string>)]) {
    assert.ok(paths.includes(f.replace(/^\.\//, '')), `${f} (exports/bin) is not in the package`);
  }
});

test('licence: GPL-2.0-only in package.json and the full GPL-2.0 text in LICENSE; a repository', () => {
  assert.equal(pkg.license, 'GPL-2.0-only');
  const text = readFileSync(join(ROOT, 'LICENSE'), 'utf8');
  assert.match(text, /GNU GENERAL PUBLIC LICENSE\s+Version 2, June 1991/);
  assert.match(text, /END OF TERMS AND CONDITIONS/);
  assert.ok(text.length > 15_000, 'LICENSE is not the whole licence text');
  const repo = pkg.repository as { type?: string; url?: string } | undefined;
  assert.equal(repo?.type, 'git');
  assert.match(repo?.url ?? '', /^git\+https:\/\/.+\.git$/);
});

test('npm ci runs no install script: none in package.json, none among the locked dependencies', () => {
  const scripts = (pkg.scripts ?? {}) as Record<string, string>;
  for (const s of ['preinstall', 'install', 'postinstall']) assert.equal(scripts[s], undefined, `package.json has a "${s}" script`);
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { hasInstallScript?: boolean }> };
  const withScripts = Object.entries(lock.packages).filter(([, p]) => p.hasInstallScript).map(([name]) => name);
  assert.deepEqual(withScripts, [], 'dependencies with install scripts (npm warns about them)');
});

test('SPDX: every .ts file of src, bench, test, test-support and examples starts with the licence line', async () => {
  const spdx = (await import(pathToFileURL(join(ROOT, 'scripts', 'spdx.mjs')).href)) as {
    missingSpdx: () => string[]; spdxFiles: () => string[]; withSpdx: (t: string) => string; SPDX_LINE: string;
  };
  assert.ok(spdx.spdxFiles().length > 100, 'the walk found too few files');
  assert.deepEqual(spdx.missingSpdx(), [], 'run `node scripts/spdx.mjs` to add the line');
  // The script is idempotent and keeps a shebang first.
  const once = spdx.withSpdx('#!/usr/bin/env node\n/** x */\n');
  assert.equal(once, `#!/usr/bin/env node\n${spdx.SPDX_LINE}\n/** x */\n`);
  assert.equal(spdx.withSpdx(once), once);
  assert.equal(spdx.withSpdx('/** y */\n'), `${spdx.SPDX_LINE}\n/** y */\n`);
});

test('installed without fixtures or devDependencies: verify works; demo and bench say what is missing, exit 2, one message and a hint', () => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-pkg-'));
  try {
    for (const d of ['dist/src', 'dist/bench']) cpSync(join(ROOT, d), join(dir, d), { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg));
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    const cli = join(dir, 'dist', 'src', 'cli', 'main.js');
    const demo = spawnSync(process.execPath, [cli, 'demo', '--report', join(dir, 'r.html')], { cwd: dir, encoding: 'utf8' });
    assert.equal(demo.status, 2, demo.stderr);
    assert.match(demo.stderr, /^percpu: .*bpf-percpu-hash-1M-x-8B\.trace\.gz: not found: the demo's trace .* ships with the repository, not the npm package\n  run it from a clone/);
    const bench = spawnSync(process.execPath, [cli, 'bench', '--quick'], { cwd: dir, encoding: 'utf8' });
    assert.equal(bench.status, 2, bench.stderr);
    assert.match(bench.stderr, /W7 and W8 replay golden files that ship with the repository/);
    assert.equal(bench.stdout, '');
    // As a consumer installs it: the dependencies only, no devDependencies (@thi.ng/malloc is one).
    rmSync(join(dir, 'node_modules'));
    for (const dep of Object.keys(pkg.dependencies as Record<string, string>)) {
      mkdirSync(dirname(join(dir, 'node_modules', dep)), { recursive: true });
      symlinkSync(join(ROOT, 'node_modules', dep), join(dir, 'node_modules', dep), 'dir');
    }
    assert.ok(!Object.keys(pkg.dependencies as Record<string, string>).includes('@thi.ng/malloc'), '@thi.ng/malloc is for bench only');
    const verify = spawnSync(process.execPath, [cli, 'verify', join(ROOT, 'fixtures', 'golden', 'spec', '4.14', 'GV-A.golden.gz')], { cwd: dir, encoding: 'utf8' });
    assert.equal(verify.status, 0, verify.stderr);
    const noMalloc = spawnSync(process.execPath, [cli, 'bench', '--quick', '--only', 'W1a'], { cwd: dir, encoding: 'utf8' });
    assert.equal(noMalloc.status, 2, noMalloc.stderr);
    assert.match(noMalloc.stderr, /^percpu: percpu bench compares against @thi\.ng\/malloc, which is not installed .*\n  run it from a clone/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('npm run test:unit: every suite it names exists, and npm test still runs every suite', async () => {
  const { UNIT_SUITES } = (await import(pathToFileURL(join(ROOT, 'scripts', 'test-unit.mjs')).href)) as { UNIT_SUITES: string[] };
  assert.ok(UNIT_SUITES.length >= 20);
  for (const s of UNIT_SUITES) assert.ok(existsSync(join(ROOT, 'test', `${s}.test.ts`)), `test:unit names ${s}, which has no test/${s}.test.ts`);
  const scripts = pkg.scripts as Record<string, string>;
  assert.match(scripts.test!, /node --test .*dist\/test\/$/);
  assert.match(scripts['test:unit']!, /scripts\/test-unit\.mjs/);
});

test('the published package.json has no install-time script (npm warns consumers about one): prepack strips prepare, postpack restores it', async () => {
  const { packManifest, INSTALL_SCRIPTS } = (await import(pathToFileURL(join(ROOT, 'scripts', 'pack-manifest.mjs')).href)) as {
    packManifest: (p: Record<string, unknown>, mode: 'strip' | 'restore') => Record<string, unknown>; INSTALL_SCRIPTS: string[];
  };
  const scripts = pkg.scripts as Record<string, string>;
  assert.equal(scripts.prepack, 'node scripts/pack-manifest.mjs strip');
  assert.equal(scripts.postpack, 'node scripts/pack-manifest.mjs restore');
  assert.ok(scripts.prepare, 'a clone builds on npm ci through prepare');
  const shipped = packManifest(pkg, 'strip');
  const left = INSTALL_SCRIPTS.filter((s) => (shipped.scripts as Record<string, string>)[s] !== undefined);
  assert.deepEqual(left, [], 'install-time scripts in the published manifest');
  assert.equal((shipped.scripts as Record<string, string>)._prepare, scripts.prepare);
  assert.deepEqual(packManifest(shipped, 'restore'), pkg);
  assert.deepEqual(Object.keys(packManifest(shipped, 'restore').scripts as object), Object.keys(scripts), 'restore keeps the order of the scripts');
});
