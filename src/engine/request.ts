// SPDX-License-Identifier: GPL-2.0-only
/**
 * Requests and their accounting, as every version does them (spec §3.1, §6):
 * the validation and rounding of `pcpu_alloc`'s entry, and the
 * CONFIG_PERCPU_STATS counters of allocations and chunks.
 *
 * Units: the caller's size and align are plain numbers (bytes); what leaves
 * here checked is `Bytes` (units.ts). The bitmap profiles turn both into bits
 * with `bytesToBits` (the kernel's `>> PCPU_MIN_ALLOC_SHIFT`), the area map
 * keeps bytes.
 */
import { AllocationFailedError, InvalidFlagsError, InvalidFreeError, InvalidRequestError } from '../errors.js';
import { NULL_PTR, ptrChunk, ptrOffset } from './pointer.js';
import { isPowerOfTwo } from './bitmap.js';
import { MIN_UNIT_SIZE } from './constants.js';
import { ALLOC_ATOMIC, KNOWN_ALLOC_FLAGS, type GlobalStats } from './api.js';
import type { Bytes, Ptr } from './units.js';

/** Align below the granule is raised to it (4 bytes from 4.14 on, 2 in 4.13). */
export function raiseAlign(align: number, granule: number): Bytes {
  return (align < granule ? granule : align) as Bytes;
}

/**
 * The kernel's rejections — size 0 or above `PCPU_MIN_UNIT_SIZE`, align not a
 * power of two after raising, or above the page size — as a thrown
 * `InvalidRequestError`; otherwise the size rounded up to the granule.
 */
export function validateRequest(size: number, align: number, granule: number, pageSize: number, flags = 0): Bytes {
  // One compare on the fast path: any unknown bit, a fraction, NaN or a string differs from its masked self.
  if (flags !== (flags & KNOWN_ALLOC_FLAGS)) throw new InvalidFlagsError(flags, invalidFlagsMessage(flags));
  if (!Number.isSafeInteger(size) || size <= 0 || size > MIN_UNIT_SIZE) {
    throw new InvalidRequestError('EINVAL_SIZE', size, align, `illegal size (${describeValue(size)}) for percpu allocation: must be 1..${MIN_UNIT_SIZE} bytes`);
  }
  const a = raiseAlign(align, granule);
  if (!Number.isSafeInteger(align) || align < 0 || !isPowerOfTwo(a) || a > pageSize) {
    throw new InvalidRequestError(
      'EINVAL_ALIGN',
      size,
      align,
      `illegal align (${describeValue(align)}) for percpu allocation: must be a power of two no larger than the page size (${pageSize}); values below ${granule} are raised to ${granule}`,
    );
  }
  return (Math.ceil(size / granule) * granule) as Bytes;
}

function invalidFlagsMessage(flags: unknown): string {
  if (typeof flags !== 'number') return `allocation flags must be a number (ALLOC_RESERVED | ALLOC_ATOMIC), got ${describeValue(flags)}`;
  if (!Number.isInteger(flags)) return `allocation flags must be an integer, got ${flags}`;
  return `unknown allocation flag bits 0x${((flags & ~KNOWN_ALLOC_FLAGS) >>> 0).toString(16)} in flags ${flags}: the known ones are ALLOC_RESERVED (1) and ALLOC_ATOMIC (2)`;
}

/** A value as a message shows it: strings quoted and named as strings, so "65536" and 65536 are told apart. */
export function describeValue(v: unknown): string {
  return typeof v === 'string' ? `the string "${v.slice(0, 40)}"` : typeof v === 'number' ? String(v) : `${typeof v} ${String(v).slice(0, 40)}`;
}

/** The message of a free whose offset is not on the allocation granule: no allocation can start there. */
export function misalignedFree(off: number, granule: number, chunk: number): string {
  return `offset ${off} of chunk ${chunk} is misaligned (not a multiple of ${granule}): no allocation starts there, so this is not a pointer alloc() returned (p+1?)`;
}

/** `pcpu_stats_area_alloc`, global part. */
export function accountAlloc(s: GlobalStats, size: number): void {
  s.nrAlloc++;
  s.nrCurAlloc++;
  if (s.nrCurAlloc > s.nrMaxAlloc) s.nrMaxAlloc = s.nrCurAlloc;
  if (size < s.minAllocSize) s.minAllocSize = size;
  if (size > s.maxAllocSize) s.maxAllocSize = size;
}

/** `pcpu_stats_area_dealloc`, global part. */
export function accountFree(s: GlobalStats): void {
  s.nrDealloc++;
  s.nrCurAlloc--;
}

/** `pcpu_stats_chunk_alloc` / `_dealloc`. */
export function accountChunk(s: GlobalStats, created: boolean): void {
  if (created) {
    s.nrChunks++;
    if (s.nrChunks > s.nrMaxChunks) s.nrMaxChunks = s.nrChunks;
  } else {
    s.nrChunks--;
  }
}

/** `alloc` for callers that treat NULL as an error: the result, or `AllocationFailedError`. */
export function nonNull(ptr: number, size: number, align: number, flags: number): Ptr {
  if (ptr === NULL_PTR) throw new AllocationFailedError(size, align, (flags & ALLOC_ATOMIC) !== 0 ? 'no populated space left (atomic)' : 'no space left');
  return ptr as Ptr;
}

/** The live chunk a percpu pointer names, or `InvalidFreeError` (not a pointer, or its chunk is gone). */
export function chunkOfPointer<C>(ptr: number, getChunk: (id: number) => C | undefined): C {
  if (!Number.isSafeInteger(ptr) || ptr < 0) throw new InvalidFreeError(NaN, NaN, `not a percpu pointer: ${ptr}`);
  const id = ptrChunk(ptr);
  const chunk = getChunk(id);
  if (chunk === undefined) throw new InvalidFreeError(id, ptrOffset(ptr), `no live chunk ${id} for pointer ${ptr}`);
  return chunk;
}
