// SPDX-License-Identifier: GPL-2.0-only
/**
 * The runtime under real `worker_threads`: a futex lock that excludes, chunks
 * created in one thread visible at once in another, and a stress run where
 * every worker allocates, frees, counts and updates the hash map at the same
 * time — then exact sums, no overlapping live allocations (a shadow record
 * plus tags in every unit), and a clean allocator (hint checker).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { ROOT } from '../test-support/fixtures.js';
import type { RuntimeTask, StressResult } from '../test-support/runtime-worker.js';
import { SharedPercpu } from '../src/runtime/shared-percpu.js';
import { PercpuCounter } from '../src/runtime/counter.js';
import { PercpuHashMap, hashWords, homeSlot } from '../src/runtime/hash-map.js';
import { NULL_PTR, ptrChunk, ptrOffset } from '../src/engine/pointer.js';
import { formatProblem } from '../src/engine/checker.js';

const WORKER = join(ROOT, 'dist', 'test-support', 'runtime-worker.js');

function run<T>(task: RuntimeTask): { worker: Worker; result: Promise<T> } {
  const worker = new Worker(WORKER, { workerData: task });
  const result = new Promise<T>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return { worker, result };
}

test('the futex lock excludes: read-pause-write increments from 3 workers lose nothing', async () => {
  const words = new SharedArrayBuffer(12);
  const rounds = 100_000;
  await Promise.all([0, 1, 2].map(() => run<number>({ task: 'lock', words, rounds, workers: 3 }).result));
  const w = new Int32Array(words);
  assert.equal(w[1], 3 * rounds);
  assert.equal(w[0], 0, 'the lock is free afterwards');
});

test('chunks a worker creates are visible to the main thread at once, and the reverse', async () => {
  const percpu = SharedPercpu.create({ nrUnits: 2, unitSize: 64 << 10 });
  const before = percpu.stats().liveChunks;
  // 40 objects of 12 KiB need several 64 KiB chunks.
  const ptrs = await run<number[]>({ task: 'grow', percpu: percpu.handle(), unit: 1, count: 40, size: 12 << 10 }).result;
  assert.ok(percpu.stats().liveChunks >= before + 5, 'the worker created chunks');
  ptrs.forEach((p, i) => {
    assert.equal(percpu.perCpu(1).getInt32(p), 1000 + i);
    assert.equal(percpu.perCpu(1).getFloat64(p, (12 << 10) - 8), i + 0.5);
    assert.equal(percpu.perCpu(0).getInt32(p), 0, 'the other unit stays zero');
  });

  // Now the main thread creates chunks after a worker attached; the worker reads them.
  const { worker, result: first } = run<[number, number][]>({ task: 'read', percpu: percpu.handle(), unit: 0 });
  try {
    worker.postMessage([ptrs[0]!]);
    assert.deepEqual(await first, [[1000 * 0 + 0, 0]], 'unit 0 of the worker-made object is zero');
    const mine: number[] = [];
    for (let i = 0; i < 40; i++) {
      const p = percpu.allocOrThrow(12 << 10, 8);
      percpu.perCpu(0).setInt32(p, 7 * i);
      percpu.perCpu(0).setFloat64(p, -i, 8);
      mine.push(p);
    }
    const reply = new Promise<[number, number][]>((resolve) => worker.once('message', resolve));
    worker.postMessage(mine);
    assert.deepEqual(await reply, mine.map((_, i) => [7 * i, -i]));
    worker.postMessage(null);
  } finally {
    await worker.terminate();
  }
  percpu.freeMany([...ptrs]);
  assert.deepEqual(percpu.check(), []);
});

test('64-bit values never tear: the main thread reads a worker flipping Float64 and BigInt64 values', async () => {
  const percpu = SharedPercpu.create({ nrUnits: 2 });
  const ptr = percpu.alloc(16, 8);
  const stop = new SharedArrayBuffer(8);
  const { result } = run<number>({ task: 'flip', percpu: percpu.handle(), unit: 1, ptr, stop });
  const flags = new Int32Array(stop);
  while (Atomics.load(flags, 1) === 0) await new Promise((r) => setTimeout(r, 1));
  const floats = new Set<number>();
  const ints = new Set<bigint>();
  const there = percpu.perCpu(1);
  for (let i = 0; i < 300_000; i++) {
    floats.add(there.getFloat64(ptr));
    ints.add(there.getBigInt64(ptr, 8));
  }
  Atomics.store(flags, 0, 1);
  const flips = await result;
  assert.ok(flips > 1000, `the worker flipped while we read (${flips})`);
  assert.deepEqual([...floats].filter((v) => v !== 1.5 && v !== -2.25e300 && v !== 0), [], 'only whole Float64 values');
  assert.deepEqual([...ints].filter((v) => v !== -0x1234_5678_9abc_def0n && v !== 0x0fed_cba9_8765_4321n && v !== 0n), [], 'only whole BigInt64 values');
});

test('lock-free lookups never miss a present key while another thread deletes and shifts its probe run', async () => {
  const percpu = SharedPercpu.create({ nrUnits: 3 });
  const map = PercpuHashMap.create(percpu, { keySize: 4, valueSize: 8, maxEntries: 32 });
  // Keys that all hash to one home slot, so that they share one probe run.
  const home = (k: number) => homeSlot(hashWords(new Int32Array([k]), 1), map.capacity);
  const same: number[] = [];
  for (let k = 0; same.length < 14; k++) if (home(k) === home(0)) same.push(k);
  const [a, b, ...churn] = same as [number, number, ...number[]];
  for (const k of churn) map.updateAll(k, new Uint8Array(24));
  map.updateAll(a, new Uint8Array(24));
  const stop = new SharedArrayBuffer(12);
  const w = new Int32Array(stop);
  // One worker keeps a or b present while re-inserting them at the end of the run; the other
  // deletes and re-inserts the keys in front of them, shifting them back under our lookups.
  const workers = [
    run<number>({ task: 'pair', percpu: percpu.handle(), map: map.handle(), unit: 1, a, b, stop }),
    run<number>({ task: 'churn', percpu: percpu.handle(), map: map.handle(), unit: 2, keys: churn, stop }),
  ];
  while (Atomics.load(w, 1) < 2) await new Promise((r) => setTimeout(r, 1));
  let misses = 0;
  let checks = 0;
  const deadline = Date.now() + 500;
  while (Date.now() < deadline) {
    for (let i = 0; i < 1000; i++) {
      const before = Atomics.load(w, 2);
      const found = map.lookup(a) !== NULL_PTR || map.lookup(b) !== NULL_PTR;
      // With no pair operation completed meanwhile, at most one took effect: a or b was present throughout.
      if (Atomics.load(w, 2) === before) {
        checks++;
        if (!found) misses++;
      }
    }
  }
  Atomics.store(w, 0, 1);
  const rounds = await Promise.all(workers.map((x) => x.result));
  assert.ok(rounds.every((r) => r > 100), `both workers ran (${rounds})`);
  assert.ok(checks > 10_000, `enough checks (${checks})`);
  assert.equal(misses, 0, `${misses} of ${checks} lookups missed a present key`);
});

test('stress: 3 workers allocate, free, count and update the hash map concurrently; sums are exact and nothing overlaps', async () => {
  const WORKERS = 3;
  const SHARED_KEYS = 64;
  const MAP_ENTRIES = 2000;
  // Small units: the run creates and destroys many chunks, so memory slots get reused.
  const percpu = SharedPercpu.create({ nrUnits: WORKERS, unitSize: 64 << 10, maxBytes: 256 << 20 });
  const counter = PercpuCounter.create(percpu, { batch: 16, initial: 1000 });
  const map = PercpuHashMap.create(percpu, { keySize: 4, valueSize: 8, maxEntries: MAP_ENTRIES });
  const start = new SharedArrayBuffer(4);
  const results = await Promise.all(
    Array.from({ length: WORKERS }, (_, unit) =>
      run<StressResult>({
        task: 'stress',
        percpu: percpu.handle(),
        counter: counter.handle(),
        map: map.handle(),
        unit,
        seed: 0x9e3779b9 + unit * 7919,
        ops: 40_000,
        sharedKeys: SHARED_KEYS,
        start,
        workers: WORKERS,
      }).result,
    ),
  );

  for (const r of results) assert.deepEqual(r.problems, [], `worker ${r.unit}`);
  const allocs = results.reduce((s, r) => s + r.allocs, 0);
  assert.ok(allocs > 20_000, `enough allocations ran (${allocs})`);

  // Shadow record: the live allocations of all workers never overlap.
  const live = results.flatMap((r) => r.live).sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < live.length; i++) {
    const [p, size] = live[i - 1]!;
    const [q] = live[i]!;
    if (ptrChunk(p) === ptrChunk(q)) assert.ok(ptrOffset(p) + size <= ptrOffset(q), `live ${p}+${size} overlaps ${q}`);
  }
  const stats = percpu.stats();
  assert.equal(stats.allocator.nrCurAlloc, live.length + 1 + MAP_ENTRIES, 'the allocator counts exactly the live allocations');
  assert.ok(stats.allocator.nrMaxChunks >= 4, `several chunks were live at once (${stats.allocator.nrMaxChunks})`);
  assert.deepEqual(percpu.check().map(formatProblem), []);

  // Counter: exact sum, and the fast read within the documented bound.
  const expected = 1000 + results.reduce((s, r) => s + r.counterDelta, 0);
  assert.equal(counter.sum(), expected);
  assert.ok(Math.abs(counter.read() - expected) <= counter.errorBound);
  assert.equal(counter.compare(expected), 0);

  // Hash map: each unit's copy holds that worker's own count; the sums are exact; private keys are all gone.
  assert.equal(map.size, SHARED_KEYS);
  for (let key = 0; key < SHARED_KEYS; key++) {
    const ptr = map.lookup(key);
    for (const r of results) assert.equal(percpu.perCpu(r.unit).getInt32(ptr), r.keyCounts[key], `key ${key} unit ${r.unit}`);
    assert.equal(map.sumInt32(key), results.reduce((s, r) => s + r.keyCounts[key]!, 0));
  }

  // Everything back: only the first chunk's bookkeeping is left.
  percpu.freeMany(live.map(([p]) => p));
  counter.destroy();
  map.destroy();
  assert.equal(percpu.stats().allocator.nrCurAlloc, 0);
  assert.deepEqual(percpu.check(), []);
});
