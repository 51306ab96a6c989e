// SPDX-License-Identifier: GPL-2.0-only
/**
 * Bit primitives over `Uint32Array` words, with the kernel's conventions:
 *
 * - bit i lives in word i >>> 5, at position i & 31 (little-endian bit order,
 *   as the kernel's `unsigned long` bitmaps on a little-endian machine);
 * - a "find" that finds nothing returns the `size` it was given, including when
 *   the start is already at or past `size` — callers compare against `size`;
 * - every search scans whole words, never single bits.
 *
 * These functions never allocate; they are the hot path of the engine.
 */

/** Count of trailing zero bits of a non-zero 32-bit word (0..31). */
export function ctz32(word: number): number {
  return 31 - Math.clz32(word & -word);
}

/** `__ffs`: index of the lowest set bit (the argument must be non-zero). */
export const ffs = ctz32;

/** `fls`: 1-based index of the highest set bit, fls(0) = 0. */
export function fls(x: number): number {
  return 32 - Math.clz32(x);
}

export function testBit(map: Uint32Array, bit: number): boolean {
  return ((map[bit >>> 5]! >>> (bit & 31)) & 1) !== 0;
}

export function setBit(map: Uint32Array, bit: number): void {
  map[bit >>> 5] = map[bit >>> 5]! | (1 << (bit & 31));
}

export function clearBit(map: Uint32Array, bit: number): void {
  map[bit >>> 5] = map[bit >>> 5]! & ~(1 << (bit & 31));
}

/** Mask of bits [lo, hi) inside one word, 0 <= lo < hi <= 32. */
function wordMask(lo: number, hi: number): number {
  const upper = hi === 32 ? -1 : (1 << hi) - 1;
  return upper & (-1 << lo);
}

/** Set bits [start, start + n). */
export function setRange(map: Uint32Array, start: number, n: number): void {
  if (n <= 0) return;
  const end = start + n;
  let w = start >>> 5;
  const lastW = (end - 1) >>> 5;
  if (w === lastW) {
    map[w] = map[w]! | wordMask(start & 31, ((end - 1) & 31) + 1);
    return;
  }
  map[w] = map[w]! | (-1 << (start & 31));
  for (w++; w < lastW; w++) map[w] = -1;
  map[lastW] = map[lastW]! | wordMask(0, ((end - 1) & 31) + 1);
}

/** Clear bits [start, start + n). */
export function clearRange(map: Uint32Array, start: number, n: number): void {
  if (n <= 0) return;
  const end = start + n;
  let w = start >>> 5;
  const lastW = (end - 1) >>> 5;
  if (w === lastW) {
    map[w] = map[w]! & ~wordMask(start & 31, ((end - 1) & 31) + 1);
    return;
  }
  map[w] = map[w]! & ~(-1 << (start & 31));
  for (w++; w < lastW; w++) map[w] = 0;
  map[lastW] = map[lastW]! & ~wordMask(0, ((end - 1) & 31) + 1);
}

/** First set bit in [off, size), or `size`. */
export function findNextBit(map: Uint32Array, size: number, off: number): number {
  if (off >= size) return size;
  let w = off >>> 5;
  let word = map[w]! & (-1 << (off & 31));
  const lastW = (size - 1) >>> 5;
  for (;;) {
    if (word !== 0) {
      const bit = (w << 5) + ctz32(word);
      return bit < size ? bit : size;
    }
    if (++w > lastW) return size;
    word = map[w]!;
  }
}

/** First clear bit in [off, size), or `size`. */
export function findNextZeroBit(map: Uint32Array, size: number, off: number): number {
  if (off >= size) return size;
  let w = off >>> 5;
  let word = ~map[w]! & (-1 << (off & 31));
  const lastW = (size - 1) >>> 5;
  for (;;) {
    if (word !== 0) {
      const bit = (w << 5) + ctz32(word);
      return bit < size ? bit : size;
    }
    if (++w > lastW) return size;
    word = ~map[w]!;
  }
}

/**
 * Last set bit in [from, to), or -1 when there is none. (The kernel's
 * `find_last_bit` on a block-relative map returns its size instead; callers
 * translate, which keeps this primitive free of sentinel puns.)
 */
export function findLastBitIn(map: Uint32Array, from: number, to: number): number {
  if (to <= from) return -1;
  let w = (to - 1) >>> 5;
  const hiBits = ((to - 1) & 31) + 1;
  let word = map[w]! & (hiBits === 32 ? -1 : (1 << hiBits) - 1);
  const firstW = from >>> 5;
  for (;;) {
    if (word !== 0) {
      const bit = (w << 5) + 31 - Math.clz32(word);
      return bit >= from ? bit : -1;
    }
    if (--w < firstW) return -1;
    word = map[w]!;
  }
}

/** Number of set bits in [0, size). */
export function weight(map: Uint32Array, size: number): number {
  let n = 0;
  const full = size >>> 5;
  for (let w = 0; w < full; w++) n += popcount32(map[w]!);
  const rest = size & 31;
  if (rest !== 0) n += popcount32(map[full]! & ((1 << rest) - 1));
  return n;
}

export function popcount32(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** Round `x` up to a multiple of the power of two `align`. */
export function alignUp(x: number, align: number): number {
  return (x + align - 1) & -align;
}

export function alignDown(x: number, align: number): number {
  return x & -align;
}

export function isPowerOfTwo(x: number): boolean {
  return x > 0 && (x & (x - 1)) === 0;
}
