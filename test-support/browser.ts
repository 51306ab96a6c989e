// SPDX-License-Identifier: GPL-2.0-only
/**
 * Headless Chromium for the browser tests: one place that finds the binary,
 * decides whether a test may skip, and launches it the same way everywhere.
 *
 * Chromium is Debian's `/usr/bin/chromium` (or PERCPU_CHROMIUM). Without it,
 * outside CI, browser tests skip with the reason printed; with `CI` set they
 * are required, and a missing binary fails them loudly. PERCPU_SKIP_BROWSER=1
 * skips them on purpose (ignored in CI).
 *
 * Each launch gets a fresh profile directory (removed on close) and flags that
 * keep the browser off the network: no background networking, component
 * updates, sync or first-run work.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { inCI } from './ci.js';

export const CHROMIUM = process.env.PERCPU_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];


/**
 * The `skip` option of a browser test: a reason string when it may not run
 * here, false when it must run. Prints the reason, so a skip is never silent.
 */
export function browserSkip(): string | false {
  if (inCI()) return false;
  let reason: string | undefined;
  if (process.env.PERCPU_SKIP_BROWSER === '1') reason = 'PERCPU_SKIP_BROWSER=1: browser check skipped on request';
  else if (!existsSync(CHROMIUM))
    reason = `Chromium not found at ${CHROMIUM}: browser check skipped (install Debian's chromium or set PERCPU_CHROMIUM; with CI set this fails)`;
  if (reason === undefined) return false;
  process.stderr.write(`skip: ${reason}\n`);
  return reason;
}

/** A headless Chromium with a fresh profile; `close()` also removes the profile. */
export async function launchChromium(): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  if (!existsSync(CHROMIUM))
    assert.fail(`Chromium not found at ${CHROMIUM}, and CI is set, so the browser checks are required. Install Debian's chromium (apt-get install chromium; .ci/run does) or point PERCPU_CHROMIUM at a Chromium binary.`);
  const profile = mkdtempSync(join(tmpdir(), 'percpu-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, viewport: { width: 1280, height: 900 } });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
