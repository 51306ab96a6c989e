// SPDX-License-Identifier: GPL-2.0-only
/**
 * The error discipline, subcommand by subcommand, as a user meets it: a bad
 * file, path or option gives exit 2 (1 for an input that vouches for
 * nothing), one or two lines on stderr that name the file, and never a stack
 * trace. Also the `--json` documents, parsed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, fixturePath } from '../test-support/fixtures.js';

const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'percpu-errors-'));

function run(args: string[], input?: string, env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, input, encoding: 'utf8', env: { ...process.env, PERCPU_DEBUG: '', ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** No stack trace, no Node internals, at most two lines per error. */
function assertClean(r: { err: string }, what: string): void {
  assert.doesNotMatch(r.err, /^\s+at /m, `${what}: stack trace on stderr:\n${r.err}`);
  assert.doesNotMatch(r.err, /node:internal|Error: |\bZ_BUF_ERROR\b|errno/, `${what}: raw Node error:\n${r.err}`);
  for (const block of r.err.split(/^(?=percpu: )/m)) assert.ok(block.split('\n').filter((l) => l !== '').length <= 2, `${what}: more than two lines:\n${r.err}`);
}

function bad(args: string[], code: number, pattern: RegExp, input?: string): string {
  const r = run(args, input);
  const what = `percpu ${args.join(' ')}`;
  assert.equal(r.code, code, `${what}: exit ${r.code}\n${r.err}`);
  assertClean(r, what);
  assert.match(r.err, pattern, what);
  return r.err;
}

const gvA = fixturePath('golden', 'spec', '4.14', 'GV-A.golden.gz');
const gvAxz = fixturePath('xz', 'GV-A.golden.xz');
const traceGz = fixturePath('traces', 'raw', 'b_single.chunk5.excerpt.trace.gz');
const traceXz = fixturePath('xz', 'b_single.chunk5.excerpt.trace.xz');
const statsFile = fixturePath('traces', 'stats', 'capture-bpf-phash-3000x1024.before.percpu_stats.txt');
const captureTrace = fixturePath('traces', 'raw', 'capture-bpf-phash-3000x1024.trace.gz');
const gvAText = gunzipSync(readFileSync(gvA)).toString('utf8');

// Damaged copies of real inputs.
const truncatedGz = join(dir, 'truncated.golden.gz');
writeFileSync(truncatedGz, readFileSync(gvA).subarray(0, 300));
const truncatedXz = join(dir, 'truncated.trace.xz');
writeFileSync(truncatedXz, readFileSync(traceXz).subarray(0, 8000));
const corruptXz = join(dir, 'corrupt.golden.xz');
const cx = Buffer.from(readFileSync(gvAxz));
cx[cx.length >> 1] = cx[cx.length >> 1]! ^ 0xff;
writeFileSync(corruptXz, cx);
const truncatedTrace = join(dir, 'truncated.trace.gz');
writeFileSync(truncatedTrace, readFileSync(traceGz).subarray(0, 20000));
const truncatedStats = join(dir, 'truncated.percpu_stats.gz');
writeFileSync(truncatedStats, gzipSync(readFileSync(statsFile)).subarray(0, 200));
const missing = join(dir, 'no-such-file');

test('the xz fixtures decode in process (no xz program needed) and match their gzip originals', () => {
  const r = run(['verify', gvAxz]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^ok .*GV-A\.golden\.xz: 36\/36 placements/m);
  const t = run(['verify-trace', '--unit-size', '1048576', '--json', traceXz]);
  const g = run(['verify-trace', '--unit-size', '1048576', '--json', traceGz]);
  assert.equal(t.code, g.code);
  const [a, b] = [JSON.parse(t.out), JSON.parse(g.out)];
  assert.equal(a.traces[0].events, b.traces[0].events);
  assert.ok(a.traces[0].events > 1000);
  assert.equal(a.matched, b.matched);
});

test('verify: missing, truncated gzip, truncated and corrupt xz, malformed: exit 2, the file named, how far it got', () => {
  bad(['verify', missing], 2, new RegExp(`^percpu: ${missing}: cannot read: no such file or directory$`, 'm'));
  bad(['verify', truncatedGz], 2, /truncated\.golden\.gz: the gzip data ends early \(truncated file\?\): stopped after \d+ decompressed bytes \(\d+ complete lines\)/);
  bad(['verify', corruptXz], 2, /corrupt\.golden\.xz: corrupt xz data: stopped after \d+ decompressed bytes/);
  bad(['verify', fixturePath('golden', 'FORMAT.md')], 2, /FORMAT\.md:1: not a golden file/);
  bad(['verify', '--kernel', '9.9', gvA], 2, /^percpu: --kernel 9\.9: no such kernel profile\n {2}known: 4\.13, 4\.14, 7\.0/);
  bad(['verify'], 2, /missing required argument/);
  bad(['verify', '--frobnicate', gvA], 2, /unknown option '--frobnicate'/);
});

test('stats: missing, truncated, trace without --stats, --at past the end, bad --at: exit 2', () => {
  bad(['stats', missing], 2, /no-such-file: cannot read: no such file or directory/);
  bad(['stats', truncatedGz], 2, /truncated\.golden\.gz: the gzip data ends early/);
  bad(['stats', traceGz], 2, /needs the traced machine's percpu_stats\n {2}pass --stats FILE/);
  bad(['stats', '--at', '62', gvA], 2, /GV-A\.golden\.gz: --at 62 is past the end: the file has 61 ops\n {2}give --at 0\.\.61/);
  assert.equal(run(['stats', '--at', '61', gvA]).code, 0);
  bad(['stats', '--at', '-3', gvA], 2, /--at takes an integer, got "-3"/);
  bad(['stats', '--stats', truncatedStats, captureTrace], 2, /truncated\.percpu_stats\.gz: the gzip data ends early/);
  bad(['stats', '--stats', gvA, captureTrace], 2, /GV-A\.golden\.gz:1: expected "Percpu Memory Statistics"/);
  bad(['stats', '--at', '999999', '--stats', statsFile, captureTrace], 2, /--at 999999 is past the end: the file has \d+ percpu events/);
  bad(['stats'], 2, /give a golden file or trace, or --live/);
});

test('map: unwritable -o (before any replay), missing input, bad --diff: exit 2', () => {
  bad(['map', gvA, '-o', join(dir, 'no-dir', 'x.svg')], 2, /no-dir\/x\.svg: cannot write: no such file or directory\n {2}create the directory first, or pass another -o/);
  bad(['map', gvA, '-o', dir], 2, /cannot write: is a directory/);
  bad(['map', missing], 2, /no-such-file: cannot read/);
  bad(['map', '--diff', '4.14', gvA], 2, /--diff takes two profiles/);
  bad(['map', '--diff', '4.14,9.9', gvA], 2, /--kernel 9\.9: no such kernel profile/);
  bad(['map', '--json', gvA], 2, /--json prints the summary: give -o FILE\.svg/);
});

test('doctor: missing, truncated trace, a trace without its unit size, nothing to examine: exit 2', () => {
  bad(['doctor', missing], 2, /no-such-file: cannot read/);
  bad(['doctor', '--unit-size', '1048576', truncatedTrace], 2, /truncated\.trace\.gz: the gzip data ends early.*\(\d+ complete lines\)/);
  bad(['doctor', traceGz], 2, /needs the unit size of its machine\n {2}pass --unit-size BYTES/);
  bad(['doctor'], 2, /nothing to examine/);
  bad(['doctor', '--unit-size', 'big', traceGz], 2, /--unit-size takes an integer, got "big"/);
});

test('demo: unwritable --report fails before the replay, a missing or truncated --trace: exit 2', () => {
  bad(['demo', '--report', join(dir, 'no-dir', 'r.html')], 2, /no-dir\/r\.html: cannot write: no such file or directory\n {2}create the directory first, or pass another --report/);
  bad(['demo', '--trace', missing, '--report', join(dir, 'r.html')], 2, /no-such-file: cannot read/);
  bad(['demo', '--trace', truncatedXz, '--report', join(dir, 'r.html')], 2, /truncated\.trace\.xz: the xz data ends early \(truncated file\?\): stopped after \d+ decompressed bytes \(\d+ complete lines\)/);
});

test('bench --from: missing, not JSON, not bench output; bench --out unwritable: exit 2', () => {
  bad(['bench', '--from', missing], 2, /no-such-file: cannot read/);
  bad(['bench', '--from', gvA], 2, /GV-A\.golden\.gz: not JSON.*\n {2}give a file written by percpu bench --json/);
  const notBench = join(dir, 'x.json');
  writeFileSync(notBench, '{"a": 1}\n');
  bad(['bench', '--from', notBench], 2, /x\.json: not the --json output of percpu bench/);
  bad(['bench', '--from', fixturePath('..', 'docs', 'benchmarks.json'), '--out', join(dir, 'no-dir', 'o.json')], 2, /o\.json: cannot write/);
  bad(['bench', '--runs', 'x'], 2, /--runs takes a positive integer/);
});

test('verify-trace and replay: missing, truncated, unwritable --write-golden (also under /proc), bad --kernel: exit 2', () => {
  bad(['verify-trace', '--unit-size', '1048576', missing], 2, /no-such-file: cannot read/);
  bad(['verify-trace', '--unit-size', '1048576', truncatedXz], 2, /truncated\.trace\.xz: the xz data ends early/);
  bad(['verify-trace', '--unit-size', '1048576', '--write-golden', '/proc/percpu-test/x', traceGz], 2, /\/proc\/percpu-test\/x: cannot write/);
  bad(['verify-trace', '--unit-size', '1048576', '--kernel', '5.4', traceGz], 2, /--kernel 5\.4: no such kernel profile/);
  bad(['replay', '--stats', missing, traceGz], 2, /no-such-file: cannot read/);
  bad(['replay', '--stats', truncatedStats, traceGz], 2, /the gzip data ends early/);
});

test('an empty input, a trace whose timestamps run backwards: a warning and exit 1, never success', () => {
  bad(['verify', '-'], 1, /^percpu: warning: <stdin>: empty: no op to check$/m, '');
  bad(['verify-trace', '--unit-size', '1048576', '-'], 1, /warning: <stdin>: no percpu event in 0 lines/, '');
  bad(['stats', '-'], 1, /warning: <stdin>: empty input: nothing to check/, '');
  const lines = gunzipSync(readFileSync(traceGz)).toString('utf8').split('\n');
  const events = lines.map((l, i) => [l, i] as const).filter(([l]) => /percpu_(alloc|free)_percpu/.test(l));
  // Swap two events' lines: the file is now out of time order.
  const [a, b] = [events[100]![1], events[200]![1]];
  [lines[a], lines[b]] = [lines[b]!, lines[a]!];
  const err = bad(['verify-trace', '--unit-size', '1048576', '-'], 1, /<stdin>:\d+: timestamps run backwards here/, lines.join('\n'));
  // Line a+1 now holds the later event; the one after it (1-based a+2) is the first that goes back in time.
  assert.match(err, new RegExp(`<stdin>:${a + 2}:`));
});

test('CRLF files read like LF files, golden and trace alike', () => {
  const crlf = gvAText.replace(/\n/g, '\r\n');
  const r = run(['verify', '-'], crlf);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /36\/36 placements/);
  const t = gunzipSync(readFileSync(traceGz)).toString('utf8');
  const lf = JSON.parse(run(['verify-trace', '--unit-size', '1048576', '--json', '-'], t).out);
  const cr = JSON.parse(run(['verify-trace', '--unit-size', '1048576', '--json', '-'], t.replace(/\n/g, '\r\n')).out);
  assert.equal(cr.matched, lf.matched);
  assert.equal(cr.traces[0].events, lf.traces[0].events);
});

test('golden format errors name the line and cut a long line to ~80 characters', () => {
  const head = '# percpu-golden 1\n# kernel: 4.14\n# mode: chunk\n# geometry: unit_size=8192\n';
  bad(['verify', '-'], 2, /^percpu: <stdin>:6: id 0 is used by an earlier a or r line: ids are unique per file$/m, head + 'a 0 8 8 0 0\na 0 8 8 0 8\n');
  bad(['verify', '-'], 2, /<stdin>:5: size 0: a request is at least 1 byte/, head + 'a 0 0 8 0 0\n');
  bad(['verify', '-'], 2, /<stdin>:6: f 7 frees an id that no earlier a or r line allocated/, head + 'a 0 8 8 0 0\nf 7\n');
  bad(['verify', '-'], 2, /<stdin>:7: f 0 frees id 0 a second time/, head + 'a 0 8 8 0 0\nf 0\nf 0\n');
  bad(['verify', '-'], 2, /<stdin>:5: header line of 10020 characters \(at most 4096\)/, head + '# note: ' + 'x'.repeat(10012) + '\n');
  bad(['verify', '-'], 2, /<stdin>:4: geometry: number of units must be in 1\.\.65536, got 1099511627776/, head.replace('unit_size=8192', 'unit_size=8192 nr_units=1099511627776'));
  bad(['verify', '-'], 2, /<stdin>:6: header line "kernel:" after the first op/, head + 'a 0 8 8 0 0\n# kernel: 7.0\n');
  const err = bad(['verify', '-'], 2, /<stdin>:5: unknown op/, head + 'z' + 'y'.repeat(50_000) + '\n');
  assert.ok(err.length < 300, `the message quotes the whole line (${err.length} characters)`);
});

test('--json: verify, stats, doctor, map, verify-trace and replay print one parseable document each', () => {
  const v = run(['verify', '--json', gvA, fixturePath('golden', 'spec', '4.14', 'GV-D.golden.gz')]);
  assert.equal(v.code, 0, v.err);
  const vj = JSON.parse(v.out);
  assert.equal(vj.command, 'verify');
  assert.equal(vj.schema, 1);
  assert.deepEqual(vj.files.map((f: { status: string }) => f.status), ['ok', 'ok']);
  assert.equal(vj.summary.placements, 66);
  assert.equal(vj.summary.placementsMatched, 66);
  const broken = JSON.parse(run(['verify', '--json', '-'], gvAText.replace(/^(a \d+ \d+ \d+ 0 )(\d+)$/m, (_m, p, off) => `${p}${Number(off) + 4}`)).out);
  assert.equal(broken.files[0].status, 'fail');
  assert.equal(typeof broken.files[0].firstMismatch.line, 'number');
  assert.equal(broken.summary.exitCode, 1);

  const s = JSON.parse(run(['stats', '--json', '--at', '3', gvA]).out);
  assert.equal(s.command, 'stats');
  assert.equal(s.replayed, 3);
  assert.equal(s.stats.global.nrAlloc, 3);
  assert.equal(s.stats.layout, '4.14');

  const d = run(['doctor', '--json', fixturePath('stats', 'live-2026-11-25.percpu_stats')]);
  assert.equal(d.code, 1);
  const dj = JSON.parse(d.out);
  assert.equal(dj.command, 'doctor');
  assert.equal(dj.findings, 1);
  assert.equal(dj.inputs[0].kind, 'stats');

  const svg = join(dir, 'm.svg');
  const m = JSON.parse(run(['map', '--json', '--diff', '4.14,7.0', fixturePath('golden', 'spec', '4.14', 'GV-B.golden.gz'), '-o', svg]).out);
  assert.equal(m.command, 'map');
  assert.ok(m.differingBytes > 0);
  assert.match(readFileSync(svg, 'utf8'), /^<svg/);

  const vt = JSON.parse(run(['verify-trace', '--json', '--unit-size', '1048576', traceGz]).out);
  assert.equal(vt.command, 'verify-trace');
  assert.equal(vt.placements, vt.traces[0].placements);
  assert.ok(vt.traces[0].chunks.length >= 1);

  const rp = run(['replay', '--json', '--stats', statsFile, captureTrace]);
  const rj = JSON.parse(rp.out);
  assert.equal(rj.command, 'replay');
  assert.equal(rj.exitCode, rp.code);
  assert.ok(rj.compared > 0);
  assert.equal(typeof rj.mismatched.offset, 'number');
});

test('PERCPU_DEBUG=1 shows the stack trace that is otherwise kept back', () => {
  const quiet = run(['verify', missing]);
  assert.doesNotMatch(quiet.err, /^\s+at /m);
  const loud = run(['stats', missing], undefined, { PERCPU_DEBUG: '1' });
  assert.equal(loud.code, 2);
  assert.match(loud.err, /^\s+at /m);
});
