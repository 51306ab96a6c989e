// SPDX-License-Identifier: GPL-2.0-only
/**
 * Units in the types: branded numbers for the quantities the engine mixes —
 * bytes, bitmap bits (one bit = `MIN_ALLOC_SIZE` = 4 bytes), metadata blocks
 * (one block = one page), pages, byte offsets from a chunk's base, chunk ids
 * and percpu pointers — and the small named converters between them.
 *
 * The scheme: each unit is `number & { readonly [unit]: 'name' }`, where
 * `unit` is a `unique symbol` that exists only for the type checker. A brand is
 * therefore erased at run time (the values are plain numbers, typed arrays hold
 * them unchanged, nothing is boxed or allocated), a branded value is still a
 * `number` wherever a number is accepted, but a plain number — or a number of
 * another unit — is not accepted where a unit is asked for. A value enters a
 * unit through a converter (`bytesToBits`, `pageOfBit`, …) or, where the
 * number is known to be in that unit already (a typed-array field, a hot
 * loop), through a cast-like constructor (`asBytes`, `asBits`, …), which is
 * an identity function that V8 inlines away.
 *
 * Invariants: every converter is one arithmetic expression, with no branch
 * and no allocation, so that it inlines on the hot paths; the shift between
 * bytes and bits is `MIN_ALLOC_SHIFT` and appears only here. Bytes→bits
 * truncates (sizes and offsets the engine converts are multiples of 4 by the
 * request checks); bits→bytes is exact.
 *
 * `NULL_PTR` is a `Ptr` and `RESERVED_CHUNK_ID` a `ChunkId`: both are −1 at
 * run time (the documented pointer format), but they are different units, so
 * comparing one with the other, or passing a chunk id where a pointer is
 * wanted, is a compile-time error. Decoded, `NULL_PTR` names chunk −2
 * (`ptrChunk`), which is no chunk: a real pointer never equals it.
 *
 * Imports only constants.ts (a leaf), so api.ts may re-export it.
 */
import { MIN_ALLOC_SHIFT, MIN_ALLOC_SIZE } from './constants.js';

/** The brand key: exists only in the type checker (never at run time). */
declare const unit: unique symbol;
/** A number tagged with a unit name; erased at run time. */
export type Unit<Name extends string> = number & { readonly [unit]: Name };

/** A size or count in bytes. */
export type Bytes = Unit<'bytes'>;
/** A bit index or bit count of a chunk's allocation bitmap (one bit = 4 bytes). */
export type Bits = Unit<'bits'>;
/** A metadata block index or count (one block covers one page: `blockBits` bits). */
export type Blocks = Unit<'blocks'>;
/** A page index or page count within a chunk. */
export type Pages = Unit<'pages'>;
/** A byte offset from a chunk's base page (the `off` of the kernel's tracepoints). */
export type Offset = Unit<'offset'>;
/** A chunk id: 0, 1, 2, … in creation order, or `RESERVED_CHUNK_ID` (−1). */
export type ChunkId = Unit<'chunk id'>;
/** A percpu pointer: `(chunk + 1) · 2^32 + offset`, or `NULL_PTR`. */
export type Ptr = Unit<'percpu pointer'>;

// ---------------------------------------------------------------------------
// Entering a unit (identity at run time: for values already in that unit)

/** A number known to be bytes (a typed-array field, a checked request size). */
export function asBytes(n: number): Bytes {
  return n as Bytes;
}
/** A number known to be bits. */
export function asBits(n: number): Bits {
  return n as Bits;
}
/** A number known to be a block index or count. */
export function asBlocks(n: number): Blocks {
  return n as Blocks;
}
/** A number known to be a page index or count. */
export function asPages(n: number): Pages {
  return n as Pages;
}
/** A number known to be a byte offset from a chunk's base. */
export function asOffset(n: number): Offset {
  return n as Offset;
}
/** A number known to be a chunk id. */
export function asChunkId(n: number): ChunkId {
  return n as ChunkId;
}
/** A number known to be a percpu pointer (e.g. read back from a `Float64Array`). */
export function asPtr(n: number): Ptr {
  return n as Ptr;
}

// ---------------------------------------------------------------------------
// Bytes and bits

/** Bytes (or a byte offset) to bitmap bits: `n >>> MIN_ALLOC_SHIFT` (truncates; callers pass multiples of 4). */
export function bytesToBits(n: number): Bits {
  return (n >>> MIN_ALLOC_SHIFT) as Bits;
}
/** Bytes to the bits that hold them, rounded up (an allocation of `n` bytes covers this many bits; exact for any safe integer). */
export function bytesToBitsUp(n: number): Bits {
  return Math.ceil(n / MIN_ALLOC_SIZE) as Bits;
}
/** Bitmap bits to bytes: `n << MIN_ALLOC_SHIFT` (exact for any map: maps are < 2^29 bits). */
export function bitsToBytes(n: number): Bytes {
  return (n << MIN_ALLOC_SHIFT) as Bytes;
}
/** A byte offset from the chunk's base to the bit that holds it. */
export function offsetToBit(off: number): Bits {
  return (off >>> MIN_ALLOC_SHIFT) as Bits;
}
/** A bit to the byte offset of its first byte from the chunk's base. */
export function bitToOffset(bit: number): Offset {
  return (bit << MIN_ALLOC_SHIFT) as Offset;
}

// ---------------------------------------------------------------------------
// Bits, blocks and pages (a block is a page: `blockBits` = pageSize / 4)

/** The block holding bit `bit` (`pcpu_off_to_block_index` on bits). */
export function bitToBlock(bit: number, blockBits: number): Blocks {
  return Math.floor(bit / blockBits) as Blocks;
}
/** Bit `bit` relative to the start of its block (`pcpu_off_to_block_off`). */
export function bitInBlock(bit: number, blockBits: number): Bits {
  return (bit % blockBits) as Bits;
}
/** The first bit of block `block` (`pcpu_block_off_to_off` with offset 0). */
export function blockToBit(block: number, blockBits: number): Bits {
  return (block * blockBits) as Bits;
}
/** The page holding bit `bit` (the same index as its block). */
export function pageOfBit(bit: number, blockBits: number): Pages {
  return Math.floor(bit / blockBits) as Pages;
}
/** The first bit of page `page`. */
export function pageToBit(page: number, blockBits: number): Bits {
  return (page * blockBits) as Bits;
}
/** Pages to bytes. */
export function pagesToBytes(pages: number, pageSize: number): Bytes {
  return (pages * pageSize) as Bytes;
}
