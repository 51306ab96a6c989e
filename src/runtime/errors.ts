/**
 * Typed errors of the JavaScript runtime, on top of the library's `PercpuError`
 * (src/errors.ts) and reusing its codes, so callers switch on `code` the same
 * way everywhere. Like every error of the library they are thrown before any
 * shared state changes.
 */
import { PercpuError } from '../errors.js';

/** An argument the runtime cannot accept: a size, an alignment, a geometry, a unit index (`EINVAL`). */
export class RuntimeArgumentError extends PercpuError {
  constructor(code: 'EINVAL_SIZE' | 'EINVAL_ALIGN' | 'EINVAL_GEOMETRY' | 'EINVAL', message: string) {
    super(code, message);
  }
}

/** "This CPU" was asked of a thread that was given no unit (for example the main thread). */
export class NoUnitError extends PercpuError {
  constructor(what: string) {
    super('EUNSUPPORTED', `${what} needs a unit: attach this thread with a unit index (SharedPercpu.attach(handle, unit))`);
  }
}

/** A hash map has no preallocated element left for a new key (BPF returns -E2BIG). */
export class MapFullError extends PercpuError {
  constructor(readonly maxEntries: number) {
    super('ENOSPC', `percpu hash map is full (${maxEntries} entries)`);
  }
}

/** A counter or map used after `destroy()`. */
export class DestroyedError extends PercpuError {
  constructor(what: string) {
    super('EDESTROYED', `${what} was destroyed`);
  }
}
