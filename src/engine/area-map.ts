// SPDX-License-Identifier: GPL-2.0-only
/**
 * The Linux 4.13 percpu allocator: the *area map* (spec §9), placement-exact.
 *
 * This module owns what is 4.13's own: every chunk's area map and its search,
 * split and merge, the async map-extension list, the 4.13 slot rule (by free
 * bytes) and population counting. The request entry, the slot walk and lists,
 * chunk lifetime and the shared balance steps are the skeleton's
 * (`skeleton.ts`, `PercpuChunkAllocator`), whose hooks this class fills. It is
 * the slow baseline the hinted bitmap replaced,
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
import { GeometryError, InvalidFreeError } from '../errors.js';
import { type AllocatorOptions, type BufferFactory, type HintProblem, type PercpuAllocator } from './api.js';
import { findNextBit, findNextZeroBit, setRange, clearRange } from './bitmap.js';
import { plainBuffer } from './chunk.js';
import { EMPTY_POP_PAGES_LOW, sizeToSlotRaw } from './constants.js';
import { accountAlloc, accountFree, misalignedFree } from './request.js';
import { PercpuChunkAllocator, RETRY_WALK } from './skeleton.js';
import { LocalStore } from './store.js';
import { resolveGeometry } from './geometry.js';
import { ptrOffset, RESERVED_CHUNK_ID } from './pointer.js';
import type { Bytes } from './units.js';
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
export class AreaMapAllocator extends PercpuChunkAllocator<AreaChunk> implements PercpuAllocator {
  readonly kernel = '4.13' as const;

  /** `pcpu_map_extend_chunks`, in queue order. */
  private extendQueue: AreaChunk[] = [];
  private readonly unitPages: number;
  private readonly makeBuffer: BufferFactory;
  /** Out-parameter of `allocArea`: pages the new area occupies (`occ_pages`). */
  private occPages = 0;

  constructor(options: AreaMapAllocatorOptions) {
    const mode = options.mode ?? 'allocator';
    const geometry = resolveGeometry(options.geometry, { chunkOnly: mode === 'chunk' });
    if (geometry.unitSize > MAX_UNIT_SIZE) throw new GeometryError(`the 4.13 area map keeps offsets in ints: unit size must be <= ${MAX_UNIT_SIZE}, got ${geometry.unitSize}`);
    // Slots by size class, then the free slot.
    const nrSlots = sizeToSlotRaw(geometry.unitSize) + 2;
    super({
      mode,
      geometry,
      backend: options.backend ?? 'vm',
      balance: options.balance ?? 'sync',
      maxChunks: options.maxChunks ?? Number.POSITIVE_INFINITY,
      listener: options.onChunkEvent,
      granule: AREA_GRANULE,
      nrSlots,
      freeSlot: nrSlots - 1,
      store: new LocalStore(nrSlots),
    });
    this.makeBuffer = options.buffer ?? plainBuffer;
    this.unitPages = this.geometry.unitPages;
    this.boot();
  }

  // -------------------------------------------------------------------------
  // Public API beyond the skeleton's

  /** 4.13 first-chunk offsets already count from the unit start, like every other chunk's. */
  unitOffset(ptr: number): number {
    this.lookupChunk(ptr);
    return ptrOffset(ptr);
  }

  /** Size of the live area at `ptr`: the request rounded to 2, plus an absorbed tail. */
  allocationSize(ptr: number): number {
    const chunk = this.lookupChunk(ptr);
    const i = this.validateFree(chunk, ptrOffset(ptr));
    return (chunk.map[i + 1]! & ~IN_USE) - (chunk.map[i]! & ~IN_USE);
  }

  formatStats(): string {
    return formatAreaMapStats(this);
  }

  check(): HintProblem[] {
    return checkAreaMapAllocator(this);
  }

  /** The area map has no bitmap chunks to show. */
  bitmapView(): undefined {
    return undefined;
  }

  /** The map entries `[0, mapUsed]` of a chunk (sentinel included), as a plain array. */
  mapSnapshot(id: number): number[] {
    const c = this.getChunk(id);
    return c === undefined ? [] : Array.from(c.map.subarray(0, c.mapUsed + 1));
  }

  /** Chunks queued for async map extension, in queue order. */
  get extendQueueIds(): number[] {
    return this.extendQueue.map((c) => c.id);
  }

  // -------------------------------------------------------------------------
  // Validation (before any write)

  /** Map index of the in-use area starting at `off`, or a thrown `InvalidFreeError`. */
  protected validateFree(chunk: AreaChunk, off: number): number {
    if (off % AREA_GRANULE !== 0) throw new InvalidFreeError(chunk.id, off, misalignedFree(off, AREA_GRANULE, chunk.id));
    const i = findArea(chunk.map, chunk.mapUsed, off | IN_USE);
    if (i < 0) throw new InvalidFreeError(chunk.id, off, `offset ${off} of chunk ${chunk.id} is not the start of a live allocation (double free, interior pointer or never allocated)`);
    if (i === 0 && chunk.hasReserved) throw new InvalidFreeError(chunk.id, off, `offset ${off} of chunk ${chunk.id} is the first unit's static region, not an allocation`);
    return i;
  }

  // -------------------------------------------------------------------------
  // Slots (§1.1, §3.7)

  /** 4.13 buckets chunks by free bytes; a chunk with < 4 free or contiguous bytes sits in slot 0. */
  protected chunkSlot(chunk: AreaChunk): number {
    if (chunk.freeSize < SMALL_PIECE || chunk.contigHint < SMALL_PIECE) return 0;
    return this.sizeToSlot(chunk.freeSize);
  }

  protected listedSlot(chunk: AreaChunk): number {
    return chunk.slot;
  }

  protected setListedSlot(chunk: AreaChunk, slot: number): void {
    chunk.slot = slot;
  }

  /** 4.13 never isolates a chunk. */
  protected isIsolated(_chunk: AreaChunk): boolean {
    return false;
  }

  // -------------------------------------------------------------------------
  // Chunks, first chunk, population (§3.8, §9.4)

  private newMap(entries: number): Int32Array {
    return new Int32Array(this.makeBuffer(entries * Int32Array.BYTES_PER_ELEMENT));
  }

  /** `pcpu_alloc_chunk`: one free area covering the unit. */
  protected newChunk(): AreaChunk {
    const id = this.nextChunkId();
    const map = this.newMap(DFL_MAP_ALLOC);
    map[0] = 0;
    map[1] = this.unitSize | IN_USE;
    const chunk = new AreaChunk(id, this.unitPages, map, 1, this.unitSize, false, false);
    this.addChunk(id, chunk, id);
    return chunk;
  }

  /** A dying chunk leaves the async map-extension queue. */
  protected releaseChunk(chunk: AreaChunk): void {
    if (chunk.onExtendList) {
      chunk.onExtendList = false;
      this.extendQueue = this.extendQueue.filter((c) => c !== chunk);
    }
  }

  /**
   * 4.13 `pcpu_setup_first_chunk`: the static chunk maps `[static (in use), free
   * region, end]` where the free region is the reserved area if there is one, else
   * the dynamic area; with a reserved area a second chunk maps `[static + reserved
   * (in use), dynamic area, end]`. Both count offsets from the unit start.
   */
  protected setupFirstChunk(): void {
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
    if (id !== RESERVED_CHUNK_ID) this.addChunk(this.nextChunkId(), chunk, id);
    return chunk;
  }

  /** `pcpu_chunk_populated`: 4.13 counts every newly populated page as empty, for an allocation too (`allocDone` takes the area's pages off). */
  protected chunkPopulated(chunk: AreaChunk, pageStart: number, pageEnd: number, _forAlloc: boolean): void {
    const nr = pageEnd - pageStart;
    setRange(chunk.populated, pageStart, nr);
    chunk.nrPopulated += nr;
    this.nrEmptyPopPages += nr;
  }

  protected chunkDepopulated(chunk: AreaChunk, pageStart: number, pageEnd: number): void {
    const nr = pageEnd - pageStart;
    clearRange(chunk.populated, pageStart, nr);
    chunk.nrPopulated -= nr;
    this.nrEmptyPopPages -= nr;
  }

  /** A fully free area-map chunk has nothing allocated, so each of its populated pages is empty. */
  protected freeChunkEmptyPages(chunk: AreaChunk): number {
    return chunk.nrPopulated;
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

  /**
   * One chunk of the slot walk: the contig-hint test, the map extension the
   * request needs (an atomic request skips a chunk that would need one; a
   * non-atomic one extends and walks the slots again, as the kernel does
   * after dropping its lock), then the area search.
   */
  protected allocFromChunk(chunk: AreaChunk, size: Bytes, align: Bytes, atomic: boolean, _slot: number): number {
    if (size > chunk.contigHint) return -1;
    const newAlloc = this.needToExtend(chunk, atomic);
    if (newAlloc) {
      if (atomic) return -1;
      this.extendAreaMap(chunk, newAlloc);
      return RETRY_WALK;
    }
    return this.allocArea(chunk, size, align, atomic);
  }

  /** 4.13 populates first, then takes the area's occupied pages off the empty count, then tests it. */
  protected allocDone(chunk: AreaChunk, off: number, size: Bytes, atomic: boolean): void {
    const occPages = this.occPages;
    this.statsAreaAlloc(chunk, size);
    // A fully populated chunk (always so under km) has no run to populate.
    if (!atomic && chunk.nrPopulated !== chunk.nrPages) this.populateRange(chunk, off >>> this.pageShift, (off + size + this.pageSize - 1) >>> this.pageShift);
    if (chunk !== this.reservedChunk) this.nrEmptyPopPages -= occPages;
    if (this.nrEmptyPopPages < EMPTY_POP_PAGES_LOW) this.balancePending = true;
  }

  protected statsAreaAlloc(chunk: AreaChunk, size: number): void {
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

  protected wholeChunkFree(chunk: AreaChunk): boolean {
    return chunk.freeSize === this.unitSize;
  }

  /** `pcpu_free_area` of the area at `off` (validated first): mark it free, merge with free neighbours in one memmove; its occupied pages become empty. */
  protected freeArea(chunk: AreaChunk, off: number): void {
    let i = this.validateFree(chunk, off);
    accountFree(this.stats);
    chunk.nrAlloc--;
    const oslot = this.chunkSlot(chunk);
    const map = chunk.map;
    if (i < chunk.firstFree) chunk.firstFree = i;
    // The validated area starts at `off`: clear its in-use bit.
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
    if (this.mode !== 'chunk' && chunk !== this.reservedChunk) this.nrEmptyPopPages += occPages;
  }

  // -------------------------------------------------------------------------
  // Balance work (4.13 `pcpu_balance_workfn`)

  /**
   * Destroy every fully free chunk but the head of the free slot, extend the maps
   * queued by atomic requests, then keep EMPTY_POP_PAGES_HIGH empty populated
   * pages: populate the fullest chunks with holes first, else create a chunk.
   */
  protected balanceWork(): void {
    this.balanceFree(false);
    this.serviceMapExtensions();
    this.balancePopulated();
  }

  private serviceMapExtensions(): void {
    while (this.extendQueue.length > 0) {
      const chunk = this.extendQueue.shift()!;
      chunk.onExtendList = false;
      const newAlloc = this.needToExtend(chunk, false);
      if (newAlloc) this.extendAreaMap(chunk, newAlloc);
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
