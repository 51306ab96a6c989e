// SPDX-License-Identifier: GPL-2.0-only
/**
 * The engine's vocabulary in one place: every type a caller or a tool of the
 * engine speaks (allocator interface and options, geometry, profiles, stats,
 * hint problems, chunk events), every allocation flag, and the fields of a
 * chunk's header and metadata records as run-time objects (`Hdr`, `Md`).
 *
 * Invariant: this module imports only leaves (constants.ts, units.ts, pointer.ts,
 * layout.ts), so any module can import from it without closing an import
 * cycle (test/import-cycles.test.ts). Values needed at run time are plain `as const` objects, never `const enum`s, so that they
 * exist for a JavaScript consumer too (`import { Hdr } from 'percpu'`). Each
 * `as const` object has a type of the same name: the union of its values.
 * The kernel's numeric constants are in `constants.ts`, pointer packing in
 * `pointer.ts` and the branded units and their converters in `units.ts` (both
 * re-exported here); the engine's compile-time field indices in
 * `layout.ts`.
 */

import type * as Layout from './layout.js';
import type { Bits, Bytes, Ptr } from './units.js';

export * from './constants.js';
export { NULL_PTR, RESERVED_CHUNK_ID, NULL_CHUNK_ID, isNullPtr } from './pointer.js';
export * from './units.js';

// ---------------------------------------------------------------------------
// Allocation flags (`pcpu_alloc`'s `reserved` and `gfp` atomic-ness)

/** `alloc` flag: serve from the reserved region (`__alloc_reserved_percpu`). */
export const ALLOC_RESERVED = 1;
/** `alloc` flag: the caller cannot sleep: only populated pages, never a new chunk. */
export const ALLOC_ATOMIC = 2;
/** Every allocation flag a profile knows: `ALLOC_RESERVED | ALLOC_ATOMIC`; any other bit is an `InvalidFlagsError`. */
export const KNOWN_ALLOC_FLAGS = 3;
/** The allocation flags by name, for code that prefers `AllocFlag.Atomic` to `ALLOC_ATOMIC`. */
export const AllocFlag = { Reserved: ALLOC_RESERVED, Atomic: ALLOC_ATOMIC } as const;
export type AllocFlag = (typeof AllocFlag)[keyof typeof AllocFlag];

// ---------------------------------------------------------------------------
// The allocator interface every profile implements, and its options

/** The kernel versions with a profile: the 4.13 area map, the 4.14 and 7.0 hinted bitmaps. */
export type KernelVersion = '4.13' | '4.14' | '7.0';

/** The interface every profile implements (`createAllocator`); the tools speak only this. */
export interface PercpuAllocator {
  readonly kernel: KernelVersion;
  readonly geometry: Geometry;
  readonly mode: 'allocator' | 'chunk';
  /** Allocate; returns a percpu pointer or NULL_PTR. Throws a typed error for bad input. */
  alloc(size: number, align: number, flags?: number): Ptr;
  /** Free a percpu pointer. Throws `InvalidFreeError` (state untouched) if it is not a live allocation. */
  free(ptr: number): void;
  /** Offset of a pointer from the start of its unit. */
  unitOffset(ptr: number): number;
  /** The `percpu_stats` debugfs text of this kernel version. */
  formatStats(): string;
  /** Recompute every hint by brute force; report what the kernel's documented staleness does not allow. */
  check(): HintProblem[];
  /**
   * The hinted bitmap's chunks, slots and balance controls, for the tools that
   * draw, compare or steer them (maps, percpu_stats comparisons, a trace
   * replay's deferred balance work); undefined for the 4.13 area map, whose
   * chunks are area maps. Tools ask this instead of testing the class.
   */
  bitmapView(): BitmapAllocatorView | undefined;
}

/** One hinted-bitmap chunk as the tools read it: its typed arrays (`chunk.ts` has the layout) and sizes. */
export interface BitmapChunkView {
  /** The chunk's id (`RESERVED_CHUNK_ID` for the reserved chunk). */
  readonly id: number;
  /** Scalar fields: `hdr[Hdr.X]`. */
  readonly hdr: Int32Array;
  /** Metadata records, one per block then the chunk's own: `md[record * MD_STRIDE + Md.X]`. */
  readonly md: Int32Array;
  /** One bit per allocation unit (4 bytes): allocated. */
  readonly allocMap: Uint32Array;
  /** First bit of each allocation and the bit after it. */
  readonly boundMap: Uint32Array;
  /** One bit per page: populated. */
  readonly populated: Uint32Array;
  readonly nrPages: number;
  /** Bits of the allocation map. */
  readonly mapBits: number;
  /** The buffer the arrays view, and where the chunk's region starts in the store (`hdr.byteOffset` is its byte offset). */
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  readonly loc: number;
  /** Bytes of the region. */
  readonly metadataBytes: number;
}

/** What a hinted-bitmap profile shows the tools beyond `PercpuAllocator` (`PercpuAllocator.bitmapView`). */
export interface BitmapAllocatorView {
  readonly profile: BitmapProfile;
  readonly geometry: Geometry;
  readonly mode: 'allocator' | 'chunk';
  /** 7.0: the slot of sidelined chunks; -1 without depopulation. */
  readonly sidelinedSlot: number;
  /** 7.0: the slot of chunks isolated for depopulation; -1 without depopulation. */
  readonly toDepopulateSlot: number;
  /** An op scheduled the balance work and it has not run. */
  readonly balanceScheduled: boolean;
  /** `pcpu_nr_empty_pop_pages`. */
  readonly emptyPopPages: number;
  /** The reserved chunk first (if any), then the others by id. */
  liveChunks(): BitmapChunkView[];
  getChunk(id: number): BitmapChunkView | undefined;
  /** Slot 0 to the last, head to tail: the order percpu_stats prints. */
  chunksInSlotOrder(): { chunk: BitmapChunkView; slot: number }[];
  /** Run the balance work now. */
  runBalanceWork(): void;
  /** Count empty populated pages of chunks the allocator does not hold (a trace's pre-existing chunks). */
  addUnmodelledEmptyPages(pages: number): void;
  /** The kernel's failure path of an atomic request, without trying it. */
  noteAtomicAllocFailure(): void;
  /** Populate pages of a chunk as the balance work's populate step does; returns how many. */
  populatePagesAsBalance(chunkId: number, pageStart: number, pageEnd: number, maxPages?: number): number;
}

/** Options of `createAllocator`. */
export interface AllocatorOptions {
  /** `4.13`, `4.14`, `7.0` (aliases: `6.x`, `6.18`, `6.19`, `newest`). */
  kernel: string;
  geometry: GeometryInput;
  mode?: 'allocator' | 'chunk';
  backend?: 'vm' | 'km';
  balance?: 'sync' | 'none';
  fixed?: boolean;
  onChunkEvent?: ChunkEventListener;
  buffer?: BufferFactory;
  maxChunks?: number;
  /** Per-allocation percpu_stats counters (default on; off = a kernel without CONFIG_PERCPU_STATS). Bitmap profiles only. */
  stats?: boolean;
  /**
   * A custom profile: rules to turn on or off on top of the kernel's own
   * (`defineProfile`), e.g. `{ slotByContig: true }` on 4.14. Bitmap profiles
   * only; a combination the engine cannot honour throws `RuleConflictError`.
   */
  rules?: Partial<BitmapRules>;
}

/** Builds one profile's allocator (see `registerAllocator`). */
export type AllocatorFactory = (options: AllocatorOptions & { kernel: KernelVersion }) => PercpuAllocator;

/** A chunk event: `percpu_create_chunk` or `percpu_destroy_chunk`. */
export type ChunkEventType = 'create' | 'destroy';

/** `fromBalance` is true for events of the balance work (which the kernel runs after the op that scheduled it). */
export type ChunkEventListener = (type: ChunkEventType, chunkId: number, fromBalance: boolean) => void;

/** Options of `BitmapAllocator` (4.14 and 7.0). */
export interface BitmapAllocatorOptions {
  kernel: '4.14' | '7.0';
  geometry: GeometryInput;
  /**
   * `allocator` (default): the whole allocator from its boot state, first chunk
   * included. `chunk`: one fresh non-first chunk (id 0) that every request
   * targets with the kernel's per-chunk step only — no slots, population or
   * balance work (the golden files' chunk mode).
   */
  mode?: 'allocator' | 'chunk';
  /**
   * `vm` (default, as x86-64): new chunks start unpopulated and pages are
   * populated on demand. `km` (!MMU, and the golden oracle): chunks are fully
   * populated when created.
   */
  backend?: 'vm' | 'km';
  /** `sync` (default): run the balance work right after the op that scheduled it. `none`: never. */
  balance?: 'sync' | 'none';
  /** Correct the upstream free-path slip instead of reproducing it. */
  fixed?: boolean;
  /** Rules to turn on or off on top of the kernel's own (see `AllocatorOptions.rules`). */
  rules?: Partial<BitmapRules>;
  /** Called when a chunk is created or destroyed (the `percpu_create_chunk` / `percpu_destroy_chunk` events). */
  onChunkEvent?: ChunkEventListener;
  /**
   * Keep all state in growable `SharedArrayBuffer`s so that other threads can
   * attach (`handle()` → `BitmapAllocator.attach`). Limits bound the growth.
   */
  shared?: Partial<SharedStoreLimits> | boolean;
  /** Refuse to create more than this many dynamic chunks (the kernel's "failed to allocate new chunk"). */
  maxChunks?: number;
  /**
   * Keep the per-allocation `percpu_stats` counters (CONFIG_PERCPU_STATS; default
   * true). Off, allocations and frees skip them, as a kernel built without
   * PERCPU_STATS does: `formatStats` then shows allocation counts of 0. Chunk
   * counts are always kept (the chunk limit reads them). Placements are the same.
   */
  stats?: boolean;
}

/** What another thread needs to attach to a shared allocator (structured-clonable: post it in a message). */
export interface AllocatorHandle {
  config: Omit<BitmapAllocatorOptions, 'onChunkEvent' | 'shared'>;
  state: SharedStateHandle;
}

/** A source of zeroed buffers (used by allocators that keep one buffer per chunk). */
export type BufferFactory = (bytes: number) => ArrayBuffer | SharedArrayBuffer;

// ---------------------------------------------------------------------------
// Geometry and alloc info (spec §5)

/** The geometry a caller gives: unit size and the first chunk's regions; the rest defaults as the kernel's setup does (`resolveGeometry`). */
export interface GeometryInput {
  /** Page size in bytes; one metadata block covers one page. Default 4096. */
  pageSize?: number;
  /** Bytes per unit; every chunk is one unit per CPU. */
  unitSize: number;
  /** Units (possible CPUs) per chunk. Default 1. Placement does not depend on it. */
  nrUnits?: number;
  /** Bytes of static percpu variables at the start of the first unit. Default 0. */
  staticSize?: number;
  /** Bytes reserved for modules right after the static region. Default 0. */
  reservedSize?: number;
  /** Bytes of the first chunk's dynamic region. Default: the rest of the page-rounded first region, at least 28 KiB. */
  dynSize?: number;
  /** `atom_size` reported by percpu_stats. Default: page size. */
  atomSize?: number;
  /** `alloc_size` reported by percpu_stats. Default: unit size × units (one group). */
  allocSize?: number;
}

/** A resolved geometry: every field set and checked, in the unit its type names (units.ts). */
export interface Geometry {
  readonly pageSize: Bytes;
  readonly unitSize: Bytes;
  /** Units (possible CPUs) per chunk: a count, no unit. */
  readonly nrUnits: number;
  readonly staticSize: Bytes;
  readonly reservedSize: Bytes;
  readonly dynSize: Bytes;
  readonly atomSize: Bytes;
  readonly allocSize: Bytes;
  /** Bits per metadata block (= page): pageSize / 4. */
  readonly blockBits: Bits;
  /** Pages in a non-first chunk (a page count; typed `Pages` once the allocator skeleton takes `Pages`). */
  readonly unitPages: number;
}

/** The input of `buildAllocInfo` (`pcpu_build_alloc_info`). */
export interface AllocInfoInput {
  staticSize: number;
  reservedSize: number;
  /** The `dyn` the arch asks for (x86-64: 28 KiB). */
  dynSize: number;
  /** Allocation atom (x86-64 embed: 2 MiB). */
  atomSize: number;
  /** CPUs per NUMA group (cpus in the same group are at LOCAL_DISTANCE). */
  groupSizes: readonly number[];
  pageSize?: number;
  /** `PERCPU_DYNAMIC_EARLY_SIZE`: 12 KiB in 4.x, 20 KiB (or 80/160 KiB) in 7.0. */
  dynamicEarlySize?: number;
}

/** One NUMA group of an `AllocInfo`. */
export interface AllocGroupInfo {
  /** CPUs in the group. */
  nrCpus: number;
  /** Units reserved for the group, a multiple of units-per-allocation. */
  nrUnits: number;
  /** Byte offset of the group's first unit from the first group's. */
  baseOffset: number;
}

/** The layout `buildAllocInfo` chooses: the first region sizes, the unit size and the groups. */
export interface AllocInfo {
  staticSize: number;
  reservedSize: number;
  dynSize: number;
  unitSize: number;
  atomSize: number;
  allocSize: number;
  /** Units per allocation (`upa`). */
  unitsPerAlloc: number;
  groups: AllocGroupInfo[];
}

// ---------------------------------------------------------------------------
// Profiles: the rules of the hinted-bitmap versions (profile.ts holds the values)

/**
 * The behavioural differences between 4.14 (Dennis Zhou's 2017 series) and 7.0
 * (today's kernels), one rule per upstream change, each named for what it does.
 * 4.14 has every rule off, 7.0 every upstream rule on. Some rules build on
 * others (`RULE_REQUIRES`); `defineProfile` refuses a rule without them.
 * docs/PROFILES.md gives each rule's commit and effect.
 */
export interface BitmapRules {
  /**
   * 5.2 "update free path with correct new free region": a free inside one
   * block offers the chunk hint the merged run's length, not the block's
   * contig size (the 4.14 slip, spec §4.1).
   */
  readonly correctFreeRegion: boolean;
  /**
   * 5.2 3e54097beb22 "manage chunks based on contig_bits instead of free_bytes":
   * a chunk's slot comes from its largest free run, not its total free bytes.
   */
  readonly slotByContig: boolean;
  /** 5.2 "relegate chunks unusable when failing small allocations": a chunk failing a request in a slot below 3 moves to the head of slot 0. */
  readonly relegateOnFail: boolean;
  /**
   * 5.2 "set PCPU_BITMAP_BLOCK_SIZE to PAGE_SIZE": empty populated pages are
   * counted by the hint updates (a fresh first chunk starts with all pages
   * empty, pages populated for an allocation count) instead of being recounted
   * on every full chunk refresh.
   */
  readonly emptyPagesInHints: boolean;
  /**
   * 5.2 382b88e961c7 "add block level scan_hint": each block keeps a scan hint
   * (the largest known free run before its contig run), a block rescan
   * promotes it and starts after it, and the allocation hint update keeps it
   * and the left/right edges consistent; block hints may then be too small.
   */
  readonly blockScanHint: boolean;
  /** 5.2 b89462a9c5f4 "remember largest area skipped during allocation": the area search feeds the largest run it skipped to its block's hints. */
  readonly rememberSkipped: boolean;
  /** 5.2 da3afdd5bb54 "use block scan_hint to only scan forward": a block's search starts after its scan hint when the request cannot fit in it. */
  readonly blockScanForward: boolean;
  /**
   * 5.2 "make pcpu_block_md generic" + "convert chunk hints to be based on
   * pcpu_block_md": the chunk's hints are a block record, kept by the same
   * update (first free as a lower bound, left/right edges); an allocation
   * overlapping the chunk's contig run refreshes it; a free updates it through
   * the block update, with the chunk-relative start / block-relative end slip
   * (spec §4.2).
   */
  readonly chunkHintsAsBlock: boolean;
  /**
   * 5.2 d33d9f3dd96b "use chunk scan_hint to skip some scanning": the chunk
   * search starts after the chunk's scan hint when the request cannot fit in
   * it, and a refresh after an allocation promotes it instead of rescanning
   * from the first free bit.
   */
  readonly chunkScanHint: boolean;
  /**
   * 5.14 partial depopulation (ac9380f6b8a6, 67c2669d69fb, 8ea2e1e35d1e,
   * 1c29a3ceaf5f, f183324133ea): sidelined and to-depopulate slots, chunk
   * isolation on free, reintegration on allocation, the four-step balance
   * work, and their percpu_stats headers.
   */
  readonly depopulation: boolean;
  /** Not upstream: correct the 7.0 free-path coordinate slip of `chunkHintsAsBlock` (spec §4.2), for comparison. */
  readonly fixFreeCoordinates: boolean;
}

/** The name of one rule of `BitmapRules`. */
export type RuleName = keyof BitmapRules;

/** A hinted-bitmap profile: a base version and the set of rules it follows (`defineProfile`). */
export interface BitmapProfile extends BitmapRules {
  /** The base version: the name `PercpuAllocator.kernel` reports; 7.0 with every rule, 4.14 with none, as shipped. */
  readonly kernel: '4.14' | '7.0';
  /** `PERCPU_DYNAMIC_EARLY_SIZE` of the base version: the smallest dynamic region the first chunk may have (12 KiB in 4.14, 20 KiB in 7.0). */
  readonly dynamicEarlySize: number;
}

// ---------------------------------------------------------------------------
// Statistics and the hint checker

/** Global counters of `percpu_stats` (CONFIG_PERCPU_STATS). */
export interface GlobalStats {
  nrAlloc: number;
  nrDealloc: number;
  nrCurAlloc: number;
  nrMaxAlloc: number;
  nrChunks: number;
  nrMaxChunks: number;
  minAllocSize: number;
  maxAllocSize: number;
}

/** One hint (or list membership) that is wrong beyond what the kernel's documented staleness allows. */
export interface HintProblem {
  chunk: number;
  /** Block index, or -1 for the chunk-level hints and lists. */
  block: number;
  field: string;
  expected: string;
  actual: number;
  rule: string;
}

// ---------------------------------------------------------------------------
// Layout of a chunk's typed arrays, as run-time objects (the engine itself uses layout.ts)

/** Fields of a metadata record (`struct pcpu_block_md`), all in bits, block- or chunk-relative: index `chunk.md[record * MD_STRIDE + Md.X]`. */
export const Md = {
  Contig: 0,
  ContigStart: 1,
  LeftFree: 2,
  RightFree: 3,
  FirstFree: 4,
  ScanHint: 5,
  ScanHintStart: 6,
  NrBits: 7,
} as const satisfies { readonly [K in keyof typeof Layout.Md]: (typeof Layout.Md)[K] };
export type Md = (typeof Md)[keyof typeof Md];
/** Scalar fields of a chunk's header: index `chunk.hdr[Hdr.X]`. */
export const Hdr = {
  Id: 0,
  NrPages: 1,
  MapBits: 2,
  FreeBytes: 3,
  StartOffset: 4,
  EndOffset: 5,
  NrAlloc: 6,
  MaxAllocSize: 7,
  NrPopulated: 8,
  NrEmptyPopPages: 9,
  Immutable: 10,
  Isolated: 11,
  /** Byte offset of the chunk's base page from the start of the unit (first/reserved chunk only). */
  BaseOffset: 12,
  /** Slot list the chunk is on, -1 for none (the reserved chunk, a chunk being destroyed). */
  Slot: 13,
} as const satisfies { readonly [K in keyof typeof Layout.Hdr]: (typeof Layout.Hdr)[K] };
export type Hdr = (typeof Hdr)[keyof typeof Hdr];
export { MD_STRIDE, HDR_WORDS } from './layout.js';

// ---------------------------------------------------------------------------
// Shared state (store.ts)

/** The handle another thread needs to attach to shared state (structured-clonable). */
export interface SharedStateHandle {
  ctl: SharedArrayBuffer;
  counters: SharedArrayBuffer;
  listNext: SharedArrayBuffer;
  listPrev: SharedArrayBuffer;
  chunkLoc: SharedArrayBuffer;
  arena: SharedArrayBuffer;
}

/** Bounds on the growth of a shared allocator's state (its buffers grow in place up to these). */
export interface SharedStoreLimits {
  /** Most chunk ids ever handed out (ids are never reused). */
  maxChunkIds: number;
  /** Most bytes of chunk metadata alive at once. */
  maxArenaBytes: number;
}
