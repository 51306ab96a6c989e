// SPDX-License-Identifier: GPL-2.0-only
/**
 * The API reference: every public export of every entry point has a doc
 * comment (read from the declaration files with the TypeScript compiler), and
 * `npm run docs` (typedoc, typedoc.json) builds with zero warnings. typedoc is
 * a devDependency; where it is missing the typedoc check is a printed skip,
 * and in CI a failure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { ROOT } from '../test-support/fixtures.js';
import { inCI } from '../test-support/ci.js';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, { types: string }> };

/** One compiler program over every entry's declaration file. */
let program: ts.Program | undefined;

function undocumented(dts: string): string[] {
  program ??= ts.createProgram(Object.values(pkg.exports).map((e) => join(ROOT, e.types)), { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, types: [], noEmit: true });
  return undocumentedIn(program, dts);
}

/** Exports of `dts` (in `program`) whose declaration has no doc comment, as "name (file)". */
function undocumentedIn(program: ts.Program, dts: string): string[] {
  const checker = program.getTypeChecker();
  const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(dts)!)!;
  const out: string[] = [];
  for (const sym of checker.getExportsOfModule(moduleSymbol)) {
    const target = sym.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(sym) : sym;
    let doc = ts.displayPartsToString(target.getDocumentationComment(checker)).trim();
    if (doc === '' && target.flags & ts.SymbolFlags.Function) {
      doc = checker.getSignaturesOfType(checker.getTypeOfSymbol(target), ts.SignatureKind.Call).map((s) => ts.displayPartsToString(s.getDocumentationComment(checker))).join('').trim();
    }
    if (doc === '') out.push(`${sym.name} (${relative(ROOT, target.declarations?.[0]?.getSourceFile().fileName ?? '?')})`);
  }
  return out;
}

test('every public export of every entry point has a doc comment', () => {
  const missing = new Set<string>();
  for (const entry of Object.values(pkg.exports)) for (const name of undocumented(join(ROOT, entry.types))) missing.add(name);
  assert.deepEqual([...missing], [], 'public exports without a doc comment');
});

test('the doc-comment check finds an export without one', () => {
  // The check itself must be able to fail: a declaration file with one documented and one bare export.
  const dir = mkdtempSync(join(tmpdir(), 'percpu-api-docs-'));
  const dts = join(dir, 'probe.d.ts');
  writeFileSync(dts, '/** Documented. */\nexport declare const a: number;\nexport declare const b: number;\n');
  try {
    assert.deepEqual(undocumentedIn(ts.createProgram([dts], { noEmit: true, types: [] }), dts).map((n) => n.split(' ')[0]), ['b']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('npm run docs: typedoc builds the API reference with zero warnings', (t) => {
  const bin = join(ROOT, 'node_modules', 'typedoc', 'bin', 'typedoc');
  if (!existsSync(bin)) {
    assert.ok(!inCI(), 'typedoc is not installed (npm ci installs it: it is a devDependency)');
    t.skip('typedoc is not installed (run npm ci)');
    return;
  }
  const r = spawnSync(process.execPath, [bin, '--emit', 'none', '--treatWarningsAsErrors'], { cwd: ROOT, encoding: 'utf8' });
  const out = (r.stdout + r.stderr).replace(/\x1b\[[0-9;]*m/g, '');
  assert.equal(r.status, 0, out);
  assert.doesNotMatch(out, /warning|error/i, out);
  // The reference is built, never committed.
  assert.match(readFileSync(join(ROOT, '.gitignore'), 'utf8'), /^docs\/api\/?$/m);
});
