// SPDX-License-Identifier: GPL-2.0-only
/**
 * Where each field sits in the engine's typed arrays: the chunk header and
 * metadata records (chunk.ts) and the allocator's control words and counters
 * (store.ts), as `const enum`s that tsc replaces by their numbers, so the hot
 * paths index typed arrays with literals, not with property loads. (With
 * `as const` objects in their place, a paired alloc/free loop of 4.14 and 7.0
 * ran 2–25 % slower, at a load average of 6–8; with these, within noise.)
 *
 * Internal to the engine: no entry point exports this module (a `const enum`
 * has no run-time value for a JavaScript consumer). The public, run-time
 * copies of `Hdr` and `Md` are the `as const` objects of api.ts, which the
 * compiler checks member for member against these.
 *
 * Invariant: imports nothing.
 */

// ---------------------------------------------------------------------------
// Layout of a chunk's typed arrays (chunk.ts)

/** Fields of a metadata record (`struct pcpu_block_md`), all in bits, block- or chunk-relative. */
export const enum Md {
  Contig = 0,
  ContigStart = 1,
  LeftFree = 2,
  RightFree = 3,
  FirstFree = 4,
  ScanHint = 5,
  ScanHintStart = 6,
  NrBits = 7,
}

/** Int32 words per metadata record (`Md` fields, padded). */
export const MD_STRIDE = 8;

/** Scalar fields of a chunk. */
export const enum Hdr {
  Id = 0,
  NrPages = 1,
  MapBits = 2,
  FreeBytes = 3,
  StartOffset = 4,
  EndOffset = 5,
  NrAlloc = 6,
  MaxAllocSize = 7,
  NrPopulated = 8,
  NrEmptyPopPages = 9,
  Immutable = 10,
  Isolated = 11,
  /** Byte offset of the chunk's base page from the start of the unit (first/reserved chunk only). */
  BaseOffset = 12,
  /** Slot list the chunk is on, -1 for none (the reserved chunk, a chunk being destroyed). */
  Slot = 13,
}

/** Int32 words of a chunk header (`Hdr` fields, padded). */
export const HDR_WORDS = 16;

// ---------------------------------------------------------------------------
// Layout of the allocator's shared state (store.ts)

export const enum Ctl {
  EmptyPopPages = 0,
  PopulatedPages = 1,
  AtomicAllocFailed = 2,
  BalancePending = 3,
  /** Next chunk id to hand out (= number of ids used so far). */
  NextChunkId = 4,
  /** Bumped on every chunk creation and destruction. */
  Generation = 5,
  /** Arena: bytes in use (shared arena only). */
  ArenaTop = 6,
  /** Arena: byte offset of the first free region, -1 for none (shared arena only). */
  ArenaFreeList = 7,
  /** Arena byte offset of the reserved chunk, -1 for none. */
  ReservedLoc = 8,
  /** Words reserved for the JavaScript runtime's lock and bookkeeping. */
  Lock = 9,
  RuntimeBase = 10,
  /** Slot heads start here, then slot tails. */
  Slots = 16,
}

export const enum Counter {
  NrAlloc = 0,
  NrDealloc = 1,
  NrCurAlloc = 2,
  NrMaxAlloc = 3,
  NrChunks = 4,
  NrMaxChunks = 5,
  MinAllocSize = 6,
  MaxAllocSize = 7,
}

/** Words of the `counters` array (one per `Counter` field). */
export const COUNTER_WORDS = 8;
