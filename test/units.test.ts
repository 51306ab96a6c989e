// SPDX-License-Identifier: GPL-2.0-only
/**
 * Units in the types (src/engine/units.ts): the converters compute what the
 * engine's shifts and divisions did, brands cost nothing at run time, and the
 * null pointer is distinct from every chunk id.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  bytesToBits, bitsToBytes, bytesToBitsUp, offsetToBit, bitToOffset, bitToBlock, bitInBlock, blockToBit,
  pageOfBit, pageToBit, pagesToBytes, asBytes, type Bits, type Bytes, type ChunkId, type Ptr,
} from '../src/engine/units.js';
import { makePtr, ptrChunk, ptrOffset, isNullPtr, formatPtr, NULL_PTR, NULL_CHUNK_ID, RESERVED_CHUNK_ID } from '../src/engine/pointer.js';
import { createAllocator } from '../src/engine/allocator.js';
import * as p from '../src/index.js';

test('bytes and bits convert by the allocation granularity (4 bytes a bit)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: (1 << 29) - 1 }), (bits) => {
      assert.equal(bytesToBits(bitsToBytes(bits)), bits);
      assert.equal(offsetToBit(bitToOffset(bits)), bits);
      assert.equal(bitsToBytes(bits), bits * 4);
    }),
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (n) => {
      assert.equal(bytesToBits(n), Math.floor(n / 4));
      assert.equal(bytesToBitsUp(n), Math.ceil(n / 4));
    }),
  );
  assert.equal(bytesToBitsUp(Number.MAX_SAFE_INTEGER), Math.ceil(Number.MAX_SAFE_INTEGER / 4));
});

test('bits, blocks and pages: a bit is block (page) floor(bit / blockBits), at bit % blockBits', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1 << 24 }), fc.constantFrom(1024, 4096, 16384), (bit, blockBits) => {
      const block = bitToBlock(bit, blockBits);
      assert.equal(blockToBit(block, blockBits) + bitInBlock(bit, blockBits), bit);
      assert.ok(bitInBlock(bit, blockBits) < blockBits);
      assert.equal(pageOfBit(bit, blockBits), block);
      assert.equal(pageToBit(pageOfBit(bit, blockBits), blockBits), blockToBit(block, blockBits));
    }),
  );
  assert.equal(pagesToBytes(3, 4096), 12288);
});

test('brands are erased: a branded value is a plain number at run time and wherever a number is taken', () => {
  const b: Bytes = asBytes(64);
  const bits: Bits = bytesToBits(b);
  const n: number = bits; // a unit widens to number
  assert.equal(typeof n, 'number');
  assert.equal(Object.keys(p).includes('unit'), false);
  const f = new Float64Array(1);
  f[0] = makePtr(2, 128);
  assert.equal(f[0], 3 * 2 ** 32 + 128);
  // @ts-expect-error a plain number is not bytes without a converter
  const bad: Bytes = 64;
  // @ts-expect-error nor are bits bytes
  const bad2: Bytes = bits;
  void bad;
  void bad2;
});

test('NULL_PTR is distinct from every chunk id and every real pointer', () => {
  assert.equal(ptrChunk(NULL_PTR), NULL_CHUNK_ID);
  assert.notEqual(NULL_CHUNK_ID, RESERVED_CHUNK_ID);
  assert.ok(isNullPtr(NULL_PTR));
  assert.equal(formatPtr(NULL_PTR), 'NULL');
  fc.assert(
    fc.property(fc.integer({ min: -1, max: 1 << 20 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }), (chunk, off) => {
      const ptr = makePtr(chunk, off);
      assert.ok(!isNullPtr(ptr));
      assert.equal(ptrChunk(ptr), chunk);
      assert.equal(ptrOffset(ptr), off);
      assert.notEqual(ptrChunk(ptr), NULL_CHUNK_ID);
    }),
  );
  // The documented format is kept: the reserved chunk packs to the offset alone.
  assert.equal(makePtr(RESERVED_CHUNK_ID, 64), 64);
  assert.equal(formatPtr(64), 'reserved+64');
  const id: ChunkId = RESERVED_CHUNK_ID;
  const ptr: Ptr = NULL_PTR;
  // @ts-expect-error a chunk id and a pointer are different units: comparing them does not compile
  assert.equal(id === ptr, true); // both are -1 at run time; the type checker keeps them apart
  // @ts-expect-error a chunk id is not a pointer
  const wrong: Ptr = RESERVED_CHUNK_ID;
  void wrong;
});

test('the allocators hand out typed results and still take plain numbers', () => {
  for (const kernel of ['4.13', '4.14', '7.0']) {
    const a = createAllocator({ kernel, geometry: { unitSize: 64 << 10, staticSize: 4096 } });
    const ptr = a.alloc(16, 8);
    assert.ok(!isNullPtr(ptr));
    const chunk: ChunkId = ptrChunk(ptr);
    assert.equal(chunk, 0);
    a.free(ptr);
  }
  assert.equal(p.bytesToBits(8), 2);
  assert.equal(p.NULL_CHUNK_ID, -2);
});
