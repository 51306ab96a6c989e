// SPDX-License-Identifier: GPL-2.0-only
/**
 * The browser example in a real browser: headless Chromium (Debian's
 * `chromium`, driven by playwright-core) loads the page from the example's
 * static server on 127.0.0.1, 4 workers each count 200,000 increments into a
 * PercpuCounter, a per-worker metric and a PercpuHashMap, and the sums must be
 * exact; the page must be cross-origin isolated, and without the isolation
 * headers it must say why it cannot run. Chromium comes from
 * test-support/browser.ts: without it the test skips with a printed reason,
 * unless CI is set, where it is required.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ROOT } from '../test-support/fixtures.js';
import { browserSkip, launchChromium } from '../test-support/browser.js';
import { resolveFile, startStaticServer } from '../examples/browser/serve.js';
const WORKERS = 4;
const INCREMENTS = 200_000;
const KEYS = 8;

interface PageResult {
  error?: string;
  crossOriginIsolated: boolean;
  workers: number;
  increments: number;
  counterSum: number;
  counterRead: number;
  errorBound: number;
  perWorker: number[];
  metricSum: number;
  mapKeys: number[];
  mapSize: number;
  exposition: string;
}

test('the static server serves only the page folder and dist/src, with no way out', () => {
  assert.equal(resolveFile('/'), join(ROOT, 'examples', 'browser', 'index.html'));
  assert.equal(resolveFile('/worker.js?x=1'), join(ROOT, 'examples', 'browser', 'worker.js'));
  assert.equal(resolveFile('/dist/src/runtime/index.js'), join(ROOT, 'dist', 'src', 'runtime', 'index.js'));
  for (const bad of ['/../package.json', '/dist/src/../../package.json', '/%2e%2e/%2e%2e/package.json', '/serve.ts', '/dist/src/runtime/index.d.ts', '/%E0%A4%A', '/dist/src/'])
    assert.equal(resolveFile(bad), undefined, bad);
});

test('browser example: 4 workers × 200,000 increments sum exactly in headless Chromium', { timeout: 30_000, skip: browserSkip() }, async () => {
  const { context, close } = await launchChromium();
  const server = await startStaticServer({ port: 0 });
  const plain = await startStaticServer({ port: 0, isolation: false });
  try {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(`${server.url}?workers=${WORKERS}&increments=${INCREMENTS}`);
    await page.waitForFunction('window.percpuResult !== undefined', undefined, { timeout: 15_000 });
    const r = (await page.evaluate('window.percpuResult')) as PageResult;
    assert.equal(r.error, undefined, r.error);
    assert.equal(r.crossOriginIsolated, true);
    assert.equal(r.workers, WORKERS);
    assert.equal(r.counterSum, WORKERS * INCREMENTS, 'PercpuCounter.sum() is exact');
    assert.ok(Math.abs(r.counterRead - r.counterSum) <= r.errorBound, `read ${r.counterRead} within ${r.errorBound} of the sum`);
    assert.deepEqual(r.perWorker, new Array(WORKERS).fill(INCREMENTS), 'each worker counted on its own unit');
    assert.equal(r.metricSum, WORKERS * INCREMENTS);
    // Worker i-th increment goes to key i % 8: count them by hand.
    const perKey = Array.from({ length: KEYS }, (_, k) => WORKERS * Math.ceil((INCREMENTS - k) / KEYS));
    assert.deepEqual(r.mapKeys, perKey);
    assert.equal(r.mapSize, KEYS);
    // prom-client's API in the browser: per-key series created at run time by the workers, summed exactly.
    for (let k = 0; k < KEYS; k++) assert.match(r.exposition, new RegExp(`^browser_increments_total\\{key="k${k}"\\} ${perKey[k]}$`, 'm'));
    assert.match(r.exposition, new RegExp(`^browser_batch_seconds_count ${WORKERS * Math.floor(INCREMENTS / 10_000)}$`, 'm'));
    assert.match(r.exposition, /^# TYPE browser_batch_seconds histogram$/m);
    assert.match(await page.textContent('#exposition') ?? '', /browser_increments_total\{key="k0"\}/);
    // What a person sees: the status line and the table's sum row.
    assert.match(await page.textContent('#status') ?? '', /^done: 4 workers × 200,000 increments = 800,000/);
    assert.equal(await page.textContent('#sum'), '800,000');
    assert.equal(await page.$$eval('#units tbody tr', (rows) => rows.length), WORKERS);
    assert.deepEqual(errors, []);

    // The same page without the isolation headers: no SharedArrayBuffer, and the page says so.
    const bare = await context.newPage();
    await bare.goto(`${plain.url}?workers=2&increments=10`);
    await bare.waitForFunction('window.percpuResult !== undefined', undefined, { timeout: 10_000 });
    const b = (await bare.evaluate('window.percpuResult')) as PageResult;
    assert.equal(b.crossOriginIsolated, false);
    assert.match(b.error ?? '', /SharedArrayBuffer is unavailable/);
  } finally {
    await close();
    await server.close();
    await plain.close();
  }
});
