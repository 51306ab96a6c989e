/**
 * Chunk maps: runs computed from the bitmaps, bounded element counts for a
 * full 1 MiB chunk, tooltips with offsets, and two-profile diffs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HintedBitmapAllocator } from '../src/allocator.js';
import { diffRanges, renderChunkMap, rowRuns } from '../src/viz/chunk-map.js';
import { mapFromGolden } from '../src/cli/map.js';
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
