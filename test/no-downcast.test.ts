// SPDX-License-Identifier: GPL-2.0-only
/**
 * The tools speak `PercpuAllocator` only: no file of src/ outside the engine
 * (src/engine/, the factory `allocator.ts` included) tests or casts an allocator
 * to a profile's class (`instanceof BitmapAllocator`, `as AreaMapAllocator`, …).
 * What a tool needs of one profile is a member of the interface (for the
 * bitmap profiles, `bitmapView()`), so a new profile plugs into every tool.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT } from '../test-support/fixtures.js';

const SRC = join(ROOT, 'src');
const ENGINE = join(SRC, 'engine') + '/';
const CLASSES = ['BitmapAllocator', 'AreaMapAllocator', 'HintedBitmapAllocator'];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** `instanceof X` and `as X` / `<X>` casts to a profile class, as `line: text`, comments left out. */
export function downcasts(text: string): string[] {
  const names = CLASSES.join('|');
  const re = new RegExp(`\\binstanceof\\s+(?:${names})\\b|\\bas\\s+(?:${names})\\b(?!\\s*[\\w.])|<(?:${names})>`);
  const out: string[] = [];
  text.split('\n').forEach((line, i) => {
    const code = line.replace(/\/\/.*$/, '').replace(/^\s*\*.*$/, '');
    if (re.test(code)) out.push(`${i + 1}: ${line.trim()}`);
  });
  return out;
}

test('the downcast finder sees instanceof and casts, and leaves comments and other names alone', () => {
  assert.equal(downcasts('if (sim instanceof BitmapAllocator) x();').length, 1);
  assert.equal(downcasts('const a = sim as AreaMapAllocator;').length, 1);
  assert.equal(downcasts('if (a instanceof HintedBitmapAllocator) {').length, 1);
  assert.equal(downcasts('// sim instanceof BitmapAllocator').length, 0);
  assert.equal(downcasts(' * only `instanceof BitmapAllocator` here').length, 0);
  assert.equal(downcasts('if (e instanceof PercpuError) throw e;').length, 0);
  assert.equal(downcasts('const v = sim.bitmapView();').length, 0);
});

test('no tool outside src/engine downcasts an allocator to a profile class', () => {
  const found: string[] = [];
  let read = 0;
  for (const f of sources(SRC)) {
    if (f.startsWith(ENGINE)) continue;
    read++;
    for (const hit of downcasts(readFileSync(f, 'utf8'))) found.push(`${relative(ROOT, f)}:${hit}`);
  }
  assert.ok(read > 40, `read only ${read} files of src/`);
  assert.deepEqual(found, [], `downcasts to a profile class (add what the tool needs to PercpuAllocator instead):\n${found.join('\n')}`);
});
