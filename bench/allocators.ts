// SPDX-License-Identifier: GPL-2.0-only
/**
 * Every allocator `percpu bench` sets side by side, behind one small interface,
 * and what each one's metadata costs.
 *
 * Five allocators: the three kernel profiles (4.13 area map, 4.14 and 7.0
 * hinted bitmaps, built by `createAllocator` exactly as the engine bench builds
 * them), `@thi.ng/malloc`'s MemPool (a general-purpose first-fit allocator that
 * keeps its block headers and free/used lists inside the memory it manages),
 * and a bump allocator, the floor: one pointer increment per allocation and
 * nothing per free.
 *
 * The two outsiders get the percpu allocator's shape so the same op streams
 * drive them: memory comes in units of the geometry's unit size (1 MiB in G1),
 * a unit filling up opens the next one, and a pointer is a plain number,
 * (unit + 1) * 2^32 + offset, like a percpu pointer. MemPool has no
 * per-request alignment above its pool alignment (8), so a request aligned
 * higher is over-allocated by `align` bytes and the block's own data address
 * is kept in the 4 bytes just below the aligned address (bit 31 of the pointer
 * says so); every request in W1–W6 is aligned at most 8 and takes the direct path.
 *
 * Metadata is counted as the kernel spec counts it (oracle-timings §5): what the
 * allocator keeps *about* the memory, not the memory. For the kernel profiles
 * that is what the kernel's C would kzalloc per chunk; the engine's own
 * typed-array bytes are reported beside it.
 */
import { MemPool } from '@thi.ng/malloc';
import { createAllocator, type PercpuAllocator } from '../src/engine/allocator.js';
import { BitmapAllocator } from '../src/engine/bitmap-allocator.js';
import { AreaMapAllocator } from '../src/engine/area-map.js';
import { NULL_PTR } from '../src/engine/pointer.js';
import type { CKernel } from './kernel-c-timings.js';
import { G1 } from './workloads.js';

export const KERNEL_PROFILES: readonly CKernel[] = ['4.13', '4.14', '7.0'];
export const THING = '@thi.ng/malloc';
export const BUMP = 'bump';
/** Every allocator of the suite, in table order. */
export const ALL_ALLOCATORS = [...KERNEL_PROFILES, THING, BUMP] as const;
export type AllocatorName = (typeof ALL_ALLOCATORS)[number];

export function isKernelProfile(name: string): name is CKernel {
  return (KERNEL_PROFILES as readonly string[]).includes(name);
}

/** What the timed loops call: the shape of `PercpuAllocator.alloc/free`. */
export interface BenchAllocator {
  /** A pointer, or NULL_PTR when the request cannot be met. */
  alloc(size: number, align: number): number;
  free(ptr: number): void;
}

const UNIT_SCALE = 2 ** 32;
/** Bit 31 of a MemPool pointer's offset: the request was over-aligned, the block's data address sits below it. */
const OVER_ALIGNED = 2 ** 31;
/** MemPool's own block alignment; requests aligned up to this go straight through. */
const POOL_ALIGN = 8;
/** MemPool's pool state (7 words at the start of its buffer) and block header (size, next). */
export const THING_STATE_BYTES = 28;
export const THING_BLOCK_HEADER_BYTES = 8;

/**
 * MemPool over units of `unitSize` bytes, one pool per unit. A request tries the
 * current unit, then units that had a free since they last failed one (a stack,
 * most recently freed first), then opens a unit. A unit is never given back.
 */
export class ThingPoolAllocator implements BenchAllocator {
  readonly pools: MemPool[] = [];
  private readonly views: Uint32Array[] = [];
  private current = -1;
  private dirtyFlag = new Uint8Array(64);
  private readonly dirtyStack: number[] = [];

  constructor(readonly unitSize: number = G1.unitSize) {}

  alloc(size: number, align: number): number {
    const over = align > POOL_ALIGN;
    const bytes = over ? size + align : size;
    let unit = this.current;
    let addr = unit >= 0 ? this.pools[unit]!.malloc(bytes) : 0;
    while (addr === 0 && this.dirtyStack.length > 0) {
      unit = this.dirtyStack[this.dirtyStack.length - 1]!;
      addr = unit === this.current ? 0 : this.pools[unit]!.malloc(bytes);
      if (addr === 0) {
        this.dirtyStack.pop();
        this.dirtyFlag[unit] = 0;
      }
    }
    if (addr === 0) {
      if (bytes + THING_STATE_BYTES + 2 * THING_BLOCK_HEADER_BYTES > this.unitSize) return NULL_PTR;
      unit = this.openUnit();
      addr = this.pools[unit]!.malloc(bytes);
      if (addr === 0) return NULL_PTR;
    }
    if (!over) return (unit + 1) * UNIT_SCALE + addr;
    // Room for the back pointer below the aligned address: at least 4 bytes past the block's data start.
    const aligned = (addr + 4 + align - 1) & -align;
    this.views[unit]![(aligned >>> 2) - 1] = addr;
    return (unit + 1) * UNIT_SCALE + OVER_ALIGNED + aligned;
  }

  free(ptr: number): void {
    const unit = ((ptr / UNIT_SCALE) | 0) - 1;
    let off = ptr - (unit + 1) * UNIT_SCALE;
    if (off >= OVER_ALIGNED) {
      off -= OVER_ALIGNED;
      off = this.views[unit]![(off >>> 2) - 1]!;
    }
    this.pools[unit]!.free(off);
    if (unit !== this.current && this.dirtyFlag[unit] === 0) {
      this.dirtyFlag[unit] = 1;
      this.dirtyStack.push(unit);
    }
  }

  private openUnit(): number {
    const buf = new ArrayBuffer(this.unitSize);
    this.pools.push(new MemPool({ buf, align: POOL_ALIGN }));
    this.views.push(new Uint32Array(buf));
    const unit = this.pools.length - 1;
    if (unit >= this.dirtyFlag.length) {
      const grown = new Uint8Array(this.dirtyFlag.length * 2);
      grown.set(this.dirtyFlag);
      this.dirtyFlag = grown;
    }
    this.current = unit;
    return unit;
  }
}

/** How many `size`-byte objects aligned `align` one MemPool unit holds (found by filling one). */
export function thingObjectsPerUnit(size: number, align: number, unitSize: number = G1.unitSize): number {
  const a = new ThingPoolAllocator(unitSize);
  let n = 0;
  while (a.alloc(size, align) !== NULL_PTR && a.pools.length === 1) n++;
  return n;
}

/**
 * The floor: an allocation rounds the unit's top up to the alignment and moves
 * it past the object; a free only counts. Nothing is ever reused.
 */
export class BumpAllocator implements BenchAllocator {
  private unit = 0;
  private top = 0;
  live = 0;

  constructor(readonly unitSize: number = G1.unitSize) {}

  get units(): number {
    return this.unit + 1;
  }

  alloc(size: number, align: number): number {
    let off = (this.top + align - 1) & -align;
    if (off + size > this.unitSize) {
      if (size > this.unitSize) return NULL_PTR;
      this.unit++;
      off = 0;
    }
    this.top = off + size;
    this.live++;
    return (this.unit + 1) * UNIT_SCALE + off;
  }

  free(_ptr: number): void {
    this.live--;
  }
}

/** An allocator of the suite in the oracle's setup (G1, km backend, synchronous balance work). */
export function makeBenchAllocator(name: AllocatorName): BenchAllocator {
  if (name === THING) return new ThingPoolAllocator(G1.unitSize);
  if (name === BUMP) return new BumpAllocator(G1.unitSize);
  return createAllocator({ kernel: name, geometry: G1, mode: 'allocator', backend: 'km', balance: 'sync' }) as PercpuAllocator;
}

// ---------------------------------------------------------------------------
// Metadata

export interface MetadataSnapshot {
  /** Live chunks (units for the outsiders). */
  chunks: number;
  /** Sum over chunks, counted as the kernel's C (or the outsider's own structures) would. */
  bytes: number;
  /** The largest single chunk's share of `bytes`. */
  maxChunkBytes: number;
  /** What this implementation's typed arrays actually hold for it (the engine's layout differs from the kernel's structs). */
  engineBytes: number;
}

/** `sizeof(struct pcpu_block_md)`: 5 ints in 4.14; 7.0 added the scan hint, its start and the bit count. */
const BLOCK_MD_BYTES: Record<'4.14' | '7.0', number> = { '4.14': 20, '7.0': 32 };

/** Bytes of `unsigned long` words holding `bits` bits (BITS_TO_LONGS on a 64-bit kernel). */
function longBytes(bits: number): number {
  return Math.ceil(bits / 64) * 8;
}

/** The kernel's per-chunk bitmap metadata: alloc_map, bound_map (one bit more) and one md block per page. */
export function kernelBitmapChunkBytes(kernel: '4.14' | '7.0', mapBits: number, nrBlocks: number): number {
  return longBytes(mapBits) + longBytes(mapBits + 1) + nrBlocks * BLOCK_MD_BYTES[kernel];
}

/**
 * Every live chunk's metadata as [chunk id, bytes], counted as the kernel's C
 * (or the outsider's own structures) would; with `newestOnly`, only the chunk
 * of the highest id (the one a sequential fill is filling).
 */
export function chunkMetadata(name: AllocatorName, a: BenchAllocator, newestOnly = false): [number, number][] {
  const pick = <T>(xs: T[]): T[] => (newestOnly ? xs.slice(-1) : xs);
  if (a instanceof AreaMapAllocator) {
    // One int per map entry; `mapAlloc` is the map's capacity (it grows by doubling).
    return pick(a.liveChunks()).map((c) => [c.id, 4 * c.mapAlloc]);
  }
  if (a instanceof BitmapAllocator) {
    const kernel = name === '4.14' ? '4.14' : '7.0';
    return pick(a.liveChunks()).map((c) => [c.id, kernelBitmapChunkBytes(kernel, c.mapBits, c.nrBlocks)]);
  }
  if (a instanceof ThingPoolAllocator) {
    const first = newestOnly ? Math.max(0, a.pools.length - 1) : 0;
    return a.pools.slice(first).map((p, i) => {
      const st = p.stats();
      return [first + i, THING_STATE_BYTES + THING_BLOCK_HEADER_BYTES * (st.used.count + st.free.count)];
    });
  }
  if (a instanceof BumpAllocator) {
    // One top offset per unit.
    return pick(Array.from({ length: a.units }, (_, i): [number, number] => [i, 4]));
  }
  throw new TypeError(`no metadata probe for allocator ${name}`);
}

/** What this implementation's own arrays hold (the engine's bitmap layout is not the kernel's structs). */
function engineBytes(a: BenchAllocator, kernelCounted: number): number {
  if (a instanceof BitmapAllocator) return a.liveChunks().reduce((s, c) => s + c.metadataBytes, 0);
  return kernelCounted;
}

/** Metadata of an allocator built by `makeBenchAllocator`, right now. */
export function metadataOf(name: AllocatorName, a: BenchAllocator): MetadataSnapshot {
  const per = chunkMetadata(name, a);
  let bytes = 0;
  let max = 0;
  for (const [, b] of per) {
    bytes += b;
    if (b > max) max = b;
  }
  return { chunks: per.length, bytes, maxChunkBytes: max, engineBytes: engineBytes(a, bytes) };
}
