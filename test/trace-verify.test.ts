// SPDX-License-Identifier: GPL-2.0-only
/**
 * Per-chunk replay of real traces (`verify-trace`) and the whole-trace replay
 * (`replay`): real excerpts reach 100 %, the extracted histories equal the
 * shared per-chunk golden files (trace-order corrections included), and the
 * tracer's pitfalls — reordered events, a lost free, a lost alloc, a wrong
 * offset — are corrected only where a swap of nearby events of different CPUs
 * explains them, and otherwise reported, never hidden.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { OpKind, parseGolden, type GoldenFile } from '../src/formats/golden.js';
import { replayGolden } from '../src/tools/replay/golden.js';
import { parseTraceText, TraceEventKind } from '../src/formats/trace.js';
import { formatChunkGolden, formatTraceVerification, verifyParsedTrace } from '../src/tools/replay/verify-trace.js';
import { replayTrace } from '../src/tools/replay/trace.js';
import { geometryFromStats, parsePercpuStats } from '../src/formats/stats-parse.js';
import { fixturePath, ROOT } from '../test-support/fixtures.js';
import { alloc, create, traceText } from '../test-support/synthetic-trace.js';

const UNIT = 1048576;
const gz = (...p: string[]) => gunzipSync(readFileSync(fixturePath(...p))).toString('utf8');
const V1024 = gz('traces', 'raw', 'a_phash_v1024.chunk2.excerpt.trace.gz');
const SINGLE = gz('traces', 'raw', 'b_single.chunk5.excerpt.trace.gz');
const golden = (name: string) => parseGolden(gz('traces', 'golden', name), name);

/**
 * A history with its ids replaced by ordinals: allocations as size/align/offset,
 * frees by the ordinal of the allocation they free. Two extractions of the same
 * history from differently numbered traces compare equal this way.
 */
function shape(g: GoldenFile): string[] {
  const ordinal = new Map<number, number>();
  const out: string[] = [];
  for (let i = 0; i < g.ops.length; i++) {
    const k = g.ops.kind[i];
    if (k === OpKind.Alloc) {
      ordinal.set(g.ops.id[i]!, ordinal.size);
      out.push(`a ${g.ops.size[i]} ${g.ops.align[i]} ${g.ops.offset[i]}`);
    } else if (k === OpKind.Free) {
      out.push(`f ${ordinal.get(g.ops.id[i]!)}`);
    }
  }
  return out;
}

test('a_phash_v1024 excerpt: chunk 2 replays 1024/1024 and its history is the shared golden file', () => {
  const v = verifyParsedTrace(parseTraceText(V1024, 'a_phash_v1024.excerpt'), { unitSize: UNIT });
  assert.equal(v.verified.length, 1);
  const c = v.verified[0]!;
  assert.deepEqual([c.result.placements, c.result.matched, c.result.frees, c.result.reorders.length], [1024, 1024, 1024, 0]);
  const ours = parseGolden(formatChunkGolden(v, c, { unitSize: UNIT, nrUnits: 2 }), 'ours');
  assert.deepEqual(shape(ours), shape(golden('a_phash_v1024.c2.golden.gz')));
  assert.equal(replayGolden(ours).placementsMatched, 1024);
  const report = formatTraceVerification(v);
  assert.match(report.at(-1)!, /1 chunk\(s\) created in the trace, 1024\/1024 placements matched/);
  assert.ok(report.some((l) => /existed before tracing began \(00000000e72c1a77\).*57 allocation/.test(l)));
});

test('b_single excerpt: two alloc events recorded after a free of the other CPU are corrected, as in the shared golden file', () => {
  const t = parseTraceText(SINGLE, 'b_single.excerpt');
  const raw = verifyParsedTrace(t, { unitSize: UNIT, correct: false }).verified[0]!.result;
  assert.ok(raw.mismatches > 0, 'in trace order the replay must disagree');
  const v = verifyParsedTrace(t, { unitSize: UNIT });
  const r = v.verified[0]!.result;
  assert.equal(r.matched, r.placements);
  assert.equal(r.reorders.length, 2);
  for (const ro of r.reorders) {
    // Always a later alloc moved before a free of the other CPU, recorded within a microsecond.
    assert.equal(t.events.kind[ro.seq], TraceEventKind.Alloc);
    assert.equal(t.events.kind[ro.beforeSeq], TraceEventKind.Free);
    assert.notEqual(t.events.cpu[ro.seq], t.events.cpu[ro.beforeSeq]);
    assert.ok(Math.abs(ro.gapUs) <= 1);
  }
  // The excerpt's history is a prefix of the golden c5 history, in the same corrected order.
  const ours = shape(parseGolden(formatChunkGolden(v, v.verified[0]!, { unitSize: UNIT }), 'ours'));
  const theirs = shape(golden('b_single.c5.golden.gz'));
  assert.equal(ours.length, 8616 + 361);
  assert.deepEqual(ours, theirs.slice(0, ours.length));
});

/** Text with the given 1-based lines removed. */
function withoutLines(text: string, lines: number[]): string {
  const drop = new Set(lines);
  return text
    .split('\n')
    .filter((_, i) => !drop.has(i + 1))
    .join('\n');
}

test('a lost free: the history stops at the lost object, the proof and the unchecked allocations are reported', () => {
  const t = parseTraceText(SINGLE);
  const ev = t.events;
  const v0 = verifyParsedTrace(t, { unitSize: UNIT });
  const tc = v0.chunks;
  // A free whose bytes are reused by the very next allocation of the chunk.
  let victim = -1;
  for (let s = 0; s < ev.length - 1 && victim < 0; s++) {
    if (ev.kind[s] !== TraceEventKind.Free || tc.instanceOf[s] !== v0.verified[0]!.instance.number) continue;
    const next = s + 1;
    if (ev.kind[next] === TraceEventKind.Alloc && ev.off[next] === ev.off[s]) victim = s;
  }
  assert.ok(victim > 0);
  const lostObject = tc.freeTarget[victim]!;
  const t2 = parseTraceText(withoutLines(SINGLE, [ev.line[victim]!]));
  const v = verifyParsedTrace(t2, { unitSize: UNIT });
  const c = v.verified[0]!;
  assert.equal(c.history.cut, lostObject);
  assert.equal(c.instance.lostFrees[0]!.liveSeq, lostObject);
  assert.equal(c.instance.lostFrees[0]!.allocSeq, victim); // the reusing alloc moved up one seq
  assert.ok(c.history.allocsDropped > 0);
  assert.equal(c.result.matched, c.result.placements);
  assert.equal(c.result.placements + c.history.allocsDropped, v0.verified[0]!.result.placements);
  const report = formatTraceVerification(v).join('\n');
  assert.match(report, new RegExp(`history cut after seq ${lostObject} .*whose free event is missing.*${c.history.allocsDropped} later allocation`));
  const g = formatChunkGolden(v, c, { unitSize: UNIT });
  assert.match(g, new RegExp(`# note: truncated_after_seq ${lostObject} `));
  assert.match(g, new RegExp(`# note: lost alloc seq ${victim} off ${ev.off[victim + 1]} `));
});

test('a lost alloc of the first object: the free of an empty offset cuts the history at the creation, nothing is checked against a wrong state', () => {
  const t = parseTraceText(V1024);
  const ev = t.events;
  const firstAllocOfChunk = Array.from(ev.kind).findIndex((k, s) => k === TraceEventKind.Alloc && t.addrs[ev.addr[s]!] === '00000000413a64f2');
  const v = verifyParsedTrace(parseTraceText(withoutLines(V1024, [ev.line[firstAllocOfChunk]!])), { unitSize: UNIT });
  const c = v.verified[0]!;
  assert.equal(c.instance.unmatchedFrees.length, 1);
  assert.deepEqual(c.instance.lostAllocs.map((l) => l.after), [c.instance.createdSeq]);
  assert.equal(c.history.cut, c.instance.createdSeq);
  // Without its first object the model would place everything one slot lower: none of it is compared.
  assert.deepEqual([c.result.placements, c.result.mismatches, c.history.allocsDropped], [0, 0, 1023]);
  const report = formatTraceVerification(v).join('\n');
  assert.match(report, /WARNING .*1 free\(s\) of offsets with no live object/);
  assert.match(report, /^ok /m);
  assert.match(report, /history cut after seq \d+ \(line \d+\): lost alloc: free seq \d+ \(line \d+\) releases off 0, where no object is live: its alloc event is missing; .*after the chunk's creation .*1023 later allocation\(s\) are not checked/);
  assert.match(report, /1 history cut\(s\) at a lost event \(1023 allocation\(s\) not checked\)/);
});

/** A small trace of one created chunk: [cpu, time µs, event body] per line. */
function synthetic(lines: [number, number, string][]): string {
  const body = lines.map(([cpu, us, e]) => `  task-${100 + cpu} [00${cpu}] ..... ${(us / 1e6 + 100).toFixed(6)}: ${e}`);
  return ['# tracer: nop', '  kworker-1 [000] ..... 99.000000: percpu_create_chunk: base_addr=00000000c0ffee00', ...body].join('\n') + '\n';
}
const A = (off: number, size = 8) => `percpu_alloc_percpu: reserved=0 is_atomic=0 size=${size} align=8 base_addr=00000000c0ffee00 off=${off}`;

test('trace-order corrections: only across other CPUs, only within the time window', () => {
  const run = (cpuB: number, gapUs: number) =>
    verifyParsedTrace(parseTraceText(synthetic([[0, 10, A(8)], [cpuB, 10 + gapUs, A(0)]])), { unitSize: 65536 }).verified[0]!.result;
  const swapped = run(1, 1);
  assert.deepEqual([swapped.matched, swapped.reorders.length], [2, 1]);
  assert.deepEqual([swapped.reorders[0]!.seq, swapped.reorders[0]!.beforeSeq], [2, 1]);
  const sameCpu = run(0, 1);
  assert.deepEqual([sameCpu.matched, sameCpu.mismatches, sameCpu.reorders.length, sameCpu.correctionsStopped], [0, 2, 0, 'diverged']);
  const tooFar = run(1, 50);
  assert.deepEqual([tooFar.matched, tooFar.reorders.length], [0, 0]);
});

test('a wrong offset is a mismatch, reported with its line, not corrected away', () => {
  const text = synthetic([
    [0, 10, A(0)],
    [0, 20, A(8)],
    [1, 30, A(32)],
    [0, 40, A(16)],
  ]);
  const v = verifyParsedTrace(parseTraceText(text), { unitSize: 65536 });
  const r = v.verified[0]!.result;
  assert.deepEqual([r.placements, r.matched, r.mismatches], [4, 2, 2]);
  const report = formatTraceVerification(v).join('\n');
  assert.match(report, /FAIL .*: 2\/4 placements/);
  assert.match(report, /mismatch at seq 3 \(line 5\): kernel placed it at off 32, the model at off 16/);
});

test('whole-trace replay: pre-existing chunks are unverifiable, the traced chunk matches, corrections carry over', () => {
  const stats = parsePercpuStats(readFileSync(fixturePath('traces', 'stats', 'a_phash_v1024.before.percpu_stats.txt'), 'utf8'));
  const geometry = geometryFromStats(stats);
  const r = replayTrace(parseTraceText(V1024), { geometry });
  const intoFirst = V1024.split('\n').filter((l) => l.includes('percpu_alloc_percpu:') && l.includes('base_addr=00000000e72c1a77')).length;
  assert.equal(r.allocs, 1081);
  assert.equal(r.unverifiablePreexisting, intoFirst);
  assert.deepEqual([r.compared, r.matched, r.mismatched.chunk, r.mismatched.offset], [1024, 1024, 0, 0]);
  assert.equal(r.compared + r.unverifiablePreexisting, r.allocs);
  const s = replayTrace(parseTraceText(SINGLE), { geometry });
  assert.equal(s.matched, s.compared);
  assert.equal(s.compared, 8616);
});

test('whole-trace replay reports a disagreement instead of pretending', () => {
  const stats = parsePercpuStats(readFileSync(fixturePath('traces', 'stats', 'a_phash_v1024.before.percpu_stats.txt'), 'utf8'));
  const r = replayTrace(parseTraceText(synthetic([[0, 10, A(0)], [0, 20, A(40)]])), { geometry: geometryFromStats(stats) });
  assert.deepEqual([r.compared, r.matched, r.mismatched.offset], [2, 1, 1]);
  assert.match(r.firstDisagreements[0]!.detail, /kernel off 40, simulation off 8/);
});

test('CLI: verify-trace prints the total last and exits 0 only when every placement matched', () => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-vt-'));
  const cli = join(ROOT, 'dist', 'src', 'cli', 'main.js');
  const good = spawnSync(process.execPath, [cli, 'verify-trace', '--unit-size', String(UNIT), '--write-golden', dir, fixturePath('traces', 'raw', 'a_phash_v1024.chunk2.excerpt.trace.gz')], { encoding: 'utf8' });
  assert.equal(good.status, 0, good.stderr);
  assert.equal(good.stdout.trim().split('\n').at(-1), 'placements: matched 1024/1024');
  const files = readdirSync(dir);
  assert.deepEqual(files, ['a_phash_v1024.chunk2.excerpt.c1.golden']);
  assert.equal(replayGolden(parseGolden(readFileSync(join(dir, files[0]!), 'utf8'))).placementsMatched, 1024);

  const bad = join(dir, 'bad.trace');
  writeFileSync(bad, synthetic([[0, 10, A(0)], [0, 20, A(40)]]));
  const r = spawnSync(process.execPath, [cli, 'verify-trace', '--stats', fixturePath('traces', 'stats', 'b_single.after.percpu_stats.txt'), bad], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.equal(r.stdout.trim().split('\n').at(-1), 'placements: matched 1/2');

  const none0 = spawnSync(process.execPath, [cli, 'verify-trace', '--stats-before', fixturePath('traces', 'stats', 'b_single.before.percpu_stats.txt'), '--unit-size', '1048576', bad], { encoding: 'utf8' });
  assert.equal(none0.status, 2);
  assert.match(none0.stderr, /--stats-before needs --stats/);

  const none = spawnSync(process.execPath, [cli, 'verify-trace', bad], { encoding: 'utf8' });
  assert.equal(none.status, 2);
  assert.match(none.stderr, /--unit-size BYTES or --stats FILE/);
});

test('CLI: a capture made on this project\'s test machine verifies, and the stats snapshots account for every event', () => {
  const cli = join(ROOT, 'dist', 'src', 'cli', 'main.js');
  const stats = (w: string) => fixturePath('traces', 'stats', `capture-bpf-phash-3000x1024.${w}.percpu_stats.txt`);
  const r = spawnSync(
    process.execPath,
    [cli, 'verify-trace', '--stats', stats('after'), '--stats-before', stats('before'), fixturePath('traces', 'raw', 'capture-bpf-phash-3000x1024.trace.gz')],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.ok(lines.includes('percpu_stats between the snapshots: nr_alloc +3163 (trace: 3163 alloc events), nr_dealloc +3163 (trace: 3163 free events)'), r.stdout);
  assert.equal(lines.at(-1), 'placements: matched 1026/1026');
});

test('CLI: the stats cross-check reports free events missing from a trace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-vt-'));
  const cli = join(ROOT, 'dist', 'src', 'cli', 'main.js');
  const text = gz('traces', 'raw', 'capture-bpf-phash-3000x1024.trace.gz').split('\n');
  const frees = text.map((l, i) => (l.includes('percpu_free_percpu:') ? i : -1)).filter((i) => i >= 0);
  const drop = new Set([frees[10]!, frees[20]!, frees[30]!]);
  const path = join(dir, 'lossy.trace');
  writeFileSync(path, text.filter((_, i) => !drop.has(i)).join('\n'));
  const stats = (w: string) => fixturePath('traces', 'stats', `capture-bpf-phash-3000x1024.${w}.percpu_stats.txt`);
  const r = spawnSync(process.execPath, [cli, 'verify-trace', '--stats', stats('after'), '--stats-before', stats('before'), path], { encoding: 'utf8' });
  assert.match(r.stdout, /nr_dealloc \+3163 \(trace: 3160 free events\)/);
  assert.match(r.stdout, /  3 free event\(s\) are missing from the trace/);
});

test('a wrong unit size, a request the model rejects, an offset beyond any chunk: reported, never a crash or a silent pass', () => {
  const small = verifyParsedTrace(parseTraceText(V1024), { unitSize: 65536 });
  const r = small.verified[0]!.result;
  assert.ok(r.matched < r.placements);
  assert.match(formatTraceVerification(small).join('\n'), /WARNING .*allocation\(s\) end beyond the unit size 65536: is the unit size right\?/);

  const huge = verifyParsedTrace(parseTraceText(synthetic([[0, 10, A(0, 65536)]])), { unitSize: UNIT });
  assert.deepEqual([huge.verified[0]!.result.placements, huge.verified[0]!.result.matched], [1, 0]);
  assert.equal(huge.verified[0]!.result.firstMismatches[0]!.modelOff, -1);

  assert.throws(() => verifyParsedTrace(parseTraceText(synthetic([[0, 10, A(2_000_000_000)]])), { unitSize: UNIT }), /:3: offset 2000000000 \+ size 8 lies beyond any percpu chunk/);
});

test('a chunk whose first disagreement is an atomic request is compared up to it; at a normal request it is a mismatch', () => {
  // A fresh 32 KiB chunk: the per-chunk model puts the second 8-byte request at off 8, right after the first.
  // The kernel put it at off 4096. For an atomic request that can be population (which pages the
  // kernel's chunk had populated, a trace does not show); for a normal request nothing excuses it.
  const C = '00000000cccc0000';
  const lines = (atomic: boolean) =>
    traceText([create(1, C, { task: 'task' }), alloc(1.00001, C, 0, 8), alloc(1.00002, C, 4096, 8, { atomic }), alloc(1.00003, C, 8, 8)]);
  const opts = { unitSize: 32768, pageSize: 4096, nrUnits: 1 };
  const atomic = verifyParsedTrace(parseTraceText(lines(true), 'atomic'), opts);
  const r = atomic.verified[0]!.result;
  assert.deepEqual([r.placements, r.matched, r.mismatches], [1, 1, 0], 'only the placement before the atomic request is compared');
  assert.deepEqual(r.atomicCut, { seq: 2, allocsNotChecked: 2 });
  assert.deepEqual([atomic.placements, atomic.matched], [1, 1]);
  const text = formatTraceVerification(atomic, { quiet: false }).join('\n');
  assert.match(text, /^ok atomic chunk 0 .*: 1\/1 placements/m);
  assert.match(text, /not compared from seq 2 \(line \d+\) on: the kernel put this atomic request at off 4096.*2 allocation\(s\) not checked here/);
  assert.match(text, /1 chunk\(s\) compared up to an atomic request only \(2 allocation\(s\) not checked: population\)/);
  const normal = verifyParsedTrace(parseTraceText(lines(false), 'normal'), opts).verified[0]!.result;
  assert.equal(normal.atomicCut, undefined);
  assert.equal(normal.placements, 3);
  assert.ok(normal.mismatches > 0, 'a normal request the model places elsewhere is a real mismatch');
});
