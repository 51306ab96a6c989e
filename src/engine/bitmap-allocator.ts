// SPDX-License-Identifier: GPL-2.0-only
/**
 * The hinted bitmap percpu allocator of Linux 4.14 and of today's kernels (7.0),
 * placement-exact: for the same requests into chunks of the same geometry it
 * returns the same offsets as the kernel's `mm/percpu.c`, stale hints and the
 * upstream free-path slips included (spec §3, §4).
 *
 * This module owns the bitmap's per-chunk work: the hint-guided area search,
 * the claim and free of an area in the alloc and bound maps, the block and
 * chunk hints, the slot rule of each profile, population counting, 7.0's
 * isolation and reclaim, and shared state. The request entry, the slot walk
 * and lists, chunk lifetime and the balance steps both designs share are the
 * skeleton's (`skeleton.ts`, `PercpuChunkAllocator`), whose hooks this class
 * fills. Every
 * behavioural difference between 4.14 and 7.0 is one rule of `BitmapProfile`
 * (`BitmapRules`, `profile.ts`), read only where that rule acts; the code below
 * tells the versions apart by those rules only.
 *
 * All of that state lives in a `StateStore` (`store.ts`): typed arrays that are
 * either private to one thread or `SharedArrayBuffer`s several threads attach to
 * (`shared` option, `BitmapAllocator.attach`). This object keeps only per-thread
 * things: its views of each chunk, the event listener, scratch results.
 *
 * Invariants between public calls:
 * - every chunk but the reserved one is on exactly one slot list, and `Hdr.Slot`
 *   names it;
 * - the global empty-populated-page counter equals the sum over non-reserved,
 *   non-isolated chunks of their counters (either may be transiently negative in
 *   7.0, as in the kernel);
 * - a request that throws leaves every array and counter untouched: validation
 *   happens before the first write.
 *
 * The profile's rules are read from this allocator's own fields (copied at
 * construction) and tested as `rule === true`: why, at the fields.
 */
import { InvalidFreeError, GeometryError } from '../errors.js';
import * as bitmap from './bitmap.js';
import { Chunk } from './chunk.js';
import { LocalStore, SharedStore, type StateStore } from './store.js';
import {
  EMPTY_POP_PAGES_HIGH,
  EMPTY_POP_PAGES_LOW,
  MIN_ALLOC_SIZE as IMPORTED_MIN_ALLOC_SIZE,
  SLOT_FAIL_THRESHOLD,
  sizeToSlotRaw as importedSizeToSlotRaw,
} from './constants.js';
import { resolveGeometry } from './geometry.js';
import { ptrOffset, RESERVED_CHUNK_ID } from './pointer.js';
import { bitmapProfile } from './profile.js';
import * as units from './units.js';
import type { Bits, Bytes } from './units.js';
import { accountAlloc, accountFree, misalignedFree } from './request.js';
import { PercpuChunkAllocator } from './skeleton.js';
import { type AllocatorHandle, type BitmapAllocatorOptions, type BitmapProfile, type ChunkEventListener, type Geometry, type SharedStateHandle } from './api.js';
import { Md, MD_STRIDE as IMPORTED_MD_STRIDE, Hdr, Ctl } from './layout.js';

// Module-own copies of the imported constants and functions the hot paths use.
// In optimised code V8 reads an imported binding through its module cell, with
// a check for the temporal dead zone, at every use (and, for a function, checks
// the call target before inlining it); a module's own `const` folds to its
// value. Measured (CPU time, 2^20 ops): the constants 6–8 % of a 4 B free
// (4.14), the functions another 2–3 % of frees and of allocations.
const MIN_ALLOC_SIZE = IMPORTED_MIN_ALLOC_SIZE;
const MD_STRIDE = IMPORTED_MD_STRIDE;
const alignUp = bitmap.alignUp;
const clearBit = bitmap.clearBit;
const clearRange = bitmap.clearRange;
const ffs = bitmap.ffs;
const findLastBitIn = bitmap.findLastBitIn;
const findNextBit = bitmap.findNextBit;
const findNextZeroBit = bitmap.findNextZeroBit;
const setBit = bitmap.setBit;
const setRange = bitmap.setRange;
const testBit = bitmap.testBit;
const weight = bitmap.weight;
const bytesToBits = units.bytesToBits;
const bitsToBytes = units.bitsToBytes;
const offsetToBit = units.offsetToBit;
const sizeToSlotRaw = importedSizeToSlotRaw;
/**
 * Whether byte offset `off` starts a live allocation of a chunk: 4-byte
 * aligned, inside the usable region (the range test first, so the map reads
 * stay in bounds), and set in both maps — a live allocation's first bit is set
 * in the alloc and the bound map, its interior bits are clear in the bound
 * map, a freed one is clear in the alloc map.
 */
function startsLiveAllocation(h: Int32Array, allocMap: Uint32Array, boundMap: Uint32Array, mapBits: number, off: number): boolean {
  if ((off & (MIN_ALLOC_SIZE - 1)) !== 0 || off < h[Hdr.StartOffset]! || off >= mapBits * MIN_ALLOC_SIZE - h[Hdr.EndOffset]!) return false;
  const bit = offsetToBit(off);
  const mask = 1 << (bit & 31);
  return (allocMap[bit >>> 5]! & mask) !== 0 && (boundMap[bit >>> 5]! & mask) !== 0;
}

// Declared in api.ts (the engine's one place for types, flags and layouts); re-exported for existing imports.
export { ALLOC_RESERVED, ALLOC_ATOMIC } from './api.js';
export type { ChunkEventType, ChunkEventListener, BitmapAllocatorOptions, AllocatorHandle, GlobalStats } from './api.js';

/** The hinted bitmap allocator of 4.14 and 7.0 (`mm/percpu.c`): chunks, slot lists, population and balance work in typed arrays, optionally shared between threads. Most callers want `createAllocator`, which wraps it in `PercpuAllocator`. */
export class BitmapAllocator extends PercpuChunkAllocator<Chunk> {
  readonly profile: BitmapProfile;
  /** 7.0: the slot of sidelined chunks (searched after every size slot); -1 in 4.14. */
  readonly sidelinedSlot: number;
  /** 7.0: the slot of isolated chunks waiting for the balance work to depopulate them; -1 in 4.14. */
  readonly toDepopulateSlot: number;

  private readonly blockBits: number;
  private readonly blockShift: number;
  private readonly config: AllocatorHandle['config'];
  /** The per-allocation percpu_stats counters are kept (the `stats` option). */
  private readonly keepStats: boolean;
  // The profile's rules, copied into this object's own fields at construction
  // and read from them only: a field of `this` is one load, a rule of `this.profile`
  // two dependent ones and a map check, on paths that run per op. They (and
  // `keepStats`) are tested with `=== true`: V8 does not track that a field
  // holds a boolean, so a bare `if (this.flag)` compiles to a generic ToBoolean
  // (false, '', undetectable, number, bigint checks: 8+ instructions and a map
  // load); `=== true` is one compare. Profiles hold booleans only (`checkRules`).
  private readonly slotByContig: boolean;
  private readonly emptyPagesInHints: boolean;
  private readonly chunkHintsAsBlock: boolean;
  private readonly fixFreeCoordinates: boolean;
  private readonly correctFreeRegion: boolean;
  private readonly blockScanHint: boolean;
  private readonly chunkScanHint: boolean;
  private readonly blockScanForward: boolean;
  private readonly rememberSkipped: boolean;
  private readonly relegateOnFail: boolean;
  private readonly depopulation: boolean;
  /** `depopulation` with the vm backend: only then can a free isolate a chunk (`shouldReclaimChunk`). */
  private readonly reclaimOnFree: boolean;

  // Out-parameters of the region walks, kept as fields so the hot path allocates nothing.
  private regionOff = 0;
  private regionBits = 0;
  private largestOff = 0;
  private largestBits = 0;

  /** `pcpu_nr_populated` (7.0 meminfo "Percpu:" source). */
  private get nrPopulatedPages(): number {
    return this.ctl[Ctl.PopulatedPages]!;
  }
  private set nrPopulatedPages(v: number) {
    this.ctl[Ctl.PopulatedPages] = v;
  }

  /** Attach to a shared allocator another thread created (see `handle()`). */
  static attach(handle: AllocatorHandle, onChunkEvent?: ChunkEventListener): BitmapAllocator {
    return new this({ ...handle.config, ...(onChunkEvent ? { onChunkEvent } : {}) }, handle.state);
  }

  constructor(options: BitmapAllocatorOptions, attachTo?: SharedStateHandle) {
    const profile = bitmapProfile(options.kernel, { fixed: options.fixed ?? false, ...(options.rules !== undefined ? { rules: options.rules } : {}) });
    const mode = options.mode ?? 'allocator';
    const geometry = resolveGeometry(options.geometry, { chunkOnly: mode === 'chunk' });
    const maxChunks = options.maxChunks ?? Number.POSITIVE_INFINITY;
    const layout = slotLayout(geometry.unitSize, profile.depopulation);
    super({
      mode,
      geometry,
      backend: options.backend ?? 'vm',
      balance: options.balance ?? 'sync',
      maxChunks,
      listener: options.onChunkEvent,
      granule: MIN_ALLOC_SIZE,
      nrSlots: layout.nrSlots,
      freeSlot: layout.freeSlot,
      store: makeStore(layout.nrSlots, geometry, maxChunks, options.shared, attachTo),
    });
    this.config = {
      kernel: options.kernel,
      geometry: options.geometry,
      ...(options.mode !== undefined ? { mode: options.mode } : {}),
      ...(options.backend !== undefined ? { backend: options.backend } : {}),
      ...(options.balance !== undefined ? { balance: options.balance } : {}),
      ...(options.fixed !== undefined ? { fixed: options.fixed } : {}),
      ...(options.maxChunks !== undefined ? { maxChunks: options.maxChunks } : {}),
      ...(options.stats !== undefined ? { stats: options.stats } : {}),
      ...(options.rules !== undefined ? { rules: { ...options.rules } } : {}),
    };
    this.keepStats = Boolean(options.stats ?? true);
    this.profile = profile;
    this.slotByContig = profile.slotByContig;
    this.emptyPagesInHints = profile.emptyPagesInHints;
    this.chunkHintsAsBlock = profile.chunkHintsAsBlock;
    this.fixFreeCoordinates = profile.fixFreeCoordinates;
    this.correctFreeRegion = profile.correctFreeRegion;
    this.blockScanHint = profile.blockScanHint;
    this.chunkScanHint = profile.chunkScanHint;
    this.blockScanForward = profile.blockScanForward;
    this.rememberSkipped = profile.rememberSkipped;
    this.relegateOnFail = profile.relegateOnFail;
    this.depopulation = profile.depopulation;
    this.reclaimOnFree = profile.depopulation && this.backend === 'vm';
    this.sidelinedSlot = layout.sidelinedSlot;
    this.toDepopulateSlot = layout.toDepopulateSlot;
    this.blockBits = this.geometry.blockBits;
    this.blockShift = 31 - Math.clz32(this.blockBits);
    if (attachTo) this.sync();
    else this.boot();
  }

  // -------------------------------------------------------------------------
  // Public API

  /** The handle to post to other threads so they can `attach`; undefined unless built with `shared`. */
  handle(): AllocatorHandle | undefined {
    const state = this.store.handle();
    return state ? { config: this.config, state } : undefined;
  }

  /** Whether the state lives in `SharedArrayBuffer`s. */
  get isShared(): boolean {
    return this.store.shared;
  }

  /**
   * Bring this thread's chunk views up to date with shared state (chunks other
   * threads created or destroyed). Public calls do it themselves; a caller that
   * reads chunk arrays directly after another thread's change calls it first.
   */
  override sync(): void {
    if (!this.store.shared) return;
    const gen = this.ctl[Ctl.Generation]!;
    if (gen === this.seenGeneration) return;
    this.seenGeneration = gen;
    this.slots.next = this.store.listNext;
    this.slots.prev = this.store.listPrev;
    const n = this.ctl[Ctl.NextChunkId]!;
    const loc = this.store.chunkLoc;
    for (let id = 0; id < n; id++) {
      const at = loc[id]!;
      const have = this.chunks[id];
      if (at === -1) this.chunks[id] = undefined;
      else if (have === undefined || have.loc !== at) this.chunks[id] = this.viewChunk(at);
    }
    this.chunks.length = n;
    const rloc = this.ctl[Ctl.ReservedLoc]!;
    if (rloc !== -1 && this.reservedChunk?.loc !== rloc) this.reservedChunk = this.viewChunk(rloc);
  }

  private viewChunk(loc: number): Chunk {
    const r = this.store.regionAt(loc);
    return new Chunk(r.buffer, r.byteOffset, loc, this.blockBits);
  }

  /** Byte offset of a pointer from the start of its unit (golden files' offsets). */
  unitOffset(ptr: number): number {
    return this.lookupChunk(ptr).hdr[Hdr.BaseOffset]! + ptrOffset(ptr);
  }

  /** Size in bytes of the live allocation at `ptr` (as the kernel finds it from the bound map). */
  allocationSize(ptr: number): number {
    const chunk = this.lookupChunk(ptr);
    const off = ptrOffset(ptr);
    this.validateFree(chunk, off);
    const bitOff = offsetToBit(off);
    return bitsToBytes(findNextBit(chunk.boundMap, chunk.mapBits, bitOff + 1) - bitOff);
  }

  /** `pcpu_nr_populated`: populated pages per unit over all chunks. */
  get populatedPages(): number {
    return this.nrPopulatedPages;
  }

  /** The bitmap chunks, slots and counters, for the tools that draw and compare them. */
  bitmapView(): this {
    return this;
  }

  /**
   * Count `pages` empty populated pages of chunks this allocator does not hold
   * (a trace replay's chunks that existed before tracing) in
   * `pcpu_nr_empty_pop_pages`, which isolation, reclaim and the populate step
   * read. They belong to no chunk: from here on the global count exceeds the
   * chunks' sum by that much.
   */
  addUnmodelledEmptyPages(pages: number): void {
    this.sync();
    this.nrEmptyPopPages += pages;
  }

  /**
   * What the kernel's failure path does for an atomic request that found no
   * populated room (`pcpu_atomic_alloc_failed`, schedule the balance work),
   * without trying the request: a trace replay learns of the kernel's failure
   * from its event, and trying the request could place it where the kernel had
   * no room. With `balance: 'sync'` the work runs at once.
   */
  noteAtomicAllocFailure(): void {
    this.sync();
    if (this.mode !== 'allocator') return;
    this.atomicAllocFailed = true;
    this.balancePending = true;
    this.runPendingBalance();
  }

  /**
   * Populate the unpopulated pages of [pageStart, pageEnd) of a chunk as the
   * balance work's populate step does: lowest runs first, at most `maxPages`
   * (they count as empty populated pages). Returns the pages populated.
   * For a trace replay that knows from the kernel's placement of an atomic
   * request that its balance work had populated them.
   */
  populatePagesAsBalance(chunkId: number, pageStart: number, pageEnd: number, maxPages = Infinity): number {
    this.sync();
    const chunk = this.chunks[chunkId];
    if (chunk === undefined || this.mode !== 'allocator') return 0;
    const end = Math.min(pageEnd, chunk.nrPages);
    let done = 0;
    for (let rs = Math.max(0, pageStart); done < maxPages; ) {
      rs = findNextZeroBit(chunk.populated, end, rs);
      if (rs >= end) break;
      const re = Math.min(findNextBit(chunk.populated, end, rs + 1), rs + (maxPages - done));
      this.chunkPopulated(chunk, rs, re, false);
      done += re - rs;
      rs = re;
    }
    return done;
  }

  // -------------------------------------------------------------------------
  // Validation (before any write)

  /** Returns `off` (what `freeArea` takes) when it starts a live allocation. */
  protected validateFree(chunk: Chunk, off: number): number {
    // One test here, the messages out of line: with the throws inline, V8 made
    // garbage on every call (24 B per free, measured).
    if (!startsLiveAllocation(chunk.hdr, chunk.allocMap, chunk.boundMap, chunk.mapBits, off)) this.invalidFree(chunk, off);
    return off;
  }

  /** The precise `InvalidFreeError` of an offset `validateFree` refused. */
  private invalidFree(chunk: Chunk, off: number): never {
    const h = chunk.hdr;
    const id = h[Hdr.Id]!;
    if ((off & (MIN_ALLOC_SIZE - 1)) !== 0) throw new InvalidFreeError(id, off, misalignedFree(off, MIN_ALLOC_SIZE, id));
    if (off < h[Hdr.StartOffset]! || off >= chunk.mapBits * MIN_ALLOC_SIZE - h[Hdr.EndOffset]!) {
      throw new InvalidFreeError(id, off, `offset ${off} is not inside chunk ${id}'s usable region`);
    }
    if (!testBit(chunk.allocMap, offsetToBit(off))) throw new InvalidFreeError(id, off, `offset ${off} of chunk ${id} is not allocated (double free or never allocated)`);
    throw new InvalidFreeError(id, off, `offset ${off} of chunk ${id} is inside an allocation, not at its start`);
  }

  // -------------------------------------------------------------------------
  // Slots and lists (§1.1, §3.7)

  protected chunkSlot(chunk: Chunk): number {
    return this.slotOf(chunk.hdr[Hdr.FreeBytes]!, chunk.md[chunk.chunkMd + Md.Contig]!);
  }

  protected listedSlot(chunk: Chunk): number {
    return chunk.hdr[Hdr.Slot]!;
  }

  protected setListedSlot(chunk: Chunk, slot: number): void {
    chunk.hdr[Hdr.Slot] = slot;
  }

  /** An isolated chunk (7.0) sits on the to-depopulate or sidelined list until reintegrated. */
  protected isIsolated(chunk: Chunk): boolean {
    return chunk.hdr[Hdr.Isolated] !== 0;
  }

  // -------------------------------------------------------------------------
  // Chunk creation, first chunk (§3.8, §5)

  /** A fresh chunk with the next id, its region from the store, known to every thread. */
  protected newChunk(nrPages: number = this.geometry.unitPages): Chunk {
    const id = this.nextChunkId();
    const region = this.store.allocRegion(Chunk.bytesFor(nrPages, this.blockBits));
    const chunk = new Chunk(region.buffer, region.byteOffset, region.loc, this.blockBits, { id, nrPages });
    this.addChunk(id, chunk, region.loc);
    return chunk;
  }

  /** A destroyed chunk's region goes back to the store (the shared arena reuses it). */
  protected releaseChunk(chunk: Chunk): void {
    this.store.freeRegion(chunk.loc, chunk.metadataBytes);
  }

  /** `pcpu_setup_first_chunk` + `pcpu_alloc_first_chunk` (§5.2, §5.3). */
  protected setupFirstChunk(): void {
    const g = this.geometry;
    const staticAligned = alignUp(g.staticSize, MIN_ALLOC_SIZE);
    const dynSize = g.dynSize - (staticAligned - g.staticSize);
    if (g.dynSize < this.profile.dynamicEarlySize) {
      throw new GeometryError(
        `kernel ${this.profile.kernel} refuses a dynamic region of ${g.dynSize} bytes: it must be at least PERCPU_DYNAMIC_EARLY_SIZE = ${this.profile.dynamicEarlySize}`,
      );
    }
    if (g.reservedSize > 0) {
      this.reservedChunk = this.allocFirstChunk(staticAligned, g.reservedSize, RESERVED_CHUNK_ID);
    }
    const first = this.allocFirstChunk(staticAligned + g.reservedSize, dynSize, 0);
    this.nrEmptyPopPages = first.hdr[Hdr.NrEmptyPopPages]!;
    this.relocate(first, -1);
    this.nrPopulatedPages += Math.floor((staticAligned + g.reservedSize + dynSize) / g.pageSize);
    this.emitChunkEvent('create', 0);
  }

  private allocFirstChunk(unitAddr: number, mapSize: number, id: number): Chunk {
    const pageSize = this.geometry.pageSize;
    const baseOffset = unitAddr - (unitAddr % pageSize);
    const startOffset = unitAddr - baseOffset;
    const regionSize = alignUp(startOffset + mapSize, pageSize);
    const endOffset = regionSize - startOffset - mapSize;
    const nrPages = regionSize / pageSize;
    let chunk: Chunk;
    if (id === RESERVED_CHUNK_ID) {
      const region = this.store.allocRegion(Chunk.bytesFor(nrPages, this.blockBits));
      chunk = new Chunk(region.buffer, region.byteOffset, region.loc, this.blockBits, { id, nrPages });
      this.ctl[Ctl.ReservedLoc] = region.loc;
    } else {
      chunk = this.newChunk(nrPages);
    }
    const h = chunk.hdr;
    h[Hdr.BaseOffset] = baseOffset;
    h[Hdr.StartOffset] = startOffset;
    h[Hdr.EndOffset] = endOffset;
    h[Hdr.Immutable] = 1;
    setRange(chunk.populated, 0, nrPages);
    h[Hdr.NrPopulated] = nrPages;
    h[Hdr.FreeBytes] = mapSize;
    const md = chunk.md;
    // With hint-kept empty pages every page starts empty and the hidden head
    // and tail allocations below take theirs away; else count them once here.
    if (this.emptyPagesInHints === true) h[Hdr.NrEmptyPopPages] = nrPages;
    else h[Hdr.NrEmptyPopPages] = this.countPopulatedPagesInside(chunk, offsetToBit(startOffset), bytesToBits(mapSize));
    // 4.14's `contig_bits` starts as the usable region; a block record starts as the whole map.
    if (this.chunkHintsAsBlock !== true) md[chunk.chunkMd + Md.Contig] = bytesToBits(mapSize);
    if (startOffset) {
      const bits = offsetToBit(startOffset);
      setRange(chunk.allocMap, 0, bits);
      setBit(chunk.boundMap, 0);
      setBit(chunk.boundMap, bits);
      md[chunk.chunkMd + Md.FirstFree] = bits;
      this.blockUpdateHintAlloc(chunk, 0, bits);
    }
    if (endOffset) {
      const bits = bytesToBits(endOffset);
      setRange(chunk.allocMap, chunk.mapBits - bits, bits);
      setBit(chunk.boundMap, offsetToBit(startOffset + mapSize));
      setBit(chunk.boundMap, chunk.mapBits);
      this.blockUpdateHintAlloc(chunk, chunk.mapBits - bits, bits);
    }
    return chunk;
  }

  // -------------------------------------------------------------------------
  // Population (§3.8)

  /** `pcpu_chunk_populated`. 4.14 leaves the empty counters alone for pages populated for an allocation. */
  protected chunkPopulated(chunk: Chunk, pageStart: number, pageEnd: number, forAlloc: boolean): void {
    const nr = pageEnd - pageStart;
    setRange(chunk.populated, pageStart, nr);
    chunk.hdr[Hdr.NrPopulated] = chunk.hdr[Hdr.NrPopulated]! + nr;
    this.nrPopulatedPages += nr;
    if (this.emptyPagesInHints === true || !forAlloc) this.updateEmptyPages(chunk, nr);
  }

  protected chunkDepopulated(chunk: Chunk, pageStart: number, pageEnd: number): void {
    const nr = pageEnd - pageStart;
    clearRange(chunk.populated, pageStart, nr);
    chunk.hdr[Hdr.NrPopulated] = chunk.hdr[Hdr.NrPopulated]! - nr;
    this.nrPopulatedPages -= nr;
    this.updateEmptyPages(chunk, -nr);
  }

  /** `pcpu_update_empty_pages`: the global count excludes the reserved chunk and isolated chunks. */
  private updateEmptyPages(chunk: Chunk, nr: number): void {
    chunk.hdr[Hdr.NrEmptyPopPages] = chunk.hdr[Hdr.NrEmptyPopPages]! + nr;
    if (chunk !== this.reservedChunk && !chunk.hdr[Hdr.Isolated]) this.nrEmptyPopPages += nr;
  }

  /** `pcpu_cnt_pop_pages`: populated pages lying entirely inside [bitOff, bitOff + bits). */
  private countPopulatedPagesInside(chunk: Chunk, bitOff: number, bits: number): number {
    // A block is a page, so page bounds are block bounds: shifts, not float division.
    const pageStart = (bitOff + this.blockBits - 1) >>> this.blockShift;
    const pageEnd = (bitOff + bits) >>> this.blockShift;
    if (pageStart >= pageEnd) return 0;
    if (chunk.hdr[Hdr.NrPopulated] === chunk.nrPages) return pageEnd - pageStart;
    return weight(chunk.populated, pageEnd) - weight(chunk.populated, pageStart);
  }

  // -------------------------------------------------------------------------
  // Allocation (§3.1)

  /**
   * One chunk of the slot walk (`size` and `align` in bytes, checked and
   * rounded; the search and the maps speak bits): the hint-guided search,
   * then the claim. A chunk of a low slot that fails is relegated to slot 0
   * (rule `relegateOnFail`); a chunk that takes the request leaves isolation.
   */
  protected allocFromChunk(chunk: Chunk, size: Bytes, align: Bytes, atomic: boolean, slot: number): number {
    const bits: Bits = bytesToBits(size);
    const bitAlign: Bits = bytesToBits(align);
    const fit = this.findBlockFit(chunk, bits, bitAlign, atomic);
    if (fit < 0) {
      if (this.relegateOnFail === true && slot >= 0 && slot < SLOT_FAIL_THRESHOLD) this.listMove(chunk, 0, true);
      return -1;
    }
    const off = this.allocArea(chunk, bits, bitAlign, fit);
    if (off >= 0 && this.depopulation === true) this.reintegrateChunk(chunk);
    return off;
  }

  /** The balance test, then the populate step for a non-atomic request. */
  protected allocDone(chunk: Chunk, off: number, size: Bytes, atomic: boolean): void {
    this.statsAreaAlloc(chunk, size);
    // Tested before the populate step: with hint-kept empty pages it counts
    // the pages it populates as empty, which the kernel's test does not see;
    // without, populating for an allocation leaves the count alone, so the
    // order does not matter there.
    if (this.nrEmptyPopPages < EMPTY_POP_PAGES_LOW) this.balancePending = true;
    if (!atomic && chunk.hdr[Hdr.NrPopulated] !== chunk.nrPages) {
      this.populateRange(chunk, off >>> this.pageShift, (off + size + this.pageSize - 1) >>> this.pageShift);
    }
  }

  protected statsAreaAlloc(chunk: Chunk, size: number): void {
    if (this.keepStats !== true) return;
    accountAlloc(this.stats, size);
    const h = chunk.hdr;
    h[Hdr.NrAlloc] = h[Hdr.NrAlloc]! + 1;
    if (size > h[Hdr.MaxAllocSize]!) h[Hdr.MaxAllocSize] = size;
  }

  // -------------------------------------------------------------------------
  // Finding a fit through the hints (§3.2, §3.3)

  /** `pcpu_next_hint` (7.0): skip past the scan hint when the request cannot fit in it. */
  private nextHint(md: Int32Array, at: number, allocBits: number): number {
    const scan = md[at + Md.ScanHint]!;
    if (scan !== 0 && md[at + Md.ContigStart]! > md[at + Md.ScanHintStart]! && allocBits > scan) {
      return md[at + Md.ScanHintStart]! + scan;
    }
    return md[at + Md.FirstFree]!;
  }

  /** `pcpu_find_block_fit`: start of the bitmap search, or -1 when the hints rule the chunk out. */
  private findBlockFit(chunk: Chunk, allocBits: number, align: number, popOnly: boolean): number {
    const md = chunk.md;
    const cm = chunk.chunkMd;
    const contigStart = md[cm + Md.ContigStart]!;
    // alignUp, written out: V8 declined to inline it on this path (its own calls were 6 % of W8's time).
    const pad = ((contigStart + align - 1) & -align) - contigStart;
    if (pad + allocBits > md[cm + Md.Contig]!) return -1;
    let bitOff = this.chunkScanHint === true ? this.nextHint(md, cm, allocBits) : md[cm + Md.FirstFree]!;
    const mapBits = chunk.mapBits;
    for (;;) {
      this.nextFitRegion(chunk, allocBits, align, bitOff);
      bitOff = this.regionOff;
      if (bitOff >= mapBits) return -1;
      if (!popOnly) return bitOff;
      const next = this.firstUnpopulatedRunEnd(chunk, bitOff, this.regionBits);
      if (next < 0) return bitOff;
      bitOff = next;
    }
  }

  /**
   * `pcpu_is_populated`: -1 when every page of [bitOff, bitOff + bits) is
   * populated, else the first bit after the first unpopulated run there.
   */
  private firstUnpopulatedRunEnd(chunk: Chunk, bitOff: number, bits: number): number {
    const pageSize = this.geometry.pageSize;
    const pageStart = Math.floor((bitOff * MIN_ALLOC_SIZE) / pageSize);
    const pageEnd = Math.ceil(((bitOff + bits) * MIN_ALLOC_SIZE) / pageSize);
    const rs = findNextZeroBit(chunk.populated, pageEnd, pageStart);
    if (rs >= pageEnd) return -1;
    const re = findNextBit(chunk.populated, pageEnd, rs + 1);
    return (re * pageSize) / MIN_ALLOC_SIZE;
  }

  /**
   * `pcpu_next_fit_region`: the next candidate region at or after `start` that
   * the block hints say can hold the request — a block's contig run, or a
   * right-edge run carried into following blocks' left runs. Result in
   * `regionOff` / `regionBits`; `regionOff = mapBits` when there is none.
   */
  private nextFitRegion(chunk: Chunk, allocBits: number, align: number, start: number): void {
    // The kernel's block-by-block walk, with two shortcuts that change nothing
    // it finds: a block whose contig hint is below the request is not asked
    // about its start and padding (pad >= 0, so `contig >= pad + allocBits`
    // needs `contig >= allocBits`), and a full block (contig 0) followed only
    // by full blocks up to its summary word's end is left together with them
    // (each would leave the walk as a full block does: no run carried, the
    // next block entered at bit 0; `LeftFree, RightFree <= Contig`). The W7
    // fit searches walk ~35 blocks per allocation; the `| 0`s keep V8's
    // overflow checks out of that loop.
    const md = chunk.md;
    const contigBlocks = chunk.contigBlocks;
    const blockBits = this.blockBits;
    const shift = this.blockShift;
    const nrBlocks = chunk.nrBlocks;
    const scanForward = this.blockScanForward === true;
    const alignLess = (align - 1) | 0;
    let i = start >> shift; // `>>`, not `>>>`: an int32, so `i |= 31` below keeps the loop variable an integer
    let blockOff = start & (blockBits - 1);
    let bits = 0;
    let bitOff = start;
    for (; i < nrBlocks; i = (i + 1) | 0) {
      const at = Math.imul(i, MD_STRIDE);
      if (bits !== 0) {
        const left = md[at + Md.LeftFree]!;
        bits = (bits + left) | 0;
        if (bits >= allocBits) {
          this.regionOff = bitOff;
          this.regionBits = bits;
          return;
        }
        if (left === blockBits) continue;
      }
      const contig = md[at + Md.Contig]!;
      if (contig >= allocBits) {
        const contigStart = md[at + Md.ContigStart]!;
        const pad = (((contigStart + alignLess) & -align) - contigStart) | 0;
        if (contigStart >= blockOff && contig >= ((pad + allocBits) | 0)) {
          const first = scanForward ? this.nextHint(md, at, allocBits) : md[at + Md.FirstFree]!;
          this.regionBits = (pad + allocBits + contigStart - first) | 0;
          this.regionOff = ((i << shift) + first) | 0;
          return;
        }
      } else if (contig === 0 && contigBlocks[i >>> 5]! >>> (i & 31) === 0) {
        i |= 31;
        blockOff = 0;
        bits = 0;
        continue;
      }
      blockOff = 0;
      const edge = (blockBits - md[at + Md.RightFree]! + alignLess) & -align;
      bits = (blockBits - edge) | 0;
      bitOff = ((i << shift) + edge) | 0;
      if (bits >= allocBits) {
        this.regionOff = bitOff;
        this.regionBits = bits;
        return;
      }
    }
    this.regionOff = chunk.mapBits;
    this.regionBits = 0;
  }

  // -------------------------------------------------------------------------
  // Allocating an area (§3.4)

  /**
   * First-fit search for `nr` zero bits aligned (absolute index) to `align`
   * inside [start, size). 7.0 also remembers the largest area it skipped
   * (`largestOff` / `largestBits`, best-aligned on ties). Returns the start, or a
   * value >= size when nothing fits.
   */
  private findZeroArea(map: Uint32Array, size: number, start: number, nr: number, align: number, trackSkipped: boolean): number {
    const mask = align - 1;
    for (;;) {
      let index = findNextZeroBit(map, size, start);
      index = (index + mask) & ~mask;
      const end = index + nr;
      if (end > size) return end;
      const i = findNextBit(map, end, index);
      if (i >= end) return index;
      if (trackSkipped) {
        const areaBits = i - index;
        if (areaBits > this.largestBits || (areaBits === this.largestBits && this.largestOff !== 0 && (index === 0 || ffs(index) > ffs(this.largestOff)))) {
          this.largestOff = index;
          this.largestBits = areaBits;
        }
      }
      start = i + 1;
    }
  }

  /** `pcpu_alloc_area`: returns the byte offset, or -1. */
  private allocArea(chunk: Chunk, allocBits: number, align: number, start: number): number {
    const oslot = this.chunkSlot(chunk);
    const mapBits = chunk.mapBits;
    const end = Math.min(start + allocBits + this.blockBits, mapBits);
    const rememberSkipped = this.rememberSkipped === true;
    if (rememberSkipped) {
      this.largestOff = 0;
      this.largestBits = 0;
    }
    const bitOff = this.findZeroArea(chunk.allocMap, end, start, allocBits, align, rememberSkipped);
    if (bitOff >= end) return -1;
    if (rememberSkipped && this.largestBits !== 0) this.blockUpdateScan(chunk, this.largestOff, this.largestBits);

    setRange(chunk.allocMap, bitOff, allocBits);
    setBit(chunk.boundMap, bitOff);
    clearRange(chunk.boundMap, bitOff + 1, allocBits - 1);
    setBit(chunk.boundMap, bitOff + allocBits);
    const h = chunk.hdr;
    h[Hdr.FreeBytes] = h[Hdr.FreeBytes]! - allocBits * MIN_ALLOC_SIZE;
    const ff = chunk.chunkMd + Md.FirstFree;
    if (bitOff === chunk.md[ff]) chunk.md[ff] = findNextZeroBit(chunk.allocMap, mapBits, bitOff + allocBits);

    this.blockUpdateHintAlloc(chunk, bitOff, allocBits);
    // `relocate` only when the slot changed (as `freeArea` does): it moves
    // nothing otherwise, and most allocations leave the slot as it was.
    if (this.chunkSlot(chunk) !== oslot) this.relocate(chunk, oslot);
    return bitOff * MIN_ALLOC_SIZE;
  }

  /** `pcpu_block_update_scan` (rule `rememberSkipped`): feed a skipped area, grown back over alignment padding, to its block. */
  private blockUpdateScan(chunk: Chunk, bitOff: number, bits: number): void {
    const blockBits = this.blockBits;
    let sOff = bitOff & (blockBits - 1);
    const eOff = sOff + bits;
    if (eOff > blockBits) return;
    const index = bitOff >>> this.blockShift;
    const base = index * blockBits;
    const last = findLastBitIn(chunk.allocMap, base, base + sOff);
    sOff = last < 0 ? 0 : last - base + 1;
    this.blockUpdate(chunk.md, index * MD_STRIDE, sOff, eOff);
    // The run just accounted is not empty, so the block's contig hint is not 0.
    setBit(chunk.contigBlocks, index);
  }

  // -------------------------------------------------------------------------
  // Hint maintenance (§3.5)

  /** `pcpu_block_update`: account the free run [start, end) in a metadata record. */
  private blockUpdate(md: Int32Array, at: number, start: number, end: number): void {
    const contig = end - start;
    if (start < md[at + Md.FirstFree]!) md[at + Md.FirstFree] = start;
    if (start === 0) md[at + Md.LeftFree] = contig;
    if (end === md[at + Md.NrBits]) md[at + Md.RightFree] = contig;
    if (this.blockScanHint === true) this.updateContigAndScan(md, at, start, contig);
    else this.updateContig(md, at, Md.Contig, Md.ContigStart, start, contig);
  }

  /**
   * 4.14's contig rule (also 4.14's `pcpu_chunk_update`): a larger run wins; an
   * equal run wins if it is better aligned, and a start of 0 is never displaced.
   */
  private updateContig(md: Int32Array, at: number, sizeField: number, startField: number, start: number, contig: number): void {
    const cur = md[at + sizeField]!;
    if (contig > cur) {
      md[at + startField] = start;
      md[at + sizeField] = contig;
    } else if (contig === cur) {
      const curStart = md[at + startField]!;
      if (curStart !== 0 && (start === 0 || ffs(start) > ffs(curStart))) md[at + startField] = start;
    }
  }

  /** The contig and scan hint rule of `blockScanHint` (7.0). */
  private updateContigAndScan(md: Int32Array, at: number, start: number, contig: number): void {
    const cHint = md[at + Md.Contig]!;
    const cStart = md[at + Md.ContigStart]!;
    const sHint = md[at + Md.ScanHint]!;
    const sStart = md[at + Md.ScanHintStart]!;
    if (contig > cHint) {
      if (start > cStart) {
        if (cHint > sHint) {
          md[at + Md.ScanHintStart] = cStart;
          md[at + Md.ScanHint] = cHint;
        } else if (start < sStart) {
          md[at + Md.ScanHint] = 0;
        }
      } else {
        md[at + Md.ScanHint] = 0;
      }
      md[at + Md.ContigStart] = start;
      md[at + Md.Contig] = contig;
    } else if (contig === cHint) {
      if (cStart !== 0 && (start === 0 || ffs(start) > ffs(cStart))) {
        md[at + Md.ContigStart] = start;
        if (start < sStart && cHint > sHint) md[at + Md.ScanHint] = 0;
      } else if (start > sStart || cHint > sHint) {
        md[at + Md.ScanHintStart] = start;
        md[at + Md.ScanHint] = contig;
      }
    } else if (start < cStart && (contig > sHint || (contig === sHint && start > sStart))) {
      md[at + Md.ScanHintStart] = start;
      md[at + Md.ScanHint] = contig;
    }
  }

  /**
   * `pcpu_block_refresh_hint`: rescan a block's free runs (with `blockScanHint`,
   * first promote the scan hint and rescan after it). The caller knows bits
   * [freeLo, freeHi) of the block to be clear (what is left of the contig run
   * the allocation broke: a contig hint only ever names free bits): a run found
   * starting there is searched for its end from `freeHi` on, not bit by bit
   * from its start. Same runs; for an in-order fill the whole rescan is then
   * one word instead of the rest of the block.
   */
  private blockRefreshHint(chunk: Chunk, index: number, freeLo: number, freeHi: number): void {
    const md = chunk.md;
    const at = index * MD_STRIDE;
    const blockBits = this.blockBits;
    let from: number;
    if (this.blockScanHint === true) {
      const scan = md[at + Md.ScanHint]!;
      if (scan !== 0) {
        from = md[at + Md.ScanHintStart]! + scan;
        md[at + Md.ContigStart] = md[at + Md.ScanHintStart]!;
        md[at + Md.Contig] = scan;
        md[at + Md.ScanHint] = 0;
      } else {
        from = md[at + Md.FirstFree]!;
        md[at + Md.Contig] = 0;
      }
      md[at + Md.RightFree] = 0;
    } else {
      from = md[at + Md.FirstFree]!;
      md[at + Md.Contig] = 0;
      md[at + Md.LeftFree] = 0;
      md[at + Md.RightFree] = 0;
    }
    const map = chunk.allocMap;
    const base = index * blockBits;
    const end = base + blockBits;
    let rs = base + from;
    const knownLo = base + freeLo;
    const knownHi = base + freeHi;
    for (;;) {
      rs = findNextZeroBit(map, end, rs);
      if (rs >= end) return;
      const re = findNextBit(map, end, rs >= knownLo && rs < knownHi ? knownHi : rs + 1);
      this.blockUpdate(md, at, rs - base, re - base);
      rs = re + 1;
    }
  }

  /**
   * `blockRefreshHint` of an allocation's end block, which it fills up to
   * `eOff`: what it left of the block's contig run is known free. (The start
   * block's call passes the same bounds from the contig run it has loaded: this
   * call there measured ~1.5 % more instructions on W1a 7.0's allocations.)
   */
  private refreshEndBlock(chunk: Chunk, index: number, eOff: number): void {
    const at = index * MD_STRIDE;
    const cStart = chunk.md[at + Md.ContigStart]!;
    this.blockRefreshHint(chunk, index, eOff > cStart ? eOff : cStart, cStart + chunk.md[at + Md.Contig]!);
  }

  /** Re-derive the free-block and contig-block summary bits of blocks [from, to] from their `LeftFree` and `Contig`. */
  private refreshBlockSummaries(chunk: Chunk, from: number, to: number): void {
    const md = chunk.md;
    const free = chunk.freeBlocks;
    const contig = chunk.contigBlocks;
    const blockBits = this.blockBits;
    for (let b = from; b <= to; b++) {
      const w = b >>> 5;
      const mask = 1 << (b & 31);
      const at = b * MD_STRIDE;
      if (md[at + Md.LeftFree] === blockBits) free[w] = free[w]! | mask;
      else free[w] = free[w]! & ~mask;
      if (md[at + Md.Contig] !== 0) contig[w] = contig[w]! | mask;
      else contig[w] = contig[w]! & ~mask;
    }
  }

  /** `pcpu_block_update_hint_alloc`: fix the hints of the blocks and chunk an allocation touched. */
  private blockUpdateHintAlloc(chunk: Chunk, bitOff: number, bits: number): void {
    const md = chunk.md;
    const map = chunk.allocMap;
    const blockBits = this.blockBits;
    const shift = this.blockShift;
    const scanHint = this.blockScanHint === true;
    const sIndex = bitOff >>> shift;
    const eIndex = (bitOff + bits - 1) >>> shift;
    const sOff = bitOff & (blockBits - 1);
    const eOff = ((bitOff + bits - 1) & (blockBits - 1)) + 1;
    const sAt = sIndex * MD_STRIDE;
    const sBase = sIndex * blockBits;
    let nrEmptyPages = 0;

    // Start block.
    if (md[sAt + Md.Contig] === blockBits) nrEmptyPages++;
    if (sOff === md[sAt + Md.FirstFree]) {
      md[sAt + Md.FirstFree] = findNextZeroBit(map, sBase + blockBits, sBase + sOff + bits) - sBase;
    }
    let contigBroken: boolean;
    let sContigStart: number;
    let sContigEnd: number;
    if (scanHint) {
      // The block's hints may be smaller than the truth, so any overlap breaks
      // the contig run, and the rescan (which starts after the scan hint) does
      // not see the left edge: clear it here.
      const scanStart = md[sAt + Md.ScanHintStart]!;
      if (overlaps(scanStart, scanStart + md[sAt + Md.ScanHint]!, sOff, sOff + bits)) md[sAt + Md.ScanHint] = 0;
      sContigStart = md[sAt + Md.ContigStart]!;
      sContigEnd = sContigStart + md[sAt + Md.Contig]!;
      contigBroken = overlaps(sContigStart, sContigEnd, sOff, sOff + bits);
      if (contigBroken && sOff === 0) md[sAt + Md.LeftFree] = 0;
    } else {
      sContigStart = md[sAt + Md.ContigStart]!;
      sContigEnd = sContigStart + md[sAt + Md.Contig]!;
      contigBroken = sOff >= sContigStart && sOff < sContigEnd;
    }
    if (contigBroken) {
      // What the allocation left of the broken contig run is still free.
      const after = sOff + bits;
      this.blockRefreshHint(chunk, sIndex, after > sContigStart ? after : sContigStart, sContigEnd);
    } else {
      if (sOff < md[sAt + Md.LeftFree]!) md[sAt + Md.LeftFree] = sOff;
      if (sIndex === eIndex) {
        if (blockBits - eOff < md[sAt + Md.RightFree]!) md[sAt + Md.RightFree] = blockBits - eOff;
      } else {
        md[sAt + Md.RightFree] = 0;
      }
    }

    // End block, then the blocks in between.
    if (sIndex !== eIndex) {
      const eAt = eIndex * MD_STRIDE;
      const eBase = eIndex * blockBits;
      if (md[eAt + Md.Contig] === blockBits) nrEmptyPages++;
      md[eAt + Md.FirstFree] = findNextZeroBit(map, eBase + blockBits, eBase + eOff) - eBase;
      let middleEnd = eIndex;
      if (eOff === blockBits) {
        middleEnd = eIndex + 1;
      } else {
        if (scanHint) {
          if (eOff > md[eAt + Md.ScanHintStart]!) md[eAt + Md.ScanHint] = 0;
          md[eAt + Md.LeftFree] = 0;
          if (eOff > md[eAt + Md.ContigStart]!) this.refreshEndBlock(chunk, eIndex, eOff);
          else if (blockBits - eOff < md[eAt + Md.RightFree]!) md[eAt + Md.RightFree] = blockBits - eOff;
        } else if (eOff > md[eAt + Md.ContigStart]!) {
          this.refreshEndBlock(chunk, eIndex, eOff);
        } else {
          md[eAt + Md.LeftFree] = 0;
          if (blockBits - eOff < md[eAt + Md.RightFree]!) md[eAt + Md.RightFree] = blockBits - eOff;
        }
      }
      nrEmptyPages += eIndex - sIndex - 1;
      for (let b = sIndex + 1; b < middleEnd; b++) {
        const at = b * MD_STRIDE;
        if (scanHint) md[at + Md.ScanHint] = 0;
        md[at + Md.Contig] = 0;
        md[at + Md.LeftFree] = 0;
        md[at + Md.RightFree] = 0;
      }
    }

    this.refreshBlockSummaries(chunk, sIndex, eIndex);
    // Chunk.
    const cm = chunk.chunkMd;
    if (nrEmptyPages && this.emptyPagesInHints === true) this.updateEmptyPages(chunk, -nrEmptyPages);
    if (this.chunkHintsAsBlock === true) {
      // A block record's scan hint (kept when `blockScanHint` is on) must stay free.
      if (scanHint) {
        const scanStart = md[cm + Md.ScanHintStart]!;
        if (overlaps(scanStart, scanStart + md[cm + Md.ScanHint]!, bitOff, bitOff + bits)) md[cm + Md.ScanHint] = 0;
      }
      const cStart = md[cm + Md.ContigStart]!;
      if (overlaps(cStart, cStart + md[cm + Md.Contig]!, bitOff, bitOff + bits)) this.chunkRefreshHint(chunk, false);
    } else {
      const cStart = md[cm + Md.ContigStart]!;
      if (bitOff >= cStart && bitOff < cStart + md[cm + Md.Contig]!) this.chunkRefreshHint(chunk, true);
    }
  }

  /**
   * `pcpu_chunk_refresh_hint`: rebuild the chunk hints from the blocks' free
   * regions, walking from the first free bit. With `chunkScanHint` and not
   * `fullScan`, the chunk scan hint is promoted first and the walk starts after
   * it; without `emptyPagesInHints` the walk recounts the empty populated pages.
   */
  private chunkRefreshHint(chunk: Chunk, fullScan: boolean): void {
    const md = chunk.md;
    const cm = chunk.chunkMd;
    // The chunk record as a block record keeps first free and edges, and a
    // scan hint when block records do; 4.14's keeps the contig run only.
    const asBlock = this.chunkHintsAsBlock === true;
    const keepScan = asBlock && this.blockScanHint === true;
    const recount = this.emptyPagesInHints !== true;
    let bitOff: number;
    if (this.chunkScanHint === true && !fullScan && md[cm + Md.ScanHint] !== 0) {
      const scan = md[cm + Md.ScanHint]!;
      bitOff = md[cm + Md.ScanHintStart]! + scan;
      md[cm + Md.ContigStart] = md[cm + Md.ScanHintStart]!;
      md[cm + Md.Contig] = scan;
      md[cm + Md.ScanHint] = 0;
    } else {
      bitOff = md[cm + Md.FirstFree]!;
      md[cm + Md.Contig] = 0;
    }
    let emptyPages = 0;
    const mapBits = chunk.mapBits;
    const blockBits = this.blockBits;
    const shift = this.blockShift;
    const nrBlocks = chunk.nrBlocks;
    const contigBlocks = chunk.contigBlocks;
    // The chunk record in locals while the walk runs (written back below):
    // nothing in the walk reads it, and the loop runs once per free region.
    let contig = md[cm + Md.Contig]!;
    let contigStart = md[cm + Md.ContigStart]!;
    let scanHint = md[cm + Md.ScanHint]!;
    let scanStart = md[cm + Md.ScanHintStart]!;
    let firstFree = md[cm + Md.FirstFree]!;
    let leftFree = md[cm + Md.LeftFree]!;
    let rightFree = md[cm + Md.RightFree]!;
    const nrBits = md[cm + Md.NrBits]!;
    // This loop runs once per free region of the chunk on every refresh (the
    // W3c/W5c free phases spend most of their time here), so the region walk
    // (the kernel's `pcpu_next_md_free_region`: a block's contig run that does
    // not touch its right edge, or a right-edge run joined with the following
    // blocks' left runs) and 4.14's update are written inline, on locals.
    for (;;) {
      let i = bitOff >>> shift;
      let blockOff = bitOff & (blockBits - 1);
      let len = 0;
      let off = bitOff;
      for (; i < nrBlocks; i++) {
        const at = i * MD_STRIDE;
        if (len !== 0) {
          const left = md[at + Md.LeftFree]!;
          len += left !== blockBits ? left : this.freeRunBits(chunk, i);
          break;
        }
        const bContig = md[at + Md.Contig]!;
        if (bContig === 0 && (i & 31) === 0 && contigBlocks[i >>> 5] === 0) {
          // The 32 blocks of one summary word all full: no region starts in
          // them and none runs on out of them (`RightFree <= Contig`). Step
          // over them (the word is 0), as a block-by-block walk would leave: no
          // region open, the next block entered at bit 0. (The first version
          // searched for the next set bit from any full block: the random
          // mixes, W7 and W8, whose full blocks come one or two at a time,
          // gain nothing from that, and it sat in their hot loop.)
          i += 31;
          blockOff = 0;
          off = (i + 1) * blockBits;
          continue;
        }
        const bStart = md[at + Md.ContigStart]!;
        if (bContig !== 0 && bStart >= blockOff && bContig + bStart < blockBits) {
          off = i * blockBits + bStart;
          len = bContig;
          break;
        }
        blockOff = 0;
        len = md[at + Md.RightFree]!;
        off = (i + 1) * blockBits - len;
      }
      if (off >= mapBits) break;
      if (asBlock) {
        // `blockUpdate` of the chunk record, on the locals: first the edges...
        if (off < firstFree) firstFree = off;
        if (off === 0) leftFree = len;
        if (off + len === nrBits) rightFree = len;
      }
      if (keepScan) {
        // ...then the contig and scan hint rule (`updateContigAndScan`).
        if (len > contig) {
          if (off > contigStart) {
            if (contig > scanHint) {
              scanStart = contigStart;
              scanHint = contig;
            } else if (off < scanStart) {
              scanHint = 0;
            }
          } else {
            scanHint = 0;
          }
          contigStart = off;
          contig = len;
        } else if (len === contig) {
          if (contigStart !== 0 && (off === 0 || ffs(off) > ffs(contigStart))) {
            if (off < scanStart && contig > scanHint) scanHint = 0;
            contigStart = off;
          } else if (off > scanStart || contig > scanHint) {
            scanStart = off;
            scanHint = len;
          }
        } else if (off < contigStart && (len > scanHint || (len === scanHint && off > scanStart))) {
          scanStart = off;
          scanHint = len;
        }
      } else {
        // `updateContig`, on the locals.
        if (len > contig) {
          contigStart = off;
          contig = len;
        } else if (len === contig && contigStart !== 0 && (off === 0 || ffs(off) > ffs(contigStart))) {
          contigStart = off;
        }
      }
      if (recount) emptyPages += this.countPopulatedPagesInside(chunk, off, len);
      bitOff = off + len + 1;
    }
    md[cm + Md.Contig] = contig;
    md[cm + Md.ContigStart] = contigStart;
    if (keepScan) {
      md[cm + Md.ScanHint] = scanHint;
      md[cm + Md.ScanHintStart] = scanStart;
    }
    if (asBlock) {
      md[cm + Md.FirstFree] = firstFree;
      md[cm + Md.LeftFree] = leftFree;
      md[cm + Md.RightFree] = rightFree;
    }
    if (recount) {
      const h = chunk.hdr;
      if (chunk !== this.reservedChunk) this.nrEmptyPopPages += emptyPages - h[Hdr.NrEmptyPopPages]!;
      h[Hdr.NrEmptyPopPages] = emptyPages;
    }
  }

  /**
   * Bits of the run of entirely free blocks starting at block `i` (which is
   * one), plus the left edge of the first block after it that is not: what
   * the kernel's block-by-block walk adds up, read a summary word at a time.
   */
  private freeRunBits(chunk: Chunk, i: number): number {
    const nrBlocks = chunk.nrBlocks;
    const j = findNextZeroBit(chunk.freeBlocks, nrBlocks, i + 1);
    const bits = (j - i) * this.blockBits;
    return j < nrBlocks ? bits + chunk.md[j * MD_STRIDE + Md.LeftFree]! : bits;
  }

  // -------------------------------------------------------------------------
  // Free (§4)

  protected wholeChunkFree(chunk: Chunk): boolean {
    // The free bytes first: on almost every free they decide it alone.
    const h = chunk.hdr;
    return h[Hdr.FreeBytes] === this.unitSize && !h[Hdr.Isolated];
  }

  /** 7.0: a free that leaves a quarter of the chunk's pages empty (and enough elsewhere) isolates it for reclaim. */
  protected override afterFree(chunk: Chunk): void {
    if (this.reclaimOnFree === true && this.shouldReclaimChunk(chunk)) {
      this.isolateChunk(chunk);
      this.balancePending = true;
    }
  }

  /**
   * `pcpu_free_area` and, written into it, `pcpu_block_update_hint_free`;
   * first the free's validation (throws `InvalidFreeError`, nothing written).
   *
   * One method on purpose. A free is ~20 ns of the kernel's work, so each call
   * that V8 does not inline is a large share of it; and a method this size is
   * never inlined (its bytecode is over V8's per-function inlining limit), which
   * keeps the optimised code of `free` (skeleton.ts) small enough to be inlined into the
   * caller's loop, where the pointer argument stays an unboxed double. (With
   * this work split over several inlinable methods, `free`'s own optimised code
   * carried them all; a caller then declined to inline it, and every free
   * boxed its pointer: 16 B of garbage, measured.) The common short cases of
   * the bitmap scans are inline word operations; longer ones call the
   * primitives of bitmap.ts. The chunk's slot before and after is computed
   * here only when the free may have changed it (see the end), and `relocate`
   * is called only when it did (it does nothing else).
   */
  protected freeArea(chunk: Chunk, off: number): void {
    const h = chunk.hdr;
    const md = chunk.md;
    const map = chunk.allocMap;
    const cm = chunk.chunkMd;
    const bound = chunk.boundMap;
    const mapBits = chunk.mapBits;
    const bitOff = offsetToBit(off);
    // `validateFree`'s test, before anything is written (the kernel makes none:
    // a bad pointer corrupts its maps); small, so V8 inlines it onto this
    // method's loads.
    if (!startsLiveAllocation(h, map, bound, mapBits, off)) this.invalidFree(chunk, off);
    if (this.keepStats === true) {
      accountFree(this.stats);
      h[Hdr.NrAlloc] = h[Hdr.NrAlloc]! - 1;
    }
    // The slot's inputs before the free; the slot itself is computed only when
    // they may have moved it (see the end of this method).
    const oFree = h[Hdr.FreeBytes]!;
    const oContig = md[cm + Md.Contig]!;

    // The allocation ends at the next set bit of the bound map (`find_next_bit`).
    const from = bitOff + 1;
    const bw = bound[from >>> 5]! & (-1 << (from & 31));
    let end: number;
    if (bw !== 0) {
      end = (from & ~31) + 31 - Math.clz32(bw & -bw);
      if (end > mapBits) end = mapBits;
    } else {
      end = findNextBit(bound, mapBits, from);
    }
    const bits = end - bitOff;

    // `bitmap_clear` of the allocation: one word's mask in the common case.
    const last = end - 1;
    if (bitOff >>> 5 === last >>> 5) {
      map[bitOff >>> 5] = map[bitOff >>> 5]! & ~((-1 >>> (31 - (last & 31))) & (-1 << (bitOff & 31)));
    } else {
      clearRange(map, bitOff, bits);
    }
    h[Hdr.FreeBytes] = h[Hdr.FreeBytes]! + bits * MIN_ALLOC_SIZE;
    if (bitOff < md[cm + Md.FirstFree]!) md[cm + Md.FirstFree] = bitOff;

    // ---- pcpu_block_update_hint_free: merge the freed run with its neighbours in the hints.
    const blockBits = this.blockBits;
    const shift = this.blockShift;
    const sIndex = bitOff >>> shift;
    const eIndex = last >>> shift;
    const sOff = bitOff & (blockBits - 1);
    const eOffIn = (last & (blockBits - 1)) + 1;
    const sAt = sIndex * MD_STRIDE;
    const eAt = eIndex * MD_STRIDE;
    const sBase = sIndex * blockBits;
    const eBase = eIndex * blockBits;

    // Extent of the merged free run: where the block hints already know it,
    // else by scanning (`find_last_bit` back to the block start, `find_next_bit`
    // up to its end; the first word inline).
    let start: number;
    const sContig = md[sAt + Md.Contig]!;
    const sContigStart = md[sAt + Md.ContigStart]!;
    if (sOff === sContig + sContigStart) {
      start = sContigStart;
    } else if (sOff === 0) {
      start = 0;
    } else {
      const to = sBase + sOff;
      const lw = (to - 1) >>> 5;
      const word = map[lw]! & (-1 >>> (31 - ((to - 1) & 31)));
      let at: number;
      if (word !== 0) {
        at = (lw << 5) + 31 - Math.clz32(word);
        if (at < sBase) at = -1;
      } else {
        at = findLastBitIn(map, sBase, to);
      }
      start = at < 0 ? 0 : at - sBase + 1;
    }
    let runEnd: number;
    const eContigStart = md[eAt + Md.ContigStart]!;
    if (eOffIn === eContigStart) {
      runEnd = eContigStart + md[eAt + Md.Contig]!;
    } else {
      const lim = eBase + blockBits;
      const f = eBase + eOffIn;
      if (f >= lim) {
        runEnd = blockBits;
      } else {
        const word = map[f >>> 5]! & (-1 << (f & 31));
        let at: number;
        if (word !== 0) {
          at = (f & ~31) + 31 - Math.clz32(word & -word);
          if (at > lim) at = lim;
        } else {
          at = findNextBit(map, lim, f);
        }
        runEnd = at - eBase;
      }
    }

    // The free-block summary mirrors `LeftFree === blockBits`, and `blockUpdate`
    // writes `LeftFree` only for a run starting at the block's bit 0: the
    // summary bits change there (and in the middle blocks) and nowhere else.
    const summary = chunk.freeBlocks;
    let nrEmptyPages = 0;
    const sEnd = sIndex === eIndex ? runEnd : blockBits;
    if (start === 0) {
      // setBit / clearBit of the summary, inline: this runs on most frees.
      const sw = sIndex >>> 5;
      if (sEnd === blockBits) {
        nrEmptyPages++;
        summary[sw] = summary[sw]! | (1 << (sIndex & 31));
      } else {
        summary[sw] = summary[sw]! & ~(1 << (sIndex & 31));
      }
    }
    this.blockUpdate(md, sAt, start, sEnd);
    if (sIndex !== eIndex) {
      if (runEnd === blockBits) {
        nrEmptyPages++;
        setBit(summary, eIndex);
      } else {
        clearBit(summary, eIndex);
      }
      this.blockUpdate(md, eAt, 0, runEnd);
      nrEmptyPages += eIndex - sIndex - 1;
      for (let b = sIndex + 1; b < eIndex; b++) {
        const at = b * MD_STRIDE;
        md[at + Md.FirstFree] = 0;
        md[at + Md.ScanHint] = 0;
        md[at + Md.ContigStart] = 0;
        md[at + Md.Contig] = blockBits;
        md[at + Md.LeftFree] = blockBits;
        md[at + Md.RightFree] = blockBits;
      }
      setRange(summary, sIndex + 1, eIndex - sIndex - 1);
    }
    // Every block the freed run touches now has a non-empty run in its hints
    // (the start block's bit was set already unless its contig hint was 0).
    if (sIndex === eIndex) {
      if (sContig === 0) setBit(chunk.contigBlocks, sIndex);
    } else {
      setRange(chunk.contigBlocks, sIndex, eIndex - sIndex + 1);
    }
    if (nrEmptyPages !== 0 && this.emptyPagesInHints === true) this.updateEmptyPages(chunk, nrEmptyPages);
    // A whole free page or a run across blocks: rebuild the chunk hints (7.0
    // writes the one-block case as `end - start >= blockBits`, the same test).
    if ((start === 0 && runEnd === blockBits) || sIndex !== eIndex) {
      this.chunkRefreshHint(chunk, true);
    } else if (this.chunkHintsAsBlock === true) {
      // Upstream slip (spec §4.2): a chunk-relative start with a block-relative
      // end. In blocks >= 1 the length is negative and only first_free moves.
      const cStart = sBase + start;
      const cEnd = this.fixFreeCoordinates === true ? sBase + runEnd : runEnd;
      const len = cEnd - cStart;
      // That case without the call: a length below the contig and scan hints
      // matches none of the contig rule's branches, and a start off 0 and an end
      // off the map's end touch neither edge, so `blockUpdate` would write
      // first_free alone. (Most 7.0 frees; the call did not fit this method's
      // inlining budget, 7–9 % of a small free.)
      if (len < 0 && len < md[cm + Md.Contig]! && len < md[cm + Md.ScanHint]! && cStart !== 0 && cEnd !== md[cm + Md.NrBits]) {
        if (cStart < md[cm + Md.FirstFree]!) md[cm + Md.FirstFree] = cStart;
      } else {
        this.blockUpdate(md, cm, cStart, cEnd);
      }
    } else {
      // Upstream slip (spec §4.1): 4.14 passes the block's contig size, not the
      // length of the run just merged (fixed in 5.2: `correctFreeRegion`).
      const len = this.correctFreeRegion === true ? runEnd - start : md[sAt + Md.Contig]!;
      this.updateContig(md, cm, Md.Contig, Md.ContigStart, sBase + start, len);
    }
    // ---- end of pcpu_block_update_hint_free

    // `pcpu_chunk_relocate` when the slot changed. The slot is 0 (free bytes
    // under 4 or contig 0), the free slot (key === unit size), or a function of
    // fls(key) alone, the key being the contig in bytes (slotByContig) or the
    // free bytes. So with both sides off the 0 and free-slot cases and the keys
    // of equal fls — `(a ^ b) < (a & b)`: the top bits match, both non-zero —
    // it cannot have moved, and the two `slotOf`s are skipped (dropping them
    // outright, as an experiment, saved ~15 % of a 4 B free's CPU time; with
    // this test, and the rules copied into fields, 3–8 %); otherwise both are
    // computed as before. test/property.test.ts checks that the chunk lands
    // where the kernel's relocation puts it.
    const nFree = h[Hdr.FreeBytes]!;
    const nContig = md[cm + Md.Contig]!;
    const byContig = this.slotByContig === true;
    const oKey = byContig ? oContig * MIN_ALLOC_SIZE : oFree;
    const nKey = byContig ? nContig * MIN_ALLOC_SIZE : nFree;
    const unit = this.unitSize;
    if (oFree < MIN_ALLOC_SIZE || oContig === 0 || nContig === 0 || oKey === unit || nKey === unit || (oKey ^ nKey) >= (oKey & nKey)) {
      const oslot = this.slotOf(oFree, oContig);
      if (this.slotOf(nFree, nContig) !== oslot) this.relocate(chunk, oslot);
    }
  }

  /** `pcpu_chunk_slot` of a chunk with these free bytes and chunk contig hint (bits). */
  private slotOf(freeBytes: number, contig: number): number {
    if (freeBytes < MIN_ALLOC_SIZE || contig === 0) return 0;
    return this.sizeToSlot(this.slotByContig === true ? contig * MIN_ALLOC_SIZE : freeBytes);
  }
  // -------------------------------------------------------------------------
  // Balance work (§4.3, §4.4)

  protected balanceWork(): void {
    if (this.depopulation === true) this.balanceWork70();
    else this.balanceWork414();
  }

  protected freeChunkEmptyPages(chunk: Chunk): number {
    return chunk.hdr[Hdr.NrEmptyPopPages]!;
  }

  private balanceWork414(): void {
    this.balanceFree(false);
    this.balancePopulated();
  }

  private balanceWork70(): void {
    this.balanceFree(false);
    this.reclaimPopulated();
    this.balancePopulated();
    this.balanceFree(true);
  }

  /** `pcpu_should_reclaim_chunk` (vm backend only). */
  private shouldReclaimChunk(chunk: Chunk): boolean {
    if (this.backend !== 'vm') return false;
    const h = chunk.hdr;
    const empty = h[Hdr.NrEmptyPopPages]!;
    // The test that fails on almost every free first (it runs after each one):
    // a chunk not isolated needs a quarter of its pages empty.
    if (h[Hdr.Isolated] === 0 && empty < Math.floor(chunk.nrPages / 4)) return false;
    if (chunk === this.first || chunk === this.reservedChunk) return false;
    return (h[Hdr.Isolated] !== 0 && empty !== 0) || (this.nrEmptyPopPages > EMPTY_POP_PAGES_HIGH + empty && empty >= Math.floor(chunk.nrPages / 4));
  }

  private isolateChunk(chunk: Chunk): void {
    const h = chunk.hdr;
    if (!h[Hdr.Isolated]) {
      h[Hdr.Isolated] = 1;
      this.nrEmptyPopPages -= h[Hdr.NrEmptyPopPages]!;
    }
    this.listMove(chunk, this.toDepopulateSlot, true);
  }

  private reintegrateChunk(chunk: Chunk): void {
    const h = chunk.hdr;
    if (!h[Hdr.Isolated]) return;
    h[Hdr.Isolated] = 0;
    this.nrEmptyPopPages += h[Hdr.NrEmptyPopPages]!;
    this.relocate(chunk, -1);
  }

  /** `pcpu_reclaim_populated`: depopulate the empty pages of isolated chunks, last page first. */
  private reclaimPopulated(): void {
    const blockBits = this.blockBits;
    for (;;) {
      const id = this.slots.head[this.toDepopulateSlot]!;
      if (id === -1) return;
      const chunk = this.chunks[id]!;
      const h = chunk.hdr;
      let reintegrate = false;
      let end = -1;
      for (let i = chunk.nrPages - 1; i >= 0; i--) {
        if (h[Hdr.NrEmptyPopPages] === 0) break;
        if (this.nrEmptyPopPages < EMPTY_POP_PAGES_HIGH) {
          reintegrate = true;
          break;
        }
        if (chunk.md[i * MD_STRIDE + Md.Contig] === blockBits && testBit(chunk.populated, i)) {
          if (end === -1) end = i;
          if (i > 0) continue;
          i--;
        }
        if (end === -1) continue;
        this.chunkDepopulated(chunk, i + 1, end + 1);
        end = -1;
      }
      if (reintegrate || h[Hdr.FreeBytes] === this.unitSize) this.reintegrateChunk(chunk);
      else this.listMove(chunk, this.sidelinedSlot, false);
    }
  }
}

/** `pcpu_region_overlap`: do [a, b) and [x, y) intersect? */
function overlaps(a: number, b: number, x: number, y: number): boolean {
  return a < y && x < b;
}

/** The slot layout of a profile: size classes, then (with depopulation) sidelined, free and to-depopulate; 4.14's last slot is the free slot. */
function slotLayout(unitSize: number, depopulation: boolean): { nrSlots: number; freeSlot: number; sidelinedSlot: number; toDepopulateSlot: number } {
  const rawTop = sizeToSlotRaw(unitSize);
  if (depopulation) {
    const sidelinedSlot = rawTop + 1;
    return { sidelinedSlot, freeSlot: sidelinedSlot + 1, toDepopulateSlot: sidelinedSlot + 2, nrSlots: sidelinedSlot + 3 };
  }
  return { nrSlots: rawTop + 2, freeSlot: rawTop + 1, sidelinedSlot: -1, toDepopulateSlot: -1 };
}

/** Where the state lives: another thread's shared state, new shared state within the limits, or private buffers. */
function makeStore(nrSlots: number, geometry: Geometry, maxChunks: number, shared: BitmapAllocatorOptions['shared'], attachTo: SharedStateHandle | undefined): StateStore {
  if (attachTo) return SharedStore.attach(attachTo);
  if (!shared) return new LocalStore(nrSlots);
  const limits = shared === true ? {} : shared;
  const chunkBytes = Chunk.bytesFor(geometry.unitPages, geometry.blockBits);
  const bound = Number.isFinite(maxChunks) ? maxChunks : 1024;
  return SharedStore.create(nrSlots, {
    maxChunkIds: limits.maxChunkIds ?? 1 << 20,
    maxArenaBytes: limits.maxArenaBytes ?? Math.min(2 ** 32 - 1, (bound + 3) * (chunkBytes + 64)),
  });
}
