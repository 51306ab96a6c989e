/**
 * The HTML report in a real browser: headless Chromium (Debian's `chromium`,
 * driven by playwright-core) loads it, the chunk maps and charts render, and a
 * screenshot shows real content. Without Chromium the test fails loudly —
 * set PERCPU_SKIP_BROWSER=1 to skip it on purpose.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { runDemo } from '../src/cli/demo.js';
import { fixturePath } from '../test-support/fixtures.js';

const CHROMIUM = process.env.PERCPU_CHROMIUM ?? '/usr/bin/chromium';
const skip = process.env.PERCPU_SKIP_BROWSER === '1';

test('the HTML report renders in headless Chromium: maps, charts, a non-empty screenshot', { skip: skip ? 'PERCPU_SKIP_BROWSER=1: browser check skipped on request' : false }, async () => {
  if (!existsSync(CHROMIUM)) {
    assert.fail(
      `Chromium not found at ${CHROMIUM}: the browser check cannot run. Install Debian's chromium (apt-get install chromium; .ci/run does), ` +
        'point PERCPU_CHROMIUM at a Chromium binary, or set PERCPU_SKIP_BROWSER=1 to skip this check deliberately.',
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'percpu-report-'));
  const report = join(dir, 'report.html');
  const out: string[] = [];
  const ok = await runDemo({
    trace: fixturePath('traces', 'raw', 'capture-bpf-phash-3000x1024.trace.gz'),
    stats: fixturePath('traces', 'stats', 'capture-bpf-phash-3000x1024.before.percpu_stats.txt'),
    report,
    write: (s) => out.push(s),
  });
  assert.equal(ok, true, out.join(''));
  assert.match(readFileSync(report, 'utf8'), /^<!doctype html>/);

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1600 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(pathToFileURL(report).href);
    assert.equal(await page.title(), 'percpu — a BPF per-CPU hash map through every allocator');
    // Chunk maps: laid out with a real size, with rectangles drawn.
    const maps = await page.$$eval('figure.chunk-maps > svg', (els) => els.map((e) => ({ w: e.getBoundingClientRect().width, h: e.getBoundingClientRect().height, rects: e.querySelectorAll('rect').length })));
    assert.ok(maps.length >= 1, 'no chunk map');
    for (const m of maps) assert.ok(m.w > 100 && m.h > 50 && m.rects > 10, JSON.stringify(m));
    const tables = await page.$$eval('table', (els) => els.length);
    assert.ok(tables >= 2);
    assert.deepEqual(errors, []);
    // The screenshot: decode it in the page and count colours; a blank page has one.
    const png = await page.screenshot({ fullPage: false });
    assert.ok(png.length > 10_000, `screenshot of ${png.length} bytes`);
    // (A string, evaluated in the page: this file is compiled without DOM types.)
    const colours = (await page.evaluate(`(async () => {
      const img = new Image();
      img.src = 'data:image/png;base64,${png.toString('base64')}';
      await img.decode();
      const c = document.createElement('canvas');
      c.width = img.width;
      c.height = img.height;
      const ctx = c.getContext('2d');
      ctx.drawImage(img, 0, 0);
      const data = ctx.getImageData(0, 0, c.width, c.height).data;
      const seen = new Set();
      for (let i = 0; i < data.length; i += 4 * 97) seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
      return seen.size;
    })()`)) as number;
    assert.ok(colours > 5, `screenshot has only ${colours} colours`);
  } finally {
    await browser.close();
  }
});
