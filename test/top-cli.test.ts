// SPDX-License-Identifier: GPL-2.0-only
/**
 * `percpu top` and `percpu leaks` as a user runs them on the bundled traces:
 * the one-shot text and JSON, the same views from gzip and xz input, the HTML
 * report (input text escaped), bad input (exit 2, file and line), and the
 * interactive screen in tmux (keys change the sort and the view, q quits).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../test-support/fixtures.js';
import { alloc, create, free, traceText } from '../test-support/synthetic-trace.js';
import { colorWanted, makeStyle } from '../src/tools/top/view.js';
import { clipVisible } from '../src/tools/top/run.js';
import { inCI } from '../test-support/ci.js';

const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const mixed = 'fixtures/top/mixed.trace.xz';

test('top --once on a bundled trace: call sites, then what fragmentation costs, no colour when piped', () => {
  const r = run(['top', mixed, '--once', '--limit', '5']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^percpu top — fixtures\/top\/mixed\.trace\.xz {3}3\.\d s observed, 3217 events/);
  assert.match(r.out, /LIVE +OBJS +GROWTH\/s +ALLOC\/s +FREE\/s +FAIL +ATOMIC CALL SITE\n +36 KiB +42 .* mem_cgroup_css_alloc\n/);
  assert.match(r.out, /Fragmentation — chunks created during the observation \(1; 1 alive\)/);
  assert.match(r.out, /compacted, the same objects would need 2 pages in 1 chunk .* fragmentation costs 3 pages = 24 KiB/);
  assert.match(r.out, /1 object from mem_cgroup_css_alloc \(528 B\) keeps 1 page alive\n  2 objects from percpu_ref_init \(16 B\) keep 1 page alive\n  5 objects from __percpu_counter_init_many \(80 B\) share 1 page with other call sites, which keep it alive together/);
  assert.match(r.out, /2 chunk\(s\) existed before the observation: .*cannot be computed/);
  assert.doesNotMatch(r.out, /\x1b\[/, 'no escape codes when not on a terminal');
});

test('top --json: the same numbers, machine-readable; sort keys apply', () => {
  const r = run(['top', mixed, '--json', '--sort', 'objects']);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.events, 3217);
  assert.equal(j.chunksCreated, 1);
  assert.equal(j.sites[0].name, 'css_rstat_init', 'sorted by live objects');
  for (let i = 1; i < j.sites.length; i++) assert.ok(j.sites[i - 1].liveObjects >= j.sites[i].liveObjects);
  assert.equal(j.liveBytes, j.sites.reduce((a: number, s: { liveBytes: number }) => a + s.liveBytes, 0));
  assert.equal(j.fragmentation.unitSize, 1048576, 'geometry from mixed.trace.percpu_stats next to the trace');
  assert.equal(j.fragmentation.nrUnits, 2);
  assert.deepEqual(j.fragmentation.compacted, { bytes: j.fragmentation.compacted.bytes, pages: 2, chunks: 1 });
  assert.equal(j.lost.provenLostFrees, 2);
});

test('the same trace as gzip and as xz prints the same views', () => {
  const a = run(['top', 'fixtures/top/small.trace.gz', '--once']);
  const b = run(['top', 'fixtures/top/small.trace.xz', '--once']);
  assert.equal(a.code, 0, a.err);
  assert.equal(a.out.replace('small.trace.gz', 'X'), b.out.replace('small.trace.xz', 'X'));
  assert.match(a.out, /no chunk was created during the observation/);
});

test('leaks on a trace: groups by call site with age histograms', () => {
  const r = run(['leaks', 'fixtures/top/small.trace.xz', '--older', '0.5', '--limit', '2']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^percpu leaks — /);
  assert.match(r.out, /Outstanding allocations older than 0\.5 s .*: 15 KiB in 88 allocations from 17 call sites/);
  assert.match(r.out, /6\.8 KiB in 8 allocations from mem_cgroup_css_alloc: ages 0\.7–0\.9 s; sizes 1216 B ×4, 528 B ×4\n +0\.500–1\.00 s +8 \|\*+/);
  const j = JSON.parse(run(['leaks', 'fixtures/top/small.trace.xz', '--json', '--older', '100']).out);
  assert.equal(j.objects, 0);
  assert.equal(j.younger, 88);
});

test('--report writes the page; call sites from the input are escaped', () => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-top-report-'));
  const trace = join(dir, 'evil.trace');
  const B = '00000000000000e1';
  writeFileSync(
    trace,
    traceText([create(1, B), alloc(1.1, B, 0, 64, { site: '<script>alert(1)</script>' }), alloc(1.2, B, 64, 5000, { site: 'x"onmouseover="y+0x1/0x2' }), free(1.3, B, 64)]),
  );
  const out = join(dir, 'r.html');
  const r = run(['top', trace, '--once', '--report', out, '--unit-size', '16384', '--nr-units', '2']);
  assert.equal(r.code, 0, r.err);
  const html = readFileSync(out, 'utf8');
  assert.doesNotMatch(html, /<script>/);
  assert.doesNotMatch(html, /"onmouseover="/);
  assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  for (const id of ['sites', 'fragmentation', 'occupancy', 'leaks']) assert.match(html, new RegExp(`<section id="${id}">`));
  assert.match(html, /<polygon /, 'the stacked area');
  assert.match(html, /chunk #0 \(00000000000000e1\): 1 objects, 64 B on 1 of 4 pages, 1 pinned — kept alive by a few small objects/);
});

test('bad input: exit 2 with the file and line; a missing file is named', () => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-top-bad-'));
  const bad = join(dir, 'bad.trace');
  writeFileSync(bad, traceText([alloc(1, '0000000000000001', 0, 8), 'this is not an event']));
  const r = run(['top', bad, '--once']);
  assert.equal(r.code, 2);
  assert.match(r.err, /^percpu: .*bad\.trace:4: not a trace event line/);
  assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
  const m = run(['leaks', join(dir, 'missing.trace')]);
  assert.equal(m.code, 2);
  assert.match(m.err, /missing\.trace: cannot read: no such file/);
  const s = run(['top', bad, '--stats', join(dir, 'nope.percpu_stats')]);
  assert.equal(s.code, 2);
});

test('colours: only on a terminal, never with NO_COLOR set', () => {
  assert.equal(colorWanted({ isTTY: true }, {}), true);
  assert.equal(colorWanted({ isTTY: true }, { NO_COLOR: '1' }), false);
  assert.equal(colorWanted({ isTTY: true }, { NO_COLOR: '' }), true, 'an empty NO_COLOR does not count (no-color.org)');
  assert.equal(colorWanted({ isTTY: false }, {}), false);
  assert.equal(colorWanted({}, {}), false);
  assert.equal(makeStyle(false).red('x'), 'x');
  assert.equal(makeStyle(true).red('x'), '\x1b[31mx\x1b[0m');
  assert.equal(clipVisible('\x1b[1mabcdef\x1b[0m', 3), '\x1b[1mabc\x1b[0m');
});

function tmux(...args: string[]) {
  return spawnSync('tmux', args, { encoding: 'utf8' });
}

test('the screen on a TTY (tmux): redraws in place, keys sort and switch views, q quits', async (t) => {
  if (tmux('-V').status !== 0) {
    assert.ok(!inCI(), 'tmux is missing in CI: .ci/run installs it');
    process.stderr.write('skip: tmux is not installed (apt-get install tmux to run this test)\n');
    t.skip('tmux is not installed (apt-get install tmux to run this test)');
    return;
  }
  const name = `percpu-top-test-${process.pid}`;
  const cmd = `cd ${ROOT} && ${process.execPath} ${CLI} top ${mixed}; echo EXITED:$?; sleep 5`;
  assert.equal(tmux('new-session', '-d', '-s', name, '-x', '140', '-y', '40', cmd).status, 0);
  const screen = () => tmux('capture-pane', '-p', '-t', name).stdout;
  const waitFor = async (re: RegExp) => {
    for (let i = 0; i < 100; i++) {
      const s = screen();
      if (re.test(s)) return s;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`screen never showed ${re}:\n${screen()}`);
  };
  try {
    let s = await waitFor(/CALL SITE/);
    assert.match(s, /keys: 1 sites · 2 fragmentation · 3 leaks/);
    if (!process.env.NO_COLOR) assert.match(tmux('capture-pane', '-e', '-p', '-t', name).stdout, /\x1b\[[0-9;]*m/, 'colours on a terminal');
    assert.match(s.split('\n').find((l) => /KiB +\d+ /.test(l))!, /mem_cgroup_css_alloc/, 'sorted by live bytes first');
    tmux('send-keys', '-t', name, 'o');
    s = await waitFor(/o:objects/);
    assert.match(s.split('\n').find((l) => /(KiB|B) +\d+ /.test(l))!, /css_rstat_init/, 'o sorts by live objects');
    tmux('send-keys', '-t', name, '2');
    s = await waitFor(/Fragmentation — chunks created/);
    assert.doesNotMatch(s, /CALL SITE/, 'the view replaced the table in place');
    tmux('send-keys', '-t', name, '3');
    await waitFor(/Outstanding allocations older than 0\.5 s/);
    tmux('send-keys', '-t', name, 'q');
    s = await waitFor(/EXITED:0/);
    assert.doesNotMatch(s, /Outstanding allocations/, 'the alternate screen is gone after q');
  } finally {
    tmux('kill-session', '-t', name);
  }
});

test('docs/TOOLS.md: the worked example on the bundled trace is what the command prints', () => {
  const doc = readFileSync(join(ROOT, 'docs', 'TOOLS.md'), 'utf8');
  const cmd = '$ npx percpu top fixtures/top/mixed.trace.xz --once --limit 3\n';
  const at = doc.indexOf(cmd);
  assert.ok(at >= 0, 'the example is in the docs');
  const shown = doc.slice(at + cmd.length, doc.indexOf('```', at));
  const r = run(['top', mixed, '--once', '--limit', '3']);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, shown);
});
