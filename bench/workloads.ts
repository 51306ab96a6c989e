// SPDX-License-Identifier: GPL-2.0-only
/**
 * The oracle's timing workloads (shared spec `oracle-timings.md` §2) as compact
 * op streams, plus the cover letter's "second half of each page filled" variant
 * (kernel spec §10).
 *
 * An op stream is column-wise typed arrays — kind, size, align, target — with no
 * per-op object, so a 5-million-op stream costs tens of megabytes and building it
 * never happens inside a timed region. `target` is an object slot: an alloc
 * stores its pointer there, a free releases the pointer found there. Ops before
 * `timedFrom` are setup that the bench runs untimed (only the half-filled
 * variant has any); from `timedFrom` on, every maximal run of allocs or of frees
 * is one timed phase, exactly as the oracle timed the kernel's C.
 *
 * Invariants of every stream: each target is allocated before it is freed and
 * freed at most once; `objects` bounds every target.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OpKind, parseGolden } from '../src/formats/golden.js';
import { NULL_PTR } from '../src/engine/pointer.js';

export const OP_ALLOC = 0;
export const OP_FREE = 1;

export interface OpStream {
  readonly name: string;
  readonly description: string;
  readonly length: number;
  /** OP_ALLOC or OP_FREE. */
  readonly kind: Uint8Array;
  /** Requested size in bytes (allocs; 0 for frees). */
  readonly size: Uint32Array;
  /** Requested alignment in bytes (allocs; 0 for frees). */
  readonly align: Uint32Array;
  /** Object slot the op allocates into or frees from. */
  readonly target: Uint32Array;
  /** Number of object slots. */
  readonly objects: number;
  /** Ops [0, timedFrom) are untimed setup. */
  readonly timedFrom: number;
}

/** What the timed loops drive: any allocator with the kernel's two calls. */
export interface TimedAllocator {
  /** A pointer, or NULL_PTR when the request cannot be met. */
  alloc(size: number, align: number): number;
  free(ptr: number): void;
}

// The timed loops, shared by `percpu bench` and `bench --c-oracle`: small
// functions of their own, so the JIT optimises them as units and inlines
// `alloc`/`free` into them (a pointer is a double, and a double passed through
// a call that is not inlined is boxed). Each bench process drives one
// allocator class, so their call sites stay monomorphic.

/** Allocations `from`..`to` of a stream; returns how many were refused. */
export function runAllocs(a: TimedAllocator, s: OpStream, from: number, to: number, ptrs: Float64Array): number {
  const size = s.size;
  const align = s.align;
  const target = s.target;
  let failed = 0;
  for (let i = from; i < to; i++) {
    const p = a.alloc(size[i]!, align[i]!);
    if (p === NULL_PTR) failed++;
    ptrs[target[i]!] = p;
  }
  return failed;
}

/** Frees `from`..`to` of a stream. */
export function runFrees(a: TimedAllocator, s: OpStream, from: number, to: number, ptrs: Float64Array): void {
  const target = s.target;
  for (let i = from; i < to; i++) a.free(ptrs[target[i]!]!);
}

/** The oracle's primary geometry G1 (oracle-timings §1): the setup every C timing used. */
export const G1 = Object.freeze({ pageSize: 4096, unitSize: 1048576, staticSize: 16392, reservedSize: 0, dynSize: 32760 });

/** Full size of W1–W6a and W1x: 2^20 objects. */
export const FULL_N = 1 << 20;
/** Objects of W6b. */
export const W6B_N = 100_000;

/** Object sizes of W1..W5. */
export const W_SIZES: readonly number[] = [4, 16, 64, 256, 1024];

export type FreeOrder = 'a' | 'b' | 'c';

/** Natural alignment of a small struct, capped at 8: 4 for 4-byte objects, 8 otherwise. */
export function naturalAlign(size: number): number {
  return size === 4 ? 4 : 8;
}

/** Growable column builder: the generators write ops here, then freeze to exact-length arrays. */
class StreamBuilder {
  kind: Uint8Array;
  size: Uint32Array;
  align: Uint32Array;
  target: Uint32Array;
  length = 0;

  constructor(capacity: number) {
    this.kind = new Uint8Array(capacity);
    this.size = new Uint32Array(capacity);
    this.align = new Uint32Array(capacity);
    this.target = new Uint32Array(capacity);
  }

  private grow(): void {
    const n = Math.max(16, this.kind.length * 2);
    const k = new Uint8Array(n);
    const s = new Uint32Array(n);
    const a = new Uint32Array(n);
    const t = new Uint32Array(n);
    k.set(this.kind);
    s.set(this.size);
    a.set(this.align);
    t.set(this.target);
    this.kind = k;
    this.size = s;
    this.align = a;
    this.target = t;
  }

  alloc(target: number, size: number, align: number): void {
    if (this.length === this.kind.length) this.grow();
    const i = this.length++;
    this.kind[i] = OP_ALLOC;
    this.size[i] = size;
    this.align[i] = align;
    this.target[i] = target;
  }

  free(target: number): void {
    if (this.length === this.kind.length) this.grow();
    const i = this.length++;
    this.kind[i] = OP_FREE;
    this.target[i] = target;
  }

  /** Free targets [0, n) in one of the oracle's three orders. */
  freeAll(first: number, n: number, order: FreeOrder): void {
    if (order === 'a') for (let i = 0; i < n; i++) this.free(first + i);
    else if (order === 'b') for (let i = n - 1; i >= 0; i--) this.free(first + i);
    else {
      for (let i = 0; i < n; i += 2) this.free(first + i);
      for (let i = 1; i < n; i += 2) this.free(first + i);
    }
  }

  finish(name: string, description: string, objects: number, timedFrom = 0): OpStream {
    const n = this.length;
    return {
      name,
      description,
      length: n,
      kind: this.kind.slice(0, n),
      size: this.size.slice(0, n),
      align: this.align.slice(0, n),
      target: this.target.slice(0, n),
      objects,
      timedFrom,
    };
  }
}

/** N objects of one size and align, all allocated, then all freed in `order`. */
export function uniformWorkload(name: string, n: number, size: number, align: number, order: FreeOrder): OpStream {
  const b = new StreamBuilder(2 * n);
  for (let i = 0; i < n; i++) b.alloc(i, size, align);
  b.freeAll(0, n, order);
  const orderText = order === 'a' ? 'in order' : order === 'b' ? 'reverse' : 'alternating';
  return b.finish(name, `${n} x ${size} B align ${align}, freed ${orderText}`, n);
}

/** W1a … W5c: `index` 1..5 picks the size (4, 16, 64, 256, 1024 B). */
export function wWorkload(index: number, order: FreeOrder, n = FULL_N): OpStream {
  const size = W_SIZES[index - 1];
  if (size === undefined) throw new RangeError(`no workload W${index} (1..5)`);
  return uniformWorkload(`W${index}${order}`, n, size, naturalAlign(size), order);
}

export function w6a(n = FULL_N): OpStream {
  return uniformWorkload('W6a', n, 8, 8, 'a');
}

export function w6b(n = W6B_N): OpStream {
  return uniformWorkload('W6b', n, 64, 8, 'a');
}

/** The cover letter's pathology: 4-byte objects with 8-byte alignment, freed in order. */
export function w1x(n = FULL_N): OpStream {
  return uniformWorkload('W1x', n, 4, 8, 'a');
}

/**
 * Where the `j`-th object of a sequential fill lands in G1 — chunk-relative
 * byte offset, ignoring which chunk: the first chunk's dynamic area holds
 * floor(dyn / size) objects from unit offset `staticSize` (already 8-aligned),
 * every later chunk holds unit / size objects from offset 0. The bitmap
 * allocators fill exactly this way (the test replays it to prove so).
 */
export function sequentialFillOffset(j: number, size: number): number {
  const firstCap = Math.floor(G1.dynSize / size);
  if (j < firstCap) return G1.staticSize + j * size;
  const perChunk = G1.unitSize / size;
  return ((j - firstCap) % perChunk) * size;
}

/**
 * "Second half of each page filled" (cover letter v2): fill chunks with
 * `size`-byte objects, free those starting in the first half of their page
 * (untimed setup), then time N allocations into those half-page holes and N
 * in-order frees. Filling ends at a chunk boundary, so the holes are the only
 * free space but for the empty chunk the balance work keeps.
 */
export function halfFilledWorkload(index: number, n = FULL_N): OpStream {
  const size = W_SIZES[index - 1];
  if (size === undefined) throw new RangeError(`no workload W${index}h (1..5)`);
  const align = naturalAlign(size);
  const half = G1.pageSize / 2;
  // Fill until the first-half objects, once freed, leave room for n, and on to
  // the end of that chunk: a partly filled last chunk would offer its empty tail
  // (4.14 slots chunks by free bytes and would pick it before the holes).
  const firstHalf: number[] = [];
  let fillers = 0;
  while (firstHalf.length < n || sequentialFillOffset(fillers, size) !== 0) {
    if (sequentialFillOffset(fillers, size) % G1.pageSize < half) firstHalf.push(fillers);
    fillers++;
  }
  const b = new StreamBuilder(fillers + 3 * n);
  for (let j = 0; j < fillers; j++) b.alloc(j, size, align);
  for (const j of firstHalf) b.free(j);
  const timedFrom = b.length;
  for (let i = 0; i < n; i++) b.alloc(fillers + i, size, align);
  b.freeAll(fillers, n, 'a');
  return b.finish(`W${index}h`, `${n} x ${size} B align ${align} into first halves of pages whose second half is filled, freed in order`, fillers + n, timedFrom);
}

/** Project root, from bench/ (sources) or dist/bench/ (compiled). */
export function projectRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return here.split(/[\\/]/).includes('dist') ? join(here, '..', '..') : join(here, '..');
}

/** A golden file's op stream without its placements and chunk events (W7, W8). */
export function goldenWorkload(name: string, path: string): OpStream {
  const raw = readFileSync(path);
  const text = (raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw).toString('utf8');
  const g = parseGolden(text, path);
  const ops = g.ops;
  const b = new StreamBuilder(ops.length);
  for (let i = 0; i < ops.length; i++) {
    const k = ops.kind[i]!;
    if (k === OpKind.Alloc) b.alloc(ops.id[i]!, ops.size[i]!, ops.align[i]!);
    else if (k === OpKind.Free) b.free(ops.id[i]!);
  }
  return b.finish(name, g.header.workload || name, g.maxId + 1);
}

export function goldenWorkloadPath(name: 'W7' | 'W8'): string {
  return join(projectRoot(), 'fixtures', 'golden', 'oracle', '4.14', 'G1', `${name}.golden.gz`);
}

export const W_NAMES: readonly string[] = [1, 2, 3, 4, 5].flatMap((i) => (['a', 'b', 'c'] as const).map((o) => `W${i}${o}`));
export const HALF_NAMES: readonly string[] = [1, 2, 3, 4, 5].map((i) => `W${i}h`);
/** Every workload the bench knows, in table order. */
export const ALL_WORKLOADS: readonly string[] = [...W_NAMES, 'W6a', 'W6b', 'W7', 'W8', 'W1x', ...HALF_NAMES];

/** Sizes used by `--quick`: small enough that the whole bench finishes in seconds. */
export const QUICK_N = 1 << 14;

/**
 * Build a named workload. `n` (or quick mode) shrinks W1–W6 and W1x;
 * W7/W8 are always the golden streams in full.
 */
export function buildWorkload(name: string, options: { n?: number; quick?: boolean } = {}): OpStream {
  const quick = options.quick ?? false;
  const n = options.n ?? (quick ? QUICK_N : FULL_N);
  let m = /^W([1-5])([abc])$/.exec(name);
  if (m) return wWorkload(Number(m[1]), m[2] as FreeOrder, n);
  m = /^W([1-5])h$/.exec(name);
  if (m) return halfFilledWorkload(Number(m[1]), n);
  switch (name) {
    case 'W6a':
      return w6a(n);
    case 'W6b':
      return w6b(options.n ?? (quick ? 10_000 : W6B_N));
    case 'W1x':
      return w1x(n);
    case 'W7':
    case 'W8':
      return goldenWorkload(name, goldenWorkloadPath(name));
    default:
      throw new RangeError(`unknown workload "${name}" (known: ${ALL_WORKLOADS.join(', ')})`);
  }
}

/**
 * The timed phases of a stream: maximal runs of one op kind from `timedFrom`
 * on, as [start, end) pairs flattened into one array.
 */
export function timedPhases(s: OpStream): Uint32Array {
  const out: number[] = [];
  let i = s.timedFrom;
  while (i < s.length) {
    const k = s.kind[i];
    let j = i + 1;
    while (j < s.length && s.kind[j] === k) j++;
    out.push(i, j);
    i = j;
  }
  return Uint32Array.from(out);
}
