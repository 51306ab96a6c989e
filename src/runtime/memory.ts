// SPDX-License-Identifier: GPL-2.0-only
/**
 * The unit memory behind a shared percpu allocator, and where each chunk's
 * memory sits in it.
 *
 * Layout (all `SharedArrayBuffer`s, shared by every thread):
 *
 *   memory      one growable buffer reserved up front (`maxByteLength`) and
 *               grown in place. It is cut into *memory slots* of
 *               `nrUnits × unitSize` bytes; a live chunk owns one slot, unit k
 *               of the chunk at byte `slot × slotBytes + k × unitSize`.
 *   chunkSlots  Int32 per chunk id (growable, chunk ids only grow): slot + 1 of
 *               a live chunk, 0 for an id that is dead or not yet used.
 *   control     Int32 words: the allocator lock, the slot high-water mark, a
 *               stack of free slots (slots of destroyed chunks, reused first)
 *               and, per slot, the "dirty top": the end of the highest byte
 *               ever handed out in that slot's units. Bytes at or above it
 *               have never been written since the buffer grew, so they are
 *               still zero.
 *
 * A thread learns about a new chunk only from a pointer into it, which reaches
 * it through shared memory or a message after the creating thread's release of
 * the allocator lock — so the chunk's slot entry and the grown buffer are
 * visible by then. Each thread keeps fixed-length views over the buffers and
 * re-makes them when an address falls past their end: length-tracking views on
 * a growable buffer cost ~45 ns an access in Node 20 against ~1–3 ns for fixed
 * ones, and a fixed view stays valid forever because the buffers never shrink.
 *
 * Invariants: a slot is either on the free stack or owned by exactly one live
 * chunk; `chunkSlots` names only live chunks; slots never move, so an address
 * stays valid for as long as its allocation lives. Mutations happen under the
 * allocator lock.
 */
import { DestroyedError, RuntimeArgumentError } from './errors.js';
import { InvalidFreeError } from '../errors.js';

/** Words of the control buffer. */
export const enum Rt {
  Lock = 0,
  /** Slots handed out so far (the memory buffer holds this many slots). */
  SlotsUsed = 1,
  /** Depth of the free-slot stack. */
  FreeSlots = 2,
  /** The allocator lock holder's intent (`Intent`), written before it mutates anything. */
  Intent = 3,
  /** Unit being reaped while `Intent` is `Intent.Reap`, and its holder's token. */
  IntentUnit = 4,
  IntentHolder = 5,
  /**
   * Bumped after a chunk gives its memory slot back, after a unit is released
   * (its memory zeroed or handed to the next thread) and after a roll-back: a
   * thread that cached a pointer's address at epoch e may reuse it while the
   * epoch is still e — the accessors' one-word liveness check, which thereby
   * also sees its own thread's detach. Only grows; moved under the allocator lock.
   */
  ChunkEpoch = 6,
  /** First word of the free-slot stack; the dirty tops follow it. */
  Stack = 8,
}

const PTR_STRIDE = 0x1_0000_0000;
const INITIAL_CHUNK_IDS = 64;

/** What the allocator lock's holder is doing, for whoever must recover from its death. */
export const enum Intent {
  None = 0,
  /** Copying the undo image: nothing is mutated yet. */
  Saving = 1,
  /** The undo image is complete and an allocator operation may be mutating: roll back. */
  Mutating = 2,
  /** Releasing a dead or departing thread's unit: idempotent, roll forward. */
  Reap = 3,
}

/** The `SharedArrayBuffer`s of the runtime's own state, part of a `SharedPercpuHandle` (post the handle, never these alone). */
export interface MemoryBuffers {
  control: SharedArrayBuffer;
  chunkSlots: SharedArrayBuffer;
  memory: SharedArrayBuffer;
  /** The thread table and unit leases (threads.ts). */
  threads: SharedArrayBuffer;
  /** The undo image of the allocator state (undo.ts). */
  undo: SharedArrayBuffer;
  /** The counter registry (counter-registry.ts): what a unit's release must fold. */
  counters: SharedArrayBuffer;
  /** The counters' lock-free totals (counter-registry.ts). */
  counterTotals: SharedArrayBuffer;
}

export interface MemoryGeometry {
  nrUnits: number;
  unitSize: number;
  /** Most chunks alive at once (first chunk included). */
  maxSlots: number;
  /** Most chunk ids ever used. */
  maxChunkIds: number;
}

export interface MemoryGeometryExtra {
  /** Bytes of the thread table. */
  threadBytes: number;
  /** Most bytes the undo image may need. */
  undoMaxBytes: number;
  counterMaxBytes: number;
  counterTotalsBytes: number;
}

export function controlBytes(maxSlots: number): number {
  return 4 * (Rt.Stack + 2 * maxSlots);
}

export function createMemoryBuffers(g: MemoryGeometry, x: MemoryGeometryExtra): MemoryBuffers {
  const slotBytes = g.nrUnits * g.unitSize;
  return {
    control: new SharedArrayBuffer(controlBytes(g.maxSlots)),
    chunkSlots: new SharedArrayBuffer(4 * Math.min(INITIAL_CHUNK_IDS, g.maxChunkIds), { maxByteLength: 4 * g.maxChunkIds }),
    memory: new SharedArrayBuffer(0, { maxByteLength: g.maxSlots * slotBytes }),
    threads: new SharedArrayBuffer(x.threadBytes),
    undo: new SharedArrayBuffer(0, { maxByteLength: x.undoMaxBytes }),
    counters: new SharedArrayBuffer(64, { maxByteLength: x.counterMaxBytes }),
    counterTotals: new SharedArrayBuffer(x.counterTotalsBytes),
  };
}

/** One thread's views of the unit memory. */
export class PercpuMemory {
  declare readonly nrUnits: number;
  declare readonly unitSize: number;
  declare readonly slotBytes: number;
  declare readonly maxSlots: number;
  declare readonly control: Int32Array;
  declare private readonly buffers: MemoryBuffers;

  // Fixed-length views, re-made by `refresh` when the buffers have grown.
  /** Set when the owning `SharedPercpu` detached: every access then throws `DestroyedError`. */
  declare closed: boolean;
  declare u8: Uint8Array;
  declare i32: Int32Array;
  declare u32: Uint32Array;
  declare f64: Float64Array;
  declare i64: BigInt64Array;
  /** Bytes the views cover. */
  declare viewBytes: number;
  declare chunkSlots: Int32Array;

  constructor(buffers: MemoryBuffers, nrUnits: number, unitSize: number) {
    this.buffers = buffers;
    this.nrUnits = nrUnits;
    this.unitSize = unitSize;
    this.slotBytes = nrUnits * unitSize;
    this.maxSlots = buffers.memory.maxByteLength / this.slotBytes;
    this.control = new Int32Array(buffers.control);
    this.closed = false;
    this.viewBytes = -1;
    this.refresh();
  }

  /** Re-make the views over the buffers' current lengths. */
  refresh(): void {
    const mem = this.buffers.memory;
    const bytes = mem.byteLength;
    if (bytes !== this.viewBytes) {
      this.u8 = new Uint8Array(mem, 0, bytes);
      this.i32 = new Int32Array(mem, 0, bytes >>> 2);
      this.u32 = new Uint32Array(mem, 0, bytes >>> 2);
      this.f64 = new Float64Array(mem, 0, Math.floor(bytes / 8));
      this.i64 = new BigInt64Array(mem, 0, Math.floor(bytes / 8));
      this.viewBytes = bytes;
    }
    const ids = this.buffers.chunkSlots;
    if (this.chunkSlots === undefined || this.chunkSlots.length * 4 !== ids.byteLength) this.chunkSlots = new Int32Array(ids, 0, ids.byteLength >>> 2);
  }

  /** Slot + 1 of a live chunk, 0 if the id names no live chunk. */
  private slotOf(chunk: number): number {
    if (!(chunk >= 0)) return 0;
    if (chunk >= this.chunkSlots.length) {
      this.refresh();
      if (chunk >= this.chunkSlots.length) return 0;
    }
    return this.chunkSlots[chunk]!;
  }

  /**
   * Byte address of `off` bytes into unit `unit` of the allocation at `ptr`, for
   * an access of `width` bytes that must be `width`-aligned. Throws
   * `InvalidFreeError` for a pointer into no live chunk, `RuntimeArgumentError`
   * for an access outside the unit or misaligned. Does not check that the
   * access stays inside the allocation (neither does the kernel).
   */
  address(ptr: number, unit: number, off: number, width: number): number {
    if (this.closed) throw new DestroyedError('SharedPercpu (detached)');
    const hi = Math.floor(ptr / PTR_STRIDE);
    const offset = ptr - hi * PTR_STRIDE + off;
    const slot1 = this.slotOf(hi - 1);
    if (slot1 === 0) throw new InvalidFreeError(hi - 1, ptr - hi * PTR_STRIDE, `no live chunk for percpu pointer ${ptr}`);
    if (!(offset >= 0 && offset + width <= this.unitSize) || (offset | 0) !== offset) {
      throw new RuntimeArgumentError('EINVAL_SIZE', `access of ${width} bytes at offset ${offset} leaves the ${this.unitSize}-byte unit`);
    }
    if ((offset & (width - 1)) !== 0) throw new RuntimeArgumentError('EINVAL_ALIGN', `access of ${width} bytes at unit offset ${offset} is not ${width}-aligned`);
    const addr = (slot1 - 1) * this.slotBytes + unit * this.unitSize + offset;
    if (addr + width > this.viewBytes) this.refresh();
    return addr;
  }

  /** Address of a byte range inside one unit (the whole range is checked). */
  range(ptr: number, unit: number, off: number, length: number): number {
    if (!Number.isInteger(length) || length < 0) throw new RuntimeArgumentError('EINVAL_SIZE', `byte count must be a non-negative integer, got ${length}`);
    const at = this.address(ptr, unit, off, 1);
    if (length > 1) this.address(ptr, unit, off + length - 1, 1);
    return at;
  }

  // -------------------------------------------------------------------------
  // Slots (caller holds the allocator lock)

  /** Give chunk `id` a memory slot, growing the buffers as needed. */
  assignSlot(id: number): void {
    const c = this.control;
    let slot: number;
    if (c[Rt.FreeSlots]! > 0) {
      const depth = c[Rt.FreeSlots]! - 1;
      slot = c[Rt.Stack + depth]!;
      c[Rt.FreeSlots] = depth;
    } else {
      slot = c[Rt.SlotsUsed]!;
      // The allocator's chunk limit keeps live chunks within maxSlots.
      if (slot >= this.maxSlots) throw new Error(`percpu memory: no slot left for chunk ${id} (max ${this.maxSlots})`);
      // An operation rolled back after its holder died may have grown the buffer already.
      const need = (slot + 1) * this.slotBytes;
      if (this.buffers.memory.byteLength < need) this.buffers.memory.grow(need);
      c[Rt.SlotsUsed] = slot + 1;
    }
    this.ensureChunkIds(id + 1);
    this.refresh();
    Atomics.store(this.chunkSlots, id, slot + 1);
  }

  /** Take chunk `id`'s slot back onto the free stack. */
  releaseSlot(id: number): void {
    this.refresh();
    const slot1 = this.chunkSlots[id]!;
    if (slot1 === 0) return;
    Atomics.store(this.chunkSlots, id, 0);
    const c = this.control;
    Atomics.add(c, Rt.ChunkEpoch, 1);
    const depth = c[Rt.FreeSlots]!;
    c[Rt.Stack + depth] = slot1 - 1;
    c[Rt.FreeSlots] = depth + 1;
  }

  private ensureChunkIds(n: number): void {
    const sab = this.buffers.chunkSlots;
    const have = sab.byteLength >>> 2;
    if (n <= have) return;
    const max = sab.maxByteLength >>> 2;
    if (n > max) throw new RangeError(`percpu memory: more than ${max} chunk ids`);
    let cap = Math.max(have, 1);
    while (cap < n) cap *= 2;
    sab.grow(4 * Math.min(cap, max));
  }

  /** Control word holding a slot's dirty top (see the module header). */
  private dirtyTopIndex(slot: number): number {
    return Rt.Stack + this.maxSlots + slot;
  }

  /**
   * Zero `bytes` bytes at unit offset `offset` of a fresh allocation in every
   * unit — unless they lie above the slot's dirty top, where memory has never
   * been written. Caller holds the allocator lock.
   */
  zeroAllocation(chunk: number, offset: number, bytes: number): void {
    const slot1 = this.slotOf(chunk);
    const di = this.dirtyTopIndex(slot1 - 1);
    const top = this.control[di]!;
    const end = offset + bytes;
    if (offset < top) {
      const base = (slot1 - 1) * this.slotBytes + offset;
      if (slot1 * this.slotBytes > this.viewBytes) this.refresh();
      const u8 = this.u8;
      for (let u = 0, at = base; u < this.nrUnits; u++, at += this.unitSize) u8.fill(0, at, at + Math.min(bytes, top - offset));
    }
    if (end > top) this.control[di] = end;
  }

  /**
   * Zero unit `unit` in every memory slot ever used, up to each slot's dirty
   * top (above it the memory was never written). Caller holds the allocator lock.
   */
  zeroUnit(unit: number): void {
    const used = this.control[Rt.SlotsUsed]!;
    if (used * this.slotBytes > this.viewBytes) this.refresh();
    for (let slot = 0; slot < used; slot++) {
      const top = this.control[this.dirtyTopIndex(slot)]!;
      const at = slot * this.slotBytes + unit * this.unitSize;
      if (top > 0) this.u8.fill(0, at, at + top);
    }
  }

  /** The slots' dirty tops, to keep across a roll-back (a top never goes down). */
  dirtyTops(): Int32Array {
    const from = this.dirtyTopIndex(0);
    return this.control.slice(from, from + this.maxSlots);
  }

  /** After a unit's release: cached addresses must be found live again (caller holds the allocator lock). */
  passUnitEpoch(): void {
    Atomics.add(this.control, Rt.ChunkEpoch, 1);
  }

  /** After a roll-back: the chunk epoch moves on from `before` (the image holds an older one, and caches taken since must miss). */
  passChunkEpoch(before: number): void {
    Atomics.store(this.control, Rt.ChunkEpoch, (before + 1) | 0);
  }

  raiseDirtyTops(tops: Int32Array): void {
    const from = this.dirtyTopIndex(0);
    for (let s = 0; s < tops.length; s++) if (tops[s]! > this.control[from + s]!) this.control[from + s] = tops[s]!;
  }

  /** Memory slots ever used, and those free now. */
  slotCounts(): { used: number; free: number } {
    return { used: Atomics.load(this.control, Rt.SlotsUsed), free: Atomics.load(this.control, Rt.FreeSlots) };
  }

  get reservedBytes(): number {
    return this.buffers.memory.maxByteLength;
  }

  get committedBytes(): number {
    return this.buffers.memory.byteLength;
  }
}
