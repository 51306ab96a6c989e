/**
 * The allocator API every profile implements, and the factory that picks the
 * implementation for a kernel version. Tools (verify, replay, stats, bench) speak
 * only this interface, so a new profile plugs into all of them at once.
 */
import { BitmapAllocator, type ChunkEventListener } from './engine/bitmap-allocator.js';
import type { BufferFactory } from './engine/chunk.js';
import type { Geometry, GeometryInput } from './engine/geometry.js';
import { parseKernelVersion, type KernelVersion } from './engine/profile.js';
import { formatBitmapStats } from './engine/stats.js';
import { checkBitmapAllocator, type HintProblem } from './engine/checker.js';
import { UnsupportedError } from './errors.js';
import { AreaMapAllocator } from './engine/area-map.js';

export interface PercpuAllocator {
  readonly kernel: KernelVersion;
  readonly geometry: Geometry;
  readonly mode: 'allocator' | 'chunk';
  /** Allocate; returns a percpu pointer or NULL_PTR. Throws a typed error for bad input. */
  alloc(size: number, align: number, flags?: number): number;
  /** Free a percpu pointer. Throws `InvalidFreeError` (state untouched) if it is not a live allocation. */
  free(ptr: number): void;
  /** Offset of a pointer from the start of its unit. */
  unitOffset(ptr: number): number;
  /** The `percpu_stats` debugfs text of this kernel version. */
  formatStats(): string;
  /** Recompute every hint by brute force; report what the kernel's documented staleness does not allow. */
  check(): HintProblem[];
}

export interface AllocatorOptions {
  /** `4.13`, `4.14`, `7.0` (aliases: `6.x`, `6.18`, `6.19`, `newest`). */
  kernel: string;
  geometry: GeometryInput;
  mode?: 'allocator' | 'chunk';
  backend?: 'vm' | 'km';
  balance?: 'sync' | 'none';
  fixed?: boolean;
  onChunkEvent?: ChunkEventListener;
  buffer?: BufferFactory;
  maxChunks?: number;
  /** Per-allocation percpu_stats counters (default on; off = a kernel without CONFIG_PERCPU_STATS). Bitmap profiles only. */
  stats?: boolean;
}

/** The bitmap allocator behind the common interface. */
export class HintedBitmapAllocator extends BitmapAllocator implements PercpuAllocator {
  get kernel(): KernelVersion {
    return this.profile.kernel;
  }
  formatStats(): string {
    return formatBitmapStats(this);
  }
  check(): HintProblem[] {
    return checkBitmapAllocator(this);
  }
}

type AllocatorFactory = (options: AllocatorOptions & { kernel: KernelVersion }) => PercpuAllocator;

const factories: Partial<Record<KernelVersion, AllocatorFactory>> = {
  '4.13': (o) => new AreaMapAllocator(o),
  '4.14': (o) => new HintedBitmapAllocator({ ...o, kernel: '4.14' }),
  '7.0': (o) => new HintedBitmapAllocator({ ...o, kernel: '7.0' }),
};

/** Let a profile module register itself (the 4.13 area map does). */
export function registerAllocator(kernel: KernelVersion, factory: AllocatorFactory): void {
  factories[kernel] = factory;
}

export function isImplemented(kernel: string): boolean {
  try {
    return factories[parseKernelVersion(kernel)] !== undefined;
  } catch {
    return false;
  }
}

export function createAllocator(options: AllocatorOptions): PercpuAllocator {
  const kernel = parseKernelVersion(options.kernel);
  const factory = factories[kernel];
  if (factory === undefined) throw new UnsupportedError(`kernel ${options.kernel} (profile ${kernel}) is not implemented yet`);
  return factory({ ...options, kernel });
}
