// SPDX-License-Identifier: GPL-2.0-only
/**
 * Where the package's bundled data lives, wherever the package is installed.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (dist/src/cli/ → three levels up). */
export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export function bundled(...parts: string[]): string {
  return join(PACKAGE_ROOT, 'fixtures', ...parts);
}
