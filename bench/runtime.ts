/**
 * `npm run bench:runtime`: the JavaScript runtime under real worker threads.
 *
 * 1. Increments per second, summed over 1, 2 and N workers, of
 *    - one shared counter word bumped with `Atomics.add` (the obvious baseline),
 *    - `PercpuCounter.add(1)` (per-worker delta, fold into the total at ±batch),
 *    - plain adds to the worker's own unit through `thisCpu.addInt32` and
 *      through a raw Int32Array index (the ceiling: no counter logic at all).
 *    Each worker counts its increments for a fixed time after a common start;
 *    the exact total is checked against the count afterwards.
 * 2. Lock-free updates of existing keys in a `PercpuHashMap`, per second.
 * 3. Creation and destruction of a 1,000,000-entry `PercpuHashMap` (values of
 *    8 and 64 bytes, 2 units), beside the allocator engine alone doing the
 *    same allocations and frees, and the kernel's PERCPU_HASH figures.
 *
 *   node dist/bench/runtime.js [--duration MS] [--runs N] [--workers N] [--json] [--quick]
 *
 * This file is also the worker script (it re-launches itself).
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { parseArgs } from 'node:util';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { SharedPercpu, type SharedPercpuHandle } from '../src/runtime/shared-percpu.js';
import { PercpuCounter, type PercpuCounterHandle } from '../src/runtime/counter.js';
import { PercpuHashMap, type PercpuHashMapHandle } from '../src/runtime/hash-map.js';
import { BitmapAllocator } from '../src/engine/bitmap-allocator.js';

type Kind = 'atomic' | 'counter' | 'counterWide' | 'accessor' | 'raw' | 'map';
const KINDS: readonly Kind[] = ['atomic', 'counter', 'counterWide', 'accessor', 'raw', 'map'];
/** The batch of the `counterWide` case. */
const WIDE_BATCH = 1024;
const LABEL: Record<Kind, string> = {
  atomic: 'shared word, Atomics.add',
  counter: 'PercpuCounter.add(1), kernel batch',
  counterWide: `PercpuCounter.add(1), batch ${WIDE_BATCH}`,
  accessor: 'own unit, thisCpu.addInt32',
  raw: 'own unit, raw Int32Array',
  map: 'PercpuHashMap: lookup + thisCpu.addInt32',
};

interface WorkerJob {
  kind: Kind;
  unit: number;
  percpu: SharedPercpuHandle;
  counter: PercpuCounterHandle;
  map: PercpuHashMapHandle;
  mapKeys: number;
  /** Words: 0 ready count, 1 go, 2 stop; the shared Atomics.add counter at word 16 (its own cache line). */
  control: SharedArrayBuffer;
  ptr: number;
}

const GO = 1;
const STOP = 2;
const SHARED_WORD = 16;
/** Increments between two looks at the stop flag. */
const SLICE = 1 << 16;

// ---------------------------------------------------------------------------
// Worker side

function workerMain(job: WorkerJob): void {
  const percpu = SharedPercpu.attach(job.percpu, job.unit);
  const ctl = new Int32Array(job.control);
  const counter = PercpuCounter.attach(percpu, job.counter);
  const map = PercpuHashMap.attach(percpu, job.map);
  const me = percpu.thisCpu;
  const ptr = job.ptr;
  // The raw baseline: the worker's own word, resolved once.
  const rawIndex = percpu.memory.address(ptr, job.unit, 0, 4) >>> 2;
  const raw = percpu.memory.i32;
  let ops = 0;
  let key = 0;
  const step = (): void => {
    switch (job.kind) {
      case 'atomic':
        for (let i = 0; i < SLICE; i++) Atomics.add(ctl, SHARED_WORD, 1);
        break;
      case 'counter':
      case 'counterWide':
        for (let i = 0; i < SLICE; i++) counter.add(1);
        break;
      case 'accessor':
        for (let i = 0; i < SLICE; i++) me.addInt32(ptr, 1);
        break;
      case 'raw':
        for (let i = 0; i < SLICE; i++) raw[rawIndex] = raw[rawIndex]! + 1;
        break;
      case 'map':
        for (let i = 0; i < SLICE; i++) {
          me.addInt32(map.lookup(key), 1);
          key = key + 1 === job.mapKeys ? 0 : key + 1;
        }
        break;
    }
    ops += SLICE;
  };
  step(); // warm up the JIT before the clock starts
  const warm = ops;
  Atomics.add(ctl, 0, 1);
  Atomics.notify(ctl, 0);
  while (Atomics.load(ctl, GO) === 0) Atomics.wait(ctl, GO, 0, 10);
  while (Atomics.load(ctl, STOP) === 0) step();
  parentPort!.postMessage([ops - warm, ops]);
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

async function rateOnce(kind: Kind, workers: number, durationMs: number, batch?: number): Promise<number> {
  const percpu = SharedPercpu.create({ nrUnits: workers });
  const counter = PercpuCounter.create(percpu, batch !== undefined ? { batch } : kind === 'counterWide' ? { batch: WIDE_BATCH } : {});
  const mapKeys = 1024;
  const map = PercpuHashMap.create(percpu, { keySize: 4, valueSize: 8, maxEntries: mapKeys });
  for (let k = 0; k < mapKeys; k++) map.updateAll(k, new Uint8Array(8 * workers));
  const ptr = percpu.alloc(4, 4);
  const control = new SharedArrayBuffer(4 * (SHARED_WORD + 16));
  const ctl = new Int32Array(control);
  const file = fileURLToPath(import.meta.url);
  const started = Array.from({ length: workers }, (_, unit) => {
    const job: WorkerJob = { kind, unit, percpu: percpu.handle(), counter: counter.handle(), map: map.handle(), mapKeys, control, ptr };
    const w = new Worker(file, { workerData: job });
    const done = new Promise<[number, number]>((resolve, reject) => {
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
  const counts = await Promise.all(started.map((s) => s.done));
  const elapsed = performance.now() - t0;
  await Promise.all(started.map((s) => s.w.terminate()));
  const timed = counts.reduce((a, c) => a + c[0], 0);
  const total = counts.reduce((a, c) => a + c[1], 0);
  // Every increment must be there, exactly.
  const got =
    kind === 'atomic'
      ? Atomics.load(ctl, SHARED_WORD)
      : kind === 'counter' || kind === 'counterWide'
        ? counter.sum()
        : kind === 'map'
          ? Array.from({ length: mapKeys }, (_, k) => map.sumInt32(k)!).reduce((a, b) => a + b, 0)
          : Array.from({ length: workers }, (_, u) => percpu.perCpu(u).getInt32(ptr)).reduce((a, b) => a + b, 0);
  // Int32 words wrap: compare modulo 2^32 for the raw and shared-word cases.
  if ((got | 0) !== (total | 0)) throw new Error(`${kind} with ${workers} workers: counted ${total}, found ${got}`);
  // The elapsed time includes the last slice after the stop flag; small against the duration.
  return timed / (elapsed / 1000);
}

async function rates(workerCounts: number[], durationMs: number, runs: number): Promise<RateResult[]> {
  const out: RateResult[] = [];
  for (const kind of KINDS) {
    for (const workers of workerCounts) {
      const rs: number[] = [];
      for (let r = 0; r < runs; r++) rs.push(await rateOnce(kind, workers, durationMs));
      out.push({ kind, workers, opsPerSec: median(rs), runs: rs });
    }
  }
  return out;
}

interface SweepResult {
  batch: number;
  /** Median increments per second with 1 and with 2 workers. */
  one: number;
  two: number;
}

/** PercpuCounter throughput against its batch: the fold (a shared cache line) is what limits scaling. */
async function batchSweep(batches: number[], durationMs: number, runs: number): Promise<SweepResult[]> {
  const out: SweepResult[] = [];
  for (const batch of batches) {
    const one: number[] = [];
    const two: number[] = [];
    for (let r = 0; r < runs; r++) {
      one.push(await rateOnce('counter', 1, durationMs, batch));
      two.push(await rateOnce('counter', 2, durationMs, batch));
    }
    out.push({ batch, one: median(one), two: median(two) });
  }
  return out;
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

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '400' },
      runs: { type: 'string', default: '3' },
      workers: { type: 'string' },
      json: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
    },
  });
  const loadBefore = loadavg()[0]!.toFixed(2);
  const quick = values.quick === true;
  const durationMs = quick ? 150 : Number(values.duration);
  const runs = quick ? 1 : Number(values.runs);
  const cores = availableParallelism();
  const n = values.workers !== undefined ? Number(values.workers) : Math.max(4, 2 * cores);
  const counts = [...new Set([1, 2, n])];
  const rateResults = await rates(counts, durationMs, runs);
  const sweep = await batchSweep([32, 64, 128, 256, 1024, 4096], durationMs, runs);
  const entries = quick ? 100_000 : 1_000_000;
  const maps = [mapTiming(8, 256 << 10, entries, quick ? 1 : 5), mapTiming(8, 1 << 20, entries, quick ? 1 : 3), mapTiming(64, 256 << 10, entries, quick ? 1 : 3)];

  if (values.json) {
    console.log(JSON.stringify({ cores, durationMs, runs, loadBefore, loadAfter: loadavg()[0], rates: rateResults, sweep, maps }, null, 2));
    return;
  }
  console.log(`Node ${process.version}, ${cores} cores; medians of ${runs} run(s) of ${durationMs} ms; load average before ${loadBefore}, after ${loadavg()[0]!.toFixed(2)}\n`);
  console.log(`increments per second (all workers together)`);
  console.log(['', ...counts.map((c) => `${c} worker${c > 1 ? 's' : ''}`)].map((s, i) => (i === 0 ? s.padEnd(42) : s.padStart(14))).join(''));
  for (const kind of KINDS) {
    const row = counts.map((c) => fmtRate(rateResults.find((r) => r.kind === kind && r.workers === c)!.opsPerSec));
    console.log([LABEL[kind].padEnd(42), ...row.map((s) => s.padStart(14))].join(''));
  }
  const atomic2 = rateResults.find((r) => r.kind === 'atomic' && r.workers === 2)!.opsPerSec;
  const counter2 = rateResults.find((r) => r.kind === 'counter' && r.workers === 2)!.opsPerSec;
  const counter1 = rateResults.find((r) => r.kind === 'counter' && r.workers === 1)!.opsPerSec;
  console.log(`\nPercpuCounter / shared Atomics.add with 2 workers: ${(counter2 / atomic2).toFixed(1)}×; 2 workers / 1 worker: ${(counter2 / counter1).toFixed(2)}×\n`);
  console.log('PercpuCounter.add(1) by batch         1 worker     2 workers   2w / 1w   2w / shared Atomics.add');
  for (const x of sweep) {
    console.log(`${String(x.batch).padStart(6)} ${fmtRate(x.one).padStart(29)} ${fmtRate(x.two).padStart(13)} ${(x.two / x.one).toFixed(2).padStart(9)} ${(x.two / atomic2).toFixed(1).padStart(12)}×`);
  }
  console.log('');
  console.log(`PercpuHashMap of ${entries.toLocaleString('en')} entries, 2 units (ms)`);
  console.log('value  unit      create  destroy   engine alloc  engine free   kernel create  kernel free');
  for (const m of maps) {
    console.log(
      `${String(m.valueSize).padStart(3)} B ${String(m.unitSize >> 10).padStart(5)} KiB ${m.createMs.toFixed(0).padStart(8)} ${m.destroyMs.toFixed(0).padStart(8)} ${m.engineAllocMs.toFixed(0).padStart(14)} ${m.engineFreeMs.toFixed(0).padStart(12)} ${String(m.kernelCreateMs ?? '–').padStart(15)} ${String(m.kernelFreeMs ?? '–').padStart(12)}`,
    );
  }
}

if (isMainThread) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
