// SPDX-License-Identifier: GPL-2.0-only
/**
 * Every public export of every entry point (package.json `exports`) exists at
 * run time. The list of exports comes from the entry's declaration file, read
 * with the TypeScript compiler: every export that the types call a value
 * (class, function, constant, enum) must be defined in the module the package
 * name resolves to (`import('percpu/…')`, the package importing itself, as a
 * consumer would). A `const enum` is one that the types promise and the
 * JavaScript does not have, so it fails here by name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { ROOT } from '../test-support/fixtures.js';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; exports: Record<string, { types: string; default: string }> };

/** One compiler program over every entry's declaration file (one program, not one per entry: seconds saved). */
let program: ts.Program | undefined;

/** Value exports of a declaration file (names a JavaScript importer can use), and the const enums among them. */
function declaredValues(dts: string): { values: string[]; constEnums: string[] } {
  program ??= ts.createProgram(Object.values(pkg.exports).map((e) => join(ROOT, e.types)), { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, types: [], skipLibCheck: true, noEmit: true });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(dts);
  assert.ok(source, `${dts} not found: build first`);
  const moduleSymbol = checker.getSymbolAtLocation(source);
  assert.ok(moduleSymbol, `${dts} is not a module`);
  const values: string[] = [];
  const constEnums: string[] = [];
  for (const sym of checker.getExportsOfModule(moduleSymbol)) {
    const target = sym.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(sym) : sym;
    if (target.flags & ts.SymbolFlags.ConstEnum) constEnums.push(sym.name);
    if (target.flags & ts.SymbolFlags.Value) values.push(sym.name);
  }
  return { values: values.sort(), constEnums: constEnums.sort() };
}

for (const [sub, entry] of Object.entries(pkg.exports)) {
  const specifier = sub === '.' ? pkg.name : `${pkg.name}/${sub.slice(2)}`;
  test(`${specifier}: every value its types export is defined at run time`, async () => {
    const { values, constEnums } = declaredValues(join(ROOT, entry.types));
    assert.deepEqual(constEnums, [], `const enums in ${specifier} (no run-time value): use an \`as const\` object`);
    assert.ok(values.length > 0, `${specifier} declares no value exports`);
    const mod = (await import(specifier)) as Record<string, unknown>;
    const missing = values.filter((name) => mod[name] === undefined);
    assert.deepEqual(missing, [], `declared by ${entry.types} but undefined at run time`);
    // And nothing at run time that the types do not declare (a stray internal export).
    const undeclared = Object.keys(mod).filter((k) => !values.includes(k));
    assert.deepEqual(undeclared, [], `exported at run time but not in ${entry.types}`);
  });
}

test('the engine layouts and flags are plain objects a JavaScript consumer can read', async () => {
  const p = (await import(pkg.name)) as Record<string, Record<string, number>>;
  assert.equal(p.Hdr!.FreeBytes, 3);
  assert.equal(p.Md!.ContigStart, 1);
  assert.equal(p.OpKind!.Free, 2);
  assert.equal(p.AllocFlag!.Atomic, p.ALLOC_ATOMIC as unknown as number);
  assert.equal(p.KNOWN_ALLOC_FLAGS as unknown as number, 3);
});
