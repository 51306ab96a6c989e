// SPDX-License-Identifier: GPL-2.0-only
/**
 * Geometry resolution, the first chunk's layout, and the model of
 * `pcpu_build_alloc_info` (spec §5).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildAllocInfo, defaultDynSize, resolveGeometry } from '../src/engine/geometry.js';
import { HintedBitmapAllocator } from '../src/engine/allocator.js';
import { Hdr } from '../src/engine/chunk.js';

test('the dynamic region grows to a page boundary (the golden geometries G1, G2, G1R)', () => {
  assert.equal(defaultDynSize(16392, 0), 32760); // G1
  assert.equal(defaultDynSize(16392, 8192), 32760); // G1R
  assert.equal(defaultDynSize(4104, 0, 4096, 20 << 10), 24568); // G2
  const g = resolveGeometry({ unitSize: 1048576, staticSize: 16392 });
  assert.equal(g.dynSize, 32760);
  assert.equal(g.blockBits, 1024);
  assert.equal(g.unitPages, 256);
});

test('build_alloc_info reproduces the real Linux 6.18 machine of the traces (2 CPUs, 2 MiB atom)', () => {
  const ai = buildAllocInfo({ staticSize: 185560, reservedSize: 0, dynSize: 28 << 10, atomSize: 2 << 20, groupSizes: [2], dynamicEarlySize: 20 << 10 });
  assert.deepEqual(
    { unit: ai.unitSize, dyn: ai.dynSize, alloc: ai.allocSize, upa: ai.unitsPerAlloc },
    { unit: 1048576, dyn: 31528, alloc: 2097152, upa: 2 },
  );
});

test('build_alloc_info: upa limited by wasting at most a third of the CPUs, groups laid back to back', () => {
  // 8 KiB reserve + 28 KiB dyn + small static on x86-64 with 2 MiB atoms: 64 units would fit one atom.
  const ai = buildAllocInfo({ staticSize: 100000, reservedSize: 8192, dynSize: 28 << 10, atomSize: 2 << 20, groupSizes: [3, 5] });
  // size_sum = PFN_ALIGN(100000 + 8192 + 28672) = 139264 -> max_upa 15 -> 8 (2 MiB % upa and page-aligned).
  // upa 8: allocs 2, wasted 8 > 8/3 -> skip; upa 4: wasted 1+3 = 4 > 2 -> skip; upa 2: allocs 2+3 = 5, wasted 1+1 = 2 -> best;
  // upa 1: allocs 8 > 5 -> stop.
  assert.equal(ai.unitsPerAlloc, 2);
  assert.equal(ai.unitSize, 1 << 20);
  assert.deepEqual(
    ai.groups.map((g) => [g.nrCpus, g.nrUnits, g.baseOffset]),
    [
      [3, 4, 0],
      [5, 6, 4 << 20],
    ],
  );
});

test('first chunk: offsets of the hidden head and tail, and where the reserved chunk sits', () => {
  const a = new HintedBitmapAllocator({ kernel: '4.14', geometry: { unitSize: 1048576, staticSize: 16392, reservedSize: 8192 } });
  const r = a.reserved!;
  const f = a.first!;
  // Reserved: unit [16392, 24584) -> base page 16384, start_offset 8, map 8192 -> 3 pages, end_offset 4088.
  assert.deepEqual([r.hdr[Hdr.BaseOffset], r.hdr[Hdr.StartOffset], r.nrPages, r.hdr[Hdr.EndOffset]], [16384, 8, 3, 4088]);
  // Dynamic: unit [24584, 57344) -> base page 24576, start_offset 8, 8 pages, end_offset 0.
  assert.deepEqual([f.hdr[Hdr.BaseOffset], f.hdr[Hdr.StartOffset], f.nrPages, f.hdr[Hdr.EndOffset]], [24576, 8, 8, 0]);
  assert.equal(f.hdr[Hdr.FreeBytes], 32760);
  assert.equal(a.unitOffset(a.alloc(4, 4)), 24584);
});

test('a JavaScript caller that omits the geometry gets a GeometryError naming it, for every profile', async () => {
  const { createAllocator, GeometryError } = await import('../src/index.js');
  for (const kernel of ['4.13', '4.14', '7.0']) {
    assert.throws(() => createAllocator({ kernel } as never), (e: unknown) => e instanceof GeometryError && /geometry is required/.test(e.message), kernel);
    assert.throws(() => createAllocator({ kernel, geometry: null } as never), (e: unknown) => e instanceof GeometryError && /got null/.test(e.message), kernel);
  }
});
