// SPDX-License-Identifier: GPL-2.0-only
/**
 * Workers terminated at random moments while they allocate, free, count and
 * insert into and delete from a hash map: nothing may hang, the allocator's
 * and the map's checkers must be clean, every add that surely completed must
 * be counted (and at most the one in flight per killed worker more), every key
 * surely inserted must be there, and nothing leaks but at most the one
 * allocation in flight per killed worker.
 *
 * `npm test` runs PERCPU_KILLS (default 90) kills — seconds on an idle machine
 * (a worker's start-up dominates); a soak:
 *   PERCPU_KILLS=5000 node --test dist/test/runtime-terminate.test.js
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { ROOT } from '../test-support/fixtures.js';
import { KEYS_PER_WORKER, PROGRESS_WORDS, PTRS_PER_WORKER, Pw, type ChurnTask } from '../test-support/runtime-lease-worker.js';
import { SharedPercpu } from '../src/runtime/shared-percpu.js';
import { PercpuCounter } from '../src/runtime/counter.js';
import { PercpuHashMap } from '../src/runtime/hash-map.js';
import { NULL_PTR } from '../src/engine/pointer.js';
import { formatProblem } from '../src/engine/checker.js';

const WORKER = join(ROOT, 'dist', 'test-support', 'runtime-lease-worker.js');
const KILLS = Number(process.env.PERCPU_KILLS ?? 90);
const SLOTS = 3;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test(`${KILLS} workers terminated at random moments: no hang, checkers clean, exact sums, no leak`, { timeout: 60_000 + KILLS * 200 }, async () => {
  const percpu = SharedPercpu.create({ nrUnits: SLOTS, unitSize: 64 << 10, maxBytes: 64 * SLOTS * (64 << 10) });
  const batched = PercpuCounter.create(percpu, { batch: 4 });
  const exact = PercpuCounter.create(percpu, { mode: 'exact' });
  const map = PercpuHashMap.create(percpu, { keySize: 4, valueSize: 8, maxEntries: SLOTS * KEYS_PER_WORKER + 8 });
  const baseline = percpu.stats().allocator.nrCurAlloc;
  const progress = new SharedArrayBuffer(4 * PROGRESS_WORDS * SLOTS);
  const ptrs = new SharedArrayBuffer(8 * PTRS_PER_WORKER * SLOTS);
  const keys = new SharedArrayBuffer(4 * KEYS_PER_WORKER * SLOTS);
  const p = new Int32Array(progress);
  let seed = 12345;
  const spawn = (slot: number) => {
    Atomics.store(p, slot * PROGRESS_WORDS + Pw.Ready, 0);
    const task: ChurnTask = { task: 'churn', percpu: percpu.handle(), batched: batched.handle(), exact: exact.handle(), map: map.handle(), progress, ptrs, keys, slot, seed: seed++ };
    const w = new Worker(WORKER, { workerData: task });
    w.on('error', (e) => assert.fail(`worker ${slot} crashed: ${e}`));
    return w;
  };
  const workers = Array.from({ length: SLOTS }, (_, s) => spawn(s));
  let rnd = 99;
  const rand = (n: number) => ((rnd = (rnd * 1103515245 + 12345) & 0x7fffffff) % n);
  const started = Date.now();
  // One killer per slot, all at once: a worker is killed 0–3 ms after it started its loop, wherever it is.
  let kills = 0;
  await Promise.all(
    workers.map(async (_, s) => {
      while (kills < KILLS) {
        kills++;
        while (Atomics.load(p, s * PROGRESS_WORDS + Pw.Ready) === 0) await sleep(1);
        const ms = rand(4);
        if (ms > 0) await sleep(ms);
        else await new Promise((r) => setImmediate(r));
        await workers[s]!.terminate();
        workers[s] = spawn(s);
      }
    }),
  );
  for (let s = 0; s < SLOTS; s++) while (Atomics.load(p, s * PROGRESS_WORDS + Pw.Ready) === 0) await sleep(1);
  await sleep(20);
  await Promise.all(workers.map((w) => w.terminate()));
  const elapsed = Date.now() - started;

  percpu.reap();
  for (let u = 0; u < SLOTS; u++) assert.equal(percpu.threads.leaseHolder(u), 0, `unit ${u} was given back`);
  assert.deepEqual(percpu.check().map(formatProblem), [], 'allocator checker');
  assert.deepEqual(map.check(), [], 'map checker');

  let done = 0;
  let intent = 0;
  for (let s = 0; s < SLOTS; s++) {
    done += p[s * PROGRESS_WORDS + Pw.AddDone]!;
    intent += p[s * PROGRESS_WORDS + Pw.AddIntent]!;
  }
  assert.ok(done > 0, 'the workers did some work');
  for (const [name, c] of [['batched', batched], ['exact', exact]] as const) {
    const sum = c.sum();
    assert.ok(sum >= done && sum <= intent, `${name} counter: ${sum} outside [${done} completed, ${intent} begun]`);
    assert.ok(Math.abs(c.read() - sum) <= c.errorBound + 4 * KILLS, `${name} read() stays near sum()`);
  }
  assert.ok(intent - done <= KILLS + SLOTS, 'at most one add in flight per kill');

  const k32 = new Int32Array(keys);
  for (let s = 0; s < SLOTS; s++) {
    for (let k = 0; k < KEYS_PER_WORKER; k++) {
      const st = k32[s * KEYS_PER_WORKER + k]!;
      const present = map.lookup(s * 1_000_000 + k) !== NULL_PTR;
      if (st === 1) assert.ok(present, `key ${s}/${k} was inserted`);
      if (st === 0) assert.ok(!present, `key ${s}/${k} was deleted`);
    }
  }

  // Every recorded allocation is live (freeing it would throw otherwise); what is left is the in-flight ones.
  const f64 = new Float64Array(ptrs);
  let recorded = 0;
  for (let s = 0; s < SLOTS; s++) {
    const live = p[s * PROGRESS_WORDS + Pw.Live]!;
    recorded += live;
    percpu.freeMany(f64.subarray(s * PTRS_PER_WORKER, s * PTRS_PER_WORKER + live));
  }
  const leaked = percpu.stats().allocator.nrCurAlloc - baseline;
  assert.ok(leaked >= 0 && leaked <= KILLS + SLOTS, `${leaked} allocations unaccounted for after ${KILLS} kills`);
  assert.deepEqual(percpu.check().map(formatProblem), [], 'allocator checker after the frees');
  console.log(`# ${KILLS} kills in ${elapsed} ms: ${done} adds, ${recorded} live allocations recorded, ${leaked} leaked in flight`);
});
