// SPDX-License-Identifier: GPL-2.0-only
/**
 * Bad input gets a typed error and leaves the allocator exactly as it was.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HintedBitmapAllocator, createAllocator } from '../src/engine/allocator.js';
import { ALLOC_ATOMIC, ALLOC_RESERVED } from '../src/engine/bitmap-allocator.js';
import { makePtr, ptrOffset, ptrChunk, NULL_PTR } from '../src/engine/pointer.js';
import { InvalidFlagsError, InvalidFreeError, InvalidRequestError, NoReservedChunkError, PercpuError, GeometryError } from '../src/errors.js';
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
    const startOff = first.startOffset;
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

test('geometry: every field checked, the message names the field and what it got (a string named as one)', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ unitSize: 65536, nrUnits: 2 ** 40 }, /number of units must be in 1\.\.65536, got 1099511627776/],
    [{ unitSize: 65536, atomSize: -1 }, /atom size must be in 4096\.\./],
    [{ unitSize: 65536, atomSize: 12288 }, /atom size must be a power of two/],
    [{ unitSize: 65536, allocSize: Number.NaN }, /alloc size must be an integer, got NaN/],
    [{ unitSize: 65536, allocSize: 98304 }, /alloc size must be a whole number of units/],
    [{ unitSize: '65536' }, /unit size must be a number, got the string "65536"/],
    [{ unitSize: 65536, nrUnits: 1.5 }, /number of units must be an integer, got 1\.5/],
    [{ unitSize: 65536, staticSize: -4 }, /static size must be in 0\.\./],
    [{ unitSize: 65536, pageSize: 12288 }, /page size must be a power of two/],
  ];
  for (const [g, message] of cases) {
    assert.throws(() => new HintedBitmapAllocator({ kernel: '7.0', geometry: g as never }), (e: unknown) => e instanceof GeometryError && message.test(e.message), JSON.stringify(g));
    assert.throws(() => createAllocator({ kernel: '4.13', geometry: g as never }), GeometryError, `4.13 ${JSON.stringify(g)}`);
  }
  // percpu_stats of a real machine still describe a valid geometry.
  assert.doesNotThrow(() => new HintedBitmapAllocator({ kernel: '7.0', geometry: { unitSize: 1048576, nrUnits: 2, atomSize: 2097152, allocSize: 2097152 } }));
});

for (const kernel of ['4.13', '4.14', '7.0'] as const) {
  test(`${kernel}: unknown flag bits, fractional, NaN or string flags are rejected and change nothing`, () => {
    const a = createAllocator({ kernel, geometry: G1, backend: 'vm' });
    const live = Array.from({ length: 50 }, (_, i) => a.alloc(8 + i * 4, 8));
    const before = a.formatStats();
    for (const flags of [4, 8, 1 << 20, -1, 1.5, Number.NaN, '1' as unknown as number]) {
      assert.throws(() => a.alloc(16, 8, flags), (e: unknown) => e instanceof InvalidFlagsError && e.code === 'EINVAL_FLAGS', String(flags));
    }
    assert.throws(() => a.alloc(16, 8, 4), /unknown allocation flag bits 0x4/);
    assert.throws(() => a.alloc(16, 8, '1' as unknown as number), /must be a number .*got the string "1"/);
    assert.equal(a.formatStats(), before);
    assert.notEqual(a.alloc(16, 8, ALLOC_ATOMIC), NULL_PTR);
    assert.ok(live.every((p) => p !== NULL_PTR));
  });

  test(`${kernel}: free(p+1) says misaligned, not "outside the usable region", and changes nothing`, () => {
    const a = createAllocator({ kernel, geometry: G1, backend: 'vm' });
    const p = a.alloc(64, 8);
    a.alloc(64, 8);
    const before = a.formatStats();
    assert.throws(() => a.free(p + 1), (e: unknown) => e instanceof InvalidFreeError && /misaligned/.test(e.message) && !/outside|usable region/.test(e.message));
    assert.equal(a.formatStats(), before);
    a.free(p);
  });
}

test('a string where a size was expected is named as a string', () => {
  const a = new HintedBitmapAllocator({ kernel: '7.0', geometry: G1 });
  assert.throws(() => a.alloc('64' as unknown as number, 8), /illegal size \(the string "64"\)/);
});
