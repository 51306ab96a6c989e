// SPDX-License-Identifier: GPL-2.0-only
/**
 * `SharedPercpu`: the kernel's percpu allocator for JavaScript threads. One
 * unit per worker thread (the unit plays the CPU), allocation and free from
 * any thread, percpu pointers as plain numbers.
 *
 * It owns three things, all in `SharedArrayBuffer`s that every attached thread
 * shares (see `memory.ts` for the memory layout):
 * - a `BitmapAllocator` in shared mode (placement exactly as the kernel's,
 *   `nrUnits` units per chunk), which decides *where* allocations go;
 * - the unit memory itself, one memory slot per live chunk, which it assigns
 *   and takes back from the allocator's chunk events;
 * - the allocator lock (`futex.ts`) that serialises every allocator call, as
 *   the kernel's `pcpu_alloc_mutex` + `pcpu_lock` do — a robust lock: a thread
 *   that takes it over from a dead holder rolls the interrupted operation back
 *   from the undo image (`undo.ts`) written before the operation mutated anything;
 * - the thread table (`threads.ts`): attached threads and unit leases. Units
 *   are leased up to `nrUnits` (the "possible CPUs") and given back — counters
 *   folded, memory zeroed or handed over — when a thread detaches or dies.
 *
 * Invariants between calls: the lock is free; every live chunk has a memory
 * slot; memory of a live allocation is never moved; a new allocation reads as
 * zero in every unit (zeroed under the lock before it is returned, skipped for
 * bytes that were never handed out since the buffer grew). Bad input throws a
 * typed error before anything changes (the engine validates before it writes,
 * and the lock is released on every path).
 *
 * This module imports nothing Node-specific: it runs unchanged in browser
 * workers and on a browser main thread (where `lock()` spins instead of
 * sleeping, and the `*Async` calls sleep with `Atomics.waitAsync`).
 */
import { BitmapAllocator, type AllocatorHandle, type GlobalStats } from '../engine/bitmap-allocator.js';
import { checkBitmapAllocator, type HintProblem } from '../engine/checker.js';
import { NULL_PTR } from '../engine/pointer.js';
import { MIN_UNIT_SIZE } from '../engine/constants.js';
import { AllocationFailedError, InvalidFreeError } from '../errors.js';
import { Ctl } from '../engine/store.js';
import { canBlock, FutexLock } from './futex.js';
import { controlBytes, createMemoryBuffers, Intent, PercpuMemory, Rt, type MemoryBuffers } from './memory.js';
import { Int32Ref, PerCpuAccessor, ThisCpuAccessor, type UnitAccessor } from './accessors.js';
import { DestroyedError, NoFreeUnitError, NoUnitError, RuntimeArgumentError, UnitBusyError } from './errors.js';
import { initThreadTable, threadTableBytes, ThreadTable } from './threads.js';
import { UndoImage } from './undo.js';
import { COUNTER_REGISTRY_MAX_BYTES, COUNTER_TOTALS_BYTES, foldUnitCounters } from './counter-registry.js';

/** A unit to lease: an index, or 'auto' for any free one. */
export type UnitRequest = number | 'auto';

/** What happens to a unit's memory when its thread leaves, before another thread leases it. */
export type ReleaseMode = 'zero' | 'handover';

/** Allocation inside `SharedPercpu.transaction`. */
export interface AllocTransaction {
  alloc(size: number, align: number): number;
  free(ptr: number): void;
}

/** The part of a Node `Worker` that `watch` needs. */
export interface WatchableWorker {
  readonly threadId: number;
  once(event: 'exit', listener: (code: number) => void): unknown;
}

/** Options of `SharedPercpu.create`. */
export interface SharedPercpuOptions {
  /** Units per chunk: one per worker thread, fixed for the allocator's life. */
  nrUnits: number;
  /**
   * This (creating) thread's unit: an index, 'auto' (any free unit) or none
   * (default). `nrUnits` is the most threads that hold a unit at once — the
   * "possible CPUs"; threads lease a unit when they attach and give it back
   * when they detach or die.
   */
  unit?: UnitRequest;
  /** Most threads attached at once, with or without a unit. Default max(64, 4 × nrUnits). */
  maxThreads?: number;
  /**
   * A released unit's memory: 'zero' (default) zeroes it in every chunk before
   * another thread can lease it (counters first fold the unit's count into
   * their total, as the kernel does when a CPU goes offline); 'handover' leaves
   * it as it is, for the next thread on that unit to carry on.
   */
  onRelease?: ReleaseMode;
  /** Bytes per unit per chunk: a multiple of 4096, >= 32 KiB. Default 256 KiB. */
  unitSize?: number;
  /**
   * Address space reserved for unit memory (the memory buffer's
   * `maxByteLength`); only what chunks use is committed. Bounds the number of
   * live chunks to `maxBytes / (nrUnits × unitSize)`. Default 256 MiB, at most 4 GiB.
   */
  maxBytes?: number;
  /** Allocator profile. Default '7.0' (today's kernels). */
  kernel?: '4.14' | '7.0';
}

/** Everything another thread needs to attach (structured-clonable: post it in a message). */
export interface SharedPercpuHandle {
  allocator: AllocatorHandle;
  buffers: MemoryBuffers;
  nrUnits: number;
  unitSize: number;
  onRelease: ReleaseMode;
}

/** What `SharedPercpu.stats()` reports: the allocator's counters and the runtime's memory. */
export interface SharedPercpuStats {
  /** The allocator's `percpu_stats` global counters. */
  allocator: GlobalStats;
  liveChunks: number;
  /** Memory slots ever used (the memory buffer's length in slots) and free now. */
  slotsUsed: number;
  slotsFree: number;
  committedBytes: number;
  reservedBytes: number;
}

const DEFAULT_UNIT_SIZE = 256 << 10;
const DEFAULT_MAX_BYTES = 256 << 20;
const MAX_BYTES_LIMIT = 2 ** 32;
const MAX_CHUNK_IDS = 1 << 20;
const PTR_STRIDE = 0x1_0000_0000;
/** Allocations per lock hold in the bulk calls: long enough to amortise the lock, short enough to let other threads in. */
const BULK_BATCH = 8192;

/** The alignment used when none is given: 8 bytes for sizes of 8 and more, else 4. */
export function defaultAlign(size: number): number {
  return size >= 8 ? 8 : 4;
}

/** How long a lease waits for holders that are exiting (see `leaseUnit`), in ms. */
const EXIT_GRACE_MS = 100;

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Percpu memory for JavaScript threads: one unit per worker, in `SharedArrayBuffer`s, placed by the hinted bitmap allocator; create it in one thread, `attach` its handle in the others (docs/RUNTIME.md). */
export class SharedPercpu {
  readonly nrUnits: number;
  readonly unitSize: number;
  /** This thread's unit ("smp_processor_id"), -1 if it has none. */
  readonly unit: number;
  readonly onRelease: ReleaseMode;
  /** The thread table: attached threads and unit leases. */
  readonly threads: ThreadTable;
  /** This thread's views of the unit memory (advanced use: raw typed-array access, see RUNTIME.md). */
  readonly memory: PercpuMemory;
  /** The allocator lock. */
  readonly lock: FutexLock;
  private readonly allocator: BitmapAllocator;
  private readonly buffers: MemoryBuffers;
  private readonly local: ThisCpuAccessor | undefined;
  private readonly remote: PerCpuAccessor[] = [];
  private readonly undo: UndoImage;
  private readonly allocCtl: Int32Array;
  private detached = false;

  /** A new allocator with its memory; this thread becomes `options.unit` (or no unit). */
  static create(options: SharedPercpuOptions): SharedPercpu {
    const nrUnits = options.nrUnits;
    const unitSize = options.unitSize ?? DEFAULT_UNIT_SIZE;
    const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    if (!Number.isInteger(nrUnits) || nrUnits < 1 || nrUnits > 4096) throw new RuntimeArgumentError('EINVAL_GEOMETRY', `nrUnits must be an integer in 1..4096, got ${nrUnits}`);
    if (!Number.isInteger(unitSize) || unitSize < MIN_UNIT_SIZE || unitSize % 4096 !== 0 || unitSize > 1 << 30) {
      throw new RuntimeArgumentError('EINVAL_GEOMETRY', `unitSize must be a multiple of 4096 in ${MIN_UNIT_SIZE}..${1 << 30}, got ${unitSize}`);
    }
    const slotBytes = nrUnits * unitSize;
    if (!Number.isInteger(maxBytes) || maxBytes > MAX_BYTES_LIMIT || maxBytes < 2 * slotBytes) {
      throw new RuntimeArgumentError('EINVAL_GEOMETRY', `maxBytes must hold at least two chunks (${2 * slotBytes} bytes) and at most ${MAX_BYTES_LIMIT}, got ${maxBytes}`);
    }
    checkUnit(options.unit, nrUnits);
    const maxThreads = options.maxThreads ?? Math.max(64, 4 * nrUnits);
    if (!Number.isInteger(maxThreads) || maxThreads < 1 || maxThreads > 1 << 16) throw new RuntimeArgumentError('EINVAL', `maxThreads must be an integer in 1..65536, got ${maxThreads}`);
    const onRelease = options.onRelease ?? 'zero';
    if (onRelease !== 'zero' && onRelease !== 'handover') throw new RuntimeArgumentError('EINVAL', `onRelease must be 'zero' or 'handover', got ${String(onRelease)}`);
    const kernel = options.kernel ?? '7.0';
    if (kernel !== '7.0' && kernel !== '4.14') throw new RuntimeArgumentError('EINVAL', `kernel must be '7.0' or '4.14', got ${String(kernel)}`);
    const maxSlots = Math.floor(maxBytes / slotBytes);
    // The first chunk is made inside the constructor, before the memory exists: its event waits.
    const early: ['create' | 'destroy', number][] = [];
    let forward: (type: 'create' | 'destroy', id: number) => void = (type, id) => void early.push([type, id]);
    const allocator = new BitmapAllocator({
      kernel,
      geometry: { unitSize, nrUnits },
      shared: { maxChunkIds: MAX_CHUNK_IDS },
      // Live chunks = dynamic chunks + the first one: never more than there are memory slots.
      maxChunks: maxSlots - 1,
      onChunkEvent: (type, id) => forward(type, id),
    });
    const geometry = { nrUnits, unitSize, maxSlots, maxChunkIds: MAX_CHUNK_IDS };
    const threadBytes = threadTableBytes(maxThreads, nrUnits);
    // The undo image holds the allocator's state buffers and the runtime's own.
    const st = allocator.handle()!.state;
    const ownBytes = controlBytes(maxSlots) + 4 * MAX_CHUNK_IDS + COUNTER_REGISTRY_MAX_BYTES + 64;
    const undoMaxBytes = UndoImage.maxBytes([st.ctl, st.counters, st.listNext, st.listPrev, st.chunkLoc, st.arena]) + ownBytes;
    const buffers = createMemoryBuffers(geometry, { threadBytes, undoMaxBytes, counterMaxBytes: COUNTER_REGISTRY_MAX_BYTES, counterTotalsBytes: COUNTER_TOTALS_BYTES });
    initThreadTable(buffers.threads, maxThreads);
    return new SharedPercpu(buffers, nrUnits, unitSize, onRelease, options.unit, (listener) => {
      forward = listener;
      for (const [type, id] of early) listener(type, id);
      return allocator;
    });
  }

  /**
   * Attach this thread to an allocator another thread created. `unit`: the
   * unit to lease (an index or 'auto'); omit it for a thread with no unit.
   * Throws `UnitBusyError` when another live thread leases that unit,
   * `NoFreeUnitError` when every unit is leased by a live thread.
   */
  static attach(handle: SharedPercpuHandle, unit?: UnitRequest): SharedPercpu {
    checkUnit(unit, handle.nrUnits);
    return new SharedPercpu(handle.buffers, handle.nrUnits, handle.unitSize, handle.onRelease ?? 'zero', unit, (listener) => BitmapAllocator.attach(handle.allocator, listener));
  }

  private constructor(
    buffers: MemoryBuffers,
    nrUnits: number,
    unitSize: number,
    onRelease: ReleaseMode,
    unit: UnitRequest | undefined,
    makeAllocator: (listener: (type: 'create' | 'destroy', id: number) => void) => BitmapAllocator,
  ) {
    this.buffers = buffers;
    this.nrUnits = nrUnits;
    this.unitSize = unitSize;
    this.onRelease = onRelease;
    this.memory = new PercpuMemory(buffers, nrUnits, unitSize);
    this.threads = new ThreadTable(buffers.threads, nrUnits);
    this.lock = new FutexLock(this.memory.control, Rt.Lock, { registry: this.threads, onOwnerDead: (dead) => this.recoverLocked(dead), name: 'the percpu allocator lock' });
    const memory = this.memory;
    // Chunk events fire in the thread that holds the lock, inside the allocator call.
    this.allocator = makeAllocator((type, id) => (type === 'create' ? memory.assignSlot(id) : memory.releaseSlot(id)));
    const state = this.allocator.handle()!.state;
    this.allocCtl = new Int32Array(state.ctl);
    this.undo = new UndoImage(buffers.undo, () => [state.ctl, state.counters, state.listNext, state.listPrev, state.chunkLoc, state.arena, buffers.control, buffers.chunkSlots, buffers.counters]);
    if (!this.threads.register()) {
      this.reap();
      if (!this.threads.register()) throw new RuntimeArgumentError('EINVAL', `more than ${this.threads.capacity} threads attached at once (maxThreads)`);
    }
    try {
      this.unit = unit === undefined || unit === -1 ? -1 : this.leaseUnit(unit);
    } catch (e) {
      this.threads.unregister();
      throw e;
    }
    this.local = this.unit >= 0 ? new ThisCpuAccessor(this.memory, this.unit) : undefined;
    for (let u = 0; u < nrUnits; u++) this.remote.push(new PerCpuAccessor(this.memory, u));
  }

  handle(): SharedPercpuHandle {
    return { allocator: this.allocator.handle()!, buffers: this.buffers, nrUnits: this.nrUnits, unitSize: this.unitSize, onRelease: this.onRelease };
  }

  // -------------------------------------------------------------------------
  // Leases and recovery

  private leaseUnit(unit: UnitRequest): number {
    const deadline = Date.now() + EXIT_GRACE_MS;
    for (;;) {
      const got = this.tryLeaseOnce(unit);
      if (got >= 0) return got;
      // A worker whose terminate() has just resolved may still be listed in
      // /proc for a moment (the kernel wakes its joiner before it removes the
      // task), so a full table gets a short grace before the error.
      if (!canBlock() || Date.now() >= deadline) break;
      sleepMs(1);
      this.reap();
    }
    if (unit !== 'auto') throw new UnitBusyError(unit, this.threads.leaseHolder(unit));
    throw new NoFreeUnitError(this.nrUnits);
  }

  /** One attempt at the lease, reaping dead holders once; -1 when it is not to be had now. */
  private tryLeaseOnce(unit: UnitRequest): number {
    if (unit !== 'auto') {
      let holder = this.threads.tryLease(unit);
      if (holder !== 0 && this.threads.isDead(holder)) {
        this.reap();
        holder = this.threads.tryLease(unit);
      }
      return holder === 0 ? unit : -1;
    }
    for (let pass = 0; pass < 2; pass++) {
      for (let u = 0; u < this.nrUnits; u++) if (this.threads.tryLease(u, true) === 0) return u;
      if (pass === 0) this.reap();
    }
    return -1;
  }

  /**
   * Give back this thread's unit (zeroed or handed over, see `onRelease`) and
   * its place in the thread table. Every later use of this object — and of
   * accessors, counters and maps attached through it — throws `DestroyedError`.
   */
  detach(): void {
    if (this.detached) throw new DestroyedError('SharedPercpu (detached)');
    if (this.unit >= 0 && this.threads.dropLease(this.unit)) {
      this.lock.lock();
      try {
        this.releaseUnitLocked(this.unit, this.threads.token);
      } finally {
        this.lock.unlock();
      }
    }
    this.detached = true;
    this.memory.closed = true;
    this.local?.invalidate();
    for (const fn of this.detachHooks) fn();
    this.detachHooks.clear();
    this.threads.unregister();
  }

  /**
   * @internal Run `fn` under the allocator lock as one recoverable operation,
   * with allocation and free at hand (for objects that allocate and record
   * together, so that a death leaves neither half).
   */
  transaction<T>(fn: (tx: AllocTransaction) => T): T {
    this.enter();
    try {
      return fn(this.tx);
    } finally {
      this.leave();
    }
  }

  private readonly tx: AllocTransaction = {
    alloc: (size, align) => this.allocLocked(size, align, 0),
    free: (ptr) => this.allocator.free(ptr),
  };

  /** @internal The shared buffers (for runtime objects that keep records next to the allocator's). */
  get sharedBuffers(): MemoryBuffers {
    return this.buffers;
  }

  private readonly detachHooks = new Set<() => void>();

  /** @internal Call `fn` (in this thread) when this object detaches. Returns the remover. */
  onDetach(fn: () => void): () => void {
    this.detachHooks.add(fn);
    return () => this.detachHooks.delete(fn);
  }

  /** Whether `detach()` was called. */
  get isDetached(): boolean {
    return this.detached;
  }

  /**
   * Release the units and table entries of every thread that has died (found
   * through /proc, or reported by `watch`/`reportDead`). Runs by itself when a
   * lease is wanted and none is free, and whenever a lock is taken over from a
   * dead holder. Returns the tokens reaped.
   */
  reap(): number[] {
    const dead = this.threads.deadTokens();
    if (dead.length === 0) return dead;
    this.lock.lock();
    try {
      for (const t of dead) this.reapLocked(t);
    } finally {
      this.lock.unlock();
    }
    return dead;
  }

  /**
   * Watch a Node worker: when it exits (normally, by `terminate()` or a crash)
   * its units and table entry are released at once. Needed where /proc cannot
   * tell (not Linux); harmless elsewhere.
   */
  watch(worker: WatchableWorker): void {
    const token = worker.threadId + 1;
    worker.once('exit', () => {
      this.threads.reportDead(token);
      if (!this.detached) this.reap();
    });
  }

  /** Report by hand that the thread with `token` exited (browsers: after `worker.terminate()`). */
  reportDead(token: number): void {
    this.threads.reportDead(token);
  }

  private reapLocked(token: number): void {
    for (const u of this.threads.unitsOf(token)) this.releaseUnitLocked(u, token);
    this.threads.removeEntry(token);
  }

  /**
   * Release `unit` held by `holder`. Zero mode: fold the unit's counter counts
   * into their totals (rolled back whole if we die: the undo image covers the
   * counter registry and the unit memory is not yet touched), then — past the
   * commit point, roll-forward only — zero the unit and free the lease.
   */
  private releaseUnitLocked(unit: number, holder: number): void {
    const c = this.memory.control;
    if (this.onRelease === 'zero') {
      this.begin();
      foldUnitCounters(this.buffers.counters, this.memory, unit);
    }
    Atomics.store(c, Rt.IntentUnit, unit);
    Atomics.store(c, Rt.IntentHolder, holder);
    Atomics.store(c, Rt.Intent, Intent.Reap);
    this.finishRelease(unit, holder);
    Atomics.store(c, Rt.Intent, Intent.None);
  }

  private finishRelease(unit: number, holder: number): void {
    if (this.onRelease === 'zero') this.memory.zeroUnit(unit);
    // Before the lease is free: a reference the released thread kept (its own, after
    // `detach`) finds the epoch moved on and checks again instead of writing.
    this.memory.passUnitEpoch();
    this.threads.clearLease(unit, holder);
  }

  /** The allocator lock's robust-mutex hook: repair what the dead holder left, then reap it. */
  private recoverLocked(dead: number): void {
    const c = this.memory.control;
    const intent = Atomics.load(c, Rt.Intent);
    if (intent === Intent.Mutating) {
      const lockWord = Atomics.load(c, Rt.Lock);
      const tops = this.memory.dirtyTops();
      const epoch = Atomics.load(c, Rt.ChunkEpoch);
      const gen = this.allocCtl[Ctl.Generation]!;
      this.undo.restore();
      Atomics.store(c, Rt.Lock, lockWord);
      this.memory.raiseDirtyTops(tops);
      this.memory.passChunkEpoch(epoch);
      // Every thread re-syncs its chunk views with the restored state.
      this.allocCtl[Ctl.Generation] = gen + 1;
    } else if (intent === Intent.Reap) {
      this.finishRelease(Atomics.load(c, Rt.IntentUnit), Atomics.load(c, Rt.IntentHolder));
    }
    Atomics.store(c, Rt.Intent, Intent.None);
    this.reapLocked(dead);
  }

  /** Before an allocator call mutates anything: the intent record and the undo image. Caller holds the lock. */
  private begin(): void {
    const c = this.memory.control;
    Atomics.store(c, Rt.Intent, Intent.Saving);
    this.undo.save();
    Atomics.store(c, Rt.Intent, Intent.Mutating);
  }

  private end(): void {
    Atomics.store(this.memory.control, Rt.Intent, Intent.None);
  }

  /** Take the allocator lock and open a recoverable operation. */
  private enter(): void {
    if (this.detached) throw new DestroyedError('SharedPercpu (detached)');
    this.lock.lock();
    try {
      this.begin();
    } catch (e) {
      this.lock.unlock();
      throw e;
    }
  }

  private leave(): void {
    this.end();
    this.lock.unlock();
  }

  // -------------------------------------------------------------------------
  // Allocation

  /**
   * `__alloc_percpu`: `size` bytes aligned to `align` in every unit, zeroed.
   * Returns a percpu pointer, or `NULL_PTR` when the kernel would return NULL
   * (out of memory slots, or an `ALLOC_ATOMIC` request without populated space).
   * Throws `InvalidRequestError` for a size or alignment the kernel rejects.
   */
  alloc(size: number, align = defaultAlign(size), flags = 0): number {
    this.enter();
    try {
      return this.allocLocked(size, align, flags);
    } finally {
      this.leave();
    }
  }

  /** Like `alloc`, but NULL throws `AllocationFailedError`. */
  allocOrThrow(size: number, align = defaultAlign(size), flags = 0): number {
    const ptr = this.alloc(size, align, flags);
    if (ptr === NULL_PTR) throw new AllocationFailedError(size, align, 'no memory slot left for a new chunk');
    return ptr;
  }

  /** `free_percpu`. Throws `InvalidFreeError` (nothing changed) for anything but a live allocation's start. */
  free(ptr: number): void {
    this.enter();
    try {
      this.allocator.free(ptr);
    } finally {
      this.leave();
    }
  }

  /** `alloc` without blocking the thread while waiting for the lock (browser main thread). */
  async allocAsync(size: number, align = defaultAlign(size), flags = 0): Promise<number> {
    await this.enterAsync();
    try {
      return this.allocLocked(size, align, flags);
    } finally {
      this.leave();
    }
  }

  async freeAsync(ptr: number): Promise<void> {
    await this.enterAsync();
    try {
      this.allocator.free(ptr);
    } finally {
      this.leave();
    }
  }

  private async enterAsync(): Promise<void> {
    if (this.detached) throw new DestroyedError('SharedPercpu (detached)');
    await this.lock.lockAsync();
    try {
      this.begin();
    } catch (e) {
      this.lock.unlock();
      throw e;
    }
  }

  /**
   * `count` allocations of the same request into `out` (from `outOffset`),
   * taking the lock once per few thousand. Returns how many succeeded: fewer
   * than `count` only when one returned NULL. A request the kernel rejects
   * throws before the first allocation.
   */
  allocMany(size: number, align: number, count: number, out: Float64Array, outOffset = 0): number {
    if (!Number.isInteger(count) || count < 0 || outOffset < 0 || outOffset + count > out.length) {
      throw new RuntimeArgumentError('EINVAL_SIZE', `allocMany: ${count} pointers do not fit an array of ${out.length} from ${outOffset}`);
    }
    let done = 0;
    while (done < count) {
      this.enter();
      try {
        const end = Math.min(count, done + BULK_BATCH);
        for (; done < end; done++) {
          const ptr = this.allocLocked(size, align, 0);
          if (ptr === NULL_PTR) return done;
          out[outOffset + done] = ptr;
        }
      } finally {
        this.leave();
      }
    }
    return done;
  }

  /**
   * Free `ptrs[start..end)`, taking the lock once per few thousand. The whole
   * list is checked first: a bad or repeated pointer throws `InvalidFreeError`
   * and nothing is freed.
   */
  freeMany(ptrs: ArrayLike<number>, start = 0, end = ptrs.length): void {
    this.validateMany(ptrs, start, end);
    this.freeManyValidated(ptrs, start, end);
  }

  /**
   * Every pointer of [start, end) is the start of a live allocation and none
   * appears twice — checked before anything is freed, so a bad list throws
   * `InvalidFreeError` and frees nothing.
   */
  private validateMany(ptrs: ArrayLike<number>, start: number, end: number): void {
    this.readAllocator((a) => {
      for (let i = start; i < end; i++) a.allocationSize(ptrs[i]!);
    });
    const sorted = Float64Array.from(ptrs).subarray(start, end).sort();
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i] === sorted[i - 1]) throw new InvalidFreeError(Math.floor(sorted[i]! / PTR_STRIDE) - 1, sorted[i]! % PTR_STRIDE, `pointer ${sorted[i]} appears twice in the list (a double free)`);
    }
  }

  /** Free pointers known to be live and distinct (a map's own values), the lock taken once per batch. */
  freeManyValidated(ptrs: ArrayLike<number>, start = 0, end = ptrs.length): void {
    let i = start;
    while (i < end) {
      this.enter();
      try {
        const stop = Math.min(end, i + BULK_BATCH);
        for (; i < stop; i++) this.allocator.free(ptrs[i]!);
      } finally {
        this.leave();
      }
    }
  }

  private allocLocked(size: number, align: number, flags: number): number {
    const ptr = this.allocator.alloc(size, align, flags);
    if (ptr !== NULL_PTR) {
      const hi = Math.floor(ptr / PTR_STRIDE);
      this.memory.zeroAllocation(hi - 1, ptr - hi * PTR_STRIDE, (size + 3) & ~3);
    }
    return ptr;
  }

  // -------------------------------------------------------------------------
  // Access

  /** This thread's unit (`this_cpu_*`). Throws `NoUnitError` on a thread attached without a unit. */
  get thisCpu(): UnitAccessor {
    if (this.local === undefined || this.detached) throw this.detached ? new DestroyedError('SharedPercpu (detached)') : new NoUnitError('thisCpu');
    return this.local;
  }

  /** A bound reference to the Int32 at byte `off` of `ptr` in this thread's unit (see `Int32Ref`). */
  thisCpuInt32(ptr: number, off = 0): Int32Ref {
    if (this.local === undefined || this.detached) throw this.detached ? new DestroyedError('SharedPercpu (detached)') : new NoUnitError('thisCpuInt32');
    return new Int32Ref(this.memory, ptr, this.unit, off);
  }

  /** Unit `unit` from any thread (`per_cpu()`): atomic reads. */
  perCpu(unit: number): UnitAccessor {
    if (this.detached) throw new DestroyedError('SharedPercpu (detached)');
    const a = this.remote[unit];
    if (a === undefined) throw new RuntimeArgumentError('EINVAL', `unit ${unit} does not exist (nrUnits = ${this.nrUnits})`);
    return a;
  }

  // -------------------------------------------------------------------------
  // Inspection

  /**
   * Run `fn` on the underlying allocator, holding the lock, as one recoverable
   * operation (if this thread dies inside, what `fn` changed is rolled back).
   * Calling the allocator's own `SharedPercpu` methods from `fn` throws
   * `LockReentryError`.
   */
  withAllocator<T>(fn: (allocator: BitmapAllocator) => T): T {
    this.enter();
    try {
      this.allocator.sync();
      return fn(this.allocator);
    } finally {
      this.leave();
    }
  }

  /** Like `withAllocator` for code that only reads (no undo image is taken). */
  private readAllocator<T>(fn: (allocator: BitmapAllocator) => T): T {
    if (this.detached) throw new DestroyedError('SharedPercpu (detached)');
    return this.lock.with(() => {
      this.allocator.sync();
      return fn(this.allocator);
    });
  }

  /** The hint checker over the shared allocator, under the lock; empty when consistent. */
  check(): HintProblem[] {
    return this.readAllocator((a) => checkBitmapAllocator(a));
  }

  stats(): SharedPercpuStats {
    return this.readAllocator((a) => {
      const slots = this.memory.slotCounts();
      return {
        allocator: copyStats(a.stats),
        liveChunks: a.liveChunks().length,
        slotsUsed: slots.used,
        slotsFree: slots.free,
        committedBytes: this.memory.committedBytes,
        reservedBytes: this.memory.reservedBytes,
      };
    });
  }
}

function copyStats(s: GlobalStats): GlobalStats {
  const { nrAlloc, nrDealloc, nrCurAlloc, nrMaxAlloc, nrChunks, nrMaxChunks, minAllocSize, maxAllocSize } = s;
  return { nrAlloc, nrDealloc, nrCurAlloc, nrMaxAlloc, nrChunks, nrMaxChunks, minAllocSize, maxAllocSize };
}

function checkUnit(unit: UnitRequest | undefined, nrUnits: number): void {
  if (unit === undefined || unit === 'auto') return;
  if (!Number.isInteger(unit) || unit < -1 || unit >= nrUnits) throw new RuntimeArgumentError('EINVAL', `unit must be an integer in 0..${nrUnits - 1} (or -1 for none), got ${unit}`);
}
