// SPDX-License-Identifier: GPL-2.0-only
/**
 * The one percpu_stats format (src/formats/stats.ts): random snapshots of both
 * layouts written by the one writer and read back by the parser give the same
 * numbers and the same text; the engine's allocators write through it; the
 * parser accepts exactly the headers each layout has.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CHUNK_HEADER, STATS_LAYOUTS, writePercpuStats, type PercpuStatsData, type StatsChunkKind, type StatsChunkValues, type StatsLayout } from '../src/formats/stats.js';
import { parsePercpuStats } from '../src/formats/stats-parse.js';
import { createAllocator } from '../src/engine/allocator.js';
import '../src/engine/area-map.js';
import { ParseError } from '../src/errors.js';

// Values the kernel can print: counters (u64 as far as JavaScript keeps them exact) and signed fragments.
const num = fc.oneof(fc.integer({ min: 0, max: 4096 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 }), fc.maxSafeInteger());
// Plain objects, as the parser builds them (deepEqual compares prototypes).
const PLAIN = { noNullPrototype: true } as const;
const maybe = (present: boolean) => (present ? num : fc.constant(undefined));

function chunkArb(layout: StatsLayout): fc.Arbitrary<StatsChunkValues> {
  const is414 = layout === '4.14';
  return fc.record({
    kind: fc.constantFrom<StatsChunkKind>(...STATS_LAYOUTS[layout].kinds),
    nrAlloc: num,
    maxAllocSize: num,
    emptyPopPages: maybe(is414),
    firstBit: maybe(is414),
    freeBytes: num,
    contigBytes: num,
    // 5.9–5.13 print memcg_aware; other 4.14+ kernels do not.
    memcgAware: is414 ? fc.option(num, { nil: undefined }) : fc.constant(undefined),
    sumFrag: num,
    maxFrag: num,
    curMinAlloc: num,
    curMedAlloc: num,
    curMaxAlloc: num,
  }, PLAIN);
}

const statsArb: fc.Arbitrary<PercpuStatsData> = fc.constantFrom<StatsLayout>('4.13', '4.14').chain((layout) =>
  fc.record({
    layout: fc.constant(layout),
    allocInfo: fc.record({ unitSize: num, staticSize: num, reservedSize: num, dynSize: num, atomSize: num, allocSize: num }, PLAIN),
    global: fc.record({
      nrAlloc: num,
      nrDealloc: num,
      nrCurAlloc: num,
      nrMaxAlloc: num,
      nrChunks: num,
      nrMaxChunks: num,
      minAllocSize: num,
      maxAllocSize: num,
      emptyPopPages: maybe(layout === '4.14'),
    }, PLAIN),
    chunks: fc.array(chunkArb(layout), { maxLength: 6 }),
  }, PLAIN),
);

test('random snapshots of both layouts: write → parse gives the same numbers, and the same text again', () => {
  fc.assert(
    fc.property(statsArb, (s) => {
      const text = writePercpuStats(s);
      const back = parsePercpuStats(text);
      const lines = text.split('\n');
      // Each chunk's line number points at its header.
      for (const c of back.chunks) assert.equal(lines[c.line - 1], CHUNK_HEADER[c.kind]);
      const { chunks, ...rest } = back;
      assert.deepEqual({ ...rest, chunks: chunks.map(({ line: _line, ...c }) => c) }, s);
      assert.equal(writePercpuStats(back), text);
    }),
    { numRuns: 300 },
  );
});

test('the engine\'s profiles write through the one writer: their text parses and writes back unchanged', () => {
  for (const kernel of ['4.13', '4.14', '7.0']) {
    const a = createAllocator({ kernel, geometry: { unitSize: 32768, staticSize: 1000, reservedSize: 4096, dynSize: 20480 } });
    const ptrs = [a.alloc(8, 8), a.alloc(100, 4), a.alloc(4096, 64)];
    a.free(ptrs[1]!);
    const text = a.formatStats();
    const s = parsePercpuStats(text, kernel);
    assert.equal(s.layout, kernel === '4.13' ? '4.13' : '4.14', kernel);
    assert.deepEqual(s.chunks.map((c) => c.kind), ['reserved', 'first'], kernel);
    assert.equal(s.global.nrCurAlloc, 2, kernel);
    assert.equal(writePercpuStats(s), text, kernel);
  }
});

test('the 7.0 isolation headers exist only in the 4.14+ layout', () => {
  const base: PercpuStatsData = {
    layout: '4.14',
    allocInfo: { unitSize: 1, staticSize: 1, reservedSize: 0, dynSize: 1, atomSize: 1, allocSize: 1 },
    global: { nrAlloc: 0, nrDealloc: 0, nrCurAlloc: 0, nrMaxAlloc: 0, nrChunks: 1, nrMaxChunks: 1, minAllocSize: 0, maxAllocSize: 0, emptyPopPages: 0 },
    chunks: [{ kind: 'sidelined', nrAlloc: 0, maxAllocSize: 0, emptyPopPages: 0, firstBit: 0, freeBytes: 0, contigBytes: 0, memcgAware: undefined, sumFrag: 0, maxFrag: 0, curMinAlloc: 0, curMedAlloc: 0, curMaxAlloc: 0 }],
  };
  assert.equal(parsePercpuStats(writePercpuStats(base)).chunks[0]!.kind, 'sidelined');
  const old = writePercpuStats({ ...base, layout: '4.13', global: { ...base.global, emptyPopPages: undefined } });
  assert.throws(() => parsePercpuStats(old), (e: unknown) => e instanceof ParseError && /does not exist in the 4.13 layout/.test(e.message));
});
