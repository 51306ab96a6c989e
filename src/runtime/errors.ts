// SPDX-License-Identifier: GPL-2.0-only
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

/** A thread tried to take a runtime lock it already holds (a re-entrant call, for example `alloc` inside `withAllocator`). */
export class LockReentryError extends PercpuError {
  constructor(what: string) {
    super('EDEADLK', `${what} is already held by this thread: re-entrant call (would deadlock)`);
  }
}

/** No unit left to lease: more threads want a unit than the allocator has (`nrUnits`, the "possible CPUs"). */
export class NoFreeUnitError extends PercpuError {
  constructor(readonly nrUnits: number) {
    super('ENOSPC', `all ${nrUnits} units are leased by live threads: create the SharedPercpu with a larger nrUnits (the most threads with a unit at once)`);
  }
}

/** The unit asked for is leased by another live thread (two threads on one unit). */
export class UnitBusyError extends PercpuError {
  constructor(readonly unit: number, readonly holder: number) {
    super('EBUSY', `unit ${unit} is leased by another live thread (token ${holder}): attach with 'auto' or another unit`);
  }
}
