// SPDX-License-Identifier: GPL-2.0-only
/**
 * Bit primitives against a one-bit-at-a-time model, over random maps and ranges.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  clearRange,
  ffs,
  findLastBitIn,
  findNextBit,
  findNextZeroBit,
  fls,
  popcount32,
  setRange,
  testBit,
  weight,
  alignUp,
} from '../src/engine/bitmap.js';

const mapArb = fc.uint32Array({ minLength: 1, maxLength: 6 });

function naiveNext(map: Uint32Array, size: number, off: number, want: boolean): number {
  for (let i = off; i < size; i++) if (testBit(map, i) === want) return i;
  return size;
}

test('findNextBit / findNextZeroBit agree with a bit-by-bit scan, and return size when nothing is found', () => {
  fc.assert(
    fc.property(mapArb, fc.nat(), fc.nat(), (map, a, b) => {
      const bits = map.length * 32;
      const size = a % (bits + 1);
      const off = b % (bits + 2);
      assert.equal(findNextBit(map, size, off), naiveNext(map, size, off, true));
      assert.equal(findNextZeroBit(map, size, off), naiveNext(map, size, off, false));
    }),
    { numRuns: 2000 },
  );
});

test('findLastBitIn agrees with a backwards scan', () => {
  fc.assert(
    fc.property(mapArb, fc.nat(), fc.nat(), (map, a, b) => {
      const bits = map.length * 32;
      const to = a % (bits + 1);
      const from = b % (to + 1);
      let expect = -1;
      for (let i = to - 1; i >= from; i--) if (testBit(map, i)) { expect = i; break; }
      assert.equal(findLastBitIn(map, from, to), expect);
    }),
    { numRuns: 2000 },
  );
});

test('setRange / clearRange touch exactly [start, start + n)', () => {
  fc.assert(
    fc.property(mapArb, fc.nat(), fc.nat(), fc.boolean(), (map, a, b, set) => {
      const bits = map.length * 32;
      const start = a % bits;
      const n = b % (bits - start + 1);
      const before = Uint32Array.from(map);
      if (set) setRange(map, start, n);
      else clearRange(map, start, n);
      for (let i = 0; i < bits; i++) {
        const inside = i >= start && i < start + n;
        assert.equal(testBit(map, i), inside ? set : testBit(before, i), `bit ${i}`);
      }
    }),
    { numRuns: 2000 },
  );
});

test('weight, popcount, ffs, fls and alignUp', () => {
  const m = new Uint32Array([0xffffffff, 0x1, 0x80000000]);
  assert.equal(weight(m, 96), 34);
  assert.equal(weight(m, 33), 33);
  assert.equal(weight(m, 32), 32);
  assert.equal(popcount32(0xf0f0f0f0), 16);
  assert.equal(ffs(8), 3);
  assert.equal(ffs(0x80000000), 31);
  assert.equal(fls(0), 0);
  assert.equal(fls(1), 1);
  assert.equal(fls(0x80000000), 32);
  assert.equal(alignUp(5, 4), 8);
  assert.equal(alignUp(8, 4), 8);
  assert.equal(alignUp(0, 1024), 0);
});
