// SPDX-License-Identifier: GPL-2.0-only
/**
 * The allocator skeleton every profile shares: what `mm/percpu.c` does the
 * same way in the 4.13 area map and the 4.14 / 7.0 hinted bitmap, written once.
 *
 * This module owns the parts of `pcpu_alloc` and `free_percpu` around the
 * per-chunk work (request validation and rounding, the slot walk, chunk
 * creation when no chunk has room, the pointer decode of a free), the slot
 * lists and `pcpu_chunk_relocate`, chunk creation and destruction with their
 * events and counts, the populate loop of an allocation, and the two steps of
 * the balance work both designs have (destroy the surplus free chunks, keep
 * EMPTY_POP_PAGES_HIGH empty populated pages). A profile subclasses
 * `PercpuChunkAllocator` and supplies the hooks: how a chunk is searched and
 * an area claimed (`allocFromChunk`), freed (`validateFree`, `freeArea`), the
 * slot a chunk belongs in (`chunkSlot`), what a chunk is made of (`newChunk`,
 * `releaseChunk`, `setupFirstChunk`) and how population is counted
 * (`chunkPopulated`, `chunkDepopulated`). docs/ENGINE.md maps each hook to
 * its kernel function.
 *
 * The state the skeleton reads lives in a `StateStore` (`store.ts`): global
 * counters and flags in `ctl`, slot lists in `ctl` and the id tables, the
 * percpu_stats counters in `counters`. The bitmap keeps its chunks there too
 * (and may share it between threads); the area map keeps its maps in the
 * chunk objects.
 *
 * Invariants between public calls (each profile adds its own):
 * - every chunk but the reserved one and isolated ones is on the slot list its
 *   slot field names, and `chunkSlot` gives that slot;
 * - chunk ids are handed out in order and never reused; `chunks[id]` is the
 *   live chunk of that id or `undefined`;
 * - a request that throws has written nothing: validation comes first.
 *
 * Hot paths: the hooks are methods of a subclass, so in a process running one
 * profile every call site here sees one receiver, and V8 inlines them as far
 * as its inlining budget goes. `alloc` is small and inlines into the caller
 * (so the pointer is never boxed); `allocOffset`, validation and walk in one,
 * is too big to be inlined and is optimised as a unit with the hooks inlined
 * into it; the rare steps (the reserved chunk, creating a chunk, the failure
 * path) are methods of their own so that they do not spend that budget.
 * Nothing on the alloc or free path allocates: results leave through fields
 * (`allocChunkId`).
 */
import { InvalidFreeError, NoReservedChunkError } from '../errors.js';
import * as bitmap from './bitmap.js';
import * as constants from './constants.js';
import * as api from './api.js';
import type { ChunkEventListener, ChunkEventType, Geometry, GlobalStats } from './api.js';
import { Counter, Ctl } from './layout.js';
import * as pointer from './pointer.js';
import { accountChunk, chunkOfPointer, nonNull, raiseAlign, validateRequest } from './request.js';
import { SlotLists } from './slots.js';
import type { StateStore } from './store.js';
import type { Bytes, Ptr } from './units.js';

// Module-own copies of the imported constants and functions the hot paths use
// (an imported binding is read through its module cell on every use in
// optimised code; see bitmap-allocator.ts for the measurement).
const findNextBit = bitmap.findNextBit;
const findNextZeroBit = bitmap.findNextZeroBit;
const sizeToSlotRaw = constants.sizeToSlotRaw;
const EMPTY_POP_PAGES_HIGH = constants.EMPTY_POP_PAGES_HIGH;
const MIN_UNIT_SIZE = constants.MIN_UNIT_SIZE;
const ALLOC_ATOMIC = api.ALLOC_ATOMIC;
const ALLOC_RESERVED = api.ALLOC_RESERVED;
const KNOWN_ALLOC_FLAGS = api.KNOWN_ALLOC_FLAGS;
const PTR_STRIDE = pointer.PTR_STRIDE;
const PTR_STRIDE_INV = pointer.PTR_STRIDE_INV;
const ptrOffset = pointer.ptrOffset;
const RESERVED_CHUNK_ID = pointer.RESERVED_CHUNK_ID;

/** What the skeleton reads of a chunk of any profile. */
export interface SkeletonChunk {
  readonly id: number;
  /** Pages per unit the chunk spans. */
  readonly nrPages: number;
  /** One bit per page: populated. */
  readonly populated: Uint32Array;
}

/** Returned by `allocFromChunk` when the chunk had to change in a way that restarts the slot walk (the area map's map extension, for which the kernel drops its lock). */
export const RETRY_WALK = -2;

/** The global percpu_stats counters as fields over a store's `counters` array (so they can be shared between threads). */
export class GlobalCounters implements GlobalStats {
  constructor(private readonly c: Float64Array) {}
  get nrAlloc() { return this.c[Counter.NrAlloc]!; }
  set nrAlloc(v: number) { this.c[Counter.NrAlloc] = v; }
  get nrDealloc() { return this.c[Counter.NrDealloc]!; }
  set nrDealloc(v: number) { this.c[Counter.NrDealloc] = v; }
  get nrCurAlloc() { return this.c[Counter.NrCurAlloc]!; }
  set nrCurAlloc(v: number) { this.c[Counter.NrCurAlloc] = v; }
  get nrMaxAlloc() { return this.c[Counter.NrMaxAlloc]!; }
  set nrMaxAlloc(v: number) { this.c[Counter.NrMaxAlloc] = v; }
  get nrChunks() { return this.c[Counter.NrChunks]!; }
  set nrChunks(v: number) { this.c[Counter.NrChunks] = v; }
  get nrMaxChunks() { return this.c[Counter.NrMaxChunks]!; }
  set nrMaxChunks(v: number) { this.c[Counter.NrMaxChunks] = v; }
  get minAllocSize() { return this.c[Counter.MinAllocSize]!; }
  set minAllocSize(v: number) { this.c[Counter.MinAllocSize] = v; }
  get maxAllocSize() { return this.c[Counter.MaxAllocSize]!; }
  set maxAllocSize(v: number) { this.c[Counter.MaxAllocSize] = v; }
  toJSON(): GlobalStats {
    const { nrAlloc, nrDealloc, nrCurAlloc, nrMaxAlloc, nrChunks, nrMaxChunks, minAllocSize, maxAllocSize } = this;
    return { nrAlloc, nrDealloc, nrCurAlloc, nrMaxAlloc, nrChunks, nrMaxChunks, minAllocSize, maxAllocSize };
  }
}

/**
 * What a profile hands the skeleton's constructor: the resolved options, its slot layout and its store.
 * @internal
 */
export interface SkeletonSetup {
  mode: 'allocator' | 'chunk';
  geometry: Geometry;
  backend: 'vm' | 'km';
  balance: 'sync' | 'none';
  maxChunks: number;
  listener: ChunkEventListener | undefined;
  /** Sizes round up to it and alignments are raised to it: 4 bytes from 4.14 on, 2 in 4.13. */
  granule: number;
  nrSlots: number;
  /** The slot of fully free chunks: the last slot the allocation walk and the populate step visit. */
  freeSlot: number;
  store: StateStore;
}

/**
 * The percpu allocator around its chunks: `pcpu_alloc` / `free_percpu`, slot
 * lists, chunk lifetime, population and balance work, with the per-chunk
 * search and bookkeeping left to the profile (the hooks below).
 */
export abstract class PercpuChunkAllocator<C extends SkeletonChunk> {
  readonly geometry: Geometry;
  readonly mode: 'allocator' | 'chunk';
  readonly backend: 'vm' | 'km';
  readonly balance: 'sync' | 'none';
  readonly nrSlots: number;
  readonly freeSlot: number;
  readonly stats: GlobalStats;

  /** @internal */
  protected readonly store: StateStore;
  /** @internal */
  protected readonly ctl: Int32Array;
  /** This thread's chunk objects by id; destroyed ids stay `undefined` (ids are never reused). */
  protected readonly chunks: (C | undefined)[] = [];
  protected reservedChunk: C | undefined;
  /** @internal */
  protected readonly slots: SlotLists;
  protected inBalanceWork = false;
  /** The store's generation this thread's chunk objects were last synced with (shared state only). */
  protected seenGeneration = -1;
  protected readonly granule: number;
  protected readonly unitSize: number;
  protected readonly pageSize: number;
  protected readonly pageShift: number;
  protected readonly maxChunks: number;
  protected readonly listener: ChunkEventListener | undefined;
  /** `store.shared`, read on every op (a field of this class keeps the load monomorphic). */
  protected readonly sharedState: boolean;
  /** Chunk id of the last successful `allocOffset` (an out-parameter, so no result object). */
  protected allocChunkId = 0;

  /** `pcpu_nr_empty_pop_pages`: empty populated pages outside the reserved chunk and isolated chunks. */
  protected get nrEmptyPopPages(): number {
    return this.ctl[Ctl.EmptyPopPages]!;
  }
  protected set nrEmptyPopPages(v: number) {
    this.ctl[Ctl.EmptyPopPages] = v;
  }
  protected get atomicAllocFailed(): boolean {
    return this.ctl[Ctl.AtomicAllocFailed] !== 0;
  }
  protected set atomicAllocFailed(v: boolean) {
    this.ctl[Ctl.AtomicAllocFailed] = v ? 1 : 0;
  }
  protected get balancePending(): boolean {
    return this.ctl[Ctl.BalancePending] !== 0;
  }
  protected set balancePending(v: boolean) {
    this.ctl[Ctl.BalancePending] = v ? 1 : 0;
  }

  /** @internal */
  protected constructor(s: SkeletonSetup) {
    this.mode = s.mode;
    this.geometry = s.geometry;
    this.backend = s.backend;
    this.balance = s.balance;
    this.maxChunks = s.maxChunks;
    this.listener = s.listener;
    this.granule = s.granule;
    this.nrSlots = s.nrSlots;
    this.freeSlot = s.freeSlot;
    this.unitSize = s.geometry.unitSize;
    this.pageSize = s.geometry.pageSize;
    this.pageShift = 31 - Math.clz32(this.pageSize);
    this.store = s.store;
    this.ctl = s.store.ctl;
    this.sharedState = s.store.shared === true;
    this.slots = new SlotLists(
      this.ctl.subarray(Ctl.Slots, Ctl.Slots + s.nrSlots),
      this.ctl.subarray(Ctl.Slots + s.nrSlots, Ctl.Slots + 2 * s.nrSlots),
      s.store.listNext,
      s.store.listPrev,
    );
    this.stats = new GlobalCounters(s.store.counters);
  }

  /** The boot state, once the subclass's fields are set: one fresh chunk in chunk mode, else the first chunk. */
  protected boot(): void {
    this.stats.minAllocSize = this.unitSize;
    if (this.mode === 'chunk') {
      const chunk = this.newChunk();
      this.relocate(chunk, -1);
      this.stats.nrChunks = this.stats.nrMaxChunks = 1;
    } else {
      this.setupFirstChunk();
    }
  }

  // -------------------------------------------------------------------------
  // Hooks: what each profile does its own way

  /** `pcpu_chunk_slot`: the slot list a chunk belongs on now. */
  protected abstract chunkSlot(chunk: C): number;
  /** The slot list a chunk is on (-1: none). */
  protected abstract listedSlot(chunk: C): number;
  protected abstract setListedSlot(chunk: C, slot: number): void;
  /** An isolated chunk (7.0 depopulation) stays where isolation put it. */
  protected abstract isIsolated(chunk: C): boolean;
  /** `pcpu_alloc_chunk`: a fresh, fully free, unpopulated chunk with the next id, made live (`addChunk`). */
  protected abstract newChunk(): C;
  /** What destroying a chunk frees besides its id and list place (its buffers, queue entries). */
  protected abstract releaseChunk(chunk: C): void;
  /** `pcpu_setup_first_chunk`: the first chunk (and the reserved one), relocated, with its create event. */
  protected abstract setupFirstChunk(): void;
  /**
   * The per-chunk part of `pcpu_alloc` for a validated request: the hint test,
   * the area search and the claim. Returns the byte offset, -1 when the chunk
   * has no fit, or `RETRY_WALK`. `slot` is the list being walked (-1 for the
   * reserved chunk and chunk mode).
   */
  protected abstract allocFromChunk(chunk: C, size: Bytes, align: Bytes, atomic: boolean, slot: number): number;
  /** `pcpu_stats_area_alloc`. */
  protected abstract statsAreaAlloc(chunk: C, size: number): void;
  /** After a successful allocation in allocator mode: `statsAreaAlloc`, population and the balance test (one hook, not three: each call V8 does not inline costs). */
  protected abstract allocDone(chunk: C, off: number, size: Bytes, atomic: boolean): void;
  /** Throw `InvalidFreeError` (nothing written) unless `off` starts a live allocation (the slow path's precise error, `allocationSize`). */
  protected abstract validateFree(chunk: C, off: number): number;
  /** `pcpu_free_area`, relocation included: first the validation `validateFree` makes (throws, nothing written), then the free. */
  protected abstract freeArea(chunk: C, off: number): void;
  /** After a free: is the chunk now entirely free (and on a list the free-chunk test reads)? */
  protected abstract wholeChunkFree(chunk: C): boolean;
  /** `pcpu_chunk_populated`: pages [pageStart, pageEnd) became populated, for an allocation or for the balance work. */
  protected abstract chunkPopulated(chunk: C, pageStart: number, pageEnd: number, forAlloc: boolean): void;
  /** `pcpu_chunk_depopulated`. */
  protected abstract chunkDepopulated(chunk: C, pageStart: number, pageEnd: number): void;
  /** Empty populated pages of a fully free chunk (the 7.0 balance work keeps those that have some). */
  protected abstract freeChunkEmptyPages(chunk: C): number;
  /** `pcpu_balance_workfn`. */
  protected abstract balanceWork(): void;

  /** After a free of a chunk `wholeChunkFree` did not count as free (7.0: maybe isolate it). */
  protected afterFree(_chunk: C): void {}

  /** Bring this thread's chunk objects up to date with shared state; nothing to do for private state. */
  sync(): void {}

  // -------------------------------------------------------------------------
  // Public API

  /**
   * Allocate `size` bytes aligned to `align` in every unit (`__alloc_percpu`).
   * Returns a percpu pointer (see `pointer.ts`), or `NULL_PTR` when the kernel
   * would return NULL (atomic request with no populated space, reserved region
   * full, chunk limit reached). Throws `InvalidRequestError` for a size or
   * alignment the kernel rejects, `NoReservedChunkError` for a reserved request
   * without a reserved region; the state is then untouched.
   */
  alloc(size: number, align: number, flags = 0): Ptr {
    // Kept small so that it inlines into the caller's loop: the pointer (a
    // double >= 2^32) is then built where it is stored and never boxed.
    // Branch-free: a failed request leaves chunk id -1 and offset -1, which
    // encode to NULL_PTR (-1); the reserved chunk's id -1 encodes to the bare
    // offset. (A conditional here made V8 box the result even when inlined.)
    const off = this.allocOffset(size, align, flags);
    // `as Ptr`, not makePtr: this line is the pointer's encoding on the hot path (see above).
    return ((this.allocChunkId + 1) * PTR_STRIDE + off) as Ptr;
  }

  /**
   * `pcpu_alloc` without the pointer: the byte offset (chunk id in
   * `allocChunkId`), or -1 for NULL (chunk id -1 then too). Validation, the
   * reserved chunk or the slot walk from the request's slot to the free slot
   * (creating a chunk when no list had room and none is free), the
   * accounting, the balance work.
   *
   * One method on purpose, walk included: its bytecode is over V8's
   * per-function inlining limit, so it is never inlined into the caller but
   * optimised as a unit of its own, with the whole inlining budget for the
   * profile's hooks, while the caller inlines `alloc`, which builds the
   * pointer where it is stored. (With the walk in a smaller method of its
   * own, V8 inlined it into the caller's loop, ran out of budget for the
   * hooks — 4.13 allocations 15 % slower — and at times left `alloc` itself a
   * call, boxing every pointer: 16 B of garbage per allocation, measured.)
   */
  private allocOffset(size: number, align: number, flags: number): number {
    let roundedSize: Bytes;
    let roundedAlign: Bytes;
    const g = this.granule;
    // The common request in one test: integer size 1..PCPU_MIN_UNIT_SIZE, power-of-two
    // integer align up to a page, known flags. Anything else takes the full
    // validation, which accepts or throws exactly as before.
    if (
      (size | 0) === size && size > 0 && size <= MIN_UNIT_SIZE &&
      (align | 0) === align && align >= 0 && (align & (align - 1)) === 0 && align <= this.pageSize &&
      (flags & KNOWN_ALLOC_FLAGS) === flags
    ) {
      // Casts, not converters: this is the inlined fast path of the checks validateRequest makes.
      roundedSize = ((size + g - 1) & -g) as Bytes;
      roundedAlign = ((align < g ? g : align) | 0) as Bytes;
    } else {
      roundedSize = validateRequest(size, align, g, this.pageSize, flags);
      roundedAlign = raiseAlign(align, g);
    }
    if (this.sharedState) this.sync();
    const reserved = (flags & ALLOC_RESERVED) !== 0;
    if (reserved && this.reservedChunk === undefined) throw new NoReservedChunkError();
    const atomic = (flags & ALLOC_ATOMIC) !== 0;
    let off = -1;
    if (this.mode === 'chunk') off = this.allocChunkMode(roundedSize, roundedAlign);
    else if (reserved) off = this.allocReservedDone(roundedSize, roundedAlign, atomic);
    else {
      search: for (;;) {
        for (let slot = this.sizeToSlot(roundedSize); slot <= this.freeSlot; slot++) {
          let id = this.slots.head[slot]!;
          while (id !== -1) {
            // The kernel follows the list from the chunk itself; a chunk that a failed
            // search relegated to slot 0 would lead it astray, so keep the old next.
            const next = this.slots.next[id]!;
            const c = this.chunks[id]!;
            off = this.allocFromChunk(c, roundedSize, roundedAlign, atomic, slot);
            if (off >= 0) {
              this.allocDone(c, off, roundedSize, atomic);
              this.allocChunkId = c.id;
              break search;
            }
            if (off === RETRY_WALK) continue search;
            id = next;
          }
        }
        if (atomic || !this.ensureFreeChunk()) {
          off = this.allocFailed(atomic);
          break;
        }
      }
    }
    if (off < 0) this.allocChunkId = -1;
    if (this.balancePending) this.runPendingBalance();
    return off;
  }

  /** Like `alloc`, but a NULL result throws `AllocationFailedError`. */
  allocOrThrow(size: number, align: number, flags = 0): number {
    return nonNull(this.alloc(size, align, flags), size, align, flags);
  }

  /**
   * Free a percpu pointer (`free_percpu`). Throws `InvalidFreeError`, touching
   * nothing, when the pointer is not the start of a live allocation: a double
   * free, an interior pointer, an offset never allocated, a hidden region.
   */
  free(ptr: number): void {
    // Decoded without a division, a closure or an object (small, so it inlines
    // into the caller and the double argument stays unboxed): for a pointer
    // (chunk + 1) * 2^32 + off, the product below is exact and truncates to
    // chunk + 1. Anything that is not a live chunk's pointer (NaN, negative,
    // fractional, a string, a chunk that is gone) fails one of the tests and
    // takes the slow path, which throws the precise error.
    if (this.sharedState === true) this.sync(); // `=== true`: one compare, not a generic ToBoolean (see bitmap-allocator.ts)
    const hi = (ptr * PTR_STRIDE_INV) | 0;
    const rest = ptr - hi * PTR_STRIDE;
    // An int32 offset, not the double `rest`: a double passed on to a call is boxed.
    const off = rest | 0;
    const chunk = hi === 0 ? this.reservedChunk : this.chunks[hi - 1];
    if (chunk === undefined || off !== rest || off < 0 || typeof ptr !== 'number') this.throwInvalidPointer(ptr);
    else this.freeAt(chunk, off);
  }

  /** `free_percpu` of a decoded pointer: free (validated in `freeArea` before its first write), balance. */
  private freeAt(chunk: C, off: number): void {
    this.freeInner(chunk, off);
    if (this.balancePending) this.runPendingBalance();
  }

  /** The error of a pointer the fast decode in `free` refused. */
  private throwInvalidPointer(ptr: number): never {
    this.validateFree(this.lookupChunk(ptr), ptrOffset(ptr));
    throw new InvalidFreeError(NaN, NaN, `not a percpu pointer: ${ptr}`);
  }

  /** Live chunks: the reserved chunk (if any) first, then the others in id order. */
  liveChunks(): C[] {
    this.sync();
    const out: C[] = [];
    if (this.reservedChunk) out.push(this.reservedChunk);
    for (const c of this.chunks) if (c) out.push(c);
    return out;
  }

  /** The live chunk of an id (`RESERVED_CHUNK_ID` for the reserved one), or undefined. */
  getChunk(id: number): C | undefined {
    this.sync();
    return id === RESERVED_CHUNK_ID ? this.reservedChunk : this.chunks[id];
  }

  /** The reserved chunk (a first chunk's reserved region), if the geometry has one. */
  get reserved(): C | undefined {
    return this.reservedChunk;
  }

  /** The first chunk (id 0) in allocator mode; undefined in chunk mode. */
  get first(): C | undefined {
    return this.mode === 'allocator' ? this.chunks[0] : undefined;
  }

  /** `pcpu_nr_empty_pop_pages`. */
  get emptyPopPages(): number {
    return this.nrEmptyPopPages;
  }

  /** Chunks in the order `percpu_stats` lists them: slot 0 to the last, head to tail. */
  chunksInSlotOrder(): { chunk: C; slot: number }[] {
    this.sync();
    const out: { chunk: C; slot: number }[] = [];
    for (let s = 0; s < this.nrSlots; s++) {
      for (let id = this.slots.head[s]!; id !== -1; id = this.slots.next[id]!) out.push({ chunk: this.chunks[id]!, slot: s });
    }
    return out;
  }

  /** The slot a chunk would be filed under now (`pcpu_chunk_slot`). */
  computedSlot(chunk: C): number {
    return this.chunkSlot(chunk);
  }

  /** Whether an op scheduled the balance work and it has not run yet. */
  get balanceScheduled(): boolean {
    return this.balancePending;
  }

  /** Run the balance work now (with `balance: 'none'`, to step it by hand). */
  runBalanceWork(): void {
    this.sync();
    this.balancePending = false;
    this.inBalanceWork = true;
    try {
      this.balanceWork();
    } finally {
      this.inBalanceWork = false;
    }
  }

  protected lookupChunk(ptr: number): C {
    return chunkOfPointer(ptr, (id) => this.getChunk(id));
  }

  // -------------------------------------------------------------------------
  // Slots and lists (§1.1, §3.7)

  /** `pcpu_size_to_slot`: a whole unit goes to the free slot. */
  protected sizeToSlot(size: number): number {
    if (size === this.unitSize) return this.freeSlot;
    return sizeToSlotRaw(size);
  }

  protected listRemove(chunk: C): void {
    const slot = this.listedSlot(chunk);
    if (slot < 0) return;
    this.slots.remove(chunk.id, slot);
    this.setListedSlot(chunk, -1);
  }

  /** `list_move` (front) / `list_move_tail` onto `slot`. */
  protected listMove(chunk: C, slot: number, front: boolean): void {
    this.listRemove(chunk);
    this.slots.insert(chunk.id, slot, front);
    this.setListedSlot(chunk, slot);
  }

  /** `pcpu_chunk_relocate`: head of the new slot if the chunk got emptier, tail if fuller. */
  protected relocate(chunk: C, oslot: number): void {
    if (chunk === this.reservedChunk) return;
    if (this.isIsolated(chunk)) return;
    const nslot = this.chunkSlot(chunk);
    if (oslot !== nslot) this.listMove(chunk, nslot, oslot < nslot);
  }

  // -------------------------------------------------------------------------
  // Chunk lifetime (§3.8)

  /** The id a new chunk gets; grows the id tables (and the lists' views of them) to hold it. */
  protected nextChunkId(): number {
    const id = this.ctl[Ctl.NextChunkId]!;
    this.store.ensureIds(id + 1);
    this.slots.next = this.store.listNext;
    this.slots.prev = this.store.listPrev;
    return id;
  }

  /** Make chunk `id` (from `nextChunkId`) live, known to every thread: `loc` is its place in the store. */
  protected addChunk(id: number, chunk: C, loc: number): void {
    this.ctl[Ctl.NextChunkId] = id + 1;
    this.store.chunkLoc[id] = loc;
    this.chunks[id] = chunk;
    this.bumpGeneration();
  }

  protected bumpGeneration(): void {
    const gen = (this.ctl[Ctl.Generation]! + 1) | 0;
    this.ctl[Ctl.Generation] = gen;
    this.seenGeneration = gen;
  }

  protected emitChunkEvent(type: ChunkEventType, id: number): void {
    accountChunk(this.stats, type === 'create');
    this.listener?.(type, id, this.inBalanceWork);
  }

  /** `pcpu_create_chunk`: a fresh dynamic chunk, populated at once by the km backend; undefined past the chunk limit. */
  protected createChunk(): C | undefined {
    if (this.stats.nrChunks - 1 >= this.maxChunks) return undefined;
    const chunk = this.newChunk();
    if (this.backend === 'km') this.chunkPopulated(chunk, 0, chunk.nrPages, false);
    this.emitChunkEvent('create', chunk.id);
    return chunk;
  }

  /** `pcpu_destroy_chunk`, after the caller depopulated it. */
  protected destroyChunk(chunk: C): void {
    this.listRemove(chunk);
    const id = chunk.id;
    this.chunks[id] = undefined;
    this.store.chunkLoc[id] = -1;
    this.releaseChunk(chunk);
    this.bumpGeneration();
    this.emitChunkEvent('destroy', id);
  }

  // -------------------------------------------------------------------------
  // Allocation (§3.1)

  /** FORMAT.md chunk mode: the per-chunk step only, on chunk 0 (no slots, population or balance work). */
  private allocChunkMode(size: Bytes, align: Bytes): number {
    const chunk = this.chunks[0]!;
    let off: number;
    do off = this.allocFromChunk(chunk, size, align, false, -1);
    while (off === RETRY_WALK);
    if (off < 0) return -1;
    this.statsAreaAlloc(chunk, size);
    this.allocChunkId = 0;
    return off;
  }

  /** The reserved chunk's part of `pcpu_alloc`: the offset, accounted, or the failure path's -1. */
  private allocReservedDone(size: Bytes, align: Bytes, atomic: boolean): number {
    const chunk = this.reservedChunk!;
    let off: number;
    do off = this.allocFromChunk(chunk, size, align, atomic, -1);
    while (off === RETRY_WALK);
    if (off < 0) return this.allocFailed(atomic);
    this.allocDone(chunk, off, size, atomic);
    this.allocChunkId = chunk.id;
    return off;
  }

  /** Before walking again: a chunk in the free slot, created if there is none; false past the chunk limit. */
  private ensureFreeChunk(): boolean {
    if (this.slots.head[this.freeSlot] !== -1) return true;
    const fresh = this.createChunk();
    if (fresh === undefined) return false;
    this.relocate(fresh, -1);
    return true;
  }

  private allocFailed(atomic: boolean): number {
    if (atomic) {
      this.atomicAllocFailed = true;
      this.balancePending = true;
    }
    return -1;
  }

  /**
   * Populate every unpopulated run in pages [pageStart, pageEnd), lowest first
   * (`pcpu_populate_chunk` over `pcpu_for_each_unpop_region`). The loop is the
   * same in every version; the step that differs is what `chunkPopulated`
   * counts for pages populated for an allocation: 4.13 counts them as empty
   * (its caller then takes the area's occupied pages off), 4.14 leaves the
   * empty counts alone, and 7.0 counts them (its allocation hint update has
   * already taken the newly used pages off).
   */
  protected populateRange(chunk: C, pageStart: number, pageEnd: number): void {
    let rs = pageStart;
    for (;;) {
      rs = findNextZeroBit(chunk.populated, pageEnd, rs);
      if (rs >= pageEnd) return;
      const re = findNextBit(chunk.populated, pageEnd, rs + 1);
      this.chunkPopulated(chunk, rs, re, true);
      rs = re + 1;
    }
  }

  // -------------------------------------------------------------------------
  // Free (§4, §9.3)

  /** `pcpu_free_area` and, outside chunk mode, the scheduling of the balance work when a second chunk became free. */
  private freeInner(chunk: C, off: number): void {
    this.freeArea(chunk, off);
    if (this.mode === 'chunk') return;
    if (this.wholeChunkFree(chunk)) {
      const self = chunk.id;
      for (let id = this.slots.head[this.freeSlot]!; id !== -1; id = this.slots.next[id]!) {
        if (id !== self) {
          this.balancePending = true;
          break;
        }
      }
    } else {
      this.afterFree(chunk);
    }
  }

  // -------------------------------------------------------------------------
  // Balance work (§4.3, §4.4, §9.4)

  protected runPendingBalance(): void {
    if (this.balancePending && this.balance === 'sync' && this.mode === 'allocator') this.runBalanceWork();
  }

  /** Destroy every chunk of the free slot but its head, depopulated first (7.0 `emptyOnly`: only those with no empty populated pages). */
  protected balanceFree(emptyOnly: boolean): void {
    const doomed: C[] = [];
    const head = this.slots.head[this.freeSlot]!;
    for (let id = head; id !== -1; id = this.slots.next[id]!) {
      if (id === head) continue;
      const c = this.chunks[id]!;
      if (!emptyOnly || this.freeChunkEmptyPages(c) === 0) doomed.push(c);
    }
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

  /**
   * Keep EMPTY_POP_PAGES_HIGH empty populated pages: populate the fullest
   * chunks with holes (slots from a page's up to the free slot), else create
   * one, until the target is met or no chunk can be made.
   */
  protected balancePopulated(): void {
    for (;;) {
      let nrToPop: number;
      if (this.atomicAllocFailed) {
        nrToPop = EMPTY_POP_PAGES_HIGH;
        this.atomicAllocFailed = false;
      } else {
        nrToPop = Math.min(Math.max(EMPTY_POP_PAGES_HIGH - this.nrEmptyPopPages, 0), EMPTY_POP_PAGES_HIGH);
      }
      for (let slot = this.sizeToSlot(this.pageSize); slot <= this.freeSlot && nrToPop > 0; slot++) {
        const target = this.firstWithHoles(slot);
        if (target !== undefined) nrToPop = this.populateHoles(target, nrToPop);
      }
      if (nrToPop === 0) return;
      const fresh = this.createChunk();
      if (fresh === undefined) return;
      this.relocate(fresh, -1);
    }
  }

  /** The first chunk of `slot`'s list with an unpopulated page. */
  private firstWithHoles(slot: number): C | undefined {
    for (let id = this.slots.head[slot]!; id !== -1; id = this.slots.next[id]!) {
      const c = this.chunks[id]!;
      if (findNextZeroBit(c.populated, c.nrPages, 0) < c.nrPages) return c;
    }
    return undefined;
  }

  /** Populate up to `nrToPop` of a chunk's unpopulated pages, lowest runs first; returns how many are still to populate. */
  private populateHoles(target: C, nrToPop: number): number {
    let rs = 0;
    while (nrToPop > 0) {
      rs = findNextZeroBit(target.populated, target.nrPages, rs);
      if (rs >= target.nrPages) break;
      const re = findNextBit(target.populated, target.nrPages, rs + 1);
      const nr = Math.min(re - rs, nrToPop);
      this.chunkPopulated(target, rs, rs + nr, false);
      nrToPop -= nr;
      // Page rs + nr is populated (or past the end) unless nrToPop hit 0, so
      // the next search finds the same run as the kernel's, which resumes after re.
      rs = rs + nr;
    }
    return nrToPop;
  }
}
