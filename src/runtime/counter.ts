/**
 * `PercpuCounter`: the kernel's `percpu_counter` for worker threads.
 *
 * A counter is one 32-bit percpu word (the "local" delta of each unit,
 * allocated from a `SharedPercpu`) plus a small shared state buffer holding a
 * fold lock and the 64-bit shared total. A worker adds to its own unit's local
 * delta with plain 32-bit reads and writes; when the local delta would reach
 * ±batch, it takes the lock, folds the whole local delta into the total and
 * zeroes it (`percpu_counter_add_batch`).
 *
 * Invariants: every local delta stays in (−batch, batch), so
 *   |read() − true value| ≤ nrUnits × (batch − 1)
 * where the true value is the total plus all local deltas. A fold changes the
 * total and zeroes the local delta under the lock, and `sum()` reads both under
 * the same lock, so a sum never counts a fold twice or misses it: `sum()` is
 * exact once the adders are quiet, and otherwise sees each concurrent add
 * either wholly or not at all (32-bit words never tear).
 *
 * Values are integers; the total is an int64 and every result is a Number, exact
 * up to 2^53.
 */
import { FutexLock } from './futex.js';
import type { SharedPercpu } from './shared-percpu.js';
import { DestroyedError, RuntimeArgumentError } from './errors.js';

export interface PercpuCounterOptions {
  /** Initial value (`percpu_counter_init`). Default 0. */
  initial?: number;
  /** Fold threshold per unit. Default max(32, 2 × nrUnits), the kernel's `percpu_counter_batch`. */
  batch?: number;
}

/** Structured-clonable: post it to another thread and `PercpuCounter.attach` it there. */
export interface PercpuCounterHandle {
  ptr: number;
  batch: number;
  state: SharedArrayBuffer;
}

/** The state buffer: Int32 words 0 (fold lock) and 1 (destroyed flag), then the int64 total at byte 8. */
const enum St {
  Lock = 0,
  Destroyed = 1,
}
/** Index of the total in the BigInt64 view of the state buffer. */
const TOTAL = 1;

const MAX_BATCH = 0x3fffffff;

/** The kernel's `percpu_counter_batch`: max(32, 2 × CPUs). */
export function defaultCounterBatch(nrUnits: number): number {
  return Math.max(32, 2 * nrUnits);
}

export class PercpuCounter {
  readonly ptr: number;
  readonly batch: number;
  readonly nrUnits: number;
  private readonly percpu: SharedPercpu;
  private readonly state: SharedArrayBuffer;
  private readonly words: Int32Array;
  private readonly total: BigInt64Array;
  private readonly lock: FutexLock;
  /** A view covering every unit's local delta (views over the unit memory stay valid: it never shrinks). */
  private readonly i32: Int32Array;
  private readonly unit0: number;
  private readonly unitStride: number;
  /** This thread's local delta in `i32`; 0 (and `fastBatch` 0) when the thread has no unit. */
  private readonly localIndex: number;
  /** The batch on the fast path: 0 for a thread without a unit, so that every add takes the slow path. */
  private readonly fastBatch: number;

  /** `percpu_counter_init`: allocate the per-unit deltas (zeroed) and set the total. */
  static create(percpu: SharedPercpu, options: PercpuCounterOptions = {}): PercpuCounter {
    const initial = options.initial ?? 0;
    const batch = options.batch ?? defaultCounterBatch(percpu.nrUnits);
    if (!Number.isSafeInteger(initial)) throw new RuntimeArgumentError('EINVAL_SIZE', `counter initial value must be a safe integer, got ${initial}`);
    checkBatch(batch);
    const ptr = percpu.allocOrThrow(4, 4);
    const state = new SharedArrayBuffer(16);
    new BigInt64Array(state)[TOTAL] = BigInt(initial);
    return new PercpuCounter(percpu, { ptr, batch, state });
  }

  /** The same counter in another thread (whose `SharedPercpu` is attached to the same allocator). */
  static attach(percpu: SharedPercpu, handle: PercpuCounterHandle): PercpuCounter {
    return new PercpuCounter(percpu, handle);
  }

  private constructor(percpu: SharedPercpu, h: PercpuCounterHandle) {
    checkBatch(h.batch);
    this.percpu = percpu;
    this.ptr = h.ptr;
    this.batch = h.batch;
    this.nrUnits = percpu.nrUnits;
    this.state = h.state;
    this.words = new Int32Array(h.state, 0, 2);
    this.total = new BigInt64Array(h.state, 0, 2);
    this.lock = new FutexLock(this.words, St.Lock);
    const m = percpu.memory;
    // Resolving the last unit makes the memory views cover every unit of the counter.
    m.address(h.ptr, percpu.nrUnits - 1, 0, 4);
    this.unit0 = m.address(h.ptr, 0, 0, 4) >>> 2;
    this.unitStride = percpu.unitSize >>> 2;
    this.i32 = m.i32;
    const mine = percpu.unit >= 0;
    this.localIndex = mine ? this.unit0 + percpu.unit * this.unitStride : this.unit0;
    this.fastBatch = mine ? h.batch : 0;
  }

  handle(): PercpuCounterHandle {
    return { ptr: this.ptr, batch: this.batch, state: this.state };
  }

  /** `percpu_counter_add`: add to this unit's delta, folding into the total at ±batch. */
  add(amount: number): void {
    const b = this.fastBatch;
    if ((amount | 0) === amount) {
      const i = this.localIndex;
      const v = this.i32[i]! + amount;
      if (v < b && v > -b) {
        this.i32[i] = v;
        return;
      }
    }
    this.addSlow(amount, this.batch);
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

  /** `percpu_counter_add_batch` with a batch of the caller's choosing. */
  addBatch(amount: number, batch: number): void {
    checkBatch(batch);
    this.addSlow(amount, batch);
  }

  private addSlow(amount: number, batch: number): void {
    if (!Number.isSafeInteger(amount)) throw new RuntimeArgumentError('EINVAL_SIZE', `counter amount must be a safe integer, got ${amount}`);
    if (this.percpu.unit < 0) {
      this.foldLocked(amount, -1);
      return;
    }
    const i = this.localIndex;
    const v = this.i32[i]! + amount;
    if (v < batch && v > -batch) this.i32[i] = v;
    else this.foldLocked(v, i);
  }

  /** Move `delta` into the total and zero the local delta at `i` (none for -1), under the lock. */
  private foldLocked(delta: number, i: number): void {
    this.lock.lock();
    try {
      if (this.words[St.Destroyed] !== 0) throw new DestroyedError('percpu counter');
      Atomics.add(this.total, TOTAL, BigInt(delta));
      if (i >= 0) this.i32[i] = 0;
    } finally {
      this.lock.unlock();
    }
  }

  /** `percpu_counter_read`: the shared total only — fast, off by at most `errorBound`. */
  read(): number {
    return Number(Atomics.load(this.total, TOTAL));
  }

  /** `percpu_counter_read_positive`. */
  readPositive(): number {
    const v = this.read();
    return v > 0 ? v : 0;
  }

  /** Largest possible |read() − sum()|: nrUnits × (batch − 1). */
  get errorBound(): number {
    return this.nrUnits * (this.batch - 1);
  }

  /** `percpu_counter_sum`: the total plus every unit's delta, under the fold lock. */
  sum(): number {
    this.lock.lock();
    try {
      return this.sumLocked();
    } finally {
      this.lock.unlock();
    }
  }

  private sumLocked(): number {
    let s = Number(Atomics.load(this.total, TOTAL));
    for (let u = 0, i = this.unit0; u < this.nrUnits; u++, i += this.unitStride) s += Atomics.load(this.i32, i);
    return s;
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

  /** `percpu_counter_set`: zero every unit's delta and set the total (racy against concurrent adds, as in the kernel). */
  set(value: number): void {
    if (!Number.isSafeInteger(value)) throw new RuntimeArgumentError('EINVAL_SIZE', `counter value must be a safe integer, got ${value}`);
    this.lock.lock();
    try {
      if (this.words[St.Destroyed] !== 0) throw new DestroyedError('percpu counter');
      for (let u = 0, i = this.unit0; u < this.nrUnits; u++, i += this.unitStride) Atomics.store(this.i32, i, 0);
      Atomics.store(this.total, TOTAL, BigInt(value));
    } finally {
      this.lock.unlock();
    }
  }

  /**
   * `percpu_counter_destroy`: give the per-unit memory back to the allocator.
   * Every thread must stop using the counter first (adds do not check, as in C).
   */
  destroy(): void {
    this.lock.lock();
    try {
      if (this.words[St.Destroyed] !== 0) throw new DestroyedError('percpu counter');
      Atomics.store(this.words, St.Destroyed, 1);
    } finally {
      this.lock.unlock();
    }
    this.percpu.free(this.ptr);
  }

  get destroyed(): boolean {
    return Atomics.load(this.words, St.Destroyed) !== 0;
  }
}

function checkBatch(batch: number): void {
  if (!Number.isInteger(batch) || batch < 1 || batch > MAX_BATCH) throw new RuntimeArgumentError('EINVAL_SIZE', `counter batch must be an integer in 1..${MAX_BATCH}, got ${batch}`);
}
