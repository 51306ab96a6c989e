// SPDX-License-Identifier: GPL-2.0-only
/**
 * Typed errors of the percpu library.
 *
 * Every error raised for bad input is thrown *before* any state is touched: an
 * allocator that throws one of these is exactly as it was before the call.
 * Callers can switch on `code` instead of parsing messages.
 *
 * A message is one line that names the file (and line) and what is wrong; an
 * optional `hint` is the second line, saying what to do. Text quoted from an
 * input goes through `excerpt`, so a 50 MB line never reaches a terminal.
 * The command line prints these two lines and nothing else (src/cli/exit.ts).
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
  | 'EINVAL_FLAGS'
  | 'EPARSE'
  | 'EINPUT'
  | 'EOUTPUT'
  | 'EUSAGE'
  | 'EEMPTY'
  | 'EUNSUPPORTED'
  | 'ERULES';

/** The base of every error this package throws: a stable `code` (the `E…` strings), a one-line message and an optional hint; the CLI prints these as they are. */
export class PercpuError extends Error {
  readonly code: PercpuErrorCode;
  /** What to do about it, when there is something better than "fix the input". */
  readonly hint: string | undefined;
  constructor(code: PercpuErrorCode, message: string, hint?: string) {
    super(message);
    this.code = code;
    this.hint = hint;
    this.name = new.target.name;
  }
}

/** At most `max` characters of input text, for quoting it in a message (long lines are cut, with an ellipsis). */
export function excerpt(text: string, max = 80): string {
  const t = text.length > max ? `${text.slice(0, max)}…` : text;
  // Control characters (a binary file read as text) would garble the terminal.
  return t.replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, '?');
}

/** A command line that cannot be carried out as written: an unknown option value, a missing argument. */
export class UsageError extends PercpuError {
  constructor(message: string, hint?: string) {
    super('EUSAGE', message, hint);
  }
}

/** An input that cannot be read to its end: missing, unreadable, truncated or corrupt compressed data. */
export class InputError extends PercpuError {
  constructor(readonly path: string, message: string, hint?: string) {
    super('EINPUT', `${path}: ${message}`, hint);
  }
}

/** An input with nothing in it: not malformed, but it vouches for nothing (the CLI warns and exits 1). */
export class EmptyInputError extends PercpuError {
  constructor(readonly path: string, message: string) {
    super('EEMPTY', `${path}: ${message}`);
  }
}

/** An output path that cannot be written. */
export class OutputError extends PercpuError {
  constructor(readonly path: string, message: string, hint?: string) {
    super('EOUTPUT', `${path}: ${message}`, hint);
  }
}

/** Allocation flags with bits no profile knows. */
export class InvalidFlagsError extends PercpuError {
  constructor(readonly flags: number, message: string) {
    super('EINVAL_FLAGS', message);
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
  constructor(message: string, hint?: string) {
    super('EINVAL_GEOMETRY', message, hint);
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
  constructor(readonly source: string, readonly line: number, message: string, hint?: string) {
    super('EPARSE', `${source}:${line}: ${message}`, hint);
  }
}

/** A feature asked of a profile that does not have it (for example a kernel version not built yet). */
export class UnsupportedError extends PercpuError {
  constructor(message: string, hint?: string) {
    super('EUNSUPPORTED', message, hint);
  }
}

/**
 * A custom profile whose rules the engine cannot honour together: `rule` is on
 * but `requires` (a rule it builds on, as upstream it did) is off, or an unknown
 * rule name was given (`requires` is then empty).
 */
export class RuleConflictError extends PercpuError {
  constructor(readonly rule: string, readonly requires: string, message: string, hint?: string) {
    super('ERULES', message, hint);
  }
}
