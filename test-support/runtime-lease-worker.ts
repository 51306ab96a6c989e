// SPDX-License-Identifier: GPL-2.0-only
/**
 * Worker side of the lease and recovery tests (test/runtime-leases.test.ts,
 * test/runtime-terminate.test.ts). Tasks:
 *
 * - `hold`: attach, take a lock (the allocator lock or a map's writer lock,
 *   by calling into them from inside a callback that never returns), report,
 *   and block until terminated: a holder that dies holding the lock.
 * - `churn`: attach with an 'auto' unit and loop until terminated: allocate
 *   and free, add to two counters, insert into and delete from the map. Every
 *   step is bracketed in the worker's progress words — `intent` before, `done`
 *   after — so the main thread knows each effect that surely happened and the
 *   at most one per worker that may have.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SharedPercpu, type SharedPercpuHandle, type UnitRequest } from '../src/runtime/shared-percpu.js';
import { PercpuCounter, type PercpuCounterHandle } from '../src/runtime/counter.js';
import { PercpuHashMap, type PercpuHashMapHandle } from '../src/runtime/hash-map.js';

export interface HoldTask {
  task: 'hold';
  percpu: SharedPercpuHandle;
  unit?: UnitRequest;
  what: 'allocator' | 'map';
  map?: PercpuHashMapHandle;
}

/** Progress words per worker slot in `progress` (Int32): see `Pw`. */
export const PROGRESS_WORDS = 16;
export const enum Pw {
  /** Counter adds begun / completed (each adds 1 to both counters). */
  AddIntent = 0,
  AddDone = 1,
  /** Live allocations recorded in `ptrs` (a stack), and whether an alloc is in flight. */
  Live = 2,
  AllocInFlight = 3,
  /** Map keys this worker has inserted (present) — a bitmap would be overkill: keys are slot*1e6 + k, k < KEYS. */
  MapOp = 4,
  Unit = 5,
  Ready = 6,
}
export const PTRS_PER_WORKER = 64;
export const KEYS_PER_WORKER = 32;

export interface ChurnTask {
  task: 'churn';
  percpu: SharedPercpuHandle;
  batched: PercpuCounterHandle;
  exact: PercpuCounterHandle;
  map: PercpuHashMapHandle;
  /** Int32 progress words, PROGRESS_WORDS per slot. */
  progress: SharedArrayBuffer;
  /** Float64 recorded live pointers, PTRS_PER_WORKER per slot. */
  ptrs: SharedArrayBuffer;
  /** Int32 per slot × KEYS_PER_WORKER: 1 if the key is surely present, 0 surely absent, 2 in flight. */
  keys: SharedArrayBuffer;
  slot: number;
  seed: number;
}

function hold(t: HoldTask): void {
  const percpu = SharedPercpu.attach(t.percpu, t.unit);
  const block = new Int32Array(new SharedArrayBuffer(4));
  if (t.what === 'allocator') {
    percpu.withAllocator(() => {
      parentPort!.postMessage({ token: percpu.threads.token, unit: percpu.unit });
      Atomics.wait(block, 0, 0);
    });
  } else {
    const map = PercpuHashMap.attach(percpu, t.map!);
    // Reach into the writer lock the way a dying insert would hold it.
    const lock = (map as unknown as { lock: { lock(): void } }).lock;
    lock.lock();
    parentPort!.postMessage({ token: percpu.threads.token, unit: percpu.unit });
    Atomics.wait(block, 0, 0);
  }
}

function churn(t: ChurnTask): void {
  const percpu = SharedPercpu.attach(t.percpu, 'auto');
  const batched = PercpuCounter.attach(percpu, t.batched);
  const exact = PercpuCounter.attach(percpu, t.exact);
  const map = PercpuHashMap.attach(percpu, t.map);
  const p = new Int32Array(t.progress, 4 * PROGRESS_WORDS * t.slot, PROGRESS_WORDS);
  const ptrs = new Float64Array(t.ptrs, 8 * PTRS_PER_WORKER * t.slot, PTRS_PER_WORKER);
  const keys = new Int32Array(t.keys, 4 * KEYS_PER_WORKER * t.slot, KEYS_PER_WORKER);
  const value = new Uint8Array(map.valueSize);
  let s = t.seed >>> 0 || 1;
  const rand = (n: number) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) % n;
  };
  Atomics.store(p, Pw.Unit, percpu.unit);
  Atomics.store(p, Pw.Ready, 1);
  for (;;) {
    const op = rand(8);
    if (op < 3) {
      Atomics.store(p, Pw.AddIntent, p[Pw.AddIntent]! + 1);
      batched.add(1);
      exact.add(1);
      Atomics.store(p, Pw.AddDone, p[Pw.AddDone]! + 1);
    } else if (op < 5) {
      const live = p[Pw.Live]!;
      if (live < PTRS_PER_WORKER && (live === 0 || rand(2) === 0)) {
        Atomics.store(p, Pw.AllocInFlight, 1);
        const ptr = percpu.alloc(8 + 8 * rand(64), 8);
        ptrs[live] = ptr;
        Atomics.store(p, Pw.Live, live + 1);
        Atomics.store(p, Pw.AllocInFlight, 0);
      } else {
        // Forget first, then free: a death in between leaks one allocation instead of freeing one twice.
        Atomics.store(p, Pw.AllocInFlight, 1);
        Atomics.store(p, Pw.Live, live - 1);
        percpu.free(ptrs[live - 1]!);
        Atomics.store(p, Pw.AllocInFlight, 0);
      }
    } else {
      const k = rand(KEYS_PER_WORKER);
      const key = t.slot * 1_000_000 + k;
      Atomics.store(keys, k, 2);
      if (op < 7) {
        value[0] = k;
        const r = map.tryUpdate(key, value);
        Atomics.store(keys, k, r === 'ok' ? 1 : 0);
      } else {
        map.delete(key);
        Atomics.store(keys, k, 0);
      }
    }
  }
}

// The tests import this module for its constants: run a task only as a worker.
const t = workerData as HoldTask | ChurnTask | null;
if (t?.task === 'hold') hold(t);
else if (t?.task === 'churn') churn(t);
