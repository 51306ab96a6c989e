// SPDX-License-Identifier: GPL-2.0-only
/**
 * Percpu pointers as plain numbers.
 *
 * A pointer names a chunk and a byte offset from that chunk's base — the `off`
 * the kernel's tracepoints print. It packs into one safe integer,
 * `(chunk + 1) * 2^32 + offset`, so that the reserved chunk (id -1) packs to the
 * offset alone and no allocation needs an object. `NULL_PTR` (-1) is what a failed
 * allocation returns, as the kernel returns NULL.
 *
 * Units (units.ts): pointers are `Ptr`, chunk ids `ChunkId`, offsets `Offset`.
 * `NULL_PTR` and `RESERVED_CHUNK_ID` are both −1 at run time but of different
 * units, so the checker refuses to compare or swap them; decoded, `NULL_PTR`
 * names chunk −2 (`NULL_CHUNK_ID`), which no chunk has. Arguments stay plain
 * `number` (a pointer read back from a `Float64Array` is accepted as is).
 */
import type { ChunkId, Offset, Ptr } from './units.js';

/** What a failed allocation returns (the kernel's NULL). Never a valid pointer: it decodes to chunk `NULL_CHUNK_ID`. */
export const NULL_PTR = -1 as Ptr;
/** Id of the reserved chunk (the kernel's `pcpu_reserved_chunk`, never numbered among dynamic chunks). */
export const RESERVED_CHUNK_ID = -1 as ChunkId;
/** `ptrChunk(NULL_PTR)`: the chunk id of no chunk, distinct from `RESERVED_CHUNK_ID` and every dynamic id. */
export const NULL_CHUNK_ID = -2 as ChunkId;

const STRIDE = 0x1_0000_0000;
/** The chunk stride, for code that builds or decodes pointers inline on a hot path. */
export const PTR_STRIDE = STRIDE;
/** 2^-32: `(ptr * PTR_STRIDE_INV) | 0` is chunk + 1 for every pointer (a power-of-two product is exact). */
export const PTR_STRIDE_INV = 1 / STRIDE;

/** Packs a chunk id (`RESERVED_CHUNK_ID` for the reserved chunk) and a byte offset into a percpu pointer. */
export function makePtr(chunk: number, offset: number): Ptr {
  return ((chunk + 1) * STRIDE + offset) as Ptr;
}

/** A pointer's chunk id (`RESERVED_CHUNK_ID` for the reserved chunk). */
export function ptrChunk(ptr: number): ChunkId {
  return (Math.floor(ptr / STRIDE) - 1) as ChunkId;
}

/** A pointer's byte offset from its chunk's base. */
export function ptrOffset(ptr: number): Offset {
  // Not `ptr % STRIDE`: a float modulo is a call into the C library on the free
  // path; floor-divide-and-subtract is exact for every safe integer.
  return (ptr - Math.floor(ptr / STRIDE) * STRIDE) as Offset;
}

/** True for `NULL_PTR` (a failed allocation). */
export function isNullPtr(ptr: number): boolean {
  return ptr === NULL_PTR;
}

/** A pointer as people read it: `chunk 3+1024`, `reserved+64`, or `NULL`. */
export function formatPtr(ptr: number): string {
  if (ptr === NULL_PTR) return 'NULL';
  const c = ptrChunk(ptr);
  return `${c === RESERVED_CHUNK_ID ? 'reserved' : `chunk ${c}`}+${ptrOffset(ptr)}`;
}
