// SPDX-License-Identifier: GPL-2.0-only
/**
 * `PercpuCounter`: the kernel's `percpu_counter` for worker threads, with no
 * lock anywhere.
 *
 * Each unit owns a 16-byte percpu cell: its count so far (an int64, low word
 * first) and, in batched mode, the part of it already reported to the shared
 * total. Only the unit's thread writes its cell, so an add is a plain 32-bit
 * read and write of the low word — until it would carry into the high word or
 * (batched mode) move the unit more than `batch` away from what it reported.
 * Then the slow path stores the whole int64 with one `Atomics.store` (or the
 * low word alone, without a carry) and, in batched mode, records the reported
 * part (one 32-bit store while its high word stays) and reports the difference
 * to the shared total with one `Atomics.add`. No step leaves the cell
 * half-written, so a thread killed at any instant leaves an exact count behind.
 *
 * Two modes:
 * - 'batched' (default, the kernel's): `read()` is O(1), the shared total, off
 *   by at most `errorBound` = nrUnits × (batch − 1); `sum()` is exact.
 * - 'exact' (LongAdder-style): no total at all; `read()` and `sum()` both add
 *   up the cells, exact; adds never touch shared words.
 *
 * Exactness of `sum()`: base + extra + Σ cells (see counter-registry.ts), each
 * cell read tear-free (its high word before and after the low word). Once the
 * adders are quiet it is exact; while they run it sees each add wholly or not
 * at all. When a unit is released (its thread detached or died) its count is
 * folded into the counter's base before the unit is zeroed, so nothing a dead
 * thread counted is lost. A batched `read()` can stay off by at most one batch
 * per thread killed between its two reporting stores.
 *
 * Use after `destroy()` throws `DestroyedError` in every thread: each add
 * compares the registry entry's generation, one extra load on the fast path.
 * An add already past that check when another thread destroys the counter can
 * still land (as in C, stop the users first); every later one throws.
 */
import type { SharedPercpu } from './shared-percpu.js';
import { DestroyedError, RuntimeArgumentError } from './errors.js';
import { AllocationFailedError } from '../errors.js';
import { baseIndex, entryEnd, extraIndex, genWord, readBaseIndex, registerCounter, totalIndex, unregisterCounter } from './counter-registry.js';

/** `batched`: the kernel's `percpu_counter` (cheap adds, a total within `batch` × units); `exact`: every add reaches the total. */
export type PercpuCounterMode = 'batched' | 'exact';

/** Options of `PercpuCounter.create`. */
export interface PercpuCounterOptions {
  /** Initial value (`percpu_counter_init`). Default 0. */
  initial?: number | bigint;
  /** Fold threshold per unit (batched mode). Default max(32, 2 × nrUnits), the kernel's `percpu_counter_batch`. */
  batch?: number;
  /** 'batched' (default) or 'exact'. */
  mode?: PercpuCounterMode;
}

/** Structured-clonable: post it to another thread and `PercpuCounter.attach` it there. */
export interface PercpuCounterHandle {
  ptr: number;
  batch: number;
  mode: PercpuCounterMode;
  entry: number;
  gen: number;
}

const MAX_BATCH = 0x3fffffff;
const TWO32 = 0x1_0000_0000;
const HALF = 0x8000_0000;
const CELL_BYTES = 16;
/** High words of counts whose magnitude stays below 2^52: exact as Numbers with room for any int32 add. */
const NUMBER_HIGH = 1 << 20;

/** The kernel's `percpu_counter_batch`: max(32, 2 × CPUs). */
export function defaultCounterBatch(nrUnits: number): number {
  return Math.max(32, 2 * nrUnits);
}

/** The kernel's `percpu_counter` for worker threads: each unit adds to its own cell without a lock; `sum()` reads them all. */
export class PercpuCounter {
  declare readonly ptr: number;
  declare readonly batch: number;
  declare readonly mode: PercpuCounterMode;
  declare readonly nrUnits: number;
  declare private readonly percpu: SharedPercpu;
  declare private readonly h: PercpuCounterHandle;
  declare private readonly gens: Int32Array;
  declare private readonly genAt: number;
  declare private readonly gen: number;
  declare private readonly bases: BigInt64Array;
  declare private readonly totals: BigInt64Array;
  /** Views over the unit memory (they stay valid: it never shrinks). */
  declare private readonly u32: Uint32Array;
  declare private readonly i32: Int32Array;
  declare private readonly i64: BigInt64Array;
  /** Int32 index of unit 0's cell; cells of unit k are `stride` words apart. */
  declare private readonly unit0: number;
  declare private readonly stride: number;
  /** Int32 index of this thread's cell, -1 without a unit. */
  declare private readonly own: number;
  /**
   * The fast path's two words, each through a view of its own (made once, at attach):
   * this unit's low count word (a one-word dummy without a unit, whose window is
   * closed) and the registry entry's generation word. A constant index into a fixed
   * view spares the fast path two index loads and their arithmetic.
   */
  declare private readonly ownLow: Int32Array;
  declare private readonly genCell: Int32Array;
  /**
   * The fast path's window: the values the cell's low word, read as a signed
   * Int32, may take after a plain add are `lo` ≤ v < `lo` + `room` (thread-local:
   * only this thread writes its cell); `room` 0 closes the fast path. Both are
   * int32 so V8 keeps them as small integers (a bound of 2^32 was a boxed
   * double: a load and a conversion per add), and the test is one unsigned
   * compare, `(v − lo) >>> 0 < room`, on the wrapped 32-bit sum — sound because
   * the window lies in one half of the 32-bit range and holds the current low
   * word (or sits just above it): an int32 add then lands at most 2^31 away, and
   * a sum outside the window never wraps into it (see `openWindow`).
   */
  declare private lo: number;
  declare private room: number;
  /** `totalIndex(entry)`, and ±batch as BigInts: a report of exactly ±batch (the usual one) converts nothing. */
  declare private readonly totalAt: number;
  declare private readonly batchBig: bigint;
  declare private readonly negBatchBig: bigint;
  declare private removeHook: (() => void) | undefined;

  /** `percpu_counter_init`: allocate the per-unit cells (zeroed) and register the counter. */
  static create(percpu: SharedPercpu, options: PercpuCounterOptions = {}): PercpuCounter {
    const initial = options.initial ?? 0;
    const mode = options.mode ?? 'batched';
    const batch = options.batch ?? defaultCounterBatch(percpu.nrUnits);
    if (typeof initial === 'number' ? !Number.isSafeInteger(initial) : typeof initial !== 'bigint') throw new RuntimeArgumentError('EINVAL_SIZE', `counter initial value must be a safe integer or a bigint, got ${String(initial)}`);
    if (mode !== 'batched' && mode !== 'exact') throw new RuntimeArgumentError('EINVAL', `counter mode must be 'batched' or 'exact', got ${String(mode)}`);
    checkBatch(batch);
    const b = percpu.sharedBuffers;
    const h = percpu.transaction((tx) => {
      const ptr = tx.alloc(CELL_BYTES, 8);
      if (ptr < 0) throw new AllocationFailedError(CELL_BYTES, 8, 'no memory slot left for a new chunk');
      const r = registerCounter(b.counters, b.counterTotals, ptr, BigInt.asIntN(64, BigInt(initial)));
      if (r === undefined) {
        tx.free(ptr);
        throw new AllocationFailedError(CELL_BYTES, 8, 'the counter registry is full');
      }
      return { ptr, batch, mode, entry: r.entry, gen: r.gen };
    });
    return new PercpuCounter(percpu, h);
  }

  /** The same counter in another thread (whose `SharedPercpu` is attached to the same allocator). */
  static attach(percpu: SharedPercpu, handle: PercpuCounterHandle): PercpuCounter {
    return new PercpuCounter(percpu, handle);
  }

  private constructor(percpu: SharedPercpu, h: PercpuCounterHandle) {
    checkBatch(h.batch);
    this.percpu = percpu;
    this.h = h;
    this.ptr = h.ptr;
    this.batch = h.batch;
    // The literal, not the handle's string: a string that came through postMessage is a copy,
    // and comparing copies compares characters.
    this.mode = h.mode === 'exact' ? 'exact' : 'batched';
    this.nrUnits = percpu.nrUnits;
    const b = percpu.sharedBuffers;
    this.gens = new Int32Array(b.counters, 0, entryEnd(h.entry) / 4);
    this.bases = new BigInt64Array(b.counters, 0, entryEnd(h.entry) / 8);
    this.totals = new BigInt64Array(b.counterTotals);
    this.genAt = genWord(h.entry);
    this.totalAt = totalIndex(h.entry);
    this.batchBig = BigInt(h.batch);
    this.negBatchBig = -this.batchBig;
    this.gen = h.gen;
    this.checkLive();
    const m = percpu.memory;
    // Resolving the last unit makes the memory views cover every unit of the counter.
    m.address(h.ptr, percpu.nrUnits - 1, 8, 8);
    this.unit0 = m.address(h.ptr, 0, 0, 8) >>> 2;
    this.stride = percpu.unitSize >>> 2;
    this.u32 = m.u32;
    this.i32 = m.i32;
    this.i64 = m.i64;
    this.own = percpu.unit >= 0 ? this.unit0 + percpu.unit * this.stride : -1;
    // Fixed-length views stay valid: the buffers never shrink.
    this.ownLow = this.own >= 0 ? new Int32Array(this.i32.buffer, 4 * this.own, 1) : new Int32Array(1);
    this.genCell = new Int32Array(b.counters, 4 * this.genAt, 1);
    this.lo = 0;
    this.room = 0;
    this.removeHook = undefined;
    if (this.own >= 0) {
      this.window(this.i64[this.own >>> 1]!, this.i64[(this.own >>> 1) + 1]!);
      // A detached SharedPercpu gives its unit away: close the fast path.
      this.removeHook = percpu.onDetach(() => this.closeFastPath());
    }
  }

  handle(): PercpuCounterHandle {
    return { ...this.h };
  }

  private closeFastPath(): void {
    this.lo = 0;
    this.room = 0;
  }

  /** The fast path's window given this unit's count and reported part. */
  private window(count: bigint, reported: bigint): void {
    const high = Number(count >> 32n) * TWO32;
    this.openWindow(Number(BigInt.asUintN(32, count)), Number(reported) - high);
  }

  /**
   * Open the fast path's window for the low word `low` (unsigned) given the
   * reported part relative to the current high word, `r` (batched mode). The
   * window stays in `low`'s half of the 32-bit range, one below its top — no
   * carry into the high word, no wrap of the signed view the fast path adds in,
   * and a `room` that fits an int32 — and, batched, strictly within ±batch of
   * `r`; then it is shifted into the signed view.
   *
   * Why the fast path's wrapped compare cannot pass a sum outside the window:
   * the current low word `a` is in [lo, lo + room] (the window is opened around
   * it — `a` sits one past it only at the very top of its half — and only this
   * thread moves it), an int32 amount moves it by at most 2^31, so the true sum
   * minus `lo` lies in [−2^31, room + 2^31), and taken modulo 2^32 it falls in
   * [0, room) only when it was there already (room < 2^31).
   */
  private openWindow(low: number, r: number): void {
    const upper = low >= HALF;
    let lo = upper ? HALF : 0;
    let hi = lo + (HALF - 2);
    if (this.mode === 'batched') {
      lo = Math.max(lo, r - this.batch + 1);
      hi = Math.min(hi, r + this.batch - 1);
    }
    if (lo > hi) {
      this.lo = 0;
      this.room = 0;
      return;
    }
    this.room = (hi - lo + 1) | 0;
    this.lo = (upper ? lo - TWO32 : lo) | 0;
  }

  private checkLive(): void {
    if (Atomics.load(this.gens, this.genAt) !== this.gen) throw new DestroyedError('percpu counter');
    if (this.percpu.isDetached) throw new DestroyedError('SharedPercpu (detached)');
  }

  /** `percpu_counter_add`: add to this unit's cell; the shared total only at ±batch (batched mode). */
  add(amount: number): void {
    const a = this.ownLow;
    // The signed view, wrapped to 32 bits (no overflow check to emit; the window test
    // rejects a wrapped sum, see `openWindow`).
    const v = (a[0]! + amount) | 0;
    if ((v - this.lo) >>> 0 < this.room >>> 0 && (amount | 0) === amount && this.genCell[0] === this.gen) {
      a[0] = v;
      return;
    }
    this.addSlow(amount);
  }

  inc(): void {
    this.add(1);
  }

  dec(): void {
    this.add(-1);
  }

  sub(amount: number): void {
    this.add(-amount);
  }

  /** Add a bigint amount (exact at any size within int64). */
  addBigInt(amount: bigint): void {
    if (typeof amount !== 'bigint') throw new RuntimeArgumentError('EINVAL_SIZE', `addBigInt needs a bigint, got ${typeof amount}`);
    this.addExact(amount);
  }

  /** `percpu_counter_add_batch` with a batch of the caller's choosing: reports at once when |delta| ≥ batch. */
  addBatch(amount: number, batch: number): void {
    checkBatch(batch);
    if (!Number.isSafeInteger(amount)) throw new RuntimeArgumentError('EINVAL_SIZE', `counter amount must be a safe integer, got ${amount}`);
    this.addExact(BigInt(amount), batch);
  }

  private addSlow(amount: number): void {
    if (!Number.isSafeInteger(amount)) throw new RuntimeArgumentError('EINVAL_SIZE', `counter amount must be a safe integer, got ${amount}`);
    // `checkLive` with a plain load of the generation, as the fast path's (an Atomics call
    // costs as much as a few dozen plain adds in Node 20; an Int32 never tears).
    if (this.gens[this.genAt] !== this.gen) throw new DestroyedError('percpu counter');
    if (this.percpu.isDetached) throw new DestroyedError('SharedPercpu (detached)');
    const i = this.own;
    if (i >= 0) {
      // Without a carry the low word alone changes: a plain store, no BigInt (the batched mode's usual slow path).
      const v = this.u32[i]! + amount;
      const high = this.i32[i + 1]!;
      // Counts below 2^52 in magnitude are exact as Numbers: then no BigInt at all.
      if (v >= 0 && v < TWO32 && high < NUMBER_HIGH && high >= -NUMBER_HIGH) {
        this.u32[i] = v;
        this.afterAddNumber(i, high, v);
        return;
      }
    }
    this.addExact(BigInt(amount));
  }

  /**
   * `afterAdd` for a count whose high word is `high` and low word `low`, in
   * Numbers: the batched mode's report costs one `BigInt` (the shared total's
   * `Atomics.add`), not a handful of them.
   */
  private afterAddNumber(i: number, high: number, low: number): void {
    const u32 = this.u32;
    const i32 = this.i32;
    const rHigh = i32[i + 3]!;
    let reported = rHigh * TWO32 + u32[i + 2]!;
    if (this.mode === 'batched') {
      const count = high * TWO32 + low;
      const d = count - reported;
      if (d >= this.batch || d <= -this.batch) {
        // Reported first, then the total: a death in between leaves read() short by d, never sum().
        // Only the owner writes and (while it lives) reads its reported part; when its high
        // word stays, one 32-bit store is the whole change, tear-free.
        if (rHigh === high) u32[i + 2] = low;
        else Atomics.store(this.i64, (i >>> 1) + 1, BigInt.asIntN(64, BigInt(count)));
        reported = count;
        Atomics.add(this.totals, this.totalAt, d === this.batch ? this.batchBig : d === -this.batch ? this.negBatchBig : BigInt(d));
      }
    }
    this.openWindow(low, reported - high * TWO32);
  }

  private addExact(amount: bigint, batch = this.batch): void {
    this.checkLive();
    if (this.own < 0) {
      Atomics.add(this.totals, extraIndex(this.h.entry), amount);
      return;
    }
    const c = this.own >>> 1;
    const count = BigInt.asIntN(64, this.i64[c]! + amount);
    Atomics.store(this.i64, c, count);
    this.afterAdd(count, batch);
  }

  /** Batched mode: report the unit's drift once it reaches ±batch; then re-open the fast path's window. */
  private afterAdd(count: bigint, batch: number): void {
    const c = this.own >>> 1;
    let reported = this.i64[c + 1]!;
    if (this.mode === 'batched') {
      const d = count - reported;
      const b = BigInt(batch);
      if (d >= b || d <= -b) {
        // Reported first, then the total: a death in between leaves read() short by d, never sum().
        reported = count;
        Atomics.store(this.i64, c + 1, reported);
        Atomics.add(this.totals, totalIndex(this.h.entry), d);
      }
    }
    this.window(count, reported);
  }

  /** `percpu_counter_read`: batched mode, the shared total only — fast, off by at most `errorBound`; exact mode, `sum()`. */
  read(): number {
    return Number(this.readBigInt());
  }

  readBigInt(): bigint {
    this.checkLive();
    if (this.mode === 'exact') return this.sumBigInt();
    const e = this.h.entry;
    return Atomics.load(this.bases, readBaseIndex(e)) + Atomics.load(this.totals, extraIndex(e)) + Atomics.load(this.totals, totalIndex(e));
  }

  /** `percpu_counter_read_positive`. */
  readPositive(): number {
    const v = this.read();
    return v > 0 ? v : 0;
  }

  /** Largest possible |read() − sum()|: nrUnits × (batch − 1) in batched mode, 0 in exact mode. */
  get errorBound(): number {
    return this.mode === 'exact' ? 0 : this.nrUnits * (this.batch - 1);
  }

  /** `percpu_counter_sum`: base plus every unit's cell (Number: exact up to 2^53; see `sumBigInt`). */
  sum(): number {
    this.checkLive();
    const e = this.h.entry;
    let s = Number(Atomics.load(this.bases, baseIndex(e)) + Atomics.load(this.totals, extraIndex(e)));
    const u32 = this.u32;
    const i32 = this.i32;
    for (let u = 0, i = this.unit0; u < this.nrUnits; u++, i += this.stride) {
      for (;;) {
        const hi = Atomics.load(i32, i + 1);
        const lo = Atomics.load(u32, i);
        if (Atomics.load(i32, i + 1) === hi) {
          s += hi * TWO32 + lo;
          break;
        }
      }
    }
    return s;
  }

  /** `percpu_counter_sum`, exact at any int64 value. */
  sumBigInt(): bigint {
    this.checkLive();
    const e = this.h.entry;
    let s = Atomics.load(this.bases, baseIndex(e)) + Atomics.load(this.totals, extraIndex(e));
    for (let u = 0, i = this.unit0; u < this.nrUnits; u++, i += this.stride) s += Atomics.load(this.i64, i >>> 1);
    return BigInt.asIntN(64, s);
  }

  /** `percpu_counter_sum_positive`. */
  sumPositive(): number {
    const v = this.sum();
    return v > 0 ? v : 0;
  }

  /**
   * `__percpu_counter_compare`: -1, 0 or 1 as the counter is below, equal to or
   * above `value`. Sums exactly only when the fast read is within
   * batch × nrUnits of `value`.
   */
  compare(value: number, batch = this.batch): number {
    const approx = this.read();
    if (Math.abs(approx - value) > batch * this.nrUnits) return approx > value ? 1 : -1;
    const exact = this.sum();
    return exact > value ? 1 : exact < value ? -1 : 0;
  }

  /** `percpu_counter_set`: zero every unit's cell and set the value (racy against concurrent adds, as in the kernel). */
  set(value: number | bigint): void {
    if (typeof value === 'number' ? !Number.isSafeInteger(value) : typeof value !== 'bigint') throw new RuntimeArgumentError('EINVAL_SIZE', `counter value must be a safe integer or a bigint, got ${String(value)}`);
    this.checkLive();
    const v = BigInt.asIntN(64, BigInt(value));
    const e = this.h.entry;
    this.percpu.transaction(() => {
      for (let u = 0, i = this.unit0; u < this.nrUnits; u++, i += this.stride) {
        Atomics.store(this.i64, i >>> 1, 0n);
        Atomics.store(this.i64, (i >>> 1) + 1, 0n);
      }
      Atomics.store(this.bases, baseIndex(e), v);
      Atomics.store(this.bases, readBaseIndex(e), v);
      Atomics.store(this.totals, extraIndex(e), 0n);
      Atomics.store(this.totals, totalIndex(e), 0n);
    });
    if (this.own >= 0) this.window(0n, 0n);
  }

  /**
   * `percpu_counter_destroy`: give the cells back and retire the counter in
   * every thread (their next use throws `DestroyedError`).
   */
  destroy(): void {
    this.checkLive();
    const b = this.percpu.sharedBuffers;
    this.percpu.transaction((tx) => {
      if (Atomics.load(this.gens, this.genAt) !== this.gen) throw new DestroyedError('percpu counter');
      unregisterCounter(b.counters, this.h.entry);
      tx.free(this.ptr);
    });
    this.closeFastPath();
    this.removeHook?.();
  }

  get destroyed(): boolean {
    return Atomics.load(this.gens, this.genAt) !== this.gen;
  }
}

function checkBatch(batch: number): void {
  if (!Number.isInteger(batch) || batch < 1 || batch > MAX_BATCH) throw new RuntimeArgumentError('EINVAL_SIZE', `counter batch must be an integer in 1..${MAX_BATCH}, got ${batch}`);
}
