// SPDX-License-Identifier: GPL-2.0-only
/**
 * The counter registry: one entry per live `PercpuCounter` of a shared percpu
 * allocator, so that releasing a unit can fold that unit's count of every
 * counter into the counter's base before the unit is zeroed — what the kernel's
 * CPU-hotplug callback does for `percpu_counter`s when a CPU goes offline.
 *
 * Two buffers, because they follow different rules:
 *
 * - `counters` (entries, growable): base (int64), read base (int64), percpu
 *   pointer (float64), generation (int32: odd while the entry is live, bumped on
 *   destroy so that stale objects see it), free-list link. Changed only under
 *   the allocator lock, inside a recoverable operation: it is part of the undo
 *   image, so a fold interrupted by a death is rolled back whole.
 * - `counterTotals` (fixed per entry, lock-free): `extra` (adds from threads
 *   with no unit) and `total` (the batched mode's reported deltas), changed with
 *   `Atomics.add` at any time — never rolled back.
 *
 * A counter's exact value is base + extra + Σ units' cells; its fast read is
 * read base + extra + total.
 */
import type { PercpuMemory } from './memory.js';

const HEADER = 64;
const ENTRY = 32;
export const MAX_COUNTERS = 1 << 16;
export const COUNTER_REGISTRY_MAX_BYTES = HEADER + ENTRY * MAX_COUNTERS;
export const COUNTER_TOTALS_BYTES = 16 * MAX_COUNTERS;

const enum Hd {
  HighWater = 0,
  FreeHead = 1,
}

/** Int32 word of entry `e`'s field; BigInt64/Float64 index of its 8-byte fields. */
export function genWord(e: number): number {
  return (HEADER + ENTRY * e) / 4 + 6;
}
function nextWord(e: number): number {
  return genWord(e) + 1;
}
export function baseIndex(e: number): number {
  return (HEADER + ENTRY * e) / 8;
}
export function readBaseIndex(e: number): number {
  return baseIndex(e) + 1;
}
function ptrIndex(e: number): number {
  return baseIndex(e) + 2;
}
export function extraIndex(e: number): number {
  return 2 * e;
}
export function totalIndex(e: number): number {
  return 2 * e + 1;
}

/** Byte length a view must cover to reach entry `e`. */
export function entryEnd(e: number): number {
  return HEADER + ENTRY * (e + 1);
}

/** A new entry for the counter at `ptr` (caller holds the allocator lock, in a recoverable operation). */
export function registerCounter(buf: SharedArrayBuffer, totals: SharedArrayBuffer, ptr: number, initial: bigint): { entry: number; gen: number } | undefined {
  const w = new Int32Array(buf, 0, HEADER / 4);
  let e: number;
  if (w[Hd.FreeHead]! > 0) {
    e = w[Hd.FreeHead]! - 1;
    w[Hd.FreeHead] = new Int32Array(buf)[nextWord(e)]!;
  } else {
    e = w[Hd.HighWater]!;
    if (e >= MAX_COUNTERS) return undefined;
    if (buf.byteLength < entryEnd(e)) buf.grow(Math.min(buf.maxByteLength, Math.max(entryEnd(e), 2 * buf.byteLength)));
    w[Hd.HighWater] = e + 1;
  }
  const i64 = new BigInt64Array(buf, 0, entryEnd(e) / 8);
  i64[baseIndex(e)] = initial;
  i64[readBaseIndex(e)] = initial;
  new Float64Array(buf, 0, entryEnd(e) / 8)[ptrIndex(e)] = ptr;
  const t = new BigInt64Array(totals);
  Atomics.store(t, extraIndex(e), 0n);
  Atomics.store(t, totalIndex(e), 0n);
  const i32 = new Int32Array(buf, 0, entryEnd(e) / 4);
  const gen = (i32[genWord(e)]! + 1) | 1;
  Atomics.store(i32, genWord(e), gen);
  return { entry: e, gen };
}

/** Retire entry `e` (caller holds the allocator lock, in a recoverable operation). */
export function unregisterCounter(buf: SharedArrayBuffer, e: number): void {
  const w = new Int32Array(buf, 0, entryEnd(e) / 4);
  Atomics.store(w, genWord(e), w[genWord(e)]! + 1);
  w[nextWord(e)] = w[Hd.FreeHead]!;
  w[Hd.FreeHead] = e + 1;
}

/**
 * Fold unit `unit`'s count of every live counter into the counter's bases
 * (caller holds the allocator lock, in a recoverable operation; the cells are
 * read, not changed — zeroing the unit comes after the commit point).
 */
export function foldUnitCounters(buf: SharedArrayBuffer, memory: PercpuMemory, unit: number): void {
  const hw = new Int32Array(buf, 0, HEADER / 4)[Hd.HighWater]!;
  if (hw === 0) return;
  const i32 = new Int32Array(buf, 0, entryEnd(hw - 1) / 4);
  const i64 = new BigInt64Array(buf, 0, entryEnd(hw - 1) / 8);
  const f64 = new Float64Array(buf, 0, entryEnd(hw - 1) / 8);
  for (let e = 0; e < hw; e++) {
    if ((i32[genWord(e)]! & 1) === 0) continue;
    const at = memory.address(f64[ptrIndex(e)]!, unit, 0, 8) >>> 3;
    const cell = memory.i64[at]!;
    const reported = memory.i64[at + 1]!;
    if (cell === 0n && reported === 0n) continue;
    i64[baseIndex(e)] = BigInt.asIntN(64, i64[baseIndex(e)]! + cell);
    i64[readBaseIndex(e)] = BigInt.asIntN(64, i64[readBaseIndex(e)]! + cell - reported);
  }
}
