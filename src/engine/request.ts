/**
 * Requests and their accounting, as every version does them (spec §3.1, §6):
 * the validation and rounding of `pcpu_alloc`'s entry, and the
 * CONFIG_PERCPU_STATS counters of allocations and chunks.
 */
import { AllocationFailedError, InvalidFreeError, InvalidRequestError } from '../errors.js';
import { NULL_PTR, ptrChunk, ptrOffset } from './pointer.js';
import { isPowerOfTwo } from './bitmap.js';
import { MIN_UNIT_SIZE } from './constants.js';
import type { GlobalStats } from './bitmap-allocator.js';

/** `ALLOC_ATOMIC` (bitmap-allocator.ts), repeated here to keep this module free of the allocator's import. */
const ALLOC_ATOMIC_FLAG = 2;

/** Align below the granule is raised to it (4 bytes from 4.14 on, 2 in 4.13). */
export function raiseAlign(align: number, granule: number): number {
  return align < granule ? granule : align;
}

/**
 * The kernel's rejections — size 0 or above `PCPU_MIN_UNIT_SIZE`, align not a
 * power of two after raising, or above the page size — as a thrown
 * `InvalidRequestError`; otherwise the size rounded up to the granule.
 */
export function validateRequest(size: number, align: number, granule: number, pageSize: number): number {
  if (!Number.isSafeInteger(size) || size <= 0 || size > MIN_UNIT_SIZE) {
    throw new InvalidRequestError('EINVAL_SIZE', size, align, `illegal size (${size}) for percpu allocation: must be 1..${MIN_UNIT_SIZE} bytes`);
  }
  const a = raiseAlign(align, granule);
  if (!Number.isSafeInteger(align) || align < 0 || !isPowerOfTwo(a) || a > pageSize) {
    throw new InvalidRequestError(
      'EINVAL_ALIGN',
      size,
      align,
      `illegal align (${align}) for percpu allocation: must be a power of two no larger than the page size (${pageSize}); values below ${granule} are raised to ${granule}`,
    );
  }
  return Math.ceil(size / granule) * granule;
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
export function nonNull(ptr: number, size: number, align: number, flags: number): number {
  if (ptr === NULL_PTR) throw new AllocationFailedError(size, align, (flags & ALLOC_ATOMIC_FLAG) !== 0 ? 'no populated space left (atomic)' : 'no space left');
  return ptr;
}

/** The live chunk a percpu pointer names, or `InvalidFreeError` (not a pointer, or its chunk is gone). */
export function chunkOfPointer<C>(ptr: number, getChunk: (id: number) => C | undefined): C {
  if (!Number.isSafeInteger(ptr) || ptr < 0) throw new InvalidFreeError(NaN, NaN, `not a percpu pointer: ${ptr}`);
  const id = ptrChunk(ptr);
  const chunk = getChunk(id);
  if (chunk === undefined) throw new InvalidFreeError(id, ptrOffset(ptr), `no live chunk ${id} for pointer ${ptr}`);
  return chunk;
}
