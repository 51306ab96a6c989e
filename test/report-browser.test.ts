// SPDX-License-Identifier: GPL-2.0-only
/**
 * The HTML report in a real browser (headless Chromium through
 * test-support/browser.ts: skipped with a printed reason when Chromium is
 * missing outside CI, required in CI).
 *
 * The default report — `npm start`'s, on the bundled 1M-entry trace — is written and
 * checked as text without a browser (the story fits one screen, every placement
 * matched, under 500 KB); in Chromium it must be a
 * page a person reads: under 8,000 px tall and 500 KB, a table of contents whose
 * links all land, a caption on every figure, a legend in every map, no console
 * errors, and a screenshot with real content (saved to
 * $PERCPU_SCREENSHOT_DIR or the temp folder, path printed, for a human look).
 * A small trace's report, with --full, draws every page of every chunk.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import { runDemo } from '../src/cli/demo.js';
import { fixturePath } from '../test-support/fixtures.js';
import { browserSkip, launchChromium } from '../test-support/browser.js';

const skip = browserSkip();

interface Layout {
  height: number;
  toc: { href: string; found: boolean }[];
  figures: { caption: string; id: string }[];
  maps: { w: number; h: number; rects: number; legend: boolean }[];
  tables: number;
  marks: number;
}

async function layout(page: Page): Promise<Layout> {
  // (A string, evaluated in the page: this file is compiled without DOM types.)
  return (await page.evaluate(`(() => ({
    height: document.documentElement.scrollHeight,
    toc: [...document.querySelectorAll('nav.toc a')].map((a) => ({ href: a.getAttribute('href'), found: !!document.getElementById(a.getAttribute('href').slice(1)) })),
    figures: [...document.querySelectorAll('figure, table')].map((f) => ({ id: f.id, caption: (f.querySelector('figcaption, caption') || {}).textContent || '' })),
    maps: [...document.querySelectorAll('figure.chunk-maps > svg')].map((e) => ({ w: e.getBoundingClientRect().width, h: e.getBoundingClientRect().height, rects: e.querySelectorAll('rect').length, legend: !!e.querySelector('svg.legend') })),
    tables: document.querySelectorAll('table').length,
    marks: document.querySelectorAll('#stats mark').length,
  }))()`)) as Layout;
}

async function colours(page: Page, png: Buffer): Promise<number> {
  return (await page.evaluate(`(async () => {
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
}

function checkLayout(l: Layout): void {
  assert.ok(l.toc.length >= 5, `table of contents: ${JSON.stringify(l.toc)}`);
  for (const t of l.toc) assert.ok(t.found, `contents link ${t.href} lands nowhere`);
  for (const f of l.figures) assert.ok(f.caption.trim().length > 0 && f.id !== '', `figure without caption or anchor: ${JSON.stringify(f)}`);
  assert.ok(l.maps.length >= 1, 'no chunk map');
  for (const m of l.maps) {
    assert.ok(m.w > 100 && m.h > 50 && m.rects > 10, JSON.stringify(m));
    assert.ok(m.legend, 'a chunk map without its legend');
  }
  assert.ok(l.tables >= 2);
}

let defaultReport: { path: string; bytes: number; text: string } | undefined;

test('npm start: the story in one screen, every placement matched, a report under 500 KB with bands and no diff maps', { timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-report-'));
  const report = join(dir, 'report.html');
  const out: string[] = [];
  const ok = await runDemo({ report, write: (s) => out.push(s) });
  const story = out.join('');
  assert.equal(ok, true, story);
  assert.ok(story.trimEnd().split('\n').length <= 40, story);
  assert.match(story, /1,000,005 values of 8 B/);
  const rows = [...story.matchAll(/^  (4\.13|4\.14|7\.0|7\.0 fixed) +([\d,]+)\/([\d,]+) /gm)];
  assert.equal(rows.length, 4, story);
  for (const m of rows) {
    assert.equal(m[2], m[3], m[0]);
    assert.ok(Number(m[3]!.replace(/,/g, '')) > 700_000);
  }
  assert.match(story, /All 4 profiles place every allocation identically/);
  assert.match(story, /Free cost: the 4\.13 area map's frees take .*x the bitmap's/);
  assert.match(story, /timed on one chunk's share/, 'the sampling is said');
  const bytes = statSync(report).size;
  assert.ok(bytes < 500_000, `report is ${bytes} bytes`);
  const text = readFileSync(report, 'utf8');
  assert.match(text, /^<!doctype html>/);
  // Identical placements: one line, no diff maps; a chunk-map band for the full stripes.
  assert.match(text, /All 4 profiles place every allocation identically/);
  assert.doesNotMatch(text, /placed differently \(outlined/);
  assert.match(text, /class="band-full"/);
  assert.match(text, /4\.14, 7\.0, 7\.0 fixed \(identical\)/);
  defaultReport = { path: report, bytes, text };
});

test('the default report in Chromium: < 8,000 px, contents, captions, legends, highlighted stats, no console errors', { skip, timeout: 120_000 }, async () => {
  assert.ok(defaultReport, 'the report was not written');
  const { path: report, bytes } = defaultReport;
  const { context, close } = await launchChromium();
  try {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(m.text());
    });
    await page.goto(pathToFileURL(report).href);
    assert.equal(await page.title(), 'percpu — a BPF per-CPU hash map through every allocator');
    const l = await layout(page);
    assert.ok(l.height < 8000, `report is ${l.height} px tall`);
    checkLayout(l);
    // 4.13's percpu_stats differ from the bitmap profiles': highlighted lines.
    assert.ok(l.marks > 0, 'no highlighted stats line');
    assert.deepEqual(errors, []);
    const png = await page.screenshot({ fullPage: true });
    const shot = join(process.env.PERCPU_SCREENSHOT_DIR ?? dirname(report), 'percpu-report.png');
    writeFileSync(shot, png);
    process.stderr.write(`report screenshot: ${shot} (${l.height} px, ${bytes} bytes)\n`);
    assert.ok(png.length > 50_000, `screenshot of ${png.length} bytes`);
    const first = await page.screenshot({ fullPage: false });
    assert.ok((await colours(page, first)) > 5, 'the first screen is blank');
  } finally {
    await close();
  }
});

test('--full draws every page of every chunk (a small trace), still with captions and legends', { skip, timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-report-'));
  const report = join(dir, 'report.html');
  const out: string[] = [];
  const ok = await runDemo({
    trace: fixturePath('traces', 'raw', 'capture-bpf-phash-3000x1024.trace.gz'),
    stats: fixturePath('traces', 'stats', 'capture-bpf-phash-3000x1024.before.percpu_stats.txt'),
    report,
    full: true,
    write: (s) => out.push(s),
  });
  assert.equal(ok, true, out.join(''));
  const text = readFileSync(report, 'utf8');
  assert.match(text, /in full: every page of every chunk/);
  const { context, close } = await launchChromium();
  try {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(pathToFileURL(report).href);
    const l = await layout(page);
    checkLayout(l);
    // Every page of every chunk has its own row in the full maps.
    const rows = (await page.evaluate(`[...document.querySelectorAll('figure.full g.band')].length`)) as number;
    assert.equal(rows, 0, 'a full map has bands');
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});
