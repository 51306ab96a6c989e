// SPDX-License-Identifier: GPL-2.0-only
/**
 * `percpu bench --c-oracle`: driven by a fake `c-bench` (a shell script that
 * prints the documented line format and logs each call), so the test proves
 * the parsing, the interleaving (one C process, then one of ours, per
 * workload, version and round), the medians and ratios in the table, and the
 * one-line exit-2 error for a line that is not the format. Asserts on
 * structure and on the fake's numbers, never on our times.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../test-support/fixtures.js';
import { parseCLine, type OracleFile } from '../bench/c-oracle.js';
import { InputError } from '../src/errors.js';

const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');

/**
 * A c-bench that answers `--ver V --runs 1 W` with alloc_ms = 100 × (its n-th
 * call for V W), free_ms = 10 × n, and CPU -1 for W7 (as the real one).
 */
function fakeOracle(body?: string): { dir: string; log: string } {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-fake-oracle-'));
  const log = join(dir, 'calls.log');
  const script = body ?? `#!/bin/sh
[ "$1" = --ver ] && [ "$3" = --runs ] && [ "$4" = 1 ] || { echo "fake c-bench: unexpected arguments $*" >&2; exit 2; }
v=$2; w=$5
echo "$v $w" >> "${log}"
n=$(grep -c "^$v $w\\$" "${log}")
cpu_a=$((n * 90)); cpu_f=$((n * 9))
[ "$w" = W7 ] && { cpu_a=-1; cpu_f=-1; }
echo "building..." >&2
echo "$v $w alloc_ms=$((n * 100)).000 free_ms=$((n * 10)).500 alloc_cpu_ms=$cpu_a.000 free_cpu_ms=$cpu_f.000 loop_wall_ms=$((n * 111)).000 loop_cpu_ms=$((n * 99)).000 phases=2 ops=200000 chunks=7 warns=0 failed=0"
`;
  writeFileSync(join(dir, 'c-bench'), script);
  chmodSync(join(dir, 'c-bench'), 0o755);
  return { dir, log };
}

function run(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, CI: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('parseCLine: the documented fields, -1 CPU as not taken, anything else an InputError', () => {
  const c = parseCLine('7.0 W7 alloc_ms=72.959 free_ms=23.722 alloc_cpu_ms=-1.000 free_cpu_ms=-1.000 loop_wall_ms=104.816 loop_cpu_ms=69.864 phases=95561 ops=200000 chunks=4 warns=0 failed=0', 'x');
  assert.deepEqual(
    [c.ver, c.workload, c.allocMs, c.freeMs, c.allocCpuMs, c.freeCpuMs, c.loopWallMs, c.loopCpuMs, c.ops, c.chunks, c.failed],
    ['7.0', 'W7', 72.959, 23.722, null, null, 104.816, 69.864, 200000, 4, 0],
  );
  assert.throws(() => parseCLine('hello world', 'x'), InputError);
  assert.throws(() => parseCLine('4.14 W1a alloc_ms=1 free_ms=2', 'x'), /no alloc_cpu_ms/);
  assert.throws(() => parseCLine('4.14 W1a alloc_ms=fast free_ms=2 alloc_cpu_ms=1 free_cpu_ms=1 loop_wall_ms=1 loop_cpu_ms=1', 'x'), /alloc_ms is not a number/);
});

test('bench --c-oracle: C and ours interleaved per workload, version and round; medians and TS/C in the table and in --json', { timeout: 120_000 }, () => {
  const { dir, log } = fakeOracle();
  const json = join(dir, 'out.json');
  const r = run(['bench', '--c-oracle', dir, '--only', 'W6b,W7', '--runs', '3', '--gc-check', '0', '--out', json]);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.err, '', 'no progress bar off a terminal, and the fake\'s stderr is not passed on');

  // Interleaving: round by round, workload by workload, version by version, C then ours.
  const expected: string[] = [];
  for (const round of [1, 2, 3]) for (const w of ['W6b', 'W7']) for (const v of ['4.14', '7.0']) expected.push(`C ${v} ${w} ${round}`, `TS ${v} ${w} ${round}`);
  const file = JSON.parse(readFileSync(json, 'utf8')) as OracleFile;
  assert.deepEqual(file.sequence, expected);
  // The fake saw exactly the C calls of that sequence, in that order.
  const calls = readFileSync(log, 'utf8').trim().split('\n');
  assert.deepEqual(calls, expected.filter((x) => x.startsWith('C ')).map((x) => x.split(' ').slice(1, 3).join(' ')));
  assert.equal(file.tsStats, 'off');
  assert.equal(file.samples.length, 24);

  // Medians of the fake's 100, 200, 300 ms (alloc) and 10.5, 20.5, 30.5 ms (free).
  const row = (w: string, v: string, p: string) => file.rows.find((x) => x.workload === w && x.ver === v && x.phase === p)!;
  assert.equal(row('W6b', '4.14', 'alloc').cWallMs, 200);
  assert.equal(row('W6b', '7.0', 'free').cWallMs, 20.5);
  assert.equal(row('W6b', '7.0', 'free').cCpuMs, 18);
  assert.equal(row('W7', '4.14', 'alloc').cCpuMs, null, 'W7 has no per-phase CPU in the C');
  assert.equal(row('W7', '4.14', 'loop').cCpuMs, 198);
  const a = row('W6b', '4.14', 'alloc');
  assert.ok(a.tsWallMs > 0 && Math.abs(a.wallRatio - a.tsWallMs / 200) < 1e-12);
  assert.equal(file.rows.length, 2 * 2 * 3);

  // The table prints each row with both figures and the ratio.
  assert.match(r.out, /^percpu bench --c-oracle: .*interleaved/m);
  assert.match(r.out, /load average before [\d.]+ [\d.]+ [\d.]+, after/);
  assert.match(r.out, /engine statistics \(percpu_stats counters\) off, as the C is built \(PERCPU_STATS off\)/);
  assert.match(r.out, /^workload +ver +phase +C wall ms +TS wall ms +TS\/C wall +C CPU ms +TS CPU ms +TS\/C CPU +TS GCs$/m);
  const line = r.out.split('\n').find((l) => /^W6b +4\.14 +alloc /.test(l))!;
  const cells = line.trim().split(/\s+/);
  assert.equal(cells[3], '200');
  assert.equal(cells[5], `${a.wallRatio.toFixed(2)}×`);
  assert.match(r.out.split('\n').find((l) => /^W7 +7\.0 +free /.test(l))!, /—/, 'no CPU figure where the C took none');
  assert.match(r.out, /^Target \(each alloc and free phase within 1\.5× of the C, median wall\): \d+ of 8 phases/m);
});

test('bench --c-oracle: a line that is not the format is exit 2 and one line; a folder without c-bench is a usage error', { timeout: 60_000 }, () => {
  const { dir } = fakeOracle('#!/bin/sh\necho "4.14 W6b fast"\n');
  const r = run(['bench', '--c-oracle', dir, '--only', 'W6b', '--runs', '1', '--gc-check', '0']);
  assert.equal(r.code, 2);
  assert.equal(r.out, '');
  const lines = r.err.trim().split('\n');
  assert.equal(lines.length, 1, r.err);
  assert.match(lines[0]!, /^percpu: .*c-bench \(4\.14 W6b\): not a c-bench line \("fast" is not key=value\)/);

  const empty = mkdtempSync(join(tmpdir(), 'percpu-no-oracle-'));
  const u = run(['bench', '--c-oracle', empty, '--runs', '1']);
  assert.equal(u.code, 2);
  assert.match(u.err, /no executable c-bench in that folder/);
  assert.doesNotMatch(u.err, /\n\s+at /, 'no stack trace');
  const v = run(['bench', '--c-oracle', dir, '--allocators', '4.13']);
  assert.equal(v.code, 2);
  assert.match(v.err, /times 4\.14 and 7\.0 only/);
});

test('stats: false (a kernel without PERCPU_STATS) changes no placement, keeps chunk counts, leaves the allocation counters at 0', async () => {
  const { createAllocator } = await import('../src/engine/allocator.js');
  const { buildWorkload, G1, OP_ALLOC } = await import('../bench/workloads.js');
  const { prefixStream } = await import('../bench/suite.js');
  const s = prefixStream(buildWorkload('W8'), 60_000);
  for (const kernel of ['4.14', '7.0']) {
    const on = createAllocator({ kernel, geometry: G1, backend: 'km', balance: 'sync' });
    const off = createAllocator({ kernel, geometry: G1, backend: 'km', balance: 'sync', stats: false });
    const pa = new Float64Array(s.objects);
    const pb = new Float64Array(s.objects);
    let allocs = 0;
    for (let i = 0; i < s.length; i++) {
      const t = s.target[i]!;
      if (s.kind[i] === OP_ALLOC) {
        pa[t] = on.alloc(s.size[i]!, s.align[i]!);
        pb[t] = off.alloc(s.size[i]!, s.align[i]!);
        assert.equal(pb[t], pa[t], `${kernel} op ${i}: same pointer`);
        allocs++;
      } else {
        on.free(pa[t]!);
        off.free(pb[t]!);
      }
    }
    const son = (on as unknown as { stats: { nrAlloc: number; nrChunks: number; nrMaxChunks: number } }).stats;
    const soff = (off as unknown as { stats: { nrAlloc: number; nrChunks: number; nrMaxChunks: number } }).stats;
    assert.equal(son.nrAlloc, allocs);
    assert.equal(soff.nrAlloc, 0);
    assert.equal(soff.nrChunks, son.nrChunks);
    assert.equal(soff.nrMaxChunks, son.nrMaxChunks);
  }
});
