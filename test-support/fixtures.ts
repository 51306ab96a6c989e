// SPDX-License-Identifier: GPL-2.0-only
/**
 * Test helpers: locate and load the committed fixtures (gzip golden files).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseGolden, type GoldenFile } from '../src/formats/golden.js';

/** Project root (tests run from dist/, fixtures live beside package.json). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FIXTURES = join(ROOT, 'fixtures');

export function fixturePath(...parts: string[]): string {
  return join(FIXTURES, ...parts);
}

/** Every file below a fixture folder, sorted, recursively. */
export function listFixtures(...parts: string[]): string[] {
  const dir = fixturePath(...parts);
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk(dir);
  return out;
}

export function loadGolden(path: string): GoldenFile {
  const raw = readFileSync(path);
  const text = (path.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
  return parseGolden(text, relative(ROOT, path));
}
