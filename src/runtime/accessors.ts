// SPDX-License-Identifier: GPL-2.0-only
/**
 * Typed access to one unit of percpu memory: `this_cpu_*` (the thread's own
 * unit) and `per_cpu(ptr, k)` (any unit), on plain-number percpu pointers.
 *
 * Who may do what, and why it is safe under the JavaScript memory model:
 *
 * - A unit has one owner, the thread attached with that unit index. Only the
 *   owner writes its unit in normal operation, so its reads and its
 *   read-modify-writes need no atomics (nobody else writes there).
 * - 32-bit accesses are tear-free even when unordered (the spec's no-tear rule
 *   for integer element types up to 32 bits), so the owner *writes* Int32 and
 *   Uint32 plainly, and readers of other units use `Atomics.load` — for
 *   freshness (a plain read may be hoisted out of a polling loop), not for
 *   tearing.
 * - 64-bit values are tear-free only for atomic accesses: unordered BigInt64
 *   and Float64 accesses may tear. So every 64-bit store, the owner's included,
 *   is an `Atomics.store` on a BigInt64Array — Float64 values bit-cast through
 *   an 8-byte scratch buffer — and every remote 64-bit read is an
 *   `Atomics.load`. The owner still reads its own 64-bit values plainly. The
 *   cost, measured in Node 20: ~13 ns for a tear-free f64 store against ~1 ns
 *   for a plain one; a seqlock would need two atomic stores per write.
 * - Writes to another thread's unit (`perCpu(k).set*`, `add*`) are atomic, but
 *   race with the owner's plain read-modify-writes: use them only where the
 *   kernel would (initialisation, reset), not as a second writer.
 *
 * Every method resolves the address before it touches a view: resolving may
 * re-make the views (after another thread grew the memory), and a view read
 * before the call would be the old, shorter one.
 *
 * Byte copies are byte-atomic only (each byte is tear-free, the whole copy is
 * not): use the typed accessors for fields read while they change.
 */
import { Rt, type PercpuMemory } from './memory.js';

const PTR_STRIDE = 0x1_0000_0000;

/** Bit-cast scratch (one per thread: every module instance is per thread). */
const castBuffer = new ArrayBuffer(8);
const castF64 = new Float64Array(castBuffer);
const castI64 = new BigInt64Array(castBuffer);

function f64Bits(v: number): bigint {
  castF64[0] = v;
  return castI64[0]!;
}

function bitsF64(b: bigint): number {
  castI64[0] = b;
  return castF64[0]!;
}

/** Access to one unit; `off` is a byte offset from the pointer, aligned to the access width. */
export interface UnitAccessor {
  readonly unit: number;
  getInt32(ptr: number, off?: number): number;
  setInt32(ptr: number, value: number, off?: number): void;
  /** Adds and returns the new value (wrapping at 32 bits). */
  addInt32(ptr: number, delta: number, off?: number): number;
  getUint32(ptr: number, off?: number): number;
  setUint32(ptr: number, value: number, off?: number): void;
  addUint32(ptr: number, delta: number, off?: number): number;
  getFloat64(ptr: number, off?: number): number;
  setFloat64(ptr: number, value: number, off?: number): void;
  addFloat64(ptr: number, delta: number, off?: number): number;
  getBigInt64(ptr: number, off?: number): bigint;
  setBigInt64(ptr: number, value: bigint, off?: number): void;
  addBigInt64(ptr: number, delta: bigint, off?: number): bigint;
  /** A copy of `length` bytes. */
  readBytes(ptr: number, length: number, off?: number): Uint8Array;
  writeBytes(ptr: number, bytes: Uint8Array, off?: number): void;
}

/** The owner's view of its own unit (`this_cpu_*`): plain accesses, atomic 64-bit stores. */
export class ThisCpuAccessor implements UnitAccessor {
  /**
   * One-entry cache of the last pointer resolved: its byte address in this
   * unit, the bytes from there to the unit's end, and the chunk epoch read
   * before it was resolved (any chunk giving its memory slot back bumps the
   * epoch, so a pointer into a chunk freed since then misses and throws). A hit
   * costs a few compares instead of decoding the pointer and finding its slot.
   * The views are the memory's as of the miss: a view is re-made only longer
   * and an old one stays valid (the buffers never shrink), and the views of a
   * miss cover the chunk's whole memory slot — so a hit needs no look at the
   * memory object, and the liveness check is one word at a fixed place (the
   * epoch) instead of the chunk's slot entry in a second, re-made view. Detaching empties the cache (`invalidate`),
   * so a hit also needs no look at `closed`.
   */
  declare private cPtr: number;
  declare private cBase: number;
  declare private cRoom: number;
  declare private cEpoch: number;
  /** Access widths (1, 2, 4, 8 as bits) that fit, aligned, at offset 0 of the cached pointer. */
  declare private cFits: number;
  /** The cached pointer's Int32 index, and the pointer again where a 4-byte access at offset 0 fits (else NaN). */
  declare private cI4: number;
  declare private cPtr4: number;
  /** The control words (`Rt`), for the chunk epoch: assigned once, so V8 may treat it as a constant. */
  declare private readonly ctl: Int32Array;
  declare private cI32: Int32Array;
  declare private cU32: Uint32Array;
  // Declared, not defined: V8 keeps a field's type from its first assignment (see RUNTIME.md, fast paths).
  declare private readonly m: PercpuMemory;
  declare readonly unit: number;

  constructor(m: PercpuMemory, unit: number) {
    this.m = m;
    this.unit = unit;
    this.cPtr = Number.NaN;
    this.cBase = 0;
    this.cRoom = 0;
    this.cEpoch = 0;
    this.cFits = 0;
    this.cI4 = 0;
    this.cPtr4 = Number.NaN;
    this.ctl = m.control;
    this.cI32 = m.i32;
    this.cU32 = m.u32;
  }

  /** @internal Forget the cached pointer (the owning SharedPercpu detached: the next access misses and throws). */
  invalidate(): void {
    this.cPtr = Number.NaN;
    this.cPtr4 = Number.NaN;
  }

  private at(ptr: number, off: number, width: number): number {
    if (ptr === this.cPtr && this.ctl[Rt.ChunkEpoch] === this.cEpoch) {
      // The usual call has no offset: one precomputed test of width and alignment.
      if (off === 0) {
        if ((this.cFits & width) !== 0) return this.cBase;
      } else {
        const a = this.cBase + off;
        if ((off >>> 0) === off && off + width <= this.cRoom && (a & (width - 1)) === 0) return a;
      }
    }
    return this.miss(ptr, off, width);
  }

  /**
   * `at(ptr, off, 4) >>> 2`, with the no-offset hit returning a cached Int32 index:
   * a small integer field, where a byte address computed from a float pointer may be
   * kept as a boxed double (a load and a conversion on every access).
   */
  private at4(ptr: number, off: number): number {
    if (ptr === this.cPtr4 && off === 0 && this.ctl[Rt.ChunkEpoch] === this.cEpoch) return this.cI4;
    return this.at(ptr, off, 4) >>> 2;
  }

  private miss(ptr: number, off: number, width: number): number {
    // The epoch before the resolve: a chunk freed after this read bumps it, and the next access misses.
    const epoch = Atomics.load(this.ctl, Rt.ChunkEpoch);
    const addr = this.m.address(ptr, this.unit, off, width);
    const hi = Math.floor(ptr / PTR_STRIDE);
    const offset = ptr - hi * PTR_STRIDE;
    this.cPtr = ptr;
    this.cBase = addr - off;
    // Small integers, kept as such (`| 0`): see `at4`.
    this.cRoom = (this.m.unitSize - offset) | 0;
    this.cEpoch = epoch;
    let fits = 0;
    for (let w = 1; w <= 8; w *= 2) if ((this.cBase & (w - 1)) === 0 && w <= this.cRoom) fits |= w;
    this.cFits = fits;
    this.cI4 = Math.floor(this.cBase / 4) | 0;
    this.cPtr4 = (fits & 4) !== 0 ? ptr : Number.NaN;
    this.cI32 = this.m.i32;
    this.cU32 = this.m.u32;
    return addr;
  }

  getInt32(ptr: number, off = 0): number {
    const i = this.at4(ptr, off);
    return this.cI32[i]!;
  }
  setInt32(ptr: number, value: number, off = 0): void {
    const i = this.at4(ptr, off);
    this.cI32[i] = value;
  }
  addInt32(ptr: number, delta: number, off = 0): number {
    const i = this.at4(ptr, off);
    const a = this.cI32;
    return (a[i] = (a[i]! + delta) | 0);
  }
  getUint32(ptr: number, off = 0): number {
    const i = this.at4(ptr, off);
    return this.cU32[i]!;
  }
  setUint32(ptr: number, value: number, off = 0): void {
    const i = this.at4(ptr, off);
    this.cU32[i] = value;
  }
  addUint32(ptr: number, delta: number, off = 0): number {
    const i = this.at4(ptr, off);
    const a = this.cU32;
    return (a[i] = (a[i]! + delta) >>> 0);
  }
  getFloat64(ptr: number, off = 0): number {
    const i = this.at(ptr, off, 8) >>> 3;
    return this.m.f64[i]!;
  }
  setFloat64(ptr: number, value: number, off = 0): void {
    const i = this.at(ptr, off, 8) >>> 3;
    Atomics.store(this.m.i64, i, f64Bits(value));
  }
  addFloat64(ptr: number, delta: number, off = 0): number {
    const i = this.at(ptr, off, 8) >>> 3;
    const v = this.m.f64[i]! + delta;
    Atomics.store(this.m.i64, i, f64Bits(v));
    return v;
  }
  getBigInt64(ptr: number, off = 0): bigint {
    const i = this.at(ptr, off, 8) >>> 3;
    return this.m.i64[i]!;
  }
  setBigInt64(ptr: number, value: bigint, off = 0): void {
    const i = this.at(ptr, off, 8) >>> 3;
    Atomics.store(this.m.i64, i, value);
  }
  addBigInt64(ptr: number, delta: bigint, off = 0): bigint {
    const i = this.at(ptr, off, 8) >>> 3;
    const v = BigInt.asIntN(64, this.m.i64[i]! + delta);
    Atomics.store(this.m.i64, i, v);
    return v;
  }
  readBytes(ptr: number, length: number, off = 0): Uint8Array {
    const at = this.m.range(ptr, this.unit, off, length);
    return this.m.u8.slice(at, at + length);
  }
  writeBytes(ptr: number, bytes: Uint8Array, off = 0): void {
    const at = this.m.range(ptr, this.unit, off, bytes.length);
    this.m.u8.set(bytes, at);
  }
}

/** Any thread's view of unit k (`per_cpu(ptr, k)`): atomic loads, atomic stores and adds. */
export class PerCpuAccessor implements UnitAccessor {
  declare private readonly m: PercpuMemory;
  declare readonly unit: number;

  constructor(m: PercpuMemory, unit: number) {
    this.m = m;
    this.unit = unit;
  }

  getInt32(ptr: number, off = 0): number {
    const i = this.m.address(ptr, this.unit, off, 4) >>> 2;
    return Atomics.load(this.m.i32, i);
  }
  setInt32(ptr: number, value: number, off = 0): void {
    const i = this.m.address(ptr, this.unit, off, 4) >>> 2;
    Atomics.store(this.m.i32, i, value);
  }
  addInt32(ptr: number, delta: number, off = 0): number {
    const i = this.m.address(ptr, this.unit, off, 4) >>> 2;
    return (Atomics.add(this.m.i32, i, delta) + delta) | 0;
  }
  getUint32(ptr: number, off = 0): number {
    const i = this.m.address(ptr, this.unit, off, 4) >>> 2;
    return Atomics.load(this.m.u32, i);
  }
  setUint32(ptr: number, value: number, off = 0): void {
    const i = this.m.address(ptr, this.unit, off, 4) >>> 2;
    Atomics.store(this.m.u32, i, value);
  }
  addUint32(ptr: number, delta: number, off = 0): number {
    const i = this.m.address(ptr, this.unit, off, 4) >>> 2;
    return (Atomics.add(this.m.u32, i, delta) + delta) >>> 0;
  }
  getFloat64(ptr: number, off = 0): number {
    const i = this.m.address(ptr, this.unit, off, 8) >>> 3;
    return bitsF64(Atomics.load(this.m.i64, i));
  }
  setFloat64(ptr: number, value: number, off = 0): void {
    const i = this.m.address(ptr, this.unit, off, 8) >>> 3;
    Atomics.store(this.m.i64, i, f64Bits(value));
  }
  /** A compare-exchange loop: correct against other atomic adders, not against the owner's plain writes. */
  addFloat64(ptr: number, delta: number, off = 0): number {
    const i = this.m.address(ptr, this.unit, off, 8) >>> 3;
    const a = this.m.i64;
    for (;;) {
      const old = Atomics.load(a, i);
      const v = bitsF64(old) + delta;
      if (Atomics.compareExchange(a, i, old, f64Bits(v)) === old) return v;
    }
  }
  getBigInt64(ptr: number, off = 0): bigint {
    const i = this.m.address(ptr, this.unit, off, 8) >>> 3;
    return Atomics.load(this.m.i64, i);
  }
  setBigInt64(ptr: number, value: bigint, off = 0): void {
    const i = this.m.address(ptr, this.unit, off, 8) >>> 3;
    Atomics.store(this.m.i64, i, value);
  }
  addBigInt64(ptr: number, delta: bigint, off = 0): bigint {
    const i = this.m.address(ptr, this.unit, off, 8) >>> 3;
    return BigInt.asIntN(64, Atomics.add(this.m.i64, i, delta) + delta);
  }
  readBytes(ptr: number, length: number, off = 0): Uint8Array {
    const at = this.m.range(ptr, this.unit, off, length);
    return this.m.u8.slice(at, at + length);
  }
  writeBytes(ptr: number, bytes: Uint8Array, off = 0): void {
    const at = this.m.range(ptr, this.unit, off, bytes.length);
    this.m.u8.set(bytes, at);
  }
}

/**
 * A bound reference to one Int32 of this thread's unit (`this_cpu_ptr` for one
 * field): resolved once, so `add` is one typed-array read and write at an
 * address V8 may treat as a constant, plus a liveness check of two loads — the
 * thread's own `closed` flag and the shared chunk epoch (any chunk giving its
 * memory slot back moves it on; then the reference checks that its own chunk
 * still lives, so that a reference into a freed chunk throws instead of
 * writing into the slot's next owner). Use after the owning `SharedPercpu`
 * detached throws `DestroyedError`; use after the pointer's chunk was freed
 * throws `InvalidFreeError`.
 */
export class Int32Ref {
  declare private readonly a: Int32Array;
  declare private readonly m: PercpuMemory;
  declare private readonly i: number;
  declare private readonly ptr: number;
  declare private readonly unit: number;
  declare private readonly off: number;
  /** The control words (`Rt`): assigned once, so V8 may fold the epoch's address. */
  declare private readonly ctl: Int32Array;
  /** The chunk epoch at which the pointer was last found live. */
  declare private epoch: number;

  /** @internal Made by `SharedPercpu.thisCpuInt32`: resolves `ptr` (+ `off`) in `unit` now, throwing as the accessors do. */
  constructor(m: PercpuMemory, ptr: number, unit: number, off: number) {
    this.m = m;
    this.ptr = ptr;
    this.unit = unit;
    this.off = off;
    this.ctl = m.control;
    // The epoch before the resolve: a chunk freed after this read moves it on.
    this.epoch = Atomics.load(m.control, Rt.ChunkEpoch);
    this.i = m.address(ptr, unit, off, 4) >>> 2;
    // After the resolve: the views cover the pointer (`address` re-makes them when they fall short).
    this.a = m.i32;
  }

  /** Find the pointer live again after the epoch moved (throws if it is not), or after detach. */
  private revalidate(): void {
    const epoch = Atomics.load(this.ctl, Rt.ChunkEpoch);
    // Throws DestroyedError after detach, InvalidFreeError when the chunk is gone.
    this.m.address(this.ptr, this.unit, this.off, 4);
    this.epoch = epoch;
  }

  get(): number {
    if (this.ctl[Rt.ChunkEpoch] !== this.epoch) this.revalidate();
    return this.a[this.i]!;
  }
  set(v: number): void {
    if (this.ctl[Rt.ChunkEpoch] !== this.epoch) this.revalidate();
    this.a[this.i] = v;
  }
  add(d: number): number {
    if (this.ctl[Rt.ChunkEpoch] !== this.epoch) this.revalidate();
    return (this.a[this.i] = (this.a[this.i]! + d) | 0);
  }
}
