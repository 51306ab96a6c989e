// SPDX-License-Identifier: GPL-2.0-only
/**
 * The allocator API every profile implements, and the factory that picks the
 * implementation for a kernel version. Tools (verify, replay, stats, bench) speak
 * only this interface, so a new profile plugs into all of them at once.
 */
import { BitmapAllocator, type ChunkEventListener } from './bitmap-allocator.js';
import type { BufferFactory } from './chunk.js';
import type { Geometry, GeometryInput } from './geometry.js';
import { parseKernelVersion } from './profile.js';
import { formatBitmapStats } from './stats.js';
import { checkBitmapAllocator } from './checker.js';
import { UnsupportedError } from '../errors.js';
import { AreaMapAllocator } from './area-map.js';
import { type AllocatorFactory, type AllocatorOptions, type HintProblem, type KernelVersion, type PercpuAllocator } from './api.js';
// Declared in api.ts (the engine's one place for types, flags and layouts); re-exported for existing imports.
export type { PercpuAllocator, AllocatorOptions } from './api.js';

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

const factories: Partial<Record<KernelVersion, AllocatorFactory>> = {
  '4.13': (o) => {
    if (o.rules !== undefined && Object.keys(o.rules).length > 0) {
      throw new UnsupportedError('rules apply to the hinted-bitmap profiles (4.14, 7.0), not to the 4.13 area map', 'pick kernel 4.14 or 7.0 as the base of a custom profile');
    }
    return new AreaMapAllocator(o);
  },
  '4.14': (o) => new HintedBitmapAllocator({ ...o, kernel: '4.14' }),
  '7.0': (o) => new HintedBitmapAllocator({ ...o, kernel: '7.0' }),
};

/** Let a profile module register itself (the 4.13 area map does). */
export function registerAllocator(kernel: KernelVersion, factory: AllocatorFactory): void {
  factories[kernel] = factory;
}

/** Whether some profile implements this kernel version (or alias); never throws. */
export function isImplemented(kernel: string): boolean {
  try {
    return factories[parseKernelVersion(kernel)] !== undefined;
  } catch {
    return false;
  }
}

/** The allocator of a kernel version (`4.13`, `4.14`, `7.0` or an alias) behind the common interface; throws `UnsupportedError` for a version no profile implements. */
export function createAllocator(options: AllocatorOptions): PercpuAllocator {
  const kernel = parseKernelVersion(options.kernel);
  const factory = factories[kernel];
  if (factory === undefined) throw new UnsupportedError(`kernel ${options.kernel} (profile ${kernel}) is not implemented yet`);
  return factory({ ...options, kernel });
}
