// SPDX-License-Identifier: GPL-2.0-only
/**
 * The trace and golden pipelines stay small functions named for their steps:
 * no function, method, accessor or arrow function in src/formats,
 * src/tools/replay, src/tools/capture or src/cli has a body over `MAX_LINES` lines, nested functions included (a long
 * function full of closures is still a long function). Bodies are measured
 * from the sources with the TypeScript compiler, brace line to brace line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { ROOT } from '../test-support/fixtures.js';

const MAX_LINES = 60;
const FOLDERS = ['src/formats', 'src/tools/replay', 'src/tools/capture', 'src/cli'];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Every function-like node with a block body in `text`, with its name and body length in lines. */
export function functionLengths(file: string, text: string): { name: string; line: number; lines: number }[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out: { name: string; line: number; lines: number }[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined && ts.isBlock(node.body as ts.Node)) {
      const body = node.body as ts.Block;
      const first = sf.getLineAndCharacterOfPosition(body.getStart(sf)).line;
      const last = sf.getLineAndCharacterOfPosition(body.getEnd()).line;
      const named = (node as { name?: ts.Node }).name;
      const parent = node.parent;
      const name = named?.getText(sf) ?? (ts.isVariableDeclaration(parent) || ts.isPropertyDeclaration(parent) || ts.isPropertyAssignment(parent) ? parent.name.getText(sf) : '(anonymous)');
      out.push({ name, line: first + 1, lines: last - first + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

test('the measure counts body lines, nested functions included, and names arrows by their binding', () => {
  const text = ['function outer() {', '  const inner = () => {', '    return 1;', '  };', '  return inner();', '}', 'class C {', '  m(): void {}', '}'].join('\n');
  assert.deepEqual(
    functionLengths('x.ts', text).map((f) => [f.name, f.lines]),
    [
      ['outer', 6],
      ['inner', 3],
      ['m', 1],
    ],
  );
});

test(`no function in ${FOLDERS.join(', ')} is over ${MAX_LINES} lines`, () => {
  const long: string[] = [];
  let measured = 0;
  for (const folder of FOLDERS) {
    for (const file of sources(join(ROOT, folder))) {
      for (const f of functionLengths(file, readFileSync(file, 'utf8'))) {
        measured++;
        if (f.lines > MAX_LINES) long.push(`${relative(ROOT, file)}:${f.line} ${f.name}: ${f.lines} lines`);
      }
    }
  }
  assert.ok(measured > 200, `only ${measured} functions found: is the source tree there?`);
  assert.deepEqual(long, [], `split these into steps:\n${long.join('\n')}`);
});
