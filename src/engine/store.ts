// SPDX-License-Identifier: GPL-2.0-only
/**
 * Where an allocator's state lives: every field the allocator shares between
 * calls, in typed arrays, so that the same state can sit in ordinary
 * `ArrayBuffer`s (one thread) or in `SharedArrayBuffer`s that several threads
 * attach to.
 *
 * - `ctl` (Int32Array, fixed): global counters and flags, then the head and tail
 *   of every slot list.
 * - `counters` (Float64Array, fixed): the percpu_stats global counters, which
 *   outgrow 32 bits in long runs.
 * - id tables (Int32Array, indexed by chunk id): slot-list next/prev links and
 *   each chunk's place in the arena. Chunk ids are never reused, so these grow:
 *   by reallocation for local state, in place (growable `SharedArrayBuffer`,
 *   length-tracking views) for shared state, so no thread holds a stale view.
 * - the arena: where chunk buffers live. Local state gives each chunk its own
 *   `ArrayBuffer`; shared state carves them out of one growable
 *   `SharedArrayBuffer`, reusing the regions of destroyed chunks.
 *
 * Invariant: `ctl[Ctl.Generation]` changes whenever a chunk is created or
 * destroyed, so a thread knows when its cache of chunk views is stale.
 */
import { type SharedStateHandle, type SharedStoreLimits } from './api.js';
import { Ctl, COUNTER_WORDS } from './layout.js';
import type { Bytes } from './units.js';
// Declared in api.ts (the engine's one place for types, flags and layouts); re-exported for existing imports.
export { Ctl, Counter } from './layout.js';
export type { SharedStateHandle, SharedStoreLimits } from './api.js';

/** A chunk's buffer region: where its views start. */
export interface Region {
  buffer: ArrayBuffer | SharedArrayBuffer;
  byteOffset: number;
}

export interface StateStore {
  readonly shared: boolean;
  readonly ctl: Int32Array<ArrayBufferLike>;
  readonly counters: Float64Array<ArrayBufferLike>;
  /** Id tables; re-read after `ensureIds`, which may replace them (local state). */
  listNext: Int32Array<ArrayBufferLike>;
  listPrev: Int32Array<ArrayBufferLike>;
  chunkLoc: Int32Array<ArrayBufferLike>;
  /** Make the id tables hold at least `n` ids. */
  ensureIds(n: number): void;
  /** A zeroed region of `bytes` bytes for a new chunk; its arena offset is `regionLoc`. */
  allocRegion(bytes: Bytes): Region & { loc: number };
  /** Give a destroyed chunk's region back. */
  freeRegion(loc: number, bytes: Bytes): void;
  /** The region at an arena offset (attach path). */
  regionAt(loc: number): Region;
  handle(): SharedStateHandle | undefined;
}

function ctlWords(nrSlots: number): number {
  return Ctl.Slots + 2 * nrSlots;
}

function initCtl(ctl: Int32Array<ArrayBufferLike>, nrSlots: number): void {
  ctl[Ctl.ArenaFreeList] = -1;
  ctl[Ctl.ReservedLoc] = -1;
  ctl.fill(-1, Ctl.Slots, Ctl.Slots + 2 * nrSlots);
}

const INITIAL_IDS = 16;

/** State for one thread: plain buffers, each chunk its own `ArrayBuffer`. */
export class LocalStore implements StateStore {
  readonly shared = false;
  readonly ctl: Int32Array<ArrayBufferLike>;
  readonly counters: Float64Array<ArrayBufferLike> = new Float64Array(COUNTER_WORDS);
  listNext: Int32Array<ArrayBufferLike> = new Int32Array(INITIAL_IDS).fill(-1);
  listPrev: Int32Array<ArrayBufferLike> = new Int32Array(INITIAL_IDS).fill(-1);
  chunkLoc: Int32Array<ArrayBufferLike> = new Int32Array(INITIAL_IDS).fill(-1);
  private readonly regions: (ArrayBuffer | undefined)[] = [];

  constructor(nrSlots: number) {
    this.ctl = new Int32Array(ctlWords(nrSlots));
    initCtl(this.ctl, nrSlots);
  }

  ensureIds(n: number): void {
    if (n <= this.listNext.length) return;
    let cap = this.listNext.length;
    while (cap < n) cap *= 2;
    this.listNext = grown(this.listNext, cap);
    this.listPrev = grown(this.listPrev, cap);
    this.chunkLoc = grown(this.chunkLoc, cap);
  }

  allocRegion(bytes: Bytes): Region & { loc: number } {
    const buffer = new ArrayBuffer(bytes);
    const loc = this.regions.length;
    this.regions.push(buffer);
    return { buffer, byteOffset: 0, loc };
  }

  freeRegion(loc: number): void {
    this.regions[loc] = undefined;
  }

  regionAt(loc: number): Region {
    const buffer = this.regions[loc];
    if (buffer === undefined) throw new Error(`no chunk region ${loc}`);
    return { buffer, byteOffset: 0 };
  }

  handle(): undefined {
    return undefined;
  }
}

function grown(a: Int32Array<ArrayBufferLike>, cap: number): Int32Array<ArrayBufferLike> {
  const b = new Int32Array(cap).fill(-1);
  b.set(a);
  return b;
}

/**
 * State in growable `SharedArrayBuffer`s. Every thread that attaches sees the
 * same bytes; growth happens in place, so views taken by other threads stay
 * valid. Callers serialise mutations (the runtime's lock).
 */
export class SharedStore implements StateStore {
  readonly shared = true;
  readonly ctl: Int32Array<ArrayBufferLike>;
  readonly counters: Float64Array<ArrayBufferLike>;
  listNext: Int32Array<ArrayBufferLike>;
  listPrev: Int32Array<ArrayBufferLike>;
  chunkLoc: Int32Array<ArrayBufferLike>;
  private readonly sabs: SharedStateHandle;

  private constructor(sabs: SharedStateHandle) {
    this.sabs = sabs;
    this.ctl = new Int32Array(sabs.ctl);
    this.counters = new Float64Array(sabs.counters);
    // Length-tracking views: they follow the buffers as any thread grows them.
    this.listNext = new Int32Array(sabs.listNext);
    this.listPrev = new Int32Array(sabs.listPrev);
    this.chunkLoc = new Int32Array(sabs.chunkLoc);
  }

  static create(nrSlots: number, limits: SharedStoreLimits): SharedStore {
    const idBytes = (n: number) => n * 4;
    const table = () => new SharedArrayBuffer(idBytes(INITIAL_IDS), { maxByteLength: idBytes(Math.max(limits.maxChunkIds, INITIAL_IDS)) });
    const store = new SharedStore({
      ctl: new SharedArrayBuffer(4 * ctlWords(nrSlots)),
      counters: new SharedArrayBuffer(8 * COUNTER_WORDS),
      listNext: table(),
      listPrev: table(),
      chunkLoc: table(),
      arena: new SharedArrayBuffer(0, { maxByteLength: limits.maxArenaBytes }),
    });
    initCtl(store.ctl, nrSlots);
    store.listNext.fill(-1);
    store.listPrev.fill(-1);
    store.chunkLoc.fill(-1);
    return store;
  }

  static attach(handle: SharedStateHandle): SharedStore {
    return new SharedStore(handle);
  }

  ensureIds(n: number): void {
    const have = this.listNext.length;
    if (n <= have) return;
    const max = this.sabs.listNext.maxByteLength / 4;
    if (n > max) throw new RangeError(`shared allocator: more than ${max} chunk ids`);
    let cap = Math.max(have, INITIAL_IDS);
    while (cap < n) cap *= 2;
    cap = Math.min(cap, max);
    for (const sab of [this.sabs.listNext, this.sabs.listPrev, this.sabs.chunkLoc]) sab.grow(cap * 4);
    this.listNext.fill(-1, have);
    this.listPrev.fill(-1, have);
    this.chunkLoc.fill(-1, have);
  }

  allocRegion(bytes: Bytes): Region & { loc: number } {
    const arena = this.sabs.arena;
    const size = roundRegion(bytes);
    // Reuse the first free region of the same size (all dynamic chunks share one size).
    let prev = -1;
    let loc = this.ctl[Ctl.ArenaFreeList]!;
    const words = new Int32Array(arena);
    while (loc !== -1) {
      const next = words[loc / 4]!;
      if (words[loc / 4 + 1] === size) {
        if (prev === -1) this.ctl[Ctl.ArenaFreeList] = next;
        else words[prev / 4] = next;
        new Uint8Array(arena, loc, size).fill(0);
        return { buffer: arena, byteOffset: loc, loc };
      }
      prev = loc;
      loc = next;
    }
    loc = this.ctl[Ctl.ArenaTop]!;
    if (loc + size > arena.maxByteLength) throw new RangeError(`shared allocator: chunk metadata arena full (${arena.maxByteLength} bytes)`);
    if (loc + size > arena.byteLength) arena.grow(Math.min(arena.maxByteLength, Math.max(loc + size, arena.byteLength * 2)));
    this.ctl[Ctl.ArenaTop] = loc + size;
    return { buffer: arena, byteOffset: loc, loc };
  }

  freeRegion(loc: number, bytes: Bytes): void {
    const words = new Int32Array(this.sabs.arena);
    words[loc / 4] = this.ctl[Ctl.ArenaFreeList]!;
    words[loc / 4 + 1] = roundRegion(bytes);
    this.ctl[Ctl.ArenaFreeList] = loc;
  }

  regionAt(loc: number): Region {
    return { buffer: this.sabs.arena, byteOffset: loc };
  }

  handle(): SharedStateHandle {
    return this.sabs;
  }
}

/** Regions are 8-byte aligned so that every typed-array view inside them is aligned. */
function roundRegion(bytes: number): number {
  return (bytes + 7) & ~7;
}
