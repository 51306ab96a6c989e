// SPDX-License-Identifier: GPL-2.0-only
/**
 * The Linux 4.13 percpu allocator: the *area map* (spec §9), placement-exact.
 *
 * This module owns the whole 4.13 allocator state: every chunk's area map, the
 * slot lists, the global empty-populated-page counter, the async map-extension
 * list and the balance work. It is the slow baseline the hinted bitmap replaced,
 * and it keeps the kernel's cost shape: a chunk is one `Int32Array` of area
 * starts that grows by doubling, allocation scans areas from `first_free`, and
 * every split or merge is one `copyWithin` (the kernel's memmove) of the rest of
 * the map. There are no per-area objects.
 *
 * Map encoding (§9.1): `map[k]` is the start offset of area k in bytes, with bit 0
 * set while the area is in use; area k spans `[map[k] & ~1, map[k+1] & ~1)`;
 * `map[mapUsed]` is the sentinel `end | 1`. Offsets are even because sizes are
 * rounded to 2 bytes and alignment is at least 2.
 *
 * Invariants between public calls (what `check()` verifies):
 * - offsets strictly increase up to the sentinel, which is marked in use;
 * - no two free areas are adjacent (frees merge, allocations split only next to
 *   in-use areas);
 * - `freeSize` is exactly the sum of the free areas: head bytes given to an in-use
 *   neighbour (§9.2 rule 3) leave both;
 * - `contigHint` is an upper bound of the largest free area (it may be stale-high);
 * - no free area lies before `firstFree`;
 * - every chunk but the reserved one is on exactly one slot list, the one its
 *   `slot` field names.
 * A call that throws has changed nothing: validation happens before the first write.
 */
import { GeometryError, InvalidFreeError, NoReservedChunkError } from '../errors.js';
import { ALLOC_ATOMIC, ALLOC_RESERVED, type AllocatorOptions, type BufferFactory, type ChunkEventListener, type ChunkEventType, type Geometry, type GlobalStats, type HintProblem, type PercpuAllocator } from './api.js';
import { findNextBit, findNextZeroBit, setRange, clearRange } from './bitmap.js';
import { plainBuffer } from './chunk.js';
import { EMPTY_POP_PAGES_HIGH, EMPTY_POP_PAGES_LOW, sizeToSlotRaw } from './constants.js';
import { accountAlloc, accountChunk, accountFree, chunkOfPointer, misalignedFree, nonNull, raiseAlign, validateRequest } from './request.js';
import { localSlotLists } from './slots.js';
import { resolveGeometry } from './geometry.js';
import { makePtr, NULL_PTR, ptrOffset, RESERVED_CHUNK_ID } from './pointer.js';
import type { Ptr } from './units.js';
import { statsSnapshot, summarizePieces } from './stats.js';
import { writePercpuStats, type StatsChunkKind, type StatsChunkValues } from '../formats/stats.js';

/** Bit 0 of a map entry: the area is in use. */
const IN_USE = 1;
/** 4.13 forces alignment to at least 2 and rounds sizes to 2 so that bit 0 of an offset is free. */
const AREA_GRANULE = 2;
/** Heads and tails smaller than `sizeof(int)` are never left as free areas (§9.2 rules 3, 4). */
const SMALL_PIECE = 4;
/** `PCPU_DFL_MAP_ALLOC`: a new chunk's map has 16 entries, and extension doubles from there. */
const DFL_MAP_ALLOC = 16;
/** Below this many spare entries an atomic request queues the chunk for async extension. */
const ATOMIC_MAP_MARGIN_LOW = 32;
/** A non-atomic request grows the map until this many entries are spare. */
const ATOMIC_MAP_MARGIN_HIGH = 64;
/** Spare entries an atomic request needs (a split adds at most two, plus the sentinel). */
const ATOMIC_MAP_MARGIN_MIN = 3;
/** `PERCPU_DYNAMIC_EARLY_SLOTS`: the first chunk's maps start as static 128-entry arrays. */
const DYNAMIC_EARLY_SLOTS = 128;
/** `PERCPU_DYNAMIC_EARLY_SIZE` in 4.x: the smallest dynamic region the first chunk accepts. */
const DYNAMIC_EARLY_SIZE = 12 << 10;
/** Offsets live in 32-bit ints with an in-use bit: keep the sentinel representable. */
const MAX_UNIT_SIZE = 1 << 30;

/** One chunk: scalar fields plus its map and page-population bitmap (typed arrays). */
export class AreaChunk {
  /** Area starts with the in-use bit; `map.length` is the kernel's `map_alloc`. */
  map: Int32Array;
  /** Number of areas; `map[mapUsed]` is the sentinel. */
  mapUsed: number;
  /** Free bytes (`free_size`). */
  freeSize: number;
  /** Upper bound of the largest free area, in bytes (`contig_hint`). */
  contigHint: number;
  /** Map index with no free area before it (`first_free`). */
  firstFree = 0;
  /** Slot list the chunk is on; -1 for none (the reserved chunk, a dying chunk). */
  slot = -1;
  /** On the async map-extension list (`map_extend_list` not empty). */
  onExtendList = false;
  /** `populated[]`, one bit per page. */
  readonly populated: Uint32Array;
  nrPopulated = 0;
  /** percpu_stats: live allocations and the largest request served. */
  nrAlloc = 0;
  maxAllocSize = 0;

  constructor(
    readonly id: number,
    readonly nrPages: number,
    map: Int32Array,
    mapUsed: number,
    freeSize: number,
    /** Area 0 is the static (or static + reserved) region of the first unit (`has_reserved`). */
    readonly hasReserved: boolean,
    /** First-chunk pieces are never populated or depopulated. */
    readonly immutable: boolean,
  ) {
    this.map = map;
    this.mapUsed = mapUsed;
    this.freeSize = freeSize;
    this.contigHint = freeSize;
    this.populated = new Uint32Array(Math.ceil(nrPages / 32));
  }

  get mapAlloc(): number {
    return this.map.length;
  }
}

/** Options of the 4.13 area map: those of `createAllocator`, the kernel implied. */
export type AreaMapAllocatorOptions = Omit<AllocatorOptions, 'kernel'> & { kernel?: string };

/** The Linux 4.13 area-map allocator (the design 4.14 replaced), behind the common interface. */
export class AreaMapAllocator implements PercpuAllocator {
  readonly kernel = '4.13' as const;
  readonly geometry: Geometry;
  readonly mode: 'allocator' | 'chunk';
  readonly backend: 'vm' | 'km';
  readonly balance: 'sync' | 'none';
  readonly nrSlots: number;
  /** The last slot holds fully free chunks. */
  readonly freeSlot: number;
  readonly stats: GlobalStats;

  /** Chunks by id; destroyed ids stay `undefined` (ids are never reused). */
  private readonly chunks: (AreaChunk | undefined)[] = [];
  private reservedChunk: AreaChunk | undefined;
  private firstChunk: AreaChunk | undefined;
  private readonly slots: ReturnType<typeof localSlotLists>;
  /** `pcpu_map_extend_chunks`, in queue order. */
  private extendQueue: AreaChunk[] = [];
  /** `pcpu_nr_empty_pop_pages` (the reserved chunk does not count). */
  private nrEmptyPopPages = 0;
  private atomicAllocFailed = false;
  private balancePending = false;
  private inBalanceWork = false;
  private readonly unitSize: number;
  private readonly pageSize: number;
  private readonly unitPages: number;
  private readonly makeBuffer: BufferFactory;
  private readonly maxChunks: number;
  private readonly listener: ChunkEventListener | undefined;
  /** Out-parameter of `allocArea`: pages the new area occupies (`occ_pages`). */
  private occPages = 0;

  constructor(options: AreaMapAllocatorOptions) {
    this.mode = options.mode ?? 'allocator';
    this.geometry = resolveGeometry(options.geometry, { chunkOnly: this.mode === 'chunk' });
    this.backend = options.backend ?? 'vm';
    this.balance = options.balance ?? 'sync';
    this.makeBuffer = options.buffer ?? plainBuffer;
    this.maxChunks = options.maxChunks ?? Number.POSITIVE_INFINITY;
    this.listener = options.onChunkEvent;
    this.unitSize = this.geometry.unitSize;
    this.pageSize = this.geometry.pageSize;
    this.unitPages = this.geometry.unitPages;
    if (this.unitSize > MAX_UNIT_SIZE) throw new GeometryError(`the 4.13 area map keeps offsets in ints: unit size must be <= ${MAX_UNIT_SIZE}, got ${this.unitSize}`);
    this.nrSlots = sizeToSlotRaw(this.unitSize) + 2;
    this.freeSlot = this.nrSlots - 1;
    this.slots = localSlotLists(this.nrSlots);
    this.stats = { nrAlloc: 0, nrDealloc: 0, nrCurAlloc: 0, nrMaxAlloc: 0, nrChunks: 0, nrMaxChunks: 0, minAllocSize: this.unitSize, maxAllocSize: 0 };
    if (this.mode === 'chunk') {
      const chunk = this.newChunk();
      this.relocate(chunk, -1);
      this.stats.nrChunks = this.stats.nrMaxChunks = 1;
    } else {
      this.setupFirstChunk();
    }
  }

  // -------------------------------------------------------------------------
  // Public API

  /**
   * Allocate `size` bytes aligned to `align` (`pcpu_alloc`). Returns a percpu
   * pointer, or `NULL_PTR` where the kernel returns NULL. Throws
   * `InvalidRequestError` for what 4.13 rejects (size 0 or > 32 KiB, align not a
   * power of two after raising it to 2, or above the page size) and
   * `NoReservedChunkError` for a reserved request without a reserved region.
   */
  alloc(size: number, align: number, flags = 0): Ptr {
    const reserved = (flags & ALLOC_RESERVED) !== 0;
    const atomic = (flags & ALLOC_ATOMIC) !== 0;
    const roundedSize = validateRequest(size, align, AREA_GRANULE, this.pageSize, flags);
    const roundedAlign = raiseAlign(align, AREA_GRANULE);
    if (reserved && this.reservedChunk === undefined) throw new NoReservedChunkError();
    const ptr = this.mode === 'chunk' ? this.allocChunkMode(roundedSize, roundedAlign) : this.allocInner(roundedSize, roundedAlign, reserved, atomic);
    this.runPendingBalance();
    return ptr;
  }

  /** Like `alloc`, but a NULL result throws `AllocationFailedError`. */
  allocOrThrow(size: number, align: number, flags = 0): number {
    return nonNull(this.alloc(size, align, flags), size, align, flags);
  }

  /**
   * Free a percpu pointer (`free_percpu`). Throws `InvalidFreeError`, touching
   * nothing, unless the pointer is the start of a live allocation (the kernel
   * would BUG or silently free the static region).
   */
  free(ptr: number): void {
    const chunk = this.lookupChunk(ptr);
    const index = this.liveAreaIndex(chunk, ptrOffset(ptr));
    this.freeInner(chunk, index);
    this.runPendingBalance();
  }

  /** 4.13 first-chunk offsets already count from the unit start, like every other chunk's. */
  unitOffset(ptr: number): number {
    this.lookupChunk(ptr);
    return ptrOffset(ptr);
  }

  /** Size of the live area at `ptr`: the request rounded to 2, plus an absorbed tail. */
  allocationSize(ptr: number): number {
    const chunk = this.lookupChunk(ptr);
    const i = this.liveAreaIndex(chunk, ptrOffset(ptr));
    return (chunk.map[i + 1]! & ~IN_USE) - (chunk.map[i]! & ~IN_USE);
  }

  formatStats(): string {
    return formatAreaMapStats(this);
  }

  check(): HintProblem[] {
    return checkAreaMapAllocator(this);
  }

  /** Live chunks: the reserved (static) chunk first if any, then the others by id. */
  liveChunks(): AreaChunk[] {
    const out: AreaChunk[] = [];
    if (this.reservedChunk) out.push(this.reservedChunk);
    for (const c of this.chunks) if (c) out.push(c);
    return out;
  }

  getChunk(id: number): AreaChunk | undefined {
    return id === RESERVED_CHUNK_ID ? this.reservedChunk : this.chunks[id];
  }

  get reserved(): AreaChunk | undefined {
    return this.reservedChunk;
  }

  get first(): AreaChunk | undefined {
    return this.firstChunk;
  }

  /** `pcpu_nr_empty_pop_pages`. */
  get emptyPopPages(): number {
    return this.nrEmptyPopPages;
  }

  /** The map entries `[0, mapUsed]` of a chunk (sentinel included), as a plain array. */
  mapSnapshot(id: number): number[] {
    const c = this.getChunk(id);
    return c === undefined ? [] : Array.from(c.map.subarray(0, c.mapUsed + 1));
  }

  /** Chunks in list order: slot 0 to the last, head to tail (the order percpu_stats prints). */
  chunksInSlotOrder(): { chunk: AreaChunk; slot: number }[] {
    const out: { chunk: AreaChunk; slot: number }[] = [];
    for (let s = 0; s < this.nrSlots; s++) {
      for (let id = this.slots.head[s]!; id !== -1; id = this.slots.next[id]!) out.push({ chunk: this.chunks[id]!, slot: s });
    }
    return out;
  }

  /** The slot a chunk would be filed under now (`pcpu_chunk_slot`). */
  computedSlot(chunk: AreaChunk): number {
    return this.chunkSlot(chunk);
  }

  get balanceScheduled(): boolean {
    return this.balancePending;
  }

  /** Chunks queued for async map extension, in queue order. */
  get extendQueueIds(): number[] {
    return this.extendQueue.map((c) => c.id);
  }

  /** Run the balance work now (with `balance: 'none'`, to step it by hand). */
  runBalanceWork(): void {
    this.balancePending = false;
    this.inBalanceWork = true;
    try {
      this.balanceWork();
    } finally {
      this.inBalanceWork = false;
    }
  }

  // -------------------------------------------------------------------------
  // Validation (before any write)

  private lookupChunk(ptr: number): AreaChunk {
    return chunkOfPointer(ptr, (id) => this.getChunk(id));
  }

  /** Map index of the in-use area starting at `off`, or a thrown `InvalidFreeError`. */
  private liveAreaIndex(chunk: AreaChunk, off: number): number {
    if (off % AREA_GRANULE !== 0) throw new InvalidFreeError(chunk.id, off, misalignedFree(off, AREA_GRANULE, chunk.id));
    const i = findArea(chunk.map, chunk.mapUsed, off | IN_USE);
    if (i < 0) throw new InvalidFreeError(chunk.id, off, `offset ${off} of chunk ${chunk.id} is not the start of a live allocation (double free, interior pointer or never allocated)`);
    if (i === 0 && chunk.hasReserved) throw new InvalidFreeError(chunk.id, off, `offset ${off} of chunk ${chunk.id} is the first unit's static region, not an allocation`);
    return i;
  }

  // -------------------------------------------------------------------------
  // Slots and lists (§1.1, §3.7)

  private sizeToSlot(size: number): number {
    return size === this.unitSize ? this.freeSlot : sizeToSlotRaw(size);
  }

  /** 4.13 buckets chunks by free bytes; a chunk with < 4 free or contiguous bytes sits in slot 0. */
  private chunkSlot(chunk: AreaChunk): number {
    if (chunk.freeSize < SMALL_PIECE || chunk.contigHint < SMALL_PIECE) return 0;
    return this.sizeToSlot(chunk.freeSize);
  }

  private listRemove(chunk: AreaChunk): void {
    if (chunk.slot < 0) return;
    this.slots.remove(chunk.id, chunk.slot);
    chunk.slot = -1;
  }

  /** `list_move` (front) / `list_move_tail` onto `slot`. */
  private listMove(chunk: AreaChunk, slot: number, front: boolean): void {
    this.listRemove(chunk);
    this.slots.insert(chunk.id, slot, front);
    chunk.slot = slot;
  }

  /** `pcpu_chunk_relocate`: head of the new slot if the chunk got emptier, tail if fuller. */
  private relocate(chunk: AreaChunk, oslot: number): void {
    if (chunk === this.reservedChunk) return;
    const nslot = this.chunkSlot(chunk);
    if (oslot !== nslot) this.listMove(chunk, nslot, oslot < nslot);
  }

  // -------------------------------------------------------------------------
  // Chunks, first chunk, population (§3.8, §9.4)

  private newMap(entries: number): Int32Array {
    return new Int32Array(this.makeBuffer(entries * Int32Array.BYTES_PER_ELEMENT));
  }

  /** `pcpu_alloc_chunk`: one free area covering the unit. */
  private newChunk(): AreaChunk {
    const id = this.chunks.length;
    const map = this.newMap(DFL_MAP_ALLOC);
    map[0] = 0;
    map[1] = this.unitSize | IN_USE;
    const chunk = new AreaChunk(id, this.unitPages, map, 1, this.unitSize, false, false);
    this.chunks.push(chunk);
    this.slots.ensureIds(id + 1);
    return chunk;
  }

  private emitChunkEvent(type: ChunkEventType, id: number): void {
    accountChunk(this.stats, type === 'create');
    this.listener?.(type, id, this.inBalanceWork);
  }

  /** `pcpu_create_chunk`: the km backend populates the whole chunk at once. */
  private createChunk(): AreaChunk | undefined {
    if (this.chunks.length - 1 >= this.maxChunks) return undefined;
    const chunk = this.newChunk();
    if (this.backend === 'km') this.chunkPopulated(chunk, 0, chunk.nrPages);
    this.emitChunkEvent('create', chunk.id);
    return chunk;
  }

  private destroyChunk(chunk: AreaChunk): void {
    this.listRemove(chunk);
    if (chunk.onExtendList) {
      chunk.onExtendList = false;
      this.extendQueue = this.extendQueue.filter((c) => c !== chunk);
    }
    this.chunks[chunk.id] = undefined;
    this.emitChunkEvent('destroy', chunk.id);
  }

  /**
   * 4.13 `pcpu_setup_first_chunk`: the static chunk maps `[static (in use), free
   * region, end]` where the free region is the reserved area if there is one, else
   * the dynamic area; with a reserved area a second chunk maps `[static + reserved
   * (in use), dynamic area, end]`. Both count offsets from the unit start.
   */
  private setupFirstChunk(): void {
    const g = this.geometry;
    if (g.staticSize <= 0) throw new GeometryError('kernel 4.13 needs a static region (static_size > 0): its area map marks it as the first, in-use area');
    if (g.staticSize % AREA_GRANULE !== 0 || g.dynSize % AREA_GRANULE !== 0) {
      throw new GeometryError(`kernel 4.13 keeps an in-use bit in bit 0 of every offset: static (${g.staticSize}) and dynamic (${g.dynSize}) sizes must be even`);
    }
    if (g.dynSize < DYNAMIC_EARLY_SIZE) {
      throw new GeometryError(`kernel 4.13 refuses a dynamic region of ${g.dynSize} bytes: it must be at least PERCPU_DYNAMIC_EARLY_SIZE = ${DYNAMIC_EARLY_SIZE}`);
    }
    const hasReservedRegion = g.reservedSize > 0;
    const staticChunk = this.firstChunkPiece(hasReservedRegion ? RESERVED_CHUNK_ID : 0, g.staticSize, hasReservedRegion ? g.reservedSize : g.dynSize);
    let first = staticChunk;
    if (hasReservedRegion) {
      this.reservedChunk = staticChunk;
      first = this.firstChunkPiece(0, g.staticSize + g.reservedSize, g.dynSize);
    }
    this.firstChunk = first;
    this.nrEmptyPopPages += this.countOccupiedPages(first, 1);
    this.relocate(first, -1);
    this.emitChunkEvent('create', 0);
  }

  private firstChunkPiece(id: number, start: number, size: number): AreaChunk {
    const map = this.newMap(DYNAMIC_EARLY_SLOTS);
    map[0] = IN_USE;
    map[1] = start;
    map[2] = (start + size) | IN_USE;
    const chunk = new AreaChunk(id, this.unitPages, map, 2, size, true, true);
    setRange(chunk.populated, 0, this.unitPages);
    chunk.nrPopulated = this.unitPages;
    if (id !== RESERVED_CHUNK_ID) {
      this.chunks.push(chunk);
      this.slots.ensureIds(id + 1);
    }
    return chunk;
  }

  /** `pcpu_chunk_populated`: 4.13 counts every newly populated page as empty. */
  private chunkPopulated(chunk: AreaChunk, pageStart: number, pageEnd: number): void {
    const nr = pageEnd - pageStart;
    setRange(chunk.populated, pageStart, nr);
    chunk.nrPopulated += nr;
    this.nrEmptyPopPages += nr;
  }

  private chunkDepopulated(chunk: AreaChunk, pageStart: number, pageEnd: number): void {
    const nr = pageEnd - pageStart;
    clearRange(chunk.populated, pageStart, nr);
    chunk.nrPopulated -= nr;
    this.nrEmptyPopPages -= nr;
  }

  /** Populate every unpopulated run in pages [pageStart, pageEnd), lowest first. */
  private populateRange(chunk: AreaChunk, pageStart: number, pageEnd: number): void {
    let rs = pageStart;
    for (;;) {
      rs = findNextZeroBit(chunk.populated, pageEnd, rs);
      if (rs >= pageEnd) return;
      const re = findNextBit(chunk.populated, pageEnd, rs + 1);
      this.chunkPopulated(chunk, rs, re);
      rs = re + 1;
    }
  }

  /**
   * `pcpu_count_occupied_pages`: whole pages area `i` covers, plus a partly covered
   * edge page when the free neighbour on that side covers the rest of it.
   */
  private countOccupiedPages(chunk: AreaChunk, i: number): number {
    const map = chunk.map;
    const page = this.pageSize;
    let off = map[i]! & ~IN_USE;
    let end = map[i + 1]! & ~IN_USE;
    if (off % page !== 0 && i > 0) {
      const prev = map[i - 1]!;
      const down = off - (off % page);
      if ((prev & IN_USE) === 0 && prev <= down) off = down;
    }
    if (end % page !== 0 && i + 1 < chunk.mapUsed) {
      const next = map[i + 1]!;
      const up = end - (end % page) + page;
      if ((next & IN_USE) === 0 && (map[i + 2]! & ~IN_USE) >= up) end = up;
    }
    const n = Math.floor(end / page) - Math.ceil(off / page);
    return n > 0 ? n : 0;
  }

  // -------------------------------------------------------------------------
  // Map capacity (`pcpu_need_to_extend`, `pcpu_extend_area_map`)

  /**
   * The map length a request needs, or 0 when it has room. An atomic request needs
   * room for one split; when the spare room runs low it queues the chunk for the
   * balance work to extend. A non-atomic request wants 64 spare entries.
   */
  private needToExtend(chunk: AreaChunk, atomic: boolean): number {
    let margin: number;
    if (atomic) {
      margin = ATOMIC_MAP_MARGIN_MIN;
      if (chunk.mapAlloc < chunk.mapUsed + ATOMIC_MAP_MARGIN_LOW && !chunk.onExtendList) {
        chunk.onExtendList = true;
        this.extendQueue.push(chunk);
        this.balancePending = true;
      }
    } else {
      margin = ATOMIC_MAP_MARGIN_HIGH;
    }
    if (chunk.mapAlloc >= chunk.mapUsed + margin) return 0;
    let newAlloc = DFL_MAP_ALLOC;
    while (newAlloc < chunk.mapUsed + margin) newAlloc *= 2;
    return newAlloc;
  }

  private extendAreaMap(chunk: AreaChunk, newAlloc: number): void {
    if (newAlloc <= chunk.mapAlloc) return;
    const map = this.newMap(newAlloc);
    map.set(chunk.map);
    chunk.map = map;
  }

  // -------------------------------------------------------------------------
  // Allocation (§3.1, §9.2)

  /** FORMAT.md chunk mode: the contig-hint test, a non-atomic map extension, the area search. */
  private allocChunkMode(size: number, align: number): Ptr {
    const chunk = this.chunks[0]!;
    if (size > chunk.contigHint) return NULL_PTR;
    const newAlloc = this.needToExtend(chunk, false);
    if (newAlloc) this.extendAreaMap(chunk, newAlloc);
    const off = this.allocArea(chunk, size, align, false);
    if (off < 0) return NULL_PTR;
    this.statsAreaAlloc(chunk, size);
    return makePtr(0, off);
  }

  /** `pcpu_alloc` after validation. */
  private allocInner(size: number, align: number, reserved: boolean, atomic: boolean): Ptr {
    let chunk: AreaChunk | undefined;
    let off = -1;
    if (reserved) {
      chunk = this.reservedChunk!;
      if (size > chunk.contigHint) return this.allocFailed(atomic);
      for (let newAlloc = this.needToExtend(chunk, atomic); newAlloc !== 0; newAlloc = this.needToExtend(chunk, atomic)) {
        if (atomic) return this.allocFailed(atomic);
        this.extendAreaMap(chunk, newAlloc);
      }
      off = this.allocArea(chunk, size, align, atomic);
      if (off < 0) return this.allocFailed(atomic);
    } else {
      restart: for (;;) {
        for (let slot = this.sizeToSlot(size); slot < this.nrSlots; slot++) {
          let id = this.slots.head[slot]!;
          while (id !== -1) {
            const c = this.chunks[id]!;
            // The kernel follows the list from the chunk itself; a chunk that a failed
            // search relegated to slot 0 would lead it astray, so keep the old next.
            const next = this.slots.next[id]!;
            id = next;
            if (size > c.contigHint) continue;
            const newAlloc = this.needToExtend(c, atomic);
            if (newAlloc) {
              if (atomic) continue;
              // The kernel drops the lock to extend, so it walks the slots again.
              this.extendAreaMap(c, newAlloc);
              continue restart;
            }
            off = this.allocArea(c, size, align, atomic);
            if (off >= 0) {
              chunk = c;
              break restart;
            }
          }
        }
        if (atomic) return this.allocFailed(atomic);
        if (this.slots.head[this.freeSlot] === -1) {
          const fresh = this.createChunk();
          if (fresh === undefined) return this.allocFailed(atomic);
          this.relocate(fresh, -1);
        }
      }
    }
    const occPages = this.occPages;
    this.statsAreaAlloc(chunk, size);
    if (!atomic) this.populateRange(chunk, Math.floor(off / this.pageSize), Math.ceil((off + size) / this.pageSize));
    if (chunk !== this.reservedChunk) this.nrEmptyPopPages -= occPages;
    if (this.nrEmptyPopPages < EMPTY_POP_PAGES_LOW) this.balancePending = true;
    return makePtr(chunk.id, off);
  }

  private allocFailed(atomic: boolean): Ptr {
    if (atomic) {
      this.atomicAllocFailed = true;
      this.balancePending = true;
    }
    return NULL_PTR;
  }

  private statsAreaAlloc(chunk: AreaChunk, size: number): void {
    accountAlloc(this.stats, size);
    chunk.nrAlloc++;
    if (size > chunk.maxAllocSize) chunk.maxAllocSize = size;
  }

  /**
   * `pcpu_fit_in_area`: bytes of padding before an aligned fit of `size` in the free
   * area at `off`, or -1. With `popOnly` the fit must lie in populated pages; the
   * candidate moves past each unpopulated run until it no longer fits.
   */
  private fitInArea(chunk: AreaChunk, off: number, thisSize: number, size: number, align: number, popOnly: boolean): number {
    const page = this.pageSize;
    let candOff = off;
    for (;;) {
      const head = alignUpInt(candOff, align) - off;
      if (thisSize < head + size) return -1;
      if (!popOnly) return head;
      const pageStart = Math.floor((off + head) / page);
      const pageEnd = Math.ceil((off + head + size) / page);
      const limit = Math.ceil((off + thisSize) / page);
      const rs = findNextZeroBit(chunk.populated, limit, pageStart);
      if (rs >= pageEnd) return head;
      candOff = findNextBit(chunk.populated, limit, rs + 1) * page;
    }
  }

  /**
   * `pcpu_alloc_area` (§9.2): first fit over the areas from `first_free`. Splits
   * off a head (unless it is merged into the previous area) and a tail (unless it
   * is absorbed), one memmove of the map's rest; keeps `first_free` and the
   * contig hint; relocates. Returns the offset or -1 (after setting the contig
   * hint to the largest free area seen). Sets `occPages`.
   */
  private allocArea(chunk: AreaChunk, size: number, align: number, popOnly: boolean): number {
    const oslot = this.chunkSlot(chunk);
    const map = chunk.map;
    let maxContig = 0;
    let seenFree = false;
    for (let i = chunk.firstFree; i < chunk.mapUsed; i++) {
      let off = map[i]!;
      if (off & IN_USE) continue;
      let thisSize = (map[i + 1]! & ~IN_USE) - off;
      let head = this.fitInArea(chunk, off, thisSize, size, align, popOnly);
      if (head < 0) {
        if (!seenFree) {
          chunk.firstFree = i;
          seenFree = true;
        }
        if (thisSize > maxContig) maxContig = thisSize;
        continue;
      }
      // Rule 3: a head too small to track, or next to a free area, joins the previous
      // area. Area 0 has no predecessor; treat it as in use (the kernel would read
      // before the map, reachable only by an atomic fit pushed past page 0).
      const prev = i > 0 ? map[i - 1]! : IN_USE;
      if (head && (head < SMALL_PIECE || (prev & IN_USE) === 0)) {
        off += head;
        map[i] = off;
        if (prev & IN_USE) chunk.freeSize -= head;
        else if (off - prev > maxContig) maxContig = off - prev;
        thisSize -= head;
        head = 0;
      }
      // Rule 4: a tail too small to track stays with the allocation.
      let tail = thisSize - head - size;
      if (tail < SMALL_PIECE) {
        tail = 0;
        size = thisSize - head;
      }
      if (head || tail) {
        const nrExtra = (head ? 1 : 0) + (tail ? 1 : 0);
        map.copyWithin(i + 1 + nrExtra, i + 1, chunk.mapUsed + 1);
        chunk.mapUsed += nrExtra;
        if (head) {
          if (!seenFree) {
            chunk.firstFree = i;
            seenFree = true;
          }
          off += head;
          map[++i] = off;
          if (head > maxContig) maxContig = head;
        }
        if (tail) {
          map[i + 1] = off + size;
          if (tail > maxContig) maxContig = tail;
        }
      }
      if (!seenFree) chunk.firstFree = i + 1;
      // Only an allocation in the last area means every free area was seen.
      if (i + 1 === chunk.mapUsed) chunk.contigHint = maxContig;
      else if (maxContig > chunk.contigHint) chunk.contigHint = maxContig;
      chunk.freeSize -= size;
      map[i] = off | IN_USE;
      this.occPages = this.countOccupiedPages(chunk, i);
      this.relocate(chunk, oslot);
      return off;
    }
    chunk.contigHint = maxContig;
    this.relocate(chunk, oslot);
    return -1;
  }

  // -------------------------------------------------------------------------
  // Free (§9.3)

  private freeInner(chunk: AreaChunk, index: number): void {
    const occPages = this.freeArea(chunk, index);
    if (this.mode === 'chunk') return;
    if (chunk !== this.reservedChunk) this.nrEmptyPopPages += occPages;
    if (chunk.freeSize === this.unitSize) {
      for (let id = this.slots.head[this.freeSlot]!; id !== -1; id = this.slots.next[id]!) {
        if (id !== chunk.id) {
          this.balancePending = true;
          break;
        }
      }
    }
  }

  /** `pcpu_free_area`: mark area `i` free, merge with free neighbours in one memmove. Returns its occupied pages. */
  private freeArea(chunk: AreaChunk, i: number): number {
    accountFree(this.stats);
    chunk.nrAlloc--;
    const oslot = this.chunkSlot(chunk);
    const map = chunk.map;
    if (i < chunk.firstFree) chunk.firstFree = i;
    const off = map[i]! & ~IN_USE;
    map[i] = off;
    chunk.freeSize += (map[i + 1]! & ~IN_USE) - off;
    const occPages = this.countOccupiedPages(chunk, i);
    let toFree = 0;
    if ((map[i + 1]! & IN_USE) === 0) toFree++;
    if (i > 0 && (map[i - 1]! & IN_USE) === 0) {
      toFree++;
      i--;
    }
    if (toFree) {
      map.copyWithin(i + 1, i + 1 + toFree, chunk.mapUsed + 1);
      chunk.mapUsed -= toFree;
    }
    // The area after the merged one is in use or the sentinel: its bit 0 is set.
    const merged = map[i + 1]! - map[i]! - IN_USE;
    if (merged > chunk.contigHint) chunk.contigHint = merged;
    this.relocate(chunk, oslot);
    return occPages;
  }

  // -------------------------------------------------------------------------
  // Balance work (4.13 `pcpu_balance_workfn`)

  private runPendingBalance(): void {
    if (this.balancePending && this.balance === 'sync' && this.mode === 'allocator') this.runBalanceWork();
  }

  /**
   * Destroy every fully free chunk but the head of the free slot, extend the maps
   * queued by atomic requests, then keep EMPTY_POP_PAGES_HIGH empty populated
   * pages: populate the fullest chunks with holes first, else create a chunk.
   */
  private balanceWork(): void {
    this.destroyFreeChunks();
    this.serviceMapExtensions();
    this.populateForAtomic();
  }

  private destroyFreeChunks(): void {
    const doomed: AreaChunk[] = [];
    const head = this.slots.head[this.freeSlot]!;
    for (let id = head; id !== -1; id = this.slots.next[id]!) if (id !== head) doomed.push(this.chunks[id]!);
    // The kernel moves each to the head of a private list, so they die in reverse order.
    for (let k = doomed.length - 1; k >= 0; k--) {
      const c = doomed[k]!;
      this.listRemove(c);
      let rs = 0;
      for (;;) {
        rs = findNextBit(c.populated, c.nrPages, rs);
        if (rs >= c.nrPages) break;
        const re = findNextZeroBit(c.populated, c.nrPages, rs + 1);
        this.chunkDepopulated(c, rs, re);
        rs = re + 1;
      }
      this.destroyChunk(c);
    }
  }

  private serviceMapExtensions(): void {
    while (this.extendQueue.length > 0) {
      const chunk = this.extendQueue.shift()!;
      chunk.onExtendList = false;
      const newAlloc = this.needToExtend(chunk, false);
      if (newAlloc) this.extendAreaMap(chunk, newAlloc);
    }
  }

  private populateForAtomic(): void {
    for (;;) {
      let nrToPop: number;
      if (this.atomicAllocFailed) {
        nrToPop = EMPTY_POP_PAGES_HIGH;
        this.atomicAllocFailed = false;
      } else {
        nrToPop = Math.min(Math.max(EMPTY_POP_PAGES_HIGH - this.nrEmptyPopPages, 0), EMPTY_POP_PAGES_HIGH);
      }
      for (let slot = this.sizeToSlot(this.pageSize); slot < this.nrSlots && nrToPop > 0; slot++) {
        let target: AreaChunk | undefined;
        for (let id = this.slots.head[slot]!; id !== -1; id = this.slots.next[id]!) {
          const c = this.chunks[id]!;
          if (this.unitPages - c.nrPopulated > 0) {
            target = c;
            break;
          }
        }
        if (target === undefined) continue;
        let rs = 0;
        while (nrToPop > 0) {
          rs = findNextZeroBit(target.populated, this.unitPages, rs);
          if (rs >= this.unitPages) break;
          const re = findNextBit(target.populated, this.unitPages, rs + 1);
          const nr = Math.min(re - rs, nrToPop);
          this.chunkPopulated(target, rs, rs + nr);
          nrToPop -= nr;
          rs = re + 1;
        }
      }
      if (nrToPop === 0) return;
      const fresh = this.createChunk();
      if (fresh === undefined) return;
      this.relocate(fresh, -1);
    }
  }
}

/** `ALIGN(x, a)` for a power of two `a`, exact for any non-negative int offset. */
function alignUpInt(x: number, align: number): number {
  const r = x % align;
  return r === 0 ? x : x + align - r;
}

/** Binary search of `map[0, mapUsed)` for the exact entry `key`; -1 if absent. */
function findArea(map: Int32Array, mapUsed: number, key: number): number {
  let lo = 0;
  let hi = mapUsed;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const v = map[mid]!;
    if (v < key) lo = mid + 1;
    else if (v > key) hi = mid;
    else return mid;
  }
  return -1;
}

// ---------------------------------------------------------------------------
// percpu_stats, 4.13 layout (spec §6.1, §6.2)

/** Fragmentation numbers over the areas up to the last in-use one (the static area skipped). */
export function areaFragStats(chunk: AreaChunk): { sumFrag: number; maxFrag: number; curMinAlloc: number; curMedAlloc: number; curMaxAlloc: number } {
  const out = { sumFrag: 0, maxFrag: 0, curMinAlloc: 0, curMedAlloc: 0, curMaxAlloc: 0 };
  const map = chunk.map;
  const first = chunk.hasReserved ? 1 : 0;
  let last = -1;
  for (let i = chunk.mapUsed - 1; i >= first; i--) {
    if (map[i]! & IN_USE) {
      last = i;
      break;
    }
  }
  if (last < first) return out;
  const n = last + 1 - first;
  const sizes = new Int32Array(n);
  for (let k = 0; k < n; k++) {
    const e = map[first + k]!;
    const len = (map[first + k + 1]! & ~IN_USE) - (e & ~IN_USE);
    sizes[k] = e & IN_USE ? len : -len;
  }
  return summarizePieces(sizes);
}

/** One area-map chunk's section (4.13 layout). */
function chunkValues(chunk: AreaChunk, kind: StatsChunkKind): StatsChunkValues {
  const { nrAlloc, maxAllocSize, freeSize, contigHint } = chunk;
  return { kind, nrAlloc, maxAllocSize, emptyPopPages: undefined, firstBit: undefined, freeBytes: freeSize, contigBytes: contigHint, memcgAware: undefined, ...areaFragStats(chunk) };
}

/** The whole 4.13 `percpu_stats` debugfs file. */
export function formatAreaMapStats(a: AreaMapAllocator): string {
  const chunks: StatsChunkValues[] = [];
  if (a.reserved) chunks.push(chunkValues(a.reserved, 'reserved'));
  for (const { chunk } of a.chunksInSlotOrder()) chunks.push(chunkValues(chunk, chunk === a.first ? 'first' : 'chunk'));
  return writePercpuStats(statsSnapshot('4.13', a.geometry, a.stats, undefined, chunks));
}

// ---------------------------------------------------------------------------
// Checker (the area-map invariants listed in the header)

/**
 * Verify every invariant the kernel keeps for an area map. `block` of a problem is
 * the map index it concerns, or -1 for chunk-level fields and lists.
 */
export function checkAreaChunk(a: AreaMapAllocator, chunk: AreaChunk): HintProblem[] {
  const out: HintProblem[] = [];
  const report = (index: number, field: string, expected: string, actual: number, rule: string) => out.push({ chunk: chunk.id, block: index, field, expected, actual, rule });
  const map = chunk.map;
  const used = chunk.mapUsed;
  if (used < 1 || used + 1 > map.length) {
    report(-1, 'map_used', `1..${map.length - 1}`, used, 'the map holds map_used areas and the sentinel');
    return out;
  }
  const sentinel = map[used]!;
  if ((sentinel & IN_USE) === 0) report(used, 'sentinel', 'an entry with the in-use bit', sentinel, 'map[map_used] is the sentinel end|1');
  const expectedEnd = chunk.hasReserved ? -1 : a.geometry.unitSize;
  if (expectedEnd >= 0 && (sentinel & ~IN_USE) !== expectedEnd) report(used, 'sentinel', `${expectedEnd}|1`, sentinel, 'a dynamic chunk ends at the unit size');
  let freeSum = 0;
  let largest = 0;
  for (let i = 0; i < used; i++) {
    const e = map[i]!;
    const start = e & ~IN_USE;
    const end = map[i + 1]! & ~IN_USE;
    if (end <= start) report(i, 'offset', `< ${end}`, start, 'area offsets strictly increase');
    if (e & IN_USE) continue;
    const len = end - start;
    freeSum += len;
    if (len > largest) largest = len;
    if (i < chunk.firstFree) report(i, 'first_free', `<= ${i}`, chunk.firstFree, 'no free area lies before first_free');
    if (i + 1 < used && (map[i + 1]! & IN_USE) === 0) report(i + 1, 'merge', 'an in-use area after a free one', map[i + 1]!, 'adjacent free areas are always merged');
  }
  if (chunk.firstFree < 0 || chunk.firstFree > used) report(-1, 'first_free', `0..${used}`, chunk.firstFree, 'first_free indexes the map');
  if (chunk.freeSize !== freeSum) report(-1, 'free_size', `${freeSum}`, chunk.freeSize, 'free_size is the sum of the free areas');
  if (chunk.contigHint < largest) report(-1, 'contig_hint', `>= ${largest}`, chunk.contigHint, 'contig_hint is an upper bound of the largest free area');
  return out;
}

function checkAreaLists(a: AreaMapAllocator): HintProblem[] {
  const out: HintProblem[] = [];
  const seen = new Set<number>();
  for (const { chunk, slot } of a.chunksInSlotOrder()) {
    if (seen.has(chunk.id)) out.push({ chunk: chunk.id, block: -1, field: 'slot', expected: 'on one list once', actual: slot, rule: 'slot lists' });
    seen.add(chunk.id);
    if (chunk.slot !== slot) out.push({ chunk: chunk.id, block: -1, field: 'slot', expected: `${slot}`, actual: chunk.slot, rule: 'the chunk names the list it is on' });
    const computed = a.computedSlot(chunk);
    if (computed !== slot) out.push({ chunk: chunk.id, block: -1, field: 'slot', expected: `${computed}`, actual: slot, rule: 'every change relocates the chunk to the slot of its free size' });
  }
  for (const c of a.liveChunks()) {
    if (c === a.reserved) {
      if (c.slot !== -1) out.push({ chunk: c.id, block: -1, field: 'slot', expected: '-1', actual: c.slot, rule: 'the reserved chunk is on no list' });
    } else if (!seen.has(c.id)) {
      out.push({ chunk: c.id, block: -1, field: 'slot', expected: 'on a slot list', actual: -1, rule: 'every chunk but the reserved one is on a slot list' });
    }
  }
  return out;
}

/** Every invariant problem of every chunk of an area map (`checkAreaChunk` on each), in the hint checker's format. */
export function checkAreaMapAllocator(a: AreaMapAllocator): HintProblem[] {
  const out = checkAreaLists(a);
  for (const c of a.liveChunks()) out.push(...checkAreaChunk(a, c));
  return out;
}
