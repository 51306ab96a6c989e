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
 *   the kernel's `pcpu_alloc_mutex` + `pcpu_lock` do.
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
import { FutexLock } from './futex.js';
import { createMemoryBuffers, PercpuMemory, Rt, type MemoryBuffers } from './memory.js';
import { PerCpuAccessor, ThisCpuAccessor, type UnitAccessor } from './accessors.js';
import { NoUnitError, RuntimeArgumentError } from './errors.js';

export interface SharedPercpuOptions {
  /** Units per chunk: one per worker thread, fixed for the allocator's life. */
  nrUnits: number;
  /** This (creating) thread's unit, if it is one of the workers. Default: none. */
  unit?: number;
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
}

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

export function defaultAlign(size: number): number {
  return size >= 8 ? 8 : 4;
}

export class SharedPercpu {
  readonly nrUnits: number;
  readonly unitSize: number;
  /** This thread's unit ("smp_processor_id"), -1 if it has none. */
  readonly unit: number;
  /** This thread's views of the unit memory (advanced use: raw typed-array access, see RUNTIME.md). */
  readonly memory: PercpuMemory;
  /** The allocator lock. */
  readonly lock: FutexLock;
  private readonly allocator: BitmapAllocator;
  private readonly buffers: MemoryBuffers;
  private readonly local: ThisCpuAccessor | undefined;
  private readonly remote: PerCpuAccessor[] = [];

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
    const kernel = options.kernel ?? '7.0';
    if (kernel !== '7.0' && kernel !== '4.14') throw new RuntimeArgumentError('EINVAL', `kernel must be '7.0' or '4.14', got ${String(kernel)}`);
    const maxSlots = Math.floor(maxBytes / slotBytes);
    const buffers = createMemoryBuffers({ nrUnits, unitSize, maxSlots, maxChunkIds: MAX_CHUNK_IDS });
    return new SharedPercpu(buffers, nrUnits, unitSize, options.unit ?? -1, (listener) =>
      new BitmapAllocator({
        kernel,
        geometry: { unitSize, nrUnits },
        shared: { maxChunkIds: MAX_CHUNK_IDS },
        // Live chunks = dynamic chunks + the first one: never more than there are memory slots.
        maxChunks: maxSlots - 1,
        onChunkEvent: listener,
      }),
    );
  }

  /** Attach this thread to an allocator another thread created, as unit `unit` (omit for a thread with no unit). */
  static attach(handle: SharedPercpuHandle, unit?: number): SharedPercpu {
    checkUnit(unit, handle.nrUnits);
    return new SharedPercpu(handle.buffers, handle.nrUnits, handle.unitSize, unit ?? -1, (listener) => BitmapAllocator.attach(handle.allocator, listener));
  }

  private constructor(
    buffers: MemoryBuffers,
    nrUnits: number,
    unitSize: number,
    unit: number,
    makeAllocator: (listener: (type: 'create' | 'destroy', id: number) => void) => BitmapAllocator,
  ) {
    this.buffers = buffers;
    this.nrUnits = nrUnits;
    this.unitSize = unitSize;
    this.unit = unit;
    this.memory = new PercpuMemory(buffers, nrUnits, unitSize);
    this.lock = new FutexLock(this.memory.control, Rt.Lock);
    const memory = this.memory;
    // Chunk events fire in the thread that holds the lock, inside the allocator call.
    this.allocator = makeAllocator((type, id) => (type === 'create' ? memory.assignSlot(id) : memory.releaseSlot(id)));
    this.local = unit >= 0 ? new ThisCpuAccessor(this.memory, unit) : undefined;
    for (let u = 0; u < nrUnits; u++) this.remote.push(new PerCpuAccessor(this.memory, u));
  }

  handle(): SharedPercpuHandle {
    return { allocator: this.allocator.handle()!, buffers: this.buffers, nrUnits: this.nrUnits, unitSize: this.unitSize };
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
    this.lock.lock();
    try {
      return this.allocLocked(size, align, flags);
    } finally {
      this.lock.unlock();
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
    this.lock.lock();
    try {
      this.allocator.free(ptr);
    } finally {
      this.lock.unlock();
    }
  }

  /** `alloc` without blocking the thread while waiting for the lock (browser main thread). */
  async allocAsync(size: number, align = defaultAlign(size), flags = 0): Promise<number> {
    await this.lock.lockAsync();
    try {
      return this.allocLocked(size, align, flags);
    } finally {
      this.lock.unlock();
    }
  }

  async freeAsync(ptr: number): Promise<void> {
    await this.lock.lockAsync();
    try {
      this.allocator.free(ptr);
    } finally {
      this.lock.unlock();
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
      this.lock.lock();
      try {
        const end = Math.min(count, done + BULK_BATCH);
        for (; done < end; done++) {
          const ptr = this.allocLocked(size, align, 0);
          if (ptr === NULL_PTR) return done;
          out[outOffset + done] = ptr;
        }
      } finally {
        this.lock.unlock();
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
    this.lock.lock();
    try {
      for (let i = start; i < end; i++) this.allocator.allocationSize(ptrs[i]!);
    } finally {
      this.lock.unlock();
    }
    const sorted = Float64Array.from(ptrs).subarray(start, end).sort();
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i] === sorted[i - 1]) throw new InvalidFreeError(Math.floor(sorted[i]! / PTR_STRIDE) - 1, sorted[i]! % PTR_STRIDE, `pointer ${sorted[i]} appears twice in the list (a double free)`);
    }
  }

  /** Free pointers known to be live and distinct (a map's own values), the lock taken once per batch. */
  freeManyValidated(ptrs: ArrayLike<number>, start = 0, end = ptrs.length): void {
    let i = start;
    while (i < end) {
      this.lock.lock();
      try {
        const stop = Math.min(end, i + BULK_BATCH);
        for (; i < stop; i++) this.allocator.free(ptrs[i]!);
      } finally {
        this.lock.unlock();
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
    if (this.local === undefined) throw new NoUnitError('thisCpu');
    return this.local;
  }

  /** Unit `unit` from any thread (`per_cpu()`): atomic reads. */
  perCpu(unit: number): UnitAccessor {
    const a = this.remote[unit];
    if (a === undefined) throw new RuntimeArgumentError('EINVAL', `unit ${unit} does not exist (nrUnits = ${this.nrUnits})`);
    return a;
  }

  // -------------------------------------------------------------------------
  // Inspection

  /** Run `fn` on the underlying allocator, holding the lock (read-only use: stats, checks). */
  withAllocator<T>(fn: (allocator: BitmapAllocator) => T): T {
    return this.lock.with(() => {
      this.allocator.sync();
      return fn(this.allocator);
    });
  }

  /** The hint checker over the shared allocator, under the lock; empty when consistent. */
  check(): HintProblem[] {
    return this.withAllocator((a) => checkBitmapAllocator(a));
  }

  stats(): SharedPercpuStats {
    return this.withAllocator((a) => {
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

function checkUnit(unit: number | undefined, nrUnits: number): void {
  if (unit === undefined) return;
  if (!Number.isInteger(unit) || unit < -1 || unit >= nrUnits) throw new RuntimeArgumentError('EINVAL', `unit must be an integer in 0..${nrUnits - 1} (or -1 for none), got ${unit}`);
}
