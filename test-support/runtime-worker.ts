// SPDX-License-Identifier: GPL-2.0-only
/**
 * Worker side of the runtime tests: attach to the shared percpu allocator (and
 * counter, map) posted in `workerData` as unit `unit`, run one task, post the
 * result. Tasks:
 *
 * - `lock`: a read-pause-write increment of a plain shared word, `rounds`
 *   times under a `FutexLock` (lost updates would show without the lock).
 * - `stress`: random allocations and frees (checking that fresh memory is zero
 *   in every unit, tagging each allocation in every unit and checking the tag
 *   before freeing), counter adds, shared-key increments and private-key
 *   insert/lookup/delete in the hash map. Leaves its last allocations live and
 *   reports them with every count the main thread must find.
 * - `grow`: allocate objects big enough to create chunks, write this unit's
 *   copy, report the pointers (the main thread reads them with no other sync).
 * - `read`: read unit values of pointers the main thread allocated after this
 *   worker attached.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SharedPercpu, type SharedPercpuHandle } from '../src/runtime/shared-percpu.js';
import { PercpuCounter, type PercpuCounterHandle } from '../src/runtime/counter.js';
import { PercpuHashMap, type PercpuHashMapHandle } from '../src/runtime/hash-map.js';
import { FutexLock } from '../src/runtime/futex.js';
import { NULL_PTR } from '../src/engine/pointer.js';

export interface LockTask {
  task: 'lock';
  /** Int32 words: 0 the lock, 1 the plain counter, 2 the start barrier. */
  words: SharedArrayBuffer;
  rounds: number;
  workers: number;
}

export interface StressTask {
  task: 'stress';
  percpu: SharedPercpuHandle;
  counter: PercpuCounterHandle;
  map: PercpuHashMapHandle;
  unit: number;
  seed: number;
  ops: number;
  sharedKeys: number;
  /** Start together: workers spin until the word at index 0 reaches the number of workers. */
  start: SharedArrayBuffer;
  workers: number;
}

export interface StressResult {
  unit: number;
  live: [number, number][];
  allocs: number;
  frees: number;
  counterDelta: number;
  keyCounts: number[];
  problems: string[];
}

export interface GrowTask {
  task: 'grow';
  percpu: SharedPercpuHandle;
  unit: number;
  count: number;
  size: number;
}

export interface ReadTask {
  task: 'read';
  percpu: SharedPercpuHandle;
  unit: number;
  /** Pointers posted later, one message each round. */
}

export interface FlipTask {
  task: 'flip';
  percpu: SharedPercpuHandle;
  unit: number;
  ptr: number;
  /** The worker flips the value until word 0 of `stop` becomes 1. */
  stop: SharedArrayBuffer;
}

export interface ChurnTask {
  task: 'churn';
  percpu: SharedPercpuHandle;
  map: PercpuHashMapHandle;
  unit: number;
  /** Keys this worker inserts and deletes over and over; word 0 of `stop` ends it, word 1 counts started workers. */
  keys: number[];
  stop: SharedArrayBuffer;
}

export interface PairTask {
  task: 'pair';
  percpu: SharedPercpuHandle;
  map: PercpuHashMapHandle;
  unit: number;
  /** Keys a and b: at every instant at least one is in the map. Word 0 of `stop` ends it, word 1 counts started workers, word 2 counts finished ops. */
  a: number;
  b: number;
  stop: SharedArrayBuffer;
}

export type RuntimeTask = LockTask | StressTask | GrowTask | ReadTask | FlipTask | ChurnTask | PairTask;

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function lockTask(t: LockTask): number {
  const words = new Int32Array(t.words);
  const lock = new FutexLock(words, 0);
  let spin = 0;
  // Start together (word 2 counts the arrivals), so that the rounds really overlap.
  Atomics.add(words, 2, 1);
  while (Atomics.load(words, 2) < t.workers) { /* wait for every worker */ }
  for (let i = 0; i < t.rounds; i++) {
    lock.lock();
    // Read, pause, write: without the lock two threads would overwrite each other's increments.
    const v = words[1]!;
    for (let k = 0; k < 20; k++) spin += k;
    words[1] = v + 1;
    lock.unlock();
  }
  return spin;
}

function stressTask(t: StressTask): StressResult {
  const percpu = SharedPercpu.attach(t.percpu, t.unit);
  const counter = PercpuCounter.attach(percpu, t.counter);
  const map = PercpuHashMap.attach(percpu, t.map);
  const me = percpu.thisCpu;
  const rand = rng(t.seed);
  const problems: string[] = [];
  const live: { ptr: number; size: number; tag: number }[] = [];
  const keyCounts = new Array<number>(t.sharedKeys).fill(0);
  let counterDelta = 0;
  let allocs = 0;
  let frees = 0;
  let serial = 0;
  const start = new Int32Array(t.start);
  Atomics.add(start, 0, 1);
  while (Atomics.load(start, 0) < t.workers) { /* wait for every worker */ }

  const tagBytes = (tag: number, size: number) => {
    const b = new Uint8Array(size);
    for (let i = 0; i < size; i++) b[i] = (tag * 31 + i) & 0xff || 1;
    return b;
  };
  for (let op = 0; op < t.ops; op++) {
    const r = rand();
    if (r < 0.3 || (r < 0.5 && live.length === 0)) {
      const size = rand() < 0.2 ? 2048 + Math.floor(rand() * 6000) : 4 + Math.floor(rand() * 200);
      const align = 1 << (2 + Math.floor(rand() * 5));
      const ptr = percpu.alloc(size, align);
      if (ptr === NULL_PTR) {
        problems.push(`alloc(${size}, ${align}) returned NULL`);
        continue;
      }
      allocs++;
      for (let u = 0; u < percpu.nrUnits; u++) {
        const got = percpu.perCpu(u).readBytes(ptr, size);
        if (got.some((x) => x !== 0)) problems.push(`fresh allocation ${ptr} (${size} B) is not zero in unit ${u}`);
      }
      const tag = t.unit * 1_000_000 + serial++;
      const bytes = tagBytes(tag, size);
      for (let u = 0; u < percpu.nrUnits; u++) percpu.perCpu(u).writeBytes(ptr, bytes);
      live.push({ ptr, size, tag });
    } else if (r < 0.5) {
      const k = Math.floor(rand() * live.length);
      const a = live[k]!;
      live[k] = live[live.length - 1]!;
      live.pop();
      const want = tagBytes(a.tag, a.size);
      for (let u = 0; u < percpu.nrUnits; u++) {
        const got = percpu.perCpu(u).readBytes(a.ptr, a.size);
        if (!got.every((x, i) => x === want[i])) problems.push(`allocation ${a.ptr} (${a.size} B) was overwritten in unit ${u}`);
      }
      percpu.free(a.ptr);
      frees++;
    } else if (r < 0.75) {
      const amount = rand() < 0.05 ? Math.floor(rand() * 1e6) - 5e5 : Math.floor(rand() * 7) - 2;
      counter.add(amount);
      counterDelta += amount;
    } else if (r < 0.93) {
      const key = Math.floor(rand() * t.sharedKeys);
      me.addInt32(map.lookupOrInit(key), 1);
      keyCounts[key]!++;
    } else {
      // A private key: insert, find, delete — concurrently with the other workers' inserts and deletes.
      const key = 1_000_000 * (t.unit + 1) + (op % 1000);
      const value = new Uint8Array(8);
      new DataView(value.buffer).setInt32(0, op, true);
      if (!map.update(key, value, 1 /* BPF_NOEXIST */)) problems.push(`private key ${key} already present`);
      const ptr = map.lookup(key);
      if (ptr === NULL_PTR || me.getInt32(ptr) !== op) problems.push(`private key ${key} not found after insert`);
      for (let u = 0; u < percpu.nrUnits; u++) {
        if (u !== t.unit && ptr !== NULL_PTR && percpu.perCpu(u).getInt32(ptr) !== 0) problems.push(`new element ${key} is not zero in unit ${u}`);
      }
      if (!map.delete(key)) problems.push(`private key ${key} vanished before delete`);
      if (map.lookup(key) !== NULL_PTR) problems.push(`private key ${key} still found after delete`);
    }
  }
  return { unit: t.unit, live: live.map((a) => [a.ptr, a.size]), allocs, frees, counterDelta, keyCounts, problems };
}

function growTask(t: GrowTask): number[] {
  const percpu = SharedPercpu.attach(t.percpu, t.unit);
  const out: number[] = [];
  for (let i = 0; i < t.count; i++) {
    const ptr = percpu.allocOrThrow(t.size, 8);
    percpu.thisCpu.setInt32(ptr, 1000 * t.unit + i);
    percpu.thisCpu.setFloat64(ptr, i + 0.5, t.size - 8);
    out.push(ptr);
  }
  return out;
}

/** Flip a Float64 and a BigInt64 between two values whose 32-bit halves all differ. */
function flipTask(t: FlipTask): number {
  const me = SharedPercpu.attach(t.percpu, t.unit).thisCpu;
  const stop = new Int32Array(t.stop);
  let n = 0;
  Atomics.store(stop, 1, 1);
  while (Atomics.load(stop, 0) === 0) {
    for (let k = 0; k < 1000; k++, n++) {
      me.setFloat64(t.ptr, n & 1 ? -2.25e300 : 1.5);
      me.setBigInt64(t.ptr, n & 1 ? -0x1234_5678_9abc_def0n : 0x0fed_cba9_8765_4321n, 8);
    }
  }
  return n;
}

/** Insert and delete private keys until told to stop, so that deletes keep shifting probe runs. */
function churnTask(t: ChurnTask): number {
  const percpu = SharedPercpu.attach(t.percpu, t.unit);
  const map = PercpuHashMap.attach(percpu, t.map);
  const stop = new Int32Array(t.stop);
  const value = new Uint8Array(8);
  let rounds = 0;
  Atomics.add(stop, 1, 1);
  while (Atomics.load(stop, 0) === 0) {
    for (const k of t.keys) map.update(k, value);
    for (const k of t.keys) map.delete(k);
    rounds++;
  }
  return rounds;
}

/** Re-insert two keys in turn (each lands at the end of its probe run again) so that one is always present. */
function pairTask(t: PairTask): number {
  const percpu = SharedPercpu.attach(t.percpu, t.unit);
  const map = PercpuHashMap.attach(percpu, t.map);
  const w = new Int32Array(t.stop);
  const value = new Uint8Array(8);
  let rounds = 0;
  Atomics.add(w, 1, 1);
  while (Atomics.load(w, 0) === 0) {
    map.update(t.b, value);
    Atomics.add(w, 2, 1);
    map.delete(t.a);
    Atomics.add(w, 2, 1);
    map.update(t.a, value);
    Atomics.add(w, 2, 1);
    map.delete(t.b);
    Atomics.add(w, 2, 1);
    rounds++;
  }
  return rounds;
}

const task = workerData as RuntimeTask;
if (task.task === 'read') {
  const percpu = SharedPercpu.attach(task.percpu, task.unit);
  parentPort!.on('message', (ptrs: number[] | null) => {
    if (ptrs === null) {
      parentPort!.close();
      return;
    }
    parentPort!.postMessage(ptrs.map((p) => [percpu.perCpu(0).getInt32(p), percpu.perCpu(0).getFloat64(p, 8)]));
  });
} else {
  const result = task.task === 'lock' ? lockTask(task) : task.task === 'stress' ? stressTask(task) : task.task === 'flip' ? flipTask(task) : task.task === 'churn' ? churnTask(task) : task.task === 'pair' ? pairTask(task) : growTask(task);
  parentPort!.postMessage(result);
}
