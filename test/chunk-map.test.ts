// SPDX-License-Identifier: GPL-2.0-only
/**
 * Chunk maps: runs computed from the bitmaps, bounded element counts for a
 * full 1 MiB chunk, tooltips with offsets, bands of full and free pages,
 * titles and population marks that follow the mode, and two-profile diffs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HintedBitmapAllocator } from '../src/engine/allocator.js';
import { diffRanges, renderChunkMap, rowRuns } from '../src/tools/viz/chunk-map.js';
import { mapFromGolden } from '../src/cli/map.js';
import { renderAllocatorMap } from '../src/tools/viz/allocator-map.js';
import { fixturePath } from '../test-support/fixtures.js';

test('rows are runs: hidden head, allocations (split at their bounds), free space', () => {
  const a = new HintedBitmapAllocator({ kernel: '4.14', geometry: { unitSize: 32768, staticSize: 1000, dynSize: 20000 }, balance: 'none' });
  a.alloc(4, 4); // bytes [1000, 1004)
  a.alloc(8, 4); // [1004, 1012)
  a.alloc(64, 64); // [1024, 1088)
  const first = a.first!;
  const runs = rowRuns(first, 0, 1024).map((r) => `${r.kind.startsWith('alloc') ? 'A' : r.kind}:${r.start * 4}-${r.end * 4}`);
  assert.deepEqual(runs, ['hidden:0-1000', 'A:1000-1004', 'A:1004-1012', 'free:1012-1024', 'A:1024-1088', 'free:1088-4096']);
  // The last page of this first chunk ends in its hidden tail: [21000, 24576).
  const last = rowRuns(first, 5, 1024).map((r) => `${r.kind}:${r.start * 4}-${r.end * 4}`);
  assert.deepEqual(last, ['free:20480-21000', 'hidden:21000-24576']);
  const svg = renderChunkMap(first, 1024);
  assert.match(svg, /<title>allocated \[1004, 1012\) 8 B<\/title>/);
  assert.match(svg, /<title>hidden \(first chunk static\/reserved region\) \[0, 1000\) 1000 B<\/title>/);
  assert.match(svg, /class="contig-hint"/);
});

test('a 1 MiB chunk full of 4-byte objects stays a few thousand elements', () => {
  const a = new HintedBitmapAllocator({ kernel: '7.0', geometry: { unitSize: 1 << 20 }, mode: 'chunk' });
  const ptrs: number[] = [];
  for (let i = 0; i < 262144; i++) ptrs.push(a.alloc(4, 4));
  // Free every third object: every row becomes a crowd of tiny runs.
  for (let i = 0; i < ptrs.length; i += 3) a.free(ptrs[i]!);
  const svg = renderChunkMap(a.getChunk(0)!, 1024);
  const elements = (svg.match(/<rect/g) ?? []).length;
  assert.ok(elements < 40000, `${elements} rects`);
  assert.match(svg, /% allocated \(row of \d+ runs, drawn in 32-byte buckets\)/);
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.ok(svg.trimEnd().endsWith('</svg>'));
});

test('diff ranges are exactly the bits where two chunks differ', () => {
  const mk = () => new HintedBitmapAllocator({ kernel: '4.14', geometry: { unitSize: 8192 }, mode: 'chunk' });
  const x = mk();
  const y = mk();
  x.alloc(16, 4); // bits [0, 4)
  y.alloc(8, 4); // [0, 2)
  y.alloc(8, 4); // [2, 4): same bits allocated, but a boundary at bit 2
  x.alloc(4096, 4096); // [1024, 2048)
  assert.deepEqual(diffRanges(x.getChunk(0)!, y.getChunk(0)!), [
    [2, 3],
    [1024, 2048],
  ]);
});

test('map --diff on GV-B shows the scan-hint placement of 7.0 against 4.14', async () => {
  const { svg, summary } = await mapFromGolden(fixturePath('golden', 'spec', '4.14', 'GV-B.golden.gz'), { diff: '4.14,7.0' });
  // 6000 B placed at 32 by 4.14 and at 4096 by 7.0.
  assert.match(summary, /4\.14 vs 7\.0: \d+ bytes placed differently/);
  assert.match(svg, /class="diff"/);
  assert.match(svg, /4\.14: chunk 0/);
  assert.match(svg, /7\.0: chunk 0/);
  const same = await mapFromGolden(fixturePath('golden', 'spec', '4.14', 'GV-A.golden.gz'), { diff: '4.14,7.0' });
  assert.match(same.summary, /: 0 bytes placed differently/);
});

test('runs of full and of free pages collapse into one labelled band each; --full draws every page', () => {
  const a = new HintedBitmapAllocator({ kernel: '7.0', geometry: { unitSize: 1 << 20 }, mode: 'chunk' });
  for (let i = 0; i < 100 * 512; i++) a.alloc(8, 4); // pages 0-99 full
  const chunk = a.getChunk(0)!;
  const svg = renderChunkMap(chunk, 1024);
  assert.equal((svg.match(/class="band-full"/g) ?? []).length, 1);
  assert.equal((svg.match(/class="band-empty"/g) ?? []).length, 1);
  assert.match(svg, /pages 0-99 \(100\) full: 409,600 B in 51,200 allocations starting here/);
  assert.match(svg, /pages 100-255 \(156\) free: 638,976 B/);
  assert.equal((svg.match(/<g class="row"/g) ?? []).length, 0);
  const full = renderChunkMap(chunk, 1024, { collapse: false });
  assert.equal((full.match(/<g class="row"/g) ?? []).length, 256);
  assert.doesNotMatch(full, /class="band/);
  // A highlighted difference keeps its page out of the band.
  const marked = renderChunkMap(chunk, 1024, { highlight: [[50 * 1024 + 3, 50 * 1024 + 5]] });
  assert.match(marked, /<g class="row" data-page="50">/);
  assert.match(marked, /pages 0-49 \(50\) full/);
  assert.match(marked, /pages 51-99 \(49\) full/);
});

test('a chunk-mode map is not titled "first chunk" and marks no page unpopulated; it has a legend and a caption', async () => {
  const { svg } = await mapFromGolden(fixturePath('golden', 'spec', '4.14', 'GV-B.golden.gz'), { kernel: '4.14' });
  assert.doesNotMatch(svg, /first chunk\)/);
  assert.match(svg, /chunk 0 \(chunk mode\)/);
  assert.doesNotMatch(svg, /not populated/);
  assert.match(svg, /class="legend"/);
  assert.match(svg, /class="caption"/);
  assert.match(svg, /GV-B \(kernel-percpu\.md section 11\)/, 'the workload header is the caption');
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
});

test('in allocator mode, pages holding allocations are never marked unpopulated', () => {
  const a = new HintedBitmapAllocator({ kernel: '7.0', geometry: { unitSize: 1 << 16, staticSize: 8192, nrUnits: 2 }, backend: 'vm', balance: 'sync' });
  const ptrs: number[] = [];
  for (let i = 0; i < 3000; i++) ptrs.push(a.alloc(16, 8));
  for (let i = 0; i < ptrs.length; i += 2) a.free(ptrs[i]!);
  const svg = renderAllocatorMap(a);
  assert.match(svg, /class="legend"/);
  for (const g of svg.split('<g class=').slice(1)) {
    if (!/class="unpopulated"/.test(g)) continue;
    assert.doesNotMatch(g, /class="(alloc|bucket|band-full)"/, `an unpopulated page holds allocations: ${g.slice(0, 200)}`);
  }
});
