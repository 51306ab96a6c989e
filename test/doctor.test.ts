// SPDX-License-Identifier: GPL-2.0-only
/**
 * percpu doctor: impossible percpu_stats states, and the first stale chunk hint
 * in real and spec histories; stats --live's reader; stats and maps at a point
 * of a trace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { diagnoseHistory, largestFreeRun } from '../src/tools/doctor.js';
import { runDoctor } from '../src/cli/doctor.js';
import { readLiveStats } from '../src/tools/capture/live-stats.js';
import { stateAt } from '../src/cli/stats.js';
import { mapFromGolden } from '../src/cli/map.js';
import { fixturePath, loadGolden } from '../test-support/fixtures.js';
import { HintedBitmapAllocator } from '../src/engine/allocator.js';
import { PercpuError } from '../src/errors.js';

async function doctor(paths: string[], options = {}): Promise<{ findings: number; out: string }> {
  const lines: string[] = [];
  const findings = await runDoctor(paths, options, (l) => lines.push(l));
  return { findings, out: lines.join('\n') };
}

test('stats: the live Linux 6.18 snapshot is flagged (free bytes, contig 0) and explained; a consistent one is not', async () => {
  const bad = await doctor([fixturePath('stats', 'live-2026-11-25.percpu_stats')]);
  assert.equal(bad.findings, 1);
  assert.match(bad.out, /IMPOSSIBLE: chunk #1 \(Chunk: <- First Chunk, line 25\): free_bytes 16 but contig_bytes 0/);
  assert.match(bad.out, /free-path coordinate slip/);
  // Every snapshot of the traced machine shows that first chunk; stats printed by a correct allocator do not.
  const a = new HintedBitmapAllocator({ kernel: '7.0', geometry: { unitSize: 1048576, staticSize: 185560, dynSize: 31528 }, fixed: true });
  const ptrs = Array.from({ length: 3000 }, (_, i) => a.alloc(8 + (i % 7) * 8, 8));
  ptrs.filter((_, i) => i % 3 === 0).forEach((p) => a.free(p));
  const file = join(mkdtempSync(join(tmpdir(), 'percpu-doctor-')), 'stats');
  writeFileSync(file, a.formatStats());
  const good = await doctor([file]);
  assert.equal(good.findings, 0, good.out);
  assert.match(good.out, /consistent/);
});

test('GV-C: the 7.0 slip leaves contig 0 after the free in block 1; a correct hint would place the last request at 4096', () => {
  const d = diagnoseHistory(loadGolden(fixturePath('golden', 'spec', '7.0', 'GV-C.golden.gz')));
  assert.equal(d.firstStale?.op, 3);
  assert.deepEqual(d.firstStale?.fields, ['contig_hint 0→512', 'contig_hint_start 1536→1024']);
  assert.equal(d.firstStale?.trueBytes, 2048);
  assert.deepEqual({ kernel: d.firstAffected?.kernel, faithful: d.firstAffected?.faithful, corrected: d.firstAffected?.corrected }, { kernel: -1, faithful: -1, corrected: 4096 });
  assert.equal(d.opsAtZeroWithFreeBytes, 2);
});

test('GV-D: the 4.14 slip points the chunk hint at the wrong run; corrected, the last request fits at 2048', () => {
  const d = diagnoseHistory(loadGolden(fixturePath('golden', 'spec', '4.14', 'GV-D.golden.gz')));
  assert.deepEqual(d.firstStale?.fields, ['contig_hint_start 0→224']);
  assert.equal(d.firstAffected?.corrected, 2048);
  assert.equal(d.firstAffected?.kernel, -1);
});

test('a real Linux 6.18 chunk history: every placement reproduced only with the slip; where the hint first went stale', () => {
  const d = diagnoseHistory(loadGolden(fixturePath('traces', 'golden', 'b_single.c5.golden.gz')));
  assert.equal(d.faithfulMatched, d.placements);
  assert.ok(d.correctedMatched < d.placements);
  assert.equal(d.firstStale?.line, 8229);
  assert.equal(d.firstAffected?.line, 8583);
  assert.equal(d.firstAffected?.kernel, d.firstAffected?.faithful);
  assert.notEqual(d.firstAffected?.corrected, d.firstAffected?.kernel);
});

test('a history with nothing stale says so (a 1-page chunk: the 7.0 slip needs block 1)', () => {
  const d = diagnoseHistory(loadGolden(fixturePath('golden', 'chunk', '7.0', 's0001-p1.golden.gz')));
  assert.equal(d.firstStale, undefined);
  assert.equal(d.firstAffected, undefined);
  assert.equal(d.faithfulMatched, d.placements);
});

test('doctor on a raw trace excerpt finds the same first stale hint', async () => {
  const r = await doctor([fixturePath('traces', 'raw', 'b_single.chunk5.excerpt.trace.gz')], { unitSize: 1048576 });
  assert.equal(r.findings, 1);
  assert.match(r.out, /first stale hint: after op 8219 \(line 8229\)/);
  await assert.rejects(doctor([fixturePath('traces', 'raw', 'b_single.chunk5.excerpt.trace.gz')]), /needs the unit size/);
});

test('largestFreeRun scans the bitmap', () => {
  const a = new HintedBitmapAllocator({ kernel: '7.0', geometry: { unitSize: 8192 }, mode: 'chunk' });
  const p = a.alloc(400, 4);
  a.alloc(4, 4);
  a.free(p);
  assert.deepEqual(largestFreeRun(a.getChunk(0)!), { start: 101, bits: 2048 - 101 });
});

test('stats --live reads through the shared parser and says clearly why it cannot', () => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-live-'));
  const path = join(dir, 'percpu_stats');
  assert.throws(() => readLiveStats({ path }), (e: unknown) => e instanceof PercpuError && /does not exist/.test(e.message));
  writeFileSync(path, readFileSync(fixturePath('stats', 'live-2026-11-25.percpu_stats')));
  assert.match(readLiveStats({ path }), /^Percpu Memory Statistics/);
});

test('stats and maps at a point of a trace (simulated with the whole-allocator replay)', async () => {
  const trace = fixturePath('traces', 'raw', 'capture-bpf-phash-3000x1024.trace.gz');
  const stats = fixturePath('traces', 'stats', 'capture-bpf-phash-3000x1024.before.percpu_stats.txt');
  const early = await stateAt(trace, { at: 10, stats });
  const late = await stateAt(trace, { at: 3000, stats });
  const cur = (t: string) => Number(/nr_cur_alloc\s*:\s*(\d+)/.exec(t)![1]);
  assert.equal(early.replayed, 10);
  assert.ok(cur(late.statsText) > cur(early.statsText));
  assert.ok(late.chunks && late.chunks.chunks.length >= 2);
  const { svg } = await mapFromGolden(trace, { at: 3000, stats });
  assert.match(svg, /<rect class="alloc"/);
  await assert.rejects(stateAt(trace, {}), /needs the traced machine's percpu_stats/);
  // The same raw text on stdin-like plain input parses the same way.
  assert.ok(gunzipSync(readFileSync(trace)).length > 100000);
});
