// SPDX-License-Identifier: GPL-2.0-only
/**
 * The command line as a user runs it: `percpu verify`, `percpu stats`, `percpu demo`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, fixturePath } from '../test-support/fixtures.js';

const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');

function run(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, input, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const gvA = fixturePath('golden', 'spec', '4.14', 'GV-A.golden.gz');
const gvD = fixturePath('golden', 'spec', '4.14', 'GV-D.golden.gz');

test('verify: ok lines per file, the summary as the very last line, exit 0', () => {
  const r = run(['verify', gvA, gvD]);
  assert.equal(r.code, 0, r.err);
  const lines = r.out.trimEnd().split('\n');
  assert.match(lines[0]!, /^ok .*GV-A\.golden\.gz: 36\/36 placements, 0\/0 chunk events$/);
  assert.match(lines[1]!, /^ok .*GV-D\.golden\.gz: 30\/30 placements, 0\/0 chunk events$/);
  assert.equal(lines.at(-1), 'placements: matched 66/66');
});

test('verify: plain text on stdin (-) works, and a mismatch fails with its line and exit 1', () => {
  const text = gunzipSync(readFileSync(gvD)).toString('utf8');
  assert.equal(run(['verify', '-'], text).code, 0);
  const broken = text.replace(/^(a \d+ 2048 256) -1 -1$/m, '$1 0 2048');
  assert.notEqual(broken, text);
  const r = run(['verify', '-'], broken);
  assert.equal(r.code, 1);
  const lines = r.out.trimEnd().split('\n');
  const lineNo = broken.split('\n').findIndex((l) => l.startsWith('a ') && l.includes(' 2048 256 0 2048')) + 1;
  assert.equal(lines[0], `FAIL <stdin>: 29/30 placements, 0/0 chunk events; first mismatch at line ${lineNo}: expected 0 2048 got -1 -1`);
  assert.equal(lines.at(-1), 'placements: matched 29/30');
});

test('verify: --fixed and --kernel change the profile; files of unknown kernels are skipped, not matched', () => {
  const fixed = run(['verify', '--fixed', gvD]);
  assert.equal(fixed.code, 1);
  assert.match(fixed.out, /expected -1 -1 got 0 2048/);
  const forced = run(['verify', '--kernel', '7.0', fixturePath('golden', 'spec', '4.14', 'GV-B.golden.gz')]);
  assert.equal(forced.code, 1);
  const text = gunzipSync(readFileSync(gvA)).toString('utf8').replace('# kernel: 4.14', '# kernel: 5.4');
  const skipped = run(['verify', '-'], text);
  assert.equal(skipped.code, 1, 'a file no profile implements is not a match');
  assert.match(skipped.out, /^skip <stdin>: kernel 5\.4 is not implemented yet \(36 placements not checked\)$/m);
  assert.match(skipped.out, /placements: matched 0\/0\n$/);
});

test('verify: gzip, plain and xz files are all read', () => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-cli-'));
  const plain = join(dir, 'gva.golden');
  writeFileSync(plain, gunzipSync(readFileSync(gvA)));
  const files = [gvA, plain];
  let haveXz = true;
  try {
    execFileSync('xz', ['-k', plain]);
    files.push(plain + '.xz');
  } catch {
    haveXz = false;
  }
  const r = run(['verify', ...files]);
  assert.equal(r.code, 0, r.out + r.err);
  assert.equal(r.out.trimEnd().split('\n').at(-1), `placements: matched ${36 * files.length}/${36 * files.length}`);
  if (!haveXz) console.log('# xz not installed: the xz path was not exercised');
});

test('verify: malformed input names the line (exit 2, on stderr); a missing file is an error, not a crash', () => {
  const text = '# percpu-golden 1\n# kernel: 4.14\n# mode: chunk\n# geometry: unit_size=8192\na 0 8 8 0 0\na 1 eight 8 0 8\n';
  const r = run(['verify', '-'], text);
  assert.equal(r.code, 2);
  assert.equal(r.err, 'percpu: <stdin>:6: expected an integer (a size), got "eight"\n');
  const missing = run(['verify', '/nonexistent/file.golden', gvA]);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /^percpu: \/nonexistent\/file\.golden: cannot read: no such file or directory\n  check the path/);
  // The other file is still checked.
  assert.match(missing.out, /^ok .*GV-A/m);
});

test('stats: the debugfs text after N ops of a golden file', () => {
  const r = run(['stats', '--at', '3', gvA]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^Percpu Memory Statistics\nAllocation Info:\n-{40}\n/);
  assert.match(r.out, /  nr_alloc            :            3\n/);
  const bad = run(['stats', '--at', 'x', gvA]);
  assert.equal(bad.code, 2);
  assert.equal(bad.err, 'percpu: --at takes an integer, got "x"\n');
});

test('demo: a trace through every profile, the story in one screen, and the report (npm start\'s own run: report-browser.test.ts)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-demo-'));
  const report = join(dir, 'r.html');
  const r = run(['demo', '--trace', fixturePath('traces', 'raw', 'capture-bpf-phash-3000x1024.trace.gz'), '--stats', fixturePath('traces', 'stats', 'capture-bpf-phash-3000x1024.before.percpu_stats.txt'), '--report', report]);
  assert.equal(r.code, 0, r.err);
  assert.ok(r.out.trimEnd().split('\n').length <= 40, `${r.out.split('\n').length} lines`);
  const rows = [...r.out.matchAll(/^  (4\.13|4\.14|7\.0|7\.0 fixed) +([\d,]+)\/([\d,]+) /gm)];
  assert.equal(rows.length, 4, r.out);
  // Every profile reproduces every kernel placement in chunks the trace created.
  for (const m of rows) assert.equal(m[2], m[3], m[0]);
  assert.match(r.out, /Free cost: the 4\.13 area map's frees take/);
  assert.match(r.out, new RegExp(`Report \\(.*\\): ${report.replace(/[.]/g, '\\.')}`));
  assert.doesNotMatch(r.out, /Percpu Memory Statistics/, 'stats dumps belong in the report');
  assert.match(readFileSync(report, 'utf8'), /<figure id="[^"]+" class="chunk-maps">/);
  const verbose = run(['demo', '--verbose', '--trace', fixturePath('traces', 'raw', 'capture-bpf-phash-3000x1024.trace.gz'), '--stats', fixturePath('traces', 'stats', 'capture-bpf-phash-3000x1024.before.percpu_stats.txt'), '--report', report]);
  assert.match(verbose.out, /== percpu_stats of the 7\.0 simulation/);
});

test('verify: a directory stands for every golden file below it, all three kernels', () => {
  const r = run(['verify', fixturePath('golden', 'spec')]);
  assert.equal(r.code, 0, r.out + r.err);
  const lines = r.out.trimEnd().split('\n');
  assert.equal(lines.filter((l) => l.startsWith('ok ')).length, 19);
  assert.ok(lines.some((l) => /spec\/4\.13\/GV-E\.golden\.gz: 20\/20 placements/.test(l)));
  assert.match(lines.at(-1)!, /^placements: matched (\d+)\/\1$/);
});
