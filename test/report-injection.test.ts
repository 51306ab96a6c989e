// SPDX-License-Identifier: GPL-2.0-only
/**
 * Text from inputs never becomes markup: markup is fed through every field that
 * reaches the HTML report or an SVG map — the trace's file name, call sites,
 * task names, a golden file's name, workload header and comments, and every
 * string field of the report API — and the rendered pages are checked in
 * headless Chromium: no element or event handler was injected, no script ran,
 * no dialog opened, and the payload text is shown as text.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { BrowserContext } from 'playwright-core';
import { runDemo } from '../src/cli/demo.js';
import { mapFromGolden } from '../src/cli/map.js';
import { renderReport } from '../src/tools/viz/report.js';
import { escapeText, html } from '../src/tools/viz/markup.js';
import { fixturePath } from '../test-support/fixtures.js';
import { browserSkip, launchChromium } from '../test-support/browser.js';

/** Each payload, if it ran, would set window.__pwned or open a dialog. */
const PAYLOADS = ['<img src=x onerror="window.__pwned=1;alert(1)">', '"><script>window.__pwned=2</script>', "'><svg/onload=window.__pwned=3>", '<a href="javascript:alert(4)">x</a>'];
/** Payloads without "=", for a call site (the parser ends it before the next "key="). */
const TIGHT = ['<script>alert(6)</script>', '<iframe srcdoc></iframe><b>bold</b>', '"><svg onload>x'];

test('escapeText and the html template escape what they interpolate, once', () => {
  assert.equal(escapeText(`<a href="x" title='y'>&</a>`), '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;');
  const inner = html`<b>${'<i>'}</b>`;
  assert.equal(html`<p>${inner}${['<', 1, null, undefined, false]}</p>`.toString(), '<p><b>&lt;i&gt;</b>&lt;1</p>');
});

/** A copy of the small capture trace whose task names and call sites are markup. */
function poisonedTrace(dir: string): string {
  const text = gunzipSync(readFileSync(fixturePath('traces', 'raw', 'capture-bpf-phash-3000x1024.trace.gz'))).toString('utf8');
  let i = 0;
  const out = text
    .split('\n')
    .map((line) => {
      if (!line.includes('percpu_')) return line;
      i++;
      let l = line.replace(/^(\s*)(\S+)-(\d+)/, (_m, sp: string, _task: string, pid: string) => `${sp}${PAYLOADS[i % PAYLOADS.length]}-${pid}`);
      l = l.replace(/call_site=\S+/, `call_site=${TIGHT[i % TIGHT.length]}+0x1/0x2`);
      return l;
    })
    .join('\n');
  const path = join(dir, `x<img src=x onerror=alert(5)>.trace`);
  writeFileSync(path, out);
  return path;
}

/** A golden file whose name, workload header and comments are markup. */
function poisonedGolden(dir: string): string {
  const text = gunzipSync(readFileSync(fixturePath('golden', 'spec', '4.14', 'GV-B.golden.gz'))).toString('utf8');
  const lines = text.split('\n');
  const out = lines.map((l) => (l.startsWith('# workload:') ? `# workload: ${PAYLOADS.join(' ')}` : l));
  out.splice(out.findIndex((l) => !l.startsWith('#')), 0, `# ${PAYLOADS[0]}`, `# note: ${PAYLOADS[1]}`);
  const path = join(dir, `g<svg onload=alert(6)>.golden.gz`);
  writeFileSync(path, gzipSync(out.join('\n')));
  return path;
}

interface PageCheck {
  pwned: unknown;
  injected: string[];
  handlers: string[];
  text: string;
}

async function inspect(context: BrowserContext, file: string): Promise<PageCheck & { dialogs: string[]; errors: string[] }> {
  const page = await context.newPage();
  const dialogs: string[] = [];
  const errors: string[] = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(pathToFileURL(file).href);
  await page.waitForTimeout(200);
  // (A string, evaluated in the page: this file is compiled without DOM types.)
  const r = (await page.evaluate(`(() => {
    const all = [...document.querySelectorAll('*')];
    const injected = all.filter((e) => ['script', 'img', 'iframe', 'object', 'embed', 'foreignObject', 'image', 'use'].includes(e.localName) || (e.localName === 'a' && !(e.getAttribute('href') || '').startsWith('#'))).map((e) => e.outerHTML.slice(0, 80));
    const handlers = [];
    for (const e of all) for (const a of e.attributes) if (/^on/i.test(a.name) || (/^(href|src|xlink:href|action|formaction|srcdoc)$/i.test(a.name) && /^\s*javascript:/i.test(a.value))) handlers.push(e.localName + ' ' + a.name + '=' + a.value.slice(0, 40));
    return { pwned: window.__pwned, injected, handlers, text: document.documentElement.textContent };
  })()`)) as PageCheck;
  await page.close();
  return { ...r, dialogs, errors };
}

test('markup in file names, call sites, task names and golden headers never runs in a report or map', { skip: browserSkip(), timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-inject-'));
  const stats = join(dir, 'before"><img src=x onerror=alert(7)>.percpu_stats');
  copyFileSync(fixturePath('traces', 'stats', 'capture-bpf-phash-3000x1024.before.percpu_stats.txt'), stats);
  const trace = poisonedTrace(dir);
  const report = join(dir, 'report.html');
  const out: string[] = [];
  await runDemo({ trace, stats, report, write: (s) => out.push(s) });
  const reportHtml = readFileSync(report, 'utf8');
  // The payloads reached the report (as text): the call-site and task tables list them.
  assert.ok(reportHtml.includes(escapeText(TIGHT[0]!)), 'a call site payload is in the report');
  assert.ok(reportHtml.includes(escapeText(PAYLOADS[1]!)), 'a task payload is in the report');
  assert.ok(reportHtml.includes(escapeText('x<img src=x onerror=alert(5)>.trace')), 'the file name is in the report');

  const golden = poisonedGolden(dir);
  const single = join(dir, 'map.svg');
  writeFileSync(single, (await mapFromGolden(golden, { kernel: '4.14' })).svg);
  const diff = join(dir, 'diff.svg');
  writeFileSync(diff, (await mapFromGolden(golden, { diff: '4.14,7.0' })).svg);
  assert.ok(readFileSync(single, 'utf8').includes(escapeText(PAYLOADS[0]!)), 'the workload header is in the map caption');

  // The report API itself: every string field.
  const api = join(dir, 'api.html');
  const p = PAYLOADS.join('');
  writeFileSync(
    api,
    renderReport({
      title: p,
      subtitle: p,
      sections: [
        {
          id: p,
          title: p,
          blocks: [
            { kind: 'text', html: html`<p>${p}</p>` },
            { kind: 'table', head: [p], rows: [[p, 1]], caption: p },
            { kind: 'pre', text: p, caption: p },
            { kind: 'columns', blocks: [{ kind: 'pre', text: p, caption: p }] },
          ],
        },
      ],
    }),
  );

  const { context, close } = await launchChromium();
  try {
    for (const file of [report, single, diff, api]) {
      const r = await inspect(context, file);
      assert.equal(r.pwned, undefined, `${file}: a payload ran`);
      assert.deepEqual(r.dialogs, [], `${file}: a dialog opened`);
      assert.deepEqual(r.injected, [], `${file}: elements injected`);
      assert.deepEqual(r.handlers, [], `${file}: handlers injected`);
      assert.deepEqual(r.errors, [], `${file}: page errors`);
    }
    const r = await inspect(context, report);
    assert.ok(r.text.includes('x<img src=x onerror=alert(5)>.trace'), 'the file name reads as text');
    assert.ok(r.text.includes(TIGHT[1]!), 'the call site reads as text');
  } finally {
    await close();
  }
});
