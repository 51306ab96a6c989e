// SPDX-License-Identifier: GPL-2.0-only
/**
 * Percpu pointers as plain numbers.
 *
 * A pointer names a chunk and a byte offset from that chunk's base — the `off`
 * the kernel's tracepoints print. It packs into one safe integer,
 * `(chunk + 1) * 2^32 + offset`, so that the reserved chunk (id -1) packs to the
 * offset alone and no allocation needs an object. `NULL_PTR` (-1) is what a failed
 * allocation returns, as the kernel returns NULL.
 */

export const NULL_PTR = -1;
/** Id of the reserved chunk (the kernel's `pcpu_reserved_chunk`, never numbered among dynamic chunks). */
export const RESERVED_CHUNK_ID = -1;

const STRIDE = 0x1_0000_0000;
/** The chunk stride, for code that builds or decodes pointers inline on a hot path. */
export const PTR_STRIDE = STRIDE;
/** 2^-32: `(ptr * PTR_STRIDE_INV) | 0` is chunk + 1 for every pointer (a power-of-two product is exact). */
export const PTR_STRIDE_INV = 1 / STRIDE;

/** Packs a chunk id (`RESERVED_CHUNK_ID` for the reserved chunk) and a byte offset into a percpu pointer. */
export function makePtr(chunk: number, offset: number): number {
  return (chunk + 1) * STRIDE + offset;
}

/** A pointer's chunk id (`RESERVED_CHUNK_ID` for the reserved chunk). */
export function ptrChunk(ptr: number): number {
  return Math.floor(ptr / STRIDE) - 1;
}

/** A pointer's byte offset from its chunk's base. */
export function ptrOffset(ptr: number): number {
  // Not `ptr % STRIDE`: a float modulo is a call into the C library on the free
  // path; floor-divide-and-subtract is exact for every safe integer.
  return ptr - Math.floor(ptr / STRIDE) * STRIDE;
}

/** A pointer as people read it: `chunk 3+1024`, `reserved+64`, or `NULL`. */
export function formatPtr(ptr: number): string {
  if (ptr === NULL_PTR) return 'NULL';
  const c = ptrChunk(ptr);
  return `${c === RESERVED_CHUNK_ID ? 'reserved' : `chunk ${c}`}+${ptrOffset(ptr)}`;
}
