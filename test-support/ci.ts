// SPDX-License-Identifier: GPL-2.0-only
/**
 * Whether this test run is CI's. A check that needs something a bare machine
 * lacks (Chromium, promtool, xz) is skipped elsewhere with a printed reason,
 * and must run — failing if the tool is missing — in CI, where `.ci/run`
 * installs it.
 */
export function inCI(): boolean {
  const v = process.env.CI;
  return v !== undefined && v !== '' && v !== '0' && v !== 'false';
}
