#!/usr/bin/env node
// SPDX-License-Identifier: GPL-2.0-only
/**
 * Puts the SPDX licence line at the top of every TypeScript file of the
 * project (after a `#!` line, if any). Idempotent: a file that already starts
 * with it is left alone, so it can be run after any merge.
 *
 *   node scripts/spdx.mjs          add the line where it is missing
 *   node scripts/spdx.mjs --check  list the files without it; exit 1 if any
 *
 * test/spdx.test.ts imports `missingSpdx` to check the same rule.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SPDX_LINE = '// SPDX-License-Identifier: GPL-2.0-only';
/** The folders whose .ts files carry the line (the ones tsconfig.json compiles). */
export const SPDX_DIRS = ['src', 'bench', 'test', 'test-support', 'examples'];
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

function* tsFiles(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules') yield* tsFiles(p);
    } else if (e.name.endsWith('.ts')) yield p;
  }
}

/** Every project .ts file, as a path relative to the root. */
export function spdxFiles(root = ROOT) {
  return SPDX_DIRS.flatMap((d) => [...tsFiles(join(root, d))]).map((p) => relative(root, p)).sort();
}

/** Index of the line that must be the SPDX line: 0, or 1 after a shebang. */
function spdxIndex(lines) {
  return lines[0]?.startsWith('#!') ? 1 : 0;
}

export function hasSpdx(text) {
  const lines = text.split('\n');
  return lines[spdxIndex(lines)] === SPDX_LINE;
}

export function withSpdx(text) {
  if (hasSpdx(text)) return text;
  const lines = text.split('\n');
  lines.splice(spdxIndex(lines), 0, SPDX_LINE);
  return lines.join('\n');
}

/** Files (relative to root) whose licence line is missing. */
export function missingSpdx(root = ROOT) {
  return spdxFiles(root).filter((f) => !hasSpdx(readFileSync(join(root, f), 'utf8')));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const missing = missingSpdx();
  if (process.argv.includes('--check')) {
    for (const f of missing) console.log(`no SPDX line: ${f}`);
    process.exit(missing.length === 0 ? 0 : 1);
  }
  for (const f of missing) writeFileSync(join(ROOT, f), withSpdx(readFileSync(join(ROOT, f), 'utf8')));
  console.log(`SPDX line added to ${missing.length} file(s)`);
}
