// SPDX-License-Identifier: GPL-2.0-only
/**
 * The error discipline of every `percpu` subcommand, written once.
 *
 * Exit codes:
 *   0  checked, and all good
 *   1  checked, and something differs or was found (a mismatch, a finding,
 *      a warning that the input vouches for nothing: empty, reordered)
 *   2  the input or the command line is wrong (missing, unreadable,
 *      truncated or malformed file; unwritable output; bad option value)
 *
 * An error reaches the user as one line — `percpu: FILE:LINE: what is wrong`
 * — and, when there is something better to say than "fix the input", a second
 * line saying what to do. Never a stack trace: that is kept for `--debug` or
 * `PERCPU_DEBUG=1`. An error that is not one of the library's typed errors is
 * a bug in percpu and says so (still exit 2, still no stack).
 */
import { CommanderError } from 'commander';
import { PercpuError, UsageError } from '../errors.js';
import { cannotWrite, errnoWords, unreadable } from '../formats/input.js';
import { isImplemented } from '../engine/allocator.js';
import { KERNEL_ALIASES } from '../engine/profile.js';

export const EXIT_OK = 0;
export const EXIT_DIFFERS = 1;
export const EXIT_BAD_INPUT = 2;

/** The text of `--help` that documents the codes. */
export const EXIT_CODES_HELP = `
Exit codes:
  0  checked, all good
  1  checked, something differs or was found (mismatch, finding, empty or reordered input)
  2  bad input or usage (missing, truncated or malformed file; unwritable output; bad option)

Errors are one or two lines (file, line, what is wrong, what to do). Set PERCPU_DEBUG=1 or
pass --debug for a stack trace.`;

export function debugEnabled(argv: readonly string[] = process.argv): boolean {
  return argv.includes('--debug') || (process.env.PERCPU_DEBUG !== undefined && process.env.PERCPU_DEBUG !== '' && process.env.PERCPU_DEBUG !== '0');
}

/** A Node system error carrying a path (fs calls) as a typed error; anything else unchanged. */
export function typedError(e: unknown): unknown {
  if (e instanceof PercpuError) return e;
  const err = e as NodeJS.ErrnoException & { path?: string; syscall?: string };
  if (err && typeof err === 'object' && typeof err.code === 'string' && typeof err.path === 'string') {
    const writing = err.syscall === 'mkdir' || err.syscall === 'write' || err.syscall === 'rename' || err.syscall === 'unlink';
    // `open` is used for both: a read-only open of a missing file is a read failure, an EROFS/EISDIR open a write one.
    if (writing || err.code === 'EROFS') return cannotWrite(err.path, e);
    return unreadable(err.path, e);
  }
  return e;
}

/** The lines an error prints (without the `percpu: ` prefix) and its exit code. */
export function describeError(e: unknown): { lines: string[]; code: number } {
  const t = typedError(e);
  if (t instanceof PercpuError) {
    const empty = t.code === 'EEMPTY';
    const lines = [empty ? `warning: ${t.message}` : t.message];
    if (t.hint) lines.push(`  ${t.hint}`);
    return { lines, code: empty ? EXIT_DIFFERS : EXIT_BAD_INPUT };
  }
  const err = t as NodeJS.ErrnoException;
  if (err && typeof err === 'object' && err.code === 'EPIPE') return { lines: [], code: process.exitCode === undefined ? EXIT_OK : Number(process.exitCode) };
  const what = err instanceof Error ? `${err.name}: ${err.code ? errnoWords(err) : err.message}` : String(t);
  return {
    lines: [`internal error: ${what.slice(0, 200)}`, '  this is a bug in percpu: please report it with the command line (PERCPU_DEBUG=1 shows the stack trace)'],
    code: EXIT_BAD_INPUT,
  };
}

/** `percpu: ` before the message; the hint line (indented) stands as it is. */
export function formatErrorLines(lines: string[]): string {
  return lines.map((l, i) => (i === 0 ? `percpu: ${l}\n` : `${l}\n`)).join('');
}

/** Print an error the house way and return the exit code for it. */
export function reportError(e: unknown, stderr: (s: string) => void = (s) => process.stderr.write(s)): number {
  if (e instanceof CommanderError) {
    // Commander printed its own message already; help and --version are not errors.
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return EXIT_OK;
    return EXIT_BAD_INPUT;
  }
  const { lines, code } = describeError(e);
  stderr(formatErrorLines(lines));
  if (debugEnabled() && e instanceof Error && e.stack) stderr(`${e.stack}\n`);
  return code;
}

/** An option parser for commander that turns a bad value into a usage error (exit 2). */
export function intOption(flag: string, min = 0, max = Number.MAX_SAFE_INTEGER): (v: string) => number {
  return (v: string) => {
    if (!/^\d+$/.test(v.trim())) throw new UsageError(`${flag} takes an integer, got "${v.slice(0, 40)}"`);
    const n = Number(v);
    if (n < min || n > max) throw new UsageError(`${flag} takes an integer in ${min}..${max}, got ${v}`);
    return n;
  };
}

/** The worst of several exit codes (2 beats 1 beats 0). */
export function worst(...codes: number[]): number {
  return Math.max(EXIT_OK, ...codes);
}

/** `--kernel` values: a name a profile implements, else a usage error (never a silent skip). */
export function kernelOption(v: string): string {
  if (isImplemented(v)) return v;
  throw new UsageError(`--kernel ${v.slice(0, 40)}: no such kernel profile`, `known: ${Object.keys(KERNEL_ALIASES).filter(isImplemented).join(', ')}`);
}
