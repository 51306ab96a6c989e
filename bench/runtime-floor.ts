// SPDX-License-Identifier: GPL-2.0-only
/**
 * `node dist/bench/runtime-floor.js`: where the time of an own-unit Int32
 * increment goes, in one thread — the evidence behind "What the one-thread
 * ratios measure" in docs/RUNTIME.md (issue 12).
 *
 * Two families of loops, each a chained increment of one Int32 word (the shape
 * of bench/runtime.ts's one-thread cases), best of interleaved rounds:
 *
 * - The address: a compile-time constant (`constAddr`, bench/runtime.ts's
 *   `raw`), a constant array with its index read in the loop from a mutable
 *   field (`loadedIndex`) or from a typed-array cell (`cellIndex`), and array
 *   and index both read from fields (`loadedBoth`). On a CPU that forwards a
 *   store to the next load of the same unchanged address register at zero
 *   latency, only the first escapes the store-to-load latency.
 * - `ThisCpuAccessor.addInt32`'s hit path, copied into `HitPath` (the same
 *   fields — cached pointer as a double, epoch, Int32 index, view — and the same
 *   checks against a shared epoch word), then with the epoch test, the pointer
 *   compare, or both removed. If the full hit path costs what the check-free one
 *   does, the checks are not where the time goes.
 *
 * A copy, not the class itself, so that checks can be taken out; keep it in step
 * with src/runtime/accessors.ts (`at4`, `addInt32`) when that changes.
 *
 *   node dist/bench/runtime-floor.js [--rounds N]
 *
 * Only ratios within one run mean anything; record them with the load average.
 */
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import { Rt } from '../src/runtime/memory.js';

/** The epoch's word in the control view, where the accessor reads it. */
const EPOCH = Rt.ChunkEpoch;
/** The incremented word's Int32 index. */
const AT = 100;

interface Slot {
  a: Int32Array;
  i: number;
}

/** `ThisCpuAccessor`'s cache fields and the hit path of `at4` + `addInt32`, with variants. */
class HitPath {
  declare private cPtr4: number;
  declare private cEpoch: number;
  declare private cI4: number;
  declare private cI32: Int32Array;
  declare private readonly ctl: Int32Array;
  declare private readonly buf: SharedArrayBuffer;

  constructor(buf: SharedArrayBuffer, ctl: Int32Array) {
    this.buf = buf;
    this.ctl = ctl;
    this.cPtr4 = Number.NaN;
    this.cEpoch = 0;
    this.cI4 = 0;
    this.cI32 = new Int32Array(buf);
  }

  /** As `ThisCpuAccessor.miss`: every cache field written (so that V8 folds none of them). */
  miss(ptr: number): number {
    this.cPtr4 = ptr;
    this.cEpoch = this.ctl[EPOCH]!;
    this.cI4 = AT;
    this.cI32 = new Int32Array(this.buf);
    return AT;
  }

  full(ptr: number, d: number): number {
    const i = ptr === this.cPtr4 && this.ctl[EPOCH] === this.cEpoch ? this.cI4 : this.miss(ptr);
    const a = this.cI32;
    return (a[i] = (a[i]! + d) | 0);
  }

  noEpoch(ptr: number, d: number): number {
    const i = ptr === this.cPtr4 ? this.cI4 : this.miss(ptr);
    const a = this.cI32;
    return (a[i] = (a[i]! + d) | 0);
  }

  noPtr(ptr: number, d: number): number {
    const i = this.ctl[EPOCH] === this.cEpoch ? this.cI4 : this.miss(ptr);
    const a = this.cI32;
    return (a[i] = (a[i]! + d) | 0);
  }

  noCheck(d: number): number {
    const i = this.cI4;
    const a = this.cI32;
    return (a[i] = (a[i]! + d) | 0);
  }
}

function main(): void {
  const { values } = parseArgs({ options: { rounds: { type: 'string' } } });
  const rounds = Number(values.rounds ?? 60);
  const before = loadavg();
  const buf = new SharedArrayBuffer(1 << 16);
  const ctl = new Int32Array(new SharedArrayBuffer(64));
  const raw = new Int32Array(buf);
  const slot: Slot = { a: raw, i: 0 };
  // Written again after creation: a field V8 tracks as mutable, never folded.
  slot.i = AT;
  const both: Slot = { a: new Int32Array(1), i: 0 };
  both.a = raw;
  both.i = AT;
  const cell = new Int32Array(1);
  cell[0] = AT;
  const hit = new HitPath(buf, ctl);
  // A pointer as the allocator makes them (≥ 2^32, a double); two misses, so that the
  // cache fields are written more than once, as in any run.
  const ptr = 2 ** 32 + 4 * AT;
  hit.miss(ptr + 8);
  hit.miss(ptr);
  const cases: Record<string, (n: number) => void> = {
    constAddr: (n) => {
      for (let i = 0; i < n; i++) raw[AT] = raw[AT]! + 1;
    },
    loadedIndex: (n) => {
      for (let i = 0; i < n; i++) {
        const j = slot.i;
        raw[j] = raw[j]! + 1;
      }
    },
    cellIndex: (n) => {
      for (let i = 0; i < n; i++) {
        const j = cell[0]!;
        raw[j] = raw[j]! + 1;
      }
    },
    loadedBoth: (n) => {
      for (let i = 0; i < n; i++) {
        const a = both.a;
        const j = both.i;
        a[j] = a[j]! + 1;
      }
    },
    hitFull: (n) => {
      for (let i = 0; i < n; i++) hit.full(ptr, 1);
    },
    hitNoEpoch: (n) => {
      for (let i = 0; i < n; i++) hit.noEpoch(ptr, 1);
    },
    hitNoPtr: (n) => {
      for (let i = 0; i < n; i++) hit.noPtr(ptr, 1);
    },
    hitNoCheck: (n) => {
      for (let i = 0; i < n; i++) hit.noCheck(1);
    },
  };
  const entries = Object.entries(cases);
  // bench/runtime.ts's warm-up: many short calls, so that V8 compiles each case on entry.
  for (let w = 0; w < 2000; w++) for (const [, f] of entries) f(256);
  const best: Record<string, number> = {};
  const N = 1_000_000;
  for (let r = 0; r < rounds; r++) {
    for (const [k, f] of entries) {
      const t = performance.now();
      f(N);
      best[k] = Math.min(best[k] ?? Infinity, ((performance.now() - t) * 1e6) / N);
    }
  }
  const base = best.constAddr!;
  for (const [k, v] of Object.entries(best)) console.log(`  ${k.padEnd(12)} ${v.toFixed(2)} ns  ${(v / base).toFixed(2)}× constAddr`);
  const after = loadavg();
  console.log(`load average before ${before.map((x) => x.toFixed(2)).join(' ')}, after ${after.map((x) => x.toFixed(2)).join(' ')}; best of ${rounds} rounds of ${N}`);
}

main();
