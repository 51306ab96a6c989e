// SPDX-License-Identifier: GPL-2.0-only
/**
 * Failed allocations and lost alloc events, on synthetic traces whose answer
 * is known by construction: a lost alloc cuts the chunk's history at the last
 * moment its offset was known free (not later, not earlier); a failed
 * allocation is checked against every chunk created in the trace and alive
 * then — agreeing when the model finds no room either, a mismatch when the
 * model finds room in pages holding live objects, not comparable when the
 * room touches a page that may not have been populated.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseTraceText } from '../src/formats/trace.js';
import { formatTraceVerification, verifyParsedTrace } from '../src/tools/replay/verify-trace.js';
import { replayTrace } from '../src/tools/replay/trace.js';
import { ROOT } from '../test-support/fixtures.js';

const BASE = '00000000c0ffee00';
/** One chunk created at line 2 (seq 0), then [cpu, event body] per line, a microsecond apart, from line 3 (seq 1). */
function synthetic(events: [number, string][]): string {
  const body = events.map(([cpu, e], i) => `  task-${100 + cpu} [00${cpu}] ..... ${(100 + (i + 1) * 1e-3).toFixed(6)}: ${e}`);
  return ['# tracer: nop', `  kworker-1 [000] ..... 99.000000: percpu_create_chunk: base_addr=${BASE}`, ...body].join('\n') + '\n';
}
const A = (off: number, size = 8) =>
  `percpu_alloc_percpu: call_site=f+0x1/0x2 reserved=0 is_atomic=0 size=${size} align=8 base_addr=${BASE} off=${off} bytes_alloc=${2 * size} gfp_flags=GFP_KERNEL`;
const F = (off: number) => `percpu_free_percpu: base_addr=${BASE} off=${off}`;
const FAIL = (size: number, atomic = 1, reserved = 0) => `percpu_alloc_percpu_fail: reserved=${reserved} is_atomic=${atomic} size=${size} align=8`;
const cli = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const UNIT = 65536;

function runCli(args: string[], text: string): { status: number | null; stdout: string; stderr: string } {
  const path = join(mkdtempSync(join(tmpdir(), 'percpu-fail-')), 'x.trace');
  writeFileSync(path, text);
  return spawnSync(process.execPath, [cli, ...args, path], { encoding: 'utf8' });
}

test('a lost alloc cuts the history right after the last release of its offset, and what came before still matches', () => {
  const text = synthetic([
    [0, A(0)], //  seq 1, line 3
    [0, A(8)], //  seq 2, line 4
    [1, F(0)], //  seq 3, line 5: offset 0 is free again
    //              (lost: the alloc at off 0 of the object freed at line 7)
    [0, A(16)], // seq 4, line 6: the kernel went to 16 because 0 was taken
    [1, F(0)], //  seq 5, line 7: frees an object we never saw: the proof
    [0, A(0)], //  seq 6, line 8
  ]);
  const v = verifyParsedTrace(parseTraceText(text, 'lostalloc'), { unitSize: UNIT });
  const c = v.verified[0]!;
  assert.deepEqual(c.instance.lostAllocs, [{ freeSeq: 5, after: 3 }]);
  assert.equal(c.history.cut, 3);
  assert.deepEqual(Array.from(c.history.ops), [1, 2, 3]);
  assert.deepEqual([c.result.placements, c.result.matched, c.result.mismatches, c.history.allocsDropped], [2, 2, 0, 2]);
  const report = formatTraceVerification(v).join('\n');
  assert.match(report, /^ok lostalloc chunk 0 .*: 2\/2 placements/m);
  assert.match(
    report,
    /history cut after seq 3 \(line 5\): lost alloc: free seq 5 \(line 7\) releases off 0, where no object is live: its alloc event is missing; those bytes were last released at seq 3 \(line 5\), so it happened at an unknown moment after that; 2 later allocation\(s\) are not checked/,
  );
  // Without the cut, the model would have put seq 4 at 0: it is not compared, so the trace passes.
  const r = runCli(['verify-trace', '--unit-size', String(UNIT)], text);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(r.stdout.trim().split('\n').at(-1), 'placements: matched 2/2');
  const rep = replayTrace(parseTraceText(text), { geometry: { unitSize: UNIT, nrUnits: 1 } });
  // The whole-allocator simulation stops comparing at the same moment: it lacks the lost object from then on.
  assert.deepEqual([rep.allocs, rep.compared, rep.matched, rep.unverifiableAfterLostAlloc, rep.lostAllocCut], [4, 2, 2, 2, 3]);
});

test('a lost alloc whose offset was never used cuts at the creation; one under a still-live object cuts at that object', () => {
  const never = verifyParsedTrace(parseTraceText(synthetic([[0, A(0)], [0, A(16)], [1, F(8)], [0, A(24)]])), { unitSize: UNIT }).verified[0]!;
  assert.deepEqual([never.history.cut, never.result.placements, never.history.allocsDropped], [0, 0, 3]);
  // off 4 lies inside the live 8-byte object of seq 1: that object's free was lost too, before the lost alloc.
  const inside = verifyParsedTrace(parseTraceText(synthetic([[0, A(0)], [0, A(8)], [1, F(4)], [0, A(16)]])), { unitSize: UNIT }).verified[0]!;
  assert.deepEqual([inside.instance.lostAllocs[0]!.after, inside.history.cut, inside.result.placements], [1, 1, 1]);
});

test('failed allocations: agreed when the model finds no room, a mismatch when it finds room in pages holding live objects', () => {
  // 4096-byte pages, a 32 KiB unit: eight pages. Fill pages 0-6 and half of page 7.
  const fill: [number, string][] = [0, 1, 2, 3, 4, 5, 6].map((pg) => [0, A(pg * 4096, 4096)] as [number, string]);
  fill.push([0, A(28672, 2048)]);
  const unit = 32768;
  // 4096 bytes cannot fit (2048 free): the model refuses too.
  const agreed = verifyParsedTrace(parseTraceText(synthetic([...fill, [1, FAIL(4096)]])), { unitSize: unit });
  assert.deepEqual([agreed.fails.events, agreed.fails.checks, agreed.fails.agreed, agreed.fails.mismatched], [1, 1, 1, 0]);
  // 1024 bytes fit at 30720, in page 7, which holds a live object: populated for certain, so the kernel had room.
  const text = synthetic([...fill, [1, FAIL(1024)]]);
  const mm = verifyParsedTrace(parseTraceText(text, 'mm'), { unitSize: unit });
  const c = mm.verified[0]!;
  assert.deepEqual([c.result.fails.checked, c.result.fails.mismatched], [1, 1]);
  assert.deepEqual(c.result.fails.first, [{ seq: 9, modelOff: 30720, verdict: 'mismatch' }]);
  const report = formatTraceVerification(mm).join('\n');
  assert.match(report, /^FAIL mm chunk 0 .*8\/8 placements/m);
  assert.match(report, /mismatch at failed alloc seq 9 \(line 11, atomic size 1024 align 8\): the kernel refused it, the model places it at off 30720/);
  const r = runCli(['verify-trace', '--unit-size', String(unit)], text);
  assert.equal(r.status, 1);
  assert.equal(r.stdout.trim().split('\n').at(-1), 'placements: matched 8/8; failed allocations: 1 mismatch(es) in 1 check(s)');
  // The whole-trace replay reports it like a placement disagreement and exits 1.
  const rep = replayTrace(parseTraceText(text), { geometry: { unitSize: unit, nrUnits: 1 } });
  assert.equal(rep.mismatched.failed, 1);
  assert.match(rep.firstDisagreements[0]!.detail, /the kernel refused it; the per-chunk model finds room it must have seen in chunk #0 at off 30720/);
  const rr = runCli(['replay', '--unit-size', String(unit), '--nr-units', '1'], text);
  assert.equal(rr.status, 1, rr.stdout + rr.stderr);
});

test('failed allocations the per-chunk model cannot judge: room in a page with no live object, reserved requests, after a cut, no chunk', () => {
  const unit = 32768;
  // Page 1 holds nothing now (its object was freed): it may have been depopulated, or never populated.
  const text = synthetic([[0, A(0, 4096)], [0, A(4096, 4096)], [0, F(4096)], [1, FAIL(1024)], [1, FAIL(1024, 0, 1)]]);
  const v = verifyParsedTrace(parseTraceText(text), { unitSize: unit });
  const f = v.verified[0]!.result.fails;
  assert.deepEqual([f.checked, f.agreed, f.mismatched, f.notComparable.unpopulated, v.verified[0]!.history.failsUnchecked], [1, 0, 0, 1, 1]);
  assert.deepEqual(f.first, [{ seq: 4, modelOff: 4096, verdict: 'unpopulated' }]);
  assert.equal(runCli(['verify-trace', '--unit-size', String(unit)], text).status, 0);
  const rep = replayTrace(parseTraceText(text), { geometry: { unitSize: unit, nrUnits: 1 } });
  assert.deepEqual([rep.fails, rep.failsMatched, rep.failsNotCompared, rep.mismatched.failed], [2, 0, 2, 0]);
  // After a cut the chunk's state is unknown: not asked.
  const cut = verifyParsedTrace(parseTraceText(synthetic([[0, A(0)], [1, F(8)], [1, FAIL(8)]])), { unitSize: unit }).verified[0]!;
  assert.deepEqual([cut.history.cut, cut.history.fails.length, cut.history.failsUnchecked], [0, 0, 1]);
  // A failure before any chunk of the trace existed meets no replayed chunk.
  const before = `# tracer: nop\n  t-1 [000] ..... 98.000000: ${FAIL(8)}\n` + synthetic([[0, A(0)]]).split('\n').slice(1).join('\n');
  const vb = verifyParsedTrace(parseTraceText(before), { unitSize: unit });
  assert.deepEqual([vb.fails.events, vb.fails.checks, vb.fails.unchecked], [1, 0, 1]);
});

test('failed allocations into chunks the kernel may not have searched: relegated to slot 0, isolated for depopulation (7.0 only)', () => {
  const unit = 32768;
  // One object leaves a 16-byte hole at the end, in a page it holds: a free run under 32 bytes.
  const relegated = verifyParsedTrace(parseTraceText(synthetic([[0, A(0, 32752)], [1, FAIL(8)]])), { unitSize: unit }).verified[0]!.result.fails;
  assert.deepEqual(relegated.first, [{ seq: 2, modelOff: 32752, verdict: 'relegated' }]);
  // Room in a page holding an object, while 6 of the 8 pages are empty.
  const ops: [number, string][] = [[0, A(0, 4096)], [0, A(4096, 2048)], [1, FAIL(1024)]];
  const isolated = verifyParsedTrace(parseTraceText(synthetic(ops)), { unitSize: unit }).verified[0]!.result.fails;
  assert.deepEqual(isolated.first, [{ seq: 3, modelOff: 6144, verdict: 'isolated' }]);
  // 4.14 neither isolates nor relegates chunks: there both are mismatches.
  for (const text of [synthetic([[0, A(0, 32752)], [1, FAIL(8)]]), synthetic(ops)]) {
    const f = verifyParsedTrace(parseTraceText(text), { unitSize: unit, kernel: '4.14' }).verified[0]!.result.fails;
    assert.deepEqual([f.checked, f.mismatched], [1, 1]);
  }
});

test('a failed allocation never changes the replayed state: the placements after it are those of a trace without it', () => {
  const unit = 32768;
  const ops: [number, string][] = [[0, A(0, 4096)], [0, A(4096, 4096)], [0, F(4096)], [0, A(4096, 64)], [0, A(4160, 64)]];
  const withFails: [number, string][] = [ops[0]!, ops[1]!, ops[2]!, [1, FAIL(1024)], [1, FAIL(2048)], ops[3]!, [1, FAIL(8)], ops[4]!];
  const a = verifyParsedTrace(parseTraceText(synthetic(ops)), { unitSize: unit }).verified[0]!.result;
  const b = verifyParsedTrace(parseTraceText(synthetic(withFails)), { unitSize: unit }).verified[0]!.result;
  assert.deepEqual([a.placements, a.matched], [4, 4]);
  assert.deepEqual([b.placements, b.matched, b.fails.checked], [4, 4, 3]);
});

// ---------------------------------------------------------------------------
// Real captures from this project's test machine (fixtures/traces/README.md).

const fixture = (name: string) => join(ROOT, 'fixtures', 'traces', 'raw', `${name}.trace.gz`);
const statsOf = (name: string, when: 'before' | 'after') => join(ROOT, 'fixtures', 'traces', 'stats', `${name}.${when}.percpu_stats.txt`);
const lines = (name: string) => gunzipSync(readFileSync(fixture(name))).toString('utf8').split('\n');
const cliOn = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

test('real 6.18 capture with 1,163 atomic allocation failures: parses, every placement and every comparable failure matches, exit 0', () => {
  const name = 'capture-bpf-nopre-fail';
  const failLines = lines(name).filter((l) => l.includes(' percpu_alloc_percpu_fail: reserved=0 is_atomic=1 size=16384 align=8'));
  const v = cliOn(['verify-trace', '--stats', statsOf(name, 'after'), '--stats-before', statsOf(name, 'before'), fixture(name)]);
  assert.equal(v.status, 0, v.stdout + v.stderr);
  assert.match(v.stdout, new RegExp(`\\(\\d+ allocs, \\d+ frees, ${failLines.length} failed allocs,`));
  const last = v.stdout.trim().split('\n').at(-1)!;
  const m = /^placements: matched (\d+)\/(\d+); failed allocations: 0 mismatch\(es\) in (\d+) check\(s\)$/.exec(last);
  assert.ok(m, last);
  assert.equal(m[1], m[2]);
  assert.ok(Number(m[3]) > 0);
  // Taken before the copy, the after-snapshot counts exactly the traced events.
  const counts = /nr_alloc \+(\d+) \(trace: (\d+) alloc events\), nr_dealloc \+(\d+) \(trace: (\d+) free events\)/.exec(v.stdout)!;
  assert.deepEqual([counts[1], counts[3]], [counts[2], counts[4]]);
  const r = cliOn(['replay', '--stats', statsOf(name, 'before'), fixture(name)]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`^failed allocations: ${failLines.length} .*room the kernel must have seen 0,`, 'm'));
});

test('real 6.18 capture that lost alloc events: the chunk is cut at its creation, every other placement matches, exit 0', () => {
  const name = 'capture-lost-allocs';
  const text = lines(name);
  // Independently of the parser: per chunk created in the trace, the offsets allocated and not yet freed.
  const created = new Map<string, number>();
  const live = new Map<string, Set<number>>();
  const lostAt: { base: string; line: number }[] = [];
  text.forEach((l, i) => {
    const c = /percpu_create_chunk: base_addr=(\w+)/.exec(l);
    if (c) {
      created.set(c[1]!, i + 1);
      live.set(c[1]!, new Set());
    }
    const a = /percpu_alloc_percpu: .* base_addr=(\w+) off=(\d+)/.exec(l);
    if (a && live.has(a[1]!)) live.get(a[1]!)!.add(Number(a[2]));
    const f = /percpu_free_percpu: base_addr=(\w+) off=(\d+)/.exec(l);
    if (f && live.has(f[1]!) && !live.get(f[1]!)!.delete(Number(f[2]))) lostAt.push({ base: f[1]!, line: i + 1 });
  });
  assert.equal(lostAt.length, 20);
  const base = lostAt[0]!.base;
  assert.ok(lostAt.every((l) => l.base === base));
  const v = cliOn(['verify-trace', '--stats', statsOf(name, 'after'), '--stats-before', statsOf(name, 'before'), fixture(name)]);
  assert.equal(v.status, 0, v.stdout + v.stderr);
  assert.match(v.stdout, /CPU 1's buffer had been overwritten/);
  assert.match(v.stdout, new RegExp(`chunk #\\d+ \\(${base}\\): 20 free\\(s\\) of offsets with no live object, first at line ${lostAt[0]!.line}`));
  assert.match(
    v.stdout,
    new RegExp(`history cut after seq \\d+ \\(line ${created.get(base)}\\): lost alloc: free seq \\d+ \\(line ${lostAt[0]!.line}\\) .*after the chunk's creation`),
  );
  assert.match(v.stdout, /20 lost alloc\(s\) were proven/);
  const m = /^placements: matched (\d+)\/(\d+)$/.exec(v.stdout.trim().split('\n').at(-1)!)!;
  assert.equal(m[1], m[2]);
  assert.ok(Number(m[1]) > 0);
  const r = cliOn(['replay', '--stats', statsOf(name, 'before'), fixture(name)]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`placed after line ${created.get(base)}, the earliest moment a lost alloc event may lie`));
});
