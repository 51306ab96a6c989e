#!/usr/bin/env node
// SPDX-License-Identifier: GPL-2.0-only
/**
 * Keeps the clone's build step out of the published package.json.
 *
 * In a clone, `npm ci` builds through the `prepare` script. In the tarball the
 * same script would make npm warn every consumer about an install script
 * (npm 11: "install-scripts percpu (prepare: npm run build)"), though a
 * consumer never needs it: the tarball ships `dist/`. So `npm pack` and
 * `npm publish` run `prepack` (this script with `strip`: `prepare` is renamed
 * `_prepare`) and `postpack` (`restore`: renamed back), as pinst does for
 * `postinstall`.
 *
 *   node scripts/pack-manifest.mjs strip | restore
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Scripts npm runs when the package is installed somewhere: none may ship. */
export const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall', 'preprepare', 'prepare', 'postprepare'];

/** The manifest without its `prepare` (kept as `_prepare`), or with it back. Returns a new object. */
export function packManifest(pkg, mode) {
  const from = mode === 'strip' ? 'prepare' : '_prepare';
  const to = mode === 'strip' ? '_prepare' : 'prepare';
  const scripts = pkg.scripts ?? {};
  if (!(from in scripts)) return pkg;
  const renamed = {};
  for (const [k, v] of Object.entries(scripts)) renamed[k === from ? to : k] = v;
  return { ...pkg, scripts: renamed };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const mode = process.argv[2];
  if (mode !== 'strip' && mode !== 'restore') {
    console.error('usage: node scripts/pack-manifest.mjs strip|restore');
    process.exit(2);
  }
  const path = join(dirname(fileURLToPath(import.meta.url)), '..', 'package.json');
  const text = readFileSync(path, 'utf8');
  const next = JSON.stringify(packManifest(JSON.parse(text), mode), null, 2) + '\n';
  if (next !== text) writeFileSync(path, next);
}
