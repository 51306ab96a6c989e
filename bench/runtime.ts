// SPDX-License-Identifier: GPL-2.0-only
/**
 * `npm run bench:runtime`: the JavaScript runtime under real worker threads,
 * against what a Node developer would write instead — all in one run, the
 * cases interleaved round by round so that a change of machine load hits them
 * alike. Only ratios between cases of the same run mean anything.
 *
 * 1. Increments per second, summed over 1, 2 and 4 workers, of
 *    - one shared word bumped with `Atomics.add`,
 *    - padded per-worker slots (one cache line each) bumped with `Atomics.add`
 *      and with plain `++`,
 *    - a per-worker local variable, posted to the main thread at the end,
 *    - `PercpuCounter.add(1)`, batched (the kernel's batch, and a batch of
 *      WIDE_BATCH) and exact mode,
 *    - the worker's own unit through `thisCpuInt32(ptr).add(1)` and
 *      `thisCpu.addInt32(ptr, 1)`.
 *    Each worker counts for a fixed time after a common start; the exact total
 *    is checked against the count afterwards.
 * 2. Map updates per second (1024 int keys, round robin): `PercpuHashMap.addInt32`,
 *    a plain open-addressing SharedArrayBuffer map with one value column per
 *    worker, and a per-worker `Map` aggregated by postMessage at the end.
 * 3. One thread, ns per operation (best of rounds): own-unit accessors and
 *    counter adds against a raw Int32Array increment — at a constant address
 *    (`raw`, what V8 makes of a closure's array and index), through an
 *    object's fields (`rawField`), and at the constant address behind one
 *    never-taken check (`rawChecked`, the least any checked access can cost)
 *    — one BigInt `Atomics.add` (`bigAtomicAdd`, the batched counter's
 *    report), `raw` with that report every `batch`-th increment (`rawReport`,
 *    the batched add's loop shape), map updates in the workers' round-robin
 *    loop, and the summed read of one key at 4 units against the plain map's.
 *
 * What the one-thread baselines are (read off `node --print-opt-code`, Node 20,
 * and measured on the 2-vCPU machine; see docs/RUNTIME.md, fast paths):
 * - `raw` is not reduced to nothing: each iteration is one 32-bit load, add and
 *   store at an address V8 embeds as a constant, plus the loop's count, overflow
 *   and interrupt checks. It runs at ~1 cycle an iteration because the CPU
 *   forwards a store to the next load of the same unchanged address register at
 *   zero latency; the same increment with its index loaded in the loop (even
 *   from a constant array) runs at ~4.5× that — the store-to-load latency — and
 *   so does `rawField`. No access keyed by a pointer known only at run time can
 *   get under `rawField`; only a reference V8 folds to a constant (`ref`) can.
 * - `rawChecked`'s slow path is inlined (a field increment behind the test), so
 *   its loop has no call: it is the cost of a test, not of a call site.
 * - The batched counter calls a builtin every `batch` adds (`Atomics.add` on a
 *   shared buffer is a builtin call in Node 20, Int32 or BigInt alike), and a
 *   loop with a call taken every 32nd iteration costs ~3× raw with nothing else
 *   in it (`rawReport`): the call, the registers it clobbers, and a branch taken
 *   once in 32. `counterOverRawReport` is the batched add against that shape;
 *   `counterOverRaw` against a loop without the call. (The former
 *   `counterFloorOverRaw`, exact add plus `bigAtomicAdd / batch`, left the loop
 *   shape out and underestimated the floor.)
 *
 * Every case, worker or one-thread, is warmed the same way before it is timed
 * (WARM_CALLS short calls, so that V8 compiles it on entry, not only on-stack).
 * 4. Creation and destruction of a 1,000,000-entry `PercpuHashMap` beside the
 *    allocator engine alone and the kernel's PERCPU_HASH figures.
 *
 *   node dist/bench/runtime.js [--duration MS] [--runs N] [--json] [--quick] [--only map|count|micro]
 *
 * `--only` runs one section (for quick checks while tuning; record full runs).
 *
 * This file is also the worker script (it re-launches itself).
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { SharedPercpu, type SharedPercpuHandle } from '../src/runtime/shared-percpu.js';
import { defaultCounterBatch, PercpuCounter, type PercpuCounterHandle } from '../src/runtime/counter.js';
import { PercpuHashMap, type PercpuHashMapHandle } from '../src/runtime/hash-map.js';
import { BitmapAllocator } from '../src/engine/bitmap-allocator.js';

/**
 * The `counterWide` case's batch: the kernel's batched counter with a batch the caller chose
 * (`percpu_counter_add_batch`'s knob), so that the two-worker rows show how much of the default
 * batch's scaling is the shared total's cache line (one report per 32 adds at the default).
 */
const WIDE_BATCH = 1024;

type Kind = 'atomic' | 'paddedAtomic' | 'paddedPlain' | 'local' | 'counter' | 'counterWide' | 'counterExact' | 'ref' | 'accessor' | 'map' | 'sabMap' | 'jsMap';
const COUNT_KINDS: readonly Kind[] = ['atomic', 'paddedAtomic', 'paddedPlain', 'local', 'counter', 'counterWide', 'counterExact', 'ref', 'accessor'];
const MAP_KINDS: readonly Kind[] = ['map', 'sabMap', 'jsMap'];
const LABEL: Record<Kind, string> = {
  atomic: 'shared word, Atomics.add',
  paddedAtomic: 'padded per-worker slots, Atomics.add',
  paddedPlain: 'padded per-worker slots, plain ++',
  local: 'per-worker local, posted at the end',
  counter: 'PercpuCounter.add(1), batched',
  counterWide: `PercpuCounter.add(1), batched, batch ${WIDE_BATCH}`,
  counterExact: 'PercpuCounter.add(1), exact mode',
  ref: 'own unit, thisCpuInt32(ptr).add(1)',
  accessor: 'own unit, thisCpu.addInt32(ptr, 1)',
  map: 'PercpuHashMap.addInt32(key, 1)',
  sabMap: 'plain SAB open-addressing map, column/worker',
  jsMap: 'per-worker Map + postMessage at the end',
};

const MAP_KEYS = 1024;
/** Units of the one-thread (micro) allocator. */
const MICRO_UNITS = 4;
/** The plain SAB map: capacity (power of two), keys stored + 1 (0 = empty). */
const SAB_CAP = 4096;

interface WorkerJob {
  kind: Kind;
  unit: number;
  workers: number;
  percpu: SharedPercpuHandle;
  counter: PercpuCounterHandle;
  wide: PercpuCounterHandle;
  exact: PercpuCounterHandle;
  map: PercpuHashMapHandle;
  /** Words: 0 ready count, 1 go, 2 stop; the shared word at 16; padded slots from 32, 16 words apart. */
  control: SharedArrayBuffer;
  /** The plain map: SAB_CAP Int32 keys, then SAB_CAP × workers Int32 values. */
  sabMap: SharedArrayBuffer;
  ptr: number;
}

const GO = 1;
const STOP = 2;
const SHARED_WORD = 16;
const PAD_BASE = 32;
const PAD = 16;
/** Increments between two looks at the stop flag. */
const SLICE = 1 << 16;
/** The warm-up of every case (worker and one-thread alike): WARM_CALLS calls of WARM_N operations. */
const WARM_CALLS = 2000;
const WARM_N = 256;

function sabMapHome(key: number): number {
  return Math.imul(key + 1, 0x9e3779b1) >>> 20;
}

/**
 * The 40-line map a developer would write: linear probing, insert by
 * compareExchange, one value column per worker — worker w's values contiguous
 * at `w × SAB_CAP`, so that two workers never write one cache line (values of
 * one key side by side would have them share lines, and lose to false sharing
 * what the map is meant to show).
 */
function sabMapAdd(keys: Int32Array, vals: Int32Array, w: number, key: number): void {
  const k1 = key + 1;
  for (let i = sabMapHome(key); ; i = (i + 1) & (SAB_CAP - 1)) {
    const k = keys[i]!;
    if (k === k1 || (k === 0 && (Atomics.compareExchange(keys, i, 0, k1) === 0 || keys[i] === k1))) {
      const at = w * SAB_CAP + i;
      vals[at] = vals[at]! + 1;
      return;
    }
  }
}

/**
 * The plain map's keys inserted outside `sabMapAdd`, as they are for the workers (whose
 * isolate never sees an insert): a timed `sabMapAdd` whose own feedback includes the
 * insert's `compareExchange` call is compiled with that call in its loop, and keeps its
 * loop variables on the stack around it (2.5 ns an update against 2.2 ns without, in the
 * one-thread rows) — which would flatter every case measured against it.
 */
function sabMapPrefill(keys: Int32Array): void {
  for (let key = 0; key < MAP_KEYS; key++) {
    let i = sabMapHome(key);
    while (keys[i] !== 0) i = (i + 1) & (SAB_CAP - 1);
    keys[i] = key + 1;
  }
}

function sabMapSum(keys: Int32Array, vals: Int32Array, workers: number, key: number): number {
  const k1 = key + 1;
  for (let i = sabMapHome(key); ; i = (i + 1) & (SAB_CAP - 1)) {
    const k = Atomics.load(keys, i);
    if (k === 0) return 0;
    if (k === k1) {
      let s = 0;
      for (let u = 0, at = i; u < workers; u++, at += SAB_CAP) s += Atomics.load(vals, at);
      return s;
    }
  }
}

// ---------------------------------------------------------------------------
// Worker side

function workerMain(job: WorkerJob): void {
  const percpu = SharedPercpu.attach(job.percpu, job.unit);
  const ctl = new Int32Array(job.control);
  const counter = PercpuCounter.attach(percpu, job.counter);
  const exact = PercpuCounter.attach(percpu, job.exact);
  const wide = PercpuCounter.attach(percpu, job.wide);
  const map = PercpuHashMap.attach(percpu, job.map);
  const me = percpu.thisCpu;
  const ref = percpu.thisCpuInt32(job.ptr);
  const ptr = job.ptr;
  const pad = PAD_BASE + PAD * job.unit;
  const keys = new Int32Array(job.sabMap, 0, SAB_CAP);
  const vals = new Int32Array(job.sabMap, 4 * SAB_CAP, SAB_CAP * job.workers);
  const jsMap = new Map<number, number>();
  let local = 0;
  let ops = 0;
  let key = 0;
  const workers = job.workers;
  const unit = job.unit;
  // One function per case, each with its own locals (a closure variable updated in the
  // loop would be a memory access per increment and blur every case alike).
  const slices: Record<Kind, (n: number) => void> = {
    atomic: (n) => {
      for (let i = 0; i < n; i++) Atomics.add(ctl, SHARED_WORD, 1);
    },
    paddedAtomic: (n) => {
      for (let i = 0; i < n; i++) Atomics.add(ctl, pad, 1);
    },
    paddedPlain: (n) => {
      for (let i = 0; i < n; i++) ctl[pad] = ctl[pad]! + 1;
    },
    local: (n) => {
      let l = local;
      for (let i = 0; i < n; i++) l++;
      local = l;
    },
    counter: (n) => {
      for (let i = 0; i < n; i++) counter.add(1);
    },
    counterWide: (n) => {
      for (let i = 0; i < n; i++) wide.add(1);
    },
    counterExact: (n) => {
      for (let i = 0; i < n; i++) exact.add(1);
    },
    ref: (n) => {
      for (let i = 0; i < n; i++) ref.add(1);
    },
    accessor: (n) => {
      for (let i = 0; i < n; i++) me.addInt32(ptr, 1);
    },
    map: (n) => {
      let k = key | 0;
      for (let i = 0; i < n; i++) {
        map.addInt32(k, 1);
        k = k + 1 === MAP_KEYS ? 0 : k + 1;
      }
      key = k;
    },
    sabMap: (n) => {
      let k = key | 0;
      for (let i = 0; i < n; i++) {
        sabMapAdd(keys, vals, unit, k);
        k = k + 1 === MAP_KEYS ? 0 : k + 1;
      }
      key = k;
    },
    jsMap: (n) => {
      let k = key | 0;
      for (let i = 0; i < n; i++) {
        jsMap.set(k, (jsMap.get(k) ?? 0) + 1);
        k = k + 1 === MAP_KEYS ? 0 : k + 1;
      }
      key = k;
    },
  };
  const slice = slices[job.kind];
  const step = (): void => {
    slice(SLICE);
    ops += SLICE;
  };
  // Warm-up, the same for every case: many short calls first, so that V8 optimises the
  // slice function on entry (by call count) rather than only by on-stack replacement of
  // one long first call — the two compile the same loop differently, and a case would
  // otherwise be timed in whichever code its first call happened to get.
  for (let w = 0; w < WARM_CALLS; w++) slice(WARM_N);
  ops += WARM_CALLS * WARM_N;
  step();
  const warm = ops;
  Atomics.add(ctl, 0, 1);
  Atomics.notify(ctl, 0);
  while (Atomics.load(ctl, GO) === 0) Atomics.wait(ctl, GO, 0, 10);
  while (Atomics.load(ctl, STOP) === 0) step();
  parentPort!.postMessage({ timed: ops - warm, total: ops, local, jsMap: job.kind === 'jsMap' ? [...jsMap] : [] });
}

if (!isMainThread) workerMain(workerData as WorkerJob);

// ---------------------------------------------------------------------------
// Main side

interface RateResult {
  kind: Kind;
  workers: number;
  opsPerSec: number;
  runs: number[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface WorkerReply {
  timed: number;
  total: number;
  local: number;
  jsMap: [number, number][];
}

async function rateOnce(kind: Kind, workers: number, durationMs: number): Promise<number> {
  const percpu = SharedPercpu.create({ nrUnits: workers });
  const counter = PercpuCounter.create(percpu);
  const exact = PercpuCounter.create(percpu, { mode: 'exact' });
  const wide = PercpuCounter.create(percpu, { batch: WIDE_BATCH });
  const map = PercpuHashMap.create(percpu, { keySize: 4, valueSize: 8, maxEntries: MAP_KEYS });
  for (let k = 0; k < MAP_KEYS; k++) map.updateAll(k, new Uint8Array(8 * workers));
  const sabMap = new SharedArrayBuffer(4 * SAB_CAP * (1 + workers));
  const skeys = new Int32Array(sabMap, 0, SAB_CAP);
  const svals = new Int32Array(sabMap, 4 * SAB_CAP, SAB_CAP * workers);
  sabMapPrefill(skeys);
  const ptr = percpu.alloc(4, 4);
  const control = new SharedArrayBuffer(4 * (PAD_BASE + PAD * (workers + 1)));
  const ctl = new Int32Array(control);
  const file = fileURLToPath(import.meta.url);
  const started = Array.from({ length: workers }, (_, unit) => {
    const job: WorkerJob = { kind, unit, workers, percpu: percpu.handle(), counter: counter.handle(), wide: wide.handle(), exact: exact.handle(), map: map.handle(), control, sabMap, ptr };
    const w = new Worker(file, { workerData: job });
    const done = new Promise<WorkerReply>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    return { w, done };
  });
  while (Atomics.load(ctl, 0) < workers) await sleep(1);
  const t0 = performance.now();
  Atomics.store(ctl, GO, 1);
  Atomics.notify(ctl, GO);
  await sleep(durationMs);
  Atomics.store(ctl, STOP, 1);
  const replies = await Promise.all(started.map((s) => s.done));
  const elapsed = performance.now() - t0;
  await Promise.all(started.map((s) => s.w.terminate()));
  const timed = replies.reduce((a, c) => a + c.timed, 0);
  const total = replies.reduce((a, c) => a + c.total, 0);
  // Every increment must be there, exactly.
  const sumKeys = (f: (k: number) => number) => Array.from({ length: MAP_KEYS }, (_, k) => f(k)).reduce((a, b) => a + b, 0);
  let got: number;
  switch (kind) {
    case 'atomic':
      got = Atomics.load(ctl, SHARED_WORD);
      break;
    case 'paddedAtomic':
    case 'paddedPlain':
      got = Array.from({ length: workers }, (_, u) => ctl[PAD_BASE + PAD * u]!).reduce((a, b) => a + b, 0);
      break;
    case 'local':
      got = replies.reduce((a, c) => a + c.local, 0);
      break;
    case 'counter':
      got = counter.sum();
      break;
    case 'counterWide':
      got = wide.sum();
      break;
    case 'counterExact':
      got = exact.sum();
      break;
    case 'map':
      got = sumKeys((k) => map.sumInt32(k)!);
      break;
    case 'sabMap':
      got = sumKeys((k) => sabMapSum(skeys, svals, workers, k));
      break;
    case 'jsMap': {
      const agg = new Map<number, number>();
      for (const r of replies) for (const [k, v] of r.jsMap) agg.set(k, (agg.get(k) ?? 0) + v);
      got = [...agg.values()].reduce((a, b) => a + b, 0);
      break;
    }
    default:
      got = Array.from({ length: workers }, (_, u) => percpu.perCpu(u).getInt32(ptr)).reduce((a, b) => a + b, 0);
  }
  // Int32 words wrap: compare modulo 2^32.
  if ((got | 0) !== (total | 0)) throw new Error(`${kind} with ${workers} workers: counted ${total}, found ${got}`);
  // The elapsed time includes the last slice after the stop flag; small against the duration.
  return timed / (elapsed / 1000);
}

/** Every case, every worker count, `runs` rounds; within a round the cases run back to back. */
async function rates(kinds: readonly Kind[], workerCounts: number[], durationMs: number, runs: number): Promise<RateResult[]> {
  const samples = new Map<string, number[]>();
  for (let r = 0; r < runs; r++) {
    for (const workers of workerCounts) {
      for (const kind of kinds) {
        const key = `${kind}/${workers}`;
        if (!samples.has(key)) samples.set(key, []);
        samples.get(key)!.push(await rateOnce(kind, workers, durationMs));
      }
    }
  }
  const out: RateResult[] = [];
  for (const kind of kinds) for (const workers of workerCounts) {
    const rs = samples.get(`${kind}/${workers}`)!;
    out.push({ kind, workers, opsPerSec: median(rs), runs: rs });
  }
  return out;
}

interface MicroResult {
  /** Best ns per operation over the rounds. */
  raw: number;
  /** The same increment with the array and index read from a mutable object's fields (see `micro`). */
  rawField: number;
  /** `raw` behind one never-taken check whose branch calls a slow path (taken during the warm-up, so V8 compiles the call). */
  rawChecked: number;
  /** One `Atomics.add` of a BigInt on a BigInt64Array word: the batched counter's report. */
  bigAtomicAdd: number;
  /**
   * `raw` plus that report every `batch`-th increment (decided on the incremented value, as the
   * counter's window test is): the batched add's loop shape with nothing of the counter in it.
   */
  rawReport: number;
  ref: number;
  accessor: number;
  counter: number;
  counterExact: number;
  /** One update of a key (1024 keys, round robin), 4 units. */
  mapAdd: number;
  sabMapAdd: number;
  /** Summed read of one key at 4 units. */
  mapSum4: number;
  sabMapSum4: number;
}

/** What `rawField` reads its array and index from: fields V8 cannot fold to constants. */
interface RawSlot {
  a: Int32Array;
  i: number;
}

/** What `rawChecked` tests: `miss` is non-zero during the first warm-up calls only. */
interface RawCheck {
  miss: number;
  misses: number;
}

/** `rawChecked`'s slow path (V8 inlines it: see `micro`). */
function rawSlowPath(c: RawCheck): void {
  c.misses++;
}

/**
 * One thread: the per-operation costs, best of interleaved rounds. Every case is
 * a closure over constants of this function, called the same way (warm-up, then
 * rounds), so V8 may fold the same things in each: in `raw` it folds the array and
 * index to a constant address — the increment then chains through memory at the
 * CPU's best store-to-load latency, which no access through a cached or computed
 * address gets. `rawField` is the same increment with both read from a mutable
 * object (as in any code that keeps its array in an object): the baseline for an
 * access whose address is not a compile-time constant. `rawChecked` is `raw`
 * behind one check that never fails in the timed rounds but did in the warm-up
 * (so the branch is compiled, not a deoptimisation; V8 inlines its small slow
 * path, so the loop holds no call): the cost of having any check at all, with
 * nothing else added. The map updates run the
 * workers' loop (a round-robin key in a captured variable), so that the
 * one-thread figure compares like for like with the worker rows.
 */
function micro(rounds: number): MicroResult {
  const percpu = SharedPercpu.create({ nrUnits: MICRO_UNITS, unit: 0 });
  const ptr = percpu.alloc(4, 4);
  const raw = percpu.memory.i32;
  const ri = percpu.memory.address(ptr, 0, 0, 4) >>> 2;
  const slot: RawSlot = { a: raw, i: 0 };
  // Written once more after creation: a field V8 tracks as mutable, never folded.
  slot.i = ri;
  const check: RawCheck = { miss: 1, misses: 0 };
  // A word like a counter's shared total, and the report that the batched add makes to it.
  const totals = new BigInt64Array(new SharedArrayBuffer(64));
  const batchN = defaultCounterBatch(MICRO_UNITS);
  const batchBig = BigInt(batchN);
  // rawReport decides with a mask.
  if ((batchN & (batchN - 1)) !== 0) throw new Error(`the micro counter batch ${batchN} is not a power of two`);
  const ref = percpu.thisCpuInt32(ptr);
  const me = percpu.thisCpu;
  const counter = PercpuCounter.create(percpu);
  const exact = PercpuCounter.create(percpu, { mode: 'exact' });
  const map = PercpuHashMap.create(percpu, { keySize: 4, valueSize: 8, maxEntries: MAP_KEYS });
  for (let k = 0; k < MAP_KEYS; k++) map.updateAll(k, new Uint8Array(8 * MICRO_UNITS).fill(1));
  const sab = new SharedArrayBuffer(4 * SAB_CAP * (1 + MICRO_UNITS));
  const skeys = new Int32Array(sab, 0, SAB_CAP);
  const svals = new Int32Array(sab, 4 * SAB_CAP, SAB_CAP * MICRO_UNITS);
  sabMapPrefill(skeys);
  svals.fill(1);
  const N = 2_000_000;
  const R = 200_000;
  let sink = 0;
  // The round-robin keys of the two map cases, one each (as each worker has its own).
  let mapKey = 0;
  let sabKey = 0;
  const cases: Record<keyof MicroResult, (n: number) => void> = {
    raw: (n) => {
      for (let i = 0; i < n; i++) raw[ri] = raw[ri]! + 1;
    },
    rawField: (n) => {
      for (let i = 0; i < n; i++) {
        const a = slot.a;
        const j = slot.i;
        a[j] = a[j]! + 1;
      }
    },
    rawChecked: (n) => {
      for (let i = 0; i < n; i++) {
        if (check.miss !== 0) rawSlowPath(check);
        raw[ri] = raw[ri]! + 1;
      }
    },
    bigAtomicAdd: (n) => {
      for (let i = 0; i < n; i++) Atomics.add(totals, 1, batchBig);
    },
    rawReport: (n) => {
      for (let i = 0; i < n; i++) {
        const v = (raw[ri]! + 1) | 0;
        raw[ri] = v;
        if ((v & (batchN - 1)) === 0) Atomics.add(totals, 1, batchBig);
      }
    },
    ref: (n) => {
      for (let i = 0; i < n; i++) ref.add(1);
    },
    accessor: (n) => {
      for (let i = 0; i < n; i++) me.addInt32(ptr, 1);
    },
    counter: (n) => {
      for (let i = 0; i < n; i++) counter.add(1);
    },
    counterExact: (n) => {
      for (let i = 0; i < n; i++) exact.add(1);
    },
    mapAdd: (n) => {
      let k = mapKey | 0;
      for (let i = 0; i < n; i++) {
        map.addInt32(k, 1);
        k = k + 1 === MAP_KEYS ? 0 : k + 1;
      }
      mapKey = k;
    },
    sabMapAdd: (n) => {
      let k = sabKey | 0;
      for (let i = 0; i < n; i++) {
        sabMapAdd(skeys, svals, 0, k);
        k = k + 1 === MAP_KEYS ? 0 : k + 1;
      }
      sabKey = k;
    },
    mapSum4: (n) => {
      for (let i = 0; i < n; i++) sink += map.sumInt32(i & (MAP_KEYS - 1))!;
    },
    sabMapSum4: (n) => {
      for (let i = 0; i < n; i++) sink += sabMapSum(skeys, svals, MICRO_UNITS, i & (MAP_KEYS - 1));
    },
  };
  const entries = Object.entries(cases) as [keyof MicroResult, (n: number) => void][];
  // The same warm-up as the workers' (see workerMain), then interleaved rounds;
  // `rawChecked` takes its slow path in the first warm-up calls only.
  for (let w = 0; w < WARM_CALLS; w++) {
    if (w === WARM_CALLS / 4) check.miss = 0;
    for (const [, f] of entries) f(WARM_N);
  }
  const best = {} as MicroResult;
  for (let r = 0; r < rounds; r++) {
    for (const [k, f] of entries) {
      const n = k === 'mapSum4' || k === 'sabMapSum4' || k === 'mapAdd' || k === 'sabMapAdd' || k === 'bigAtomicAdd' ? R : N;
      const t = performance.now();
      f(n);
      const ns = ((performance.now() - t) * 1e6) / n;
      best[k] = Math.min(best[k] ?? Infinity, ns);
    }
  }
  if (sink === -1 || check.misses === -1) console.log(sink);
  return best;
}

interface MapTiming {
  valueSize: number;
  unitSize: number;
  entries: number;
  createMs: number;
  destroyMs: number;
  engineAllocMs: number;
  engineFreeMs: number;
  kernelCreateMs: number | null;
  kernelFreeMs: number | null;
}

let gcFn: (() => void) | undefined;
function collectGarbage(): void {
  if (gcFn === undefined) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
}

/** The kernel's PERCPU_HASH timings on the 2-CPU trace machine (shared/traces/README.md). */
const KERNEL: Record<number, [number | null, number]> = { 8: [323, 67.8], 64: [null, 119.9] };

function mapTiming(valueSize: number, unitSize: number, entries: number, runs: number): MapTiming {
  const creates: number[] = [];
  const destroys: number[] = [];
  const eAllocs: number[] = [];
  const eFrees: number[] = [];
  const stride = (valueSize + 7) & ~7;
  for (let r = 0; r < runs; r++) {
    const percpu = SharedPercpu.create({ nrUnits: 2, unitSize, maxBytes: 2 ** 31 });
    collectGarbage();
    let t = performance.now();
    const map = PercpuHashMap.create(percpu, { keySize: 8, valueSize, maxEntries: entries });
    creates.push(performance.now() - t);
    t = performance.now();
    map.destroy();
    destroys.push(performance.now() - t);

    // The allocator engine alone, same geometry and requests, no lock, no memory, no map.
    const engine = new BitmapAllocator({ kernel: '7.0', geometry: { unitSize, nrUnits: 2 }, shared: true, maxChunks: Math.floor(2 ** 31 / (2 * unitSize)) - 1 });
    const ptrs = new Float64Array(entries);
    collectGarbage();
    t = performance.now();
    for (let i = 0; i < entries; i++) ptrs[i] = engine.alloc(stride, 8);
    eAllocs.push(performance.now() - t);
    t = performance.now();
    for (let i = 0; i < entries; i++) engine.free(ptrs[i]!);
    eFrees.push(performance.now() - t);
  }
  const k = KERNEL[valueSize];
  return {
    valueSize,
    unitSize,
    entries,
    createMs: median(creates),
    destroyMs: median(destroys),
    engineAllocMs: median(eAllocs),
    engineFreeMs: median(eFrees),
    kernelCreateMs: k ? k[0] : null,
    kernelFreeMs: k ? k[1] : null,
  };
}

function fmtRate(x: number): string {
  return x >= 1e9 ? `${(x / 1e9).toFixed(2)} G/s` : `${(x / 1e6).toFixed(1)} M/s`;
}

function table(results: RateResult[], kinds: readonly Kind[], counts: number[]): void {
  console.log(['', ...counts.map((c) => `${c} worker${c > 1 ? 's' : ''}`)].map((s, i) => (i === 0 ? s.padEnd(48) : s.padStart(13))).join(''));
  for (const kind of kinds) {
    const row = counts.map((c) => fmtRate(results.find((r) => r.kind === kind && r.workers === c)!.opsPerSec));
    console.log([LABEL[kind].padEnd(48), ...row.map((s) => s.padStart(13))].join(''));
  }
}

const USAGE = `node dist/bench/runtime.js [--duration MS] [--runs N] [--json] [--quick] [--only map|count|micro]

  --duration MS   time per worker case and round (default 300, --quick 100)
  --runs N        interleaved rounds of the worker cases, reported as medians (default 3, --quick 1);
                  the one-thread cases take the best of 9 interleaved rounds (3 with --quick)
  --quick         short runs, no 1,000,000-entry map timing
  --only SECTION  one section: count (worker increments), map (worker map updates) or micro (one thread)
  --json          everything as JSON, ratios included

Only ratios between cases of one run mean anything; record them with the load average printed.`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string' },
      runs: { type: 'string' },
      json: { type: 'boolean' },
      quick: { type: 'boolean' },
      only: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const only = values.only;
  if (only !== undefined && only !== 'map' && only !== 'count' && only !== 'micro') throw new Error(`--only takes map, count or micro, not ${only}`);
  const quick = values.quick === true;
  const durationMs = Number(values.duration ?? (quick ? 100 : 300));
  const runs = Number(values.runs ?? (quick ? 1 : 3));
  const counts = [1, 2, 4];
  const loadBefore = loadavg();
  if (only !== undefined) {
    if (only === 'micro') {
      const m = micro(quick ? 3 : 9);
      for (const [k, v] of Object.entries(m)) console.log(`  ${k.padEnd(14)} ${v.toFixed(2)} ns  ${(v / m.raw).toFixed(2)}× raw`);
    } else {
      const kinds = only === 'map' ? MAP_KINDS : COUNT_KINDS;
      table(await rates(kinds, counts, durationMs, runs), kinds, counts);
    }
    console.log(`load average before ${loadBefore.map((x) => x.toFixed(2)).join(' ')}, after ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    return;
  }
  const countRates = await rates(COUNT_KINDS, counts, durationMs, runs);
  const mapRates = await rates(MAP_KINDS, counts, durationMs, runs);
  const m = micro(quick ? 3 : 9);
  const maps = quick ? [] : [mapTiming(8, 256 << 10, 1_000_000, 1)];
  const loadAfter = loadavg();
  const get = (rs: RateResult[], k: Kind, w: number) => rs.find((r) => r.kind === k && r.workers === w)!.opsPerSec;
  const ratios = {
    counter2wOver1w: get(countRates, 'counter', 2) / get(countRates, 'counter', 1),
    counterWide2wOver1w: get(countRates, 'counterWide', 2) / get(countRates, 'counterWide', 1),
    counterExact2wOver1w: get(countRates, 'counterExact', 2) / get(countRates, 'counterExact', 1),
    counter2wOverAtomic2w: get(countRates, 'counter', 2) / get(countRates, 'atomic', 2),
    counterExact2wOverAtomic2w: get(countRates, 'counterExact', 2) / get(countRates, 'atomic', 2),
    counterExact2wOverPaddedPlain2w: get(countRates, 'counterExact', 2) / get(countRates, 'paddedPlain', 2),
    map2wOverSabMap2w: get(mapRates, 'map', 2) / get(mapRates, 'sabMap', 2),
    map2wOverJsMap2w: get(mapRates, 'map', 2) / get(mapRates, 'jsMap', 2),
    refOverRaw: m.ref / m.raw,
    accessorOverRaw: m.accessor / m.raw,
    counterOverRaw: m.counter / m.raw,
    counterExactOverRaw: m.counterExact / m.raw,
    rawFieldOverRaw: m.rawField / m.raw,
    rawCheckedOverRaw: m.rawChecked / m.raw,
    accessorOverRawField: m.accessor / m.rawField,
    counterOverRawField: m.counter / m.rawField,
    counterExactOverRawField: m.counterExact / m.rawField,
    accessorOverRawChecked: m.accessor / m.rawChecked,
    /** The batched add's loop shape with raw's increment: what any add reporting every `batch` costs, over raw. */
    rawReportOverRaw: m.rawReport / m.raw,
    counterOverRawReport: m.counter / m.rawReport,
    mapAddOverSabMapAdd: m.mapAdd / m.sabMapAdd,
    mapSum4OverSabMapSum4: m.mapSum4 / m.sabMapSum4,
  };
  if (values.json) {
    console.log(JSON.stringify({ loadBefore, loadAfter, durationMs, runs, countRates, mapRates, micro: m, ratios, maps }, null, 2));
    return;
  }
  console.log(`load average before ${loadBefore.map((x) => x.toFixed(2)).join(' ')}, after ${loadAfter.map((x) => x.toFixed(2)).join(' ')}; ${runs} round(s) of ${durationMs} ms per case, medians`);
  console.log('\nincrements per second (all workers together)');
  table(countRates, COUNT_KINDS, counts);
  console.log('\nmap updates per second (all workers together)');
  table(mapRates, MAP_KINDS, counts);
  console.log('\none thread, best ns per operation');
  for (const [k, v] of Object.entries(m)) console.log(`  ${k.padEnd(14)} ${v.toFixed(2)} ns`);
  console.log('\nratios (same run)');
  for (const [k, v] of Object.entries(ratios)) console.log(`  ${k.padEnd(34)} ${v.toFixed(2)}×`);
  for (const t of maps) {
    console.log(`\nPercpuHashMap of ${t.entries} entries, ${t.valueSize}-byte values: create ${t.createMs.toFixed(0)} ms, destroy ${t.destroyMs.toFixed(0)} ms; engine alone ${t.engineAllocMs.toFixed(0)} / ${t.engineFreeMs.toFixed(0)} ms; kernel ${t.kernelCreateMs ?? '–'} / ${t.kernelFreeMs ?? '–'} ms`);
  }
}

if (isMainThread) {
  main().catch((e: unknown) => {
    console.error(`bench:runtime: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(2);
  });
}
