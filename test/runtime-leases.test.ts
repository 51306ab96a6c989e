// SPDX-License-Identifier: GPL-2.0-only
/**
 * Units as leases and locks that survive their holders, with real worker
 * threads: a worker that dies holding the allocator lock (inside an operation
 * that already changed the allocator) or a map's writer lock must not stop
 * anyone, and its unit must come back zeroed. Also: re-entrance is an error,
 * more threads than units is an error naming the limit, two threads on one unit
 * is an error, and everything is `DestroyedError` after `detach()`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { ROOT } from '../test-support/fixtures.js';
import type { HoldTask } from '../test-support/runtime-lease-worker.js';
import { SharedPercpu } from '../src/runtime/shared-percpu.js';
import { PercpuCounter } from '../src/runtime/counter.js';
import { PercpuHashMap } from '../src/runtime/hash-map.js';
import { DestroyedError, LockReentryError, NoFreeUnitError, UnitBusyError } from '../src/runtime/errors.js';
import { NULL_PTR } from '../src/engine/pointer.js';
import { formatProblem } from '../src/engine/checker.js';

const WORKER = join(ROOT, 'dist', 'test-support', 'runtime-lease-worker.js');

function holder(task: HoldTask): Promise<{ worker: Worker; token: number; unit: number }> {
  const worker = new Worker(WORKER, { workerData: task });
  return new Promise((resolve, reject) => {
    worker.once('message', (m: { token: number; unit: number }) => resolve({ worker, ...m }));
    worker.once('error', reject);
  });
}

test('a worker killed inside an allocator operation: the next caller rolls it back, the unit comes back zeroed', async () => {
  const percpu = SharedPercpu.create({ nrUnits: 2, unitSize: 64 << 10 });
  const keep = percpu.alloc(64, 8);
  percpu.perCpu(1).setInt32(keep, 77);
  const before = percpu.stats().allocator;
  const { worker, unit } = await holder({ task: 'hold', percpu: percpu.handle(), unit: 1, what: 'allocator' });
  assert.equal(unit, 1);
  assert.ok(percpu.lock.locked, 'the worker holds the allocator lock');
  await worker.terminate();
  // No watch(), no exit handler: the waiter finds the holder dead by itself.
  const p = percpu.alloc(32, 8);
  assert.notEqual(p, NULL_PTR);
  assert.deepEqual(percpu.check().map(formatProblem), []);
  assert.equal(percpu.stats().allocator.nrCurAlloc, before.nrCurAlloc + 1, 'the dead operation left nothing behind');
  assert.equal(percpu.threads.leaseHolder(1), 0, 'its unit was given back');
  assert.equal(percpu.perCpu(1).getInt32(keep), 0, 'and zeroed before anyone else can lease it');
  const again = SharedPercpu.attach(percpu.handle(), 'auto');
  assert.ok(again.unit === 0 || again.unit === 1);
});

test('a worker killed while holding a map writer lock: updates and deletes go on, the checker is clean', async () => {
  const percpu = SharedPercpu.create({ nrUnits: 2, unitSize: 64 << 10, unit: 0 });
  const map = PercpuHashMap.create(percpu, { keySize: 4, valueSize: 4, maxEntries: 16 });
  map.update(1, new Int32Array([5]));
  const { worker } = await holder({ task: 'hold', percpu: percpu.handle(), what: 'map', map: map.handle() });
  await worker.terminate();
  assert.equal(map.update(2, new Int32Array([6])), true);
  assert.equal(map.delete(1), true);
  assert.deepEqual(map.check(), []);
  assert.equal(map.sumInt32(2), 6);
});

test('allocAsync waits for a live holder without blocking the event loop, and recovers from a dead one', async () => {
  const percpu = SharedPercpu.create({ nrUnits: 2 });
  const { worker } = await holder({ task: 'hold', percpu: percpu.handle(), what: 'allocator' });
  let done = false;
  const pending = percpu.allocAsync(32).then((p) => {
    done = true;
    return p;
  });
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(done, false, 'still waiting while the live worker holds the lock');
  await worker.terminate();
  const p = await pending;
  assert.notEqual(p, NULL_PTR);
  await percpu.freeAsync(p);
  assert.deepEqual(percpu.check(), []);
});

test('re-entrant allocator calls throw LockReentryError instead of deadlocking', () => {
  const percpu = SharedPercpu.create({ nrUnits: 1 });
  assert.throws(() => percpu.withAllocator(() => percpu.alloc(8)), LockReentryError);
  assert.equal(percpu.lock.locked, false, 'the lock was released');
  assert.notEqual(percpu.alloc(8), NULL_PTR);
});

test('leases: auto picks a free unit, more threads than units names the limit, two threads on one unit is an error', async () => {
  const percpu = SharedPercpu.create({ nrUnits: 2, unit: 'auto' });
  assert.equal(percpu.unit, 0);
  const { worker } = await holder({ task: 'hold', percpu: percpu.handle(), unit: 'auto', what: 'map', map: PercpuHashMap.create(percpu, { keySize: 4, valueSize: 4, maxEntries: 2 }).handle() });
  assert.equal(percpu.threads.leaseHolder(1) !== 0, true, 'the worker leased unit 1');
  assert.throws(() => SharedPercpu.attach(percpu.handle(), 1), UnitBusyError);
  // The same thread may use its own unit through a second object.
  assert.equal(SharedPercpu.attach(percpu.handle(), 0).unit, 0);
  await worker.terminate();
  // The dead worker's unit is found free again, without anyone reporting the exit.
  const later = SharedPercpu.attach(percpu.handle(), 'auto');
  assert.equal(later.unit, 1);
  assert.throws(() => SharedPercpu.attach(percpu.handle(), 'auto'), (e: unknown) => e instanceof NoFreeUnitError && /all 2 units/.test(e.message));
});

test('detach gives the unit back zeroed (or handed over) and every later use is DestroyedError', () => {
  const percpu = SharedPercpu.create({ nrUnits: 2 });
  const c = PercpuCounter.create(percpu);
  const map = PercpuHashMap.create(percpu, { keySize: 4, valueSize: 4, maxEntries: 4 });
  const mine = SharedPercpu.attach(percpu.handle(), 1);
  const myCounter = PercpuCounter.attach(mine, c.handle());
  const myMap = PercpuHashMap.attach(mine, map.handle());
  const ptr = mine.alloc(8);
  myCounter.add(5);
  myMap.update(3, new Int32Array([9]));
  for (let i = 0; i < 3; i++) myMap.addInt32(3, 0);
  mine.thisCpu.setInt32(ptr, 42);
  const accessor = mine.thisCpu;
  mine.detach();
  assert.equal(c.sum(), 5, 'the counter kept the count (folded into its base)');
  assert.equal(percpu.perCpu(1).getInt32(ptr), 0, 'the unit was zeroed');
  assert.equal(map.sumInt32(3), 0, "the map value of the unit went with it (BPF's offline CPU)");
  assert.throws(() => accessor.getInt32(ptr), DestroyedError);
  assert.throws(() => mine.thisCpu, DestroyedError);
  assert.throws(() => mine.perCpu(0), DestroyedError);
  assert.throws(() => mine.alloc(8), DestroyedError);
  assert.throws(() => myCounter.add(1), DestroyedError);
  assert.throws(() => myMap.lookup(3), DestroyedError);
  assert.throws(() => myMap.addInt32(3, 1), DestroyedError, "addInt32's fast path, warm before the detach");
  assert.throws(() => accessor.addInt32(ptr, 1), DestroyedError, "the accessor's cached pointer, warm before the detach");
  assert.throws(() => mine.detach(), DestroyedError);
  assert.equal(SharedPercpu.attach(percpu.handle(), 'auto').unit, 0);

  const keepAll = SharedPercpu.create({ nrUnits: 1, onRelease: 'handover' });
  const a = SharedPercpu.attach(keepAll.handle(), 0);
  const q = a.alloc(8);
  a.thisCpu.setInt32(q, 7);
  a.detach();
  assert.equal(SharedPercpu.attach(keepAll.handle(), 0).thisCpu.getInt32(q), 7, 'handover keeps the memory');
});

test('where /proc cannot tell, a reported exit (watch or reportDead) frees the unit', async () => {
  const percpu = SharedPercpu.create({ nrUnits: 1 });
  const { worker, token } = await holder({ task: 'hold', percpu: percpu.handle(), unit: 0, what: 'map', map: PercpuHashMap.create(percpu, { keySize: 4, valueSize: 4, maxEntries: 2 }).handle() });
  assert.equal(percpu.threads.isDead(token), false, 'alive while it runs');
  const exited = new Promise((r) => worker.once('exit', r));
  percpu.watch(worker);
  await worker.terminate();
  await exited;
  assert.equal(percpu.threads.leaseHolder(0), 0, 'watch reaped it on exit');
  assert.equal(percpu.threads.isDead(token), true);
});
