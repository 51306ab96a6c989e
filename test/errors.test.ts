/**
 * Bad input gets a typed error and leaves the allocator exactly as it was.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HintedBitmapAllocator } from '../src/allocator.js';
import { ALLOC_RESERVED } from '../src/engine/bitmap-allocator.js';
import { makePtr, ptrOffset, ptrChunk, NULL_PTR } from '../src/engine/pointer.js';
import { InvalidFreeError, InvalidRequestError, NoReservedChunkError, PercpuError, GeometryError } from '../src/errors.js';
import { snapshot } from '../test-support/snapshot.js';

const G1 = { unitSize: 1048576, staticSize: 16392, dynSize: 32760 };

function populated(kernel: '4.14' | '7.0', reserved = false) {
  const a = new HintedBitmapAllocator({ kernel, geometry: reserved ? { ...G1, reservedSize: 8192 } : G1, backend: 'vm' });
  const live: number[] = [];
  for (let i = 0; i < 300; i++) live.push(a.alloc(4 + (i % 13) * 4, 1 << (2 + (i % 4))));
  for (let i = 0; i < 300; i += 3) a.free(live[i]!);
  return { a, live: live.filter((_, i) => i % 3 !== 0) };
}

for (const kernel of ['4.14', '7.0'] as const) {
  test(`${kernel}: illegal sizes and aligns throw InvalidRequestError and change nothing`, () => {
    const { a } = populated(kernel);
    const before = snapshot(a);
    const bad: [number, number, string][] = [
      [0, 4, 'EINVAL_SIZE'],
      [-4, 4, 'EINVAL_SIZE'],
      [32772, 4, 'EINVAL_SIZE'],
      [1.5, 4, 'EINVAL_SIZE'],
      [Number.NaN, 4, 'EINVAL_SIZE'],
      [8, 12, 'EINVAL_ALIGN'],
      [8, 8192, 'EINVAL_ALIGN'],
      [8, -8, 'EINVAL_ALIGN'],
      [8, 2.5, 'EINVAL_ALIGN'],
    ];
    for (const [size, align, code] of bad) {
      assert.throws(() => a.alloc(size, align), (e: unknown) => e instanceof InvalidRequestError && e.code === code, `${size}/${align}`);
    }
    assert.deepEqual(snapshot(a), before);
    // The kernel's own edge cases are legal: align 0..3 become 4, size 32768 is the maximum.
    assert.notEqual(a.alloc(3, 0), NULL_PTR);
    assert.notEqual(a.alloc(32768, 4096), NULL_PTR);
  });

  test(`${kernel}: invalid frees throw InvalidFreeError and change nothing`, () => {
    const { a, live } = populated(kernel);
    const victim = live[10]!;
    const size = a.allocationSize(victim);
    a.free(victim);
    const before = snapshot(a);
    const first = a.first!;
    const startOff = first.hdr[4]!;
    const cases: [string, number][] = [
      ['double free', victim],
      ['interior pointer', live[20]! + 4],
      ['never allocated (free space)', makePtr(ptrChunk(victim), ptrOffset(victim))],
      ['misaligned offset', live[21]! + 2],
      ['hidden head of the first chunk', makePtr(0, 0)],
      ['past the usable region', makePtr(0, first.mapBits * 4)],
      ['chunk that does not exist', makePtr(57, 0)],
      ['not a pointer', -5],
      ['not an integer', 1.25],
    ];
    assert.ok(startOff > 0 && size > 0);
    for (const [what, ptr] of cases) {
      assert.throws(() => a.free(ptr), InvalidFreeError, what);
      assert.deepEqual(snapshot(a), before, what);
    }
  });

  test(`${kernel}: a reserved request without a reserved region throws NoReservedChunkError`, () => {
    const { a } = populated(kernel);
    const before = snapshot(a);
    assert.throws(() => a.alloc(8, 8, ALLOC_RESERVED), NoReservedChunkError);
    assert.deepEqual(snapshot(a), before);
  });

  test(`${kernel}: a full reserved region returns NULL without touching other chunks`, () => {
    const { a } = populated(kernel, true);
    let n = 0;
    while (a.alloc(1024, 8, ALLOC_RESERVED) !== NULL_PTR) n++;
    assert.equal(n, 8); // 8 KiB reserved region
    const before = snapshot(a);
    assert.equal(a.alloc(1024, 8, ALLOC_RESERVED), NULL_PTR);
    assert.deepEqual(snapshot(a), before);
  });
}

test('geometry errors are typed', () => {
  const cases = [
    { unitSize: 1000 },
    { unitSize: 16384 },
    { unitSize: 65536, pageSize: 3000 },
    { unitSize: 65536, staticSize: 60000, dynSize: 28672 },
    { unitSize: 65536, reservedSize: 6 },
  ];
  for (const g of cases) assert.throws(() => new HintedBitmapAllocator({ kernel: '4.14', geometry: g }), GeometryError, JSON.stringify(g));
  assert.throws(() => new HintedBitmapAllocator({ kernel: '4.14', geometry: { unitSize: 1000 } }), PercpuError);
});
