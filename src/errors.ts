/**
 * Typed errors of the percpu library.
 *
 * Every error raised for bad input is thrown *before* any state is touched: an
 * allocator that throws one of these is exactly as it was before the call.
 * Callers can switch on `code` instead of parsing messages.
 */

export type PercpuErrorCode =
  | 'EINVAL_SIZE'
  | 'EINVAL_ALIGN'
  | 'EINVAL_FREE'
  | 'EINVAL_GEOMETRY'
  | 'EINVAL'
  | 'EDESTROYED'
  | 'EDEADLK'
  | 'EBUSY'
  | 'ENOSPC'
  | 'ENORESERVED'
  | 'EPARSE'
  | 'EUNSUPPORTED';

export class PercpuError extends Error {
  readonly code: PercpuErrorCode;
  constructor(code: PercpuErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A request the kernel rejects up front ("illegal size or align"). */
export class InvalidRequestError extends PercpuError {
  constructor(code: 'EINVAL_SIZE' | 'EINVAL_ALIGN', readonly size: number, readonly align: number, message: string) {
    super(code, message);
  }
}

/** A free of something that is not the start of a live allocation. */
export class InvalidFreeError extends PercpuError {
  constructor(readonly chunk: number, readonly offset: number, message: string) {
    super('EINVAL_FREE', message);
  }
}

/** A geometry the kernel's first-chunk setup would refuse. */
export class GeometryError extends PercpuError {
  constructor(message: string) {
    super('EINVAL_GEOMETRY', message);
  }
}

/** No chunk can satisfy the request (atomic with no populated space, reserved region full, chunk limit). */
export class AllocationFailedError extends PercpuError {
  constructor(readonly size: number, readonly align: number, readonly reason: string) {
    super('ENOSPC', `allocation failed, size=${size} align=${align}: ${reason}`);
  }
}

/** A reserved allocation was asked of an allocator built without a reserved region. */
export class NoReservedChunkError extends PercpuError {
  constructor() {
    super('ENORESERVED', 'reserved allocation requested but the geometry has no reserved region (reserved_size = 0)');
  }
}

/** Malformed input text (golden files, traces, percpu_stats), with the 1-based line it came from. */
export class ParseError extends PercpuError {
  constructor(readonly source: string, readonly line: number, message: string) {
    super('EPARSE', `${source}:${line}: ${message}`);
  }
}

/** A feature asked of a profile that does not have it (for example a kernel version not built yet). */
export class UnsupportedError extends PercpuError {
  constructor(message: string) {
    super('EUNSUPPORTED', message);
  }
}
