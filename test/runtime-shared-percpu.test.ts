// SPDX-License-Identifier: GPL-2.0-only
/**
 * `SharedPercpu` in one thread: kernel-exact placement through the lock,
 * zeroed memory in every unit (also after chunk destruction and memory slot
 * reuse), typed accessors that agree across views and never tear, typed
 * errors that leave the state unchanged, and the async variants.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SharedPercpu } from '../src/runtime/shared-percpu.js';
import { Rt } from '../src/runtime/memory.js';
import { FutexLock, threadToken } from '../src/runtime/futex.js';
import { DestroyedError, NoUnitError, RuntimeArgumentError } from '../src/runtime/errors.js';
import { BitmapAllocator } from '../src/engine/bitmap-allocator.js';
import { NULL_PTR } from '../src/engine/pointer.js';
import { AllocationFailedError, InvalidFreeError, InvalidRequestError } from '../src/errors.js';

function rng(seed: number): () => number {
  let x = seed;
  return () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32);
}

test('placements through the runtime are exactly those of a private kernel-profile allocator', () => {
  const percpu = SharedPercpu.create({ nrUnits: 3, unitSize: 64 << 10 });
  const reference = new BitmapAllocator({ kernel: '7.0', geometry: { unitSize: 64 << 10, nrUnits: 3 } });
  const rand = rng(11);
  const live: number[] = [];
  for (let i = 0; i < 3000; i++) {
    if (live.length === 0 || rand() < 0.6) {
      const size = 4 + Math.floor(rand() * 3000);
      const align = 1 << (2 + Math.floor(rand() * 6));
      const p = percpu.alloc(size, align);
      assert.equal(p, reference.alloc(size, align), `op ${i}`);
      live.push(p);
    } else {
      const p = live.splice(Math.floor(rand() * live.length), 1)[0]!;
      percpu.free(p);
      reference.free(p);
    }
  }
  assert.deepEqual(percpu.stats().allocator, JSON.parse(JSON.stringify(reference.stats)));
  assert.deepEqual(percpu.check(), []);
});

test('allocMany / freeMany give the same pointers as one call at a time', () => {
  const a = SharedPercpu.create({ nrUnits: 2, unitSize: 64 << 10 });
  const b = SharedPercpu.create({ nrUnits: 2, unitSize: 64 << 10 });
  const many = new Float64Array(20_000);
  assert.equal(a.allocMany(24, 8, many.length, many), many.length);
  for (let i = 0; i < many.length; i++) assert.equal(b.alloc(24, 8), many[i]);
  a.freeMany(many, 0, 10_000);
  for (let i = 0; i < 10_000; i++) b.free(many[i]!);
  assert.deepEqual(a.stats(), b.stats());
});

test('new memory is zero in every unit: reused offsets, destroyed chunks and reused memory slots', () => {
  const percpu = SharedPercpu.create({ nrUnits: 3, unitSize: 64 << 10 });
  const scribble = (p: number, size: number) => {
    for (let u = 0; u < 3; u++) percpu.perCpu(u).writeBytes(p, new Uint8Array(size).fill(0xa5));
  };
  const isZero = (p: number, size: number) => [0, 1, 2].every((u) => percpu.perCpu(u).readBytes(p, size).every((x) => x === 0));

  // Same offset again after a free.
  const p = percpu.alloc(100, 8);
  scribble(p, 100);
  percpu.free(p);
  const q = percpu.alloc(100, 8);
  assert.equal(q, p, 'first fit hands the same offset back');
  assert.ok(isZero(q, 100));
  percpu.free(q);

  // Fill many chunks, scribble everything, free it all: chunks are destroyed.
  const big: number[] = [];
  for (let i = 0; i < 60; i++) {
    const r = percpu.allocOrThrow(12 << 10, 8);
    scribble(r, 12 << 10);
    big.push(r);
  }
  const peak = percpu.stats();
  percpu.freeMany(big);
  const after = percpu.stats();
  assert.ok(after.liveChunks < peak.liveChunks, 'freeing destroyed chunks');
  assert.ok(after.slotsFree > 0, 'their memory slots are free');

  // New chunks take the free slots (no growth) and read as zero.
  const again: number[] = [];
  for (let i = 0; i < 60; i++) {
    const r = percpu.allocOrThrow(12 << 10, 8);
    assert.ok(isZero(r, 12 << 10), `allocation ${i} after slot reuse`);
    again.push(r);
  }
  const reused = percpu.stats();
  assert.equal(reused.slotsUsed, peak.slotsUsed, 'no new memory slots');
  assert.equal(reused.committedBytes, peak.committedBytes);
  assert.ok(Math.max(...again.map((x) => Math.floor(x / 2 ** 32))) > peak.slotsUsed, 'chunk ids grew past the slot count: slots were reused');
  assert.deepEqual(percpu.check(), []);
});

test("thisCpu's cached pointer misses once its chunk is destroyed, and throws even after the memory slot is reused", () => {
  const fill = (pc: SharedPercpu) => Array.from({ length: 40 }, () => pc.allocOrThrow(12 << 10, 8));
  // A dry run finds an allocation whose chunk the frees destroy (placement is deterministic).
  const dry = SharedPercpu.create({ nrUnits: 2, unitSize: 64 << 10 });
  const dryPtrs = fill(dry);
  dry.freeMany(dryPtrs);
  const k = dryPtrs.findIndex((p) => {
    try {
      dry.perCpu(0).getInt32(p);
      return false;
    } catch (e) {
      return e instanceof InvalidFreeError;
    }
  });
  assert.ok(k >= 0, 'some chunk was destroyed');

  const percpu = SharedPercpu.create({ nrUnits: 2, unitSize: 64 << 10, unit: 0 });
  const me = percpu.thisCpu;
  const big = fill(percpu);
  const stale = big[k]!;
  assert.equal(stale, dryPtrs[k]);
  for (let i = 0; i < 1000; i++) me.addInt32(stale, 1); // warm: every call after the first is a cache hit
  assert.equal(me.getInt32(stale), 1000);
  percpu.freeMany(big);
  assert.ok(percpu.stats().slotsFree > 0, 'chunks were destroyed and gave their memory slots back');
  assert.throws(() => me.addInt32(stale, 1), InvalidFreeError, 'the chunk is gone');
  const again: number[] = [];
  for (let i = 0; i < 40; i++) again.push(percpu.allocOrThrow(12 << 10, 8));
  assert.ok(Math.max(...again.map((x) => Math.floor(x / 2 ** 32))) > Math.floor(stale / 2 ** 32), 'new chunk ids: the slots went to new chunks');
  assert.throws(() => me.addInt32(stale, 1), InvalidFreeError, 'a reused slot does not revive the stale pointer');
  assert.ok(again.every((p) => percpu.perCpu(0).getInt32(p) === 0), 'no new allocation was written');
  percpu.freeMany(again);
});

test('thisCpuInt32: a bound reference adds in place, survives other chunks going, throws once its own chunk is gone or after detach', () => {
  const fill = (pc: SharedPercpu) => Array.from({ length: 40 }, () => pc.allocOrThrow(12 << 10, 8));
  const percpu = SharedPercpu.create({ nrUnits: 2, unitSize: 64 << 10, unit: 0 });
  const keep = percpu.allocOrThrow(8, 8);
  const big = fill(percpu);
  const keepRef = percpu.thisCpuInt32(keep, 4);
  const refs = big.map((p) => percpu.thisCpuInt32(p));
  for (let i = 0; i < 1000; i++) keepRef.add(1);
  keepRef.add(-3);
  assert.equal(keepRef.get(), 997);
  assert.equal(percpu.thisCpu.getInt32(keep, 4), 997, 'the same word as the accessor reads');
  assert.equal(percpu.perCpu(1).getInt32(keep, 4), 0, 'no other unit touched');
  keepRef.set(-1);
  assert.equal(keepRef.add(1), 0, 'wraps like an int32 and returns the new value');
  for (const r of refs) r.add(7);
  percpu.freeMany(big);
  assert.ok(percpu.stats().slotsFree > 0, 'chunks were destroyed');
  const gone = refs.filter((r) => {
    try {
      r.add(1);
      return false;
    } catch (e) {
      assert.ok(e instanceof InvalidFreeError, String(e));
      return true;
    }
  });
  assert.ok(gone.length > 0, 'a reference into a destroyed chunk throws');
  assert.equal(keepRef.add(1), 1, 'a reference into a live chunk re-checks once and goes on');
  const other = SharedPercpu.attach(percpu.handle(), 1);
  const epoch = Atomics.load(percpu.memory.control, Rt.ChunkEpoch);
  other.detach();
  assert.ok(Atomics.load(percpu.memory.control, Rt.ChunkEpoch) > epoch, 'the release moved the epoch');
  assert.equal(keepRef.add(1), 2, "another unit's release moves the epoch: re-checked, still live");
  assert.equal(percpu.thisCpu.getInt32(keep, 4), 2);
  const again = fill(percpu);
  for (const r of gone) assert.throws(() => r.add(1), InvalidFreeError, 'a reused slot does not revive it');
  assert.ok(again.every((p) => percpu.perCpu(0).getInt32(p) === 0), 'no new allocation was written');
  percpu.detach();
  assert.throws(() => keepRef.add(1), DestroyedError);
  assert.throws(() => keepRef.get(), DestroyedError);
});

test('a full memory reservation gives NULL like the kernel, and allocOrThrow a typed error', () => {
  const percpu = SharedPercpu.create({ nrUnits: 2, unitSize: 32 << 10, maxBytes: 3 * 2 * (32 << 10) });
  let n = 0;
  while (percpu.alloc(16 << 10, 8) !== NULL_PTR) n++;
  assert.ok(n >= 3, `a few allocations fit (${n})`);
  const before = percpu.stats();
  assert.throws(() => percpu.allocOrThrow(16 << 10, 8), AllocationFailedError);
  assert.deepEqual(percpu.stats().allocator.nrCurAlloc, before.allocator.nrCurAlloc);
  assert.ok(percpu.stats().slotsUsed <= 3);
  assert.equal(percpu.alloc(8, 8) !== NULL_PTR, true, 'small requests still fit in partly used chunks');
});

test('typed accessors: the owner view and every other view agree; values wrap like the kernel types', () => {
  const percpu = SharedPercpu.create({ nrUnits: 2, unit: 1, unitSize: 64 << 10 });
  const other = SharedPercpu.attach(percpu.handle(), 0);
  const p = percpu.alloc(64, 8);
  const me = percpu.thisCpu;
  me.setInt32(p, -5);
  assert.equal(me.addInt32(p, 0x7fffffff), 0x7ffffffa);
  assert.equal(me.addInt32(p, 10), -0x7ffffffc, 'int32 wraps');
  me.setUint32(p, 0xffffffff, 4);
  assert.equal(me.addUint32(p, 2, 4), 1, 'uint32 wraps');
  me.setFloat64(p, -0, 8);
  assert.ok(Object.is(percpu.perCpu(1).getFloat64(p, 8), -0));
  me.setFloat64(p, 0.1, 16);
  assert.equal(me.addFloat64(p, 0.2, 16), 0.1 + 0.2);
  me.setBigInt64(p, 2n ** 63n - 1n, 24);
  assert.equal(me.addBigInt64(p, 1n, 24), -(2n ** 63n), 'int64 wraps');
  me.writeBytes(p, new Uint8Array([1, 2, 3]), 32);

  // Unit 1 as seen by the other thread's views, and unit 0 untouched.
  const there = other.perCpu(1);
  assert.equal(there.getInt32(p), -0x7ffffffc);
  assert.equal(there.getUint32(p, 4), 1);
  assert.equal(there.getFloat64(p, 16), 0.1 + 0.2);
  assert.equal(there.getBigInt64(p, 24), -(2n ** 63n));
  assert.deepEqual([...there.readBytes(p, 4, 32)], [1, 2, 3, 0]);
  assert.deepEqual([...other.perCpu(0).readBytes(p, 40)], new Array(40).fill(0));

  // Remote atomic adds, then the owner sees them.
  assert.equal(other.perCpu(1).addInt32(p, 4), -0x7ffffff8);
  assert.equal(other.perCpu(1).addFloat64(p, 1, 16), 0.1 + 0.2 + 1);
  assert.equal(other.perCpu(1).addBigInt64(p, 5n, 24), -(2n ** 63n) + 5n);
  assert.equal(me.getInt32(p), -0x7ffffff8);
  assert.equal(me.getFloat64(p, 16), 0.1 + 0.2 + 1);
  assert.equal(me.getBigInt64(p, 24), -(2n ** 63n) + 5n);
  // The owner's unit is its own: thisCpu of the other attachment is unit 0.
  assert.equal(other.thisCpu.getInt32(p), 0);
});

test('Float64 values go through their exact bit patterns (the tear-free store is a bit-cast)', () => {
  const percpu = SharedPercpu.create({ nrUnits: 1, unit: 0 });
  const p = percpu.alloc(8, 8);
  const values = [1.5, -2.25e300, Number.NaN, -0, Number.MIN_VALUE, Number.NEGATIVE_INFINITY];
  const bits = new BigInt64Array(new Float64Array(values).buffer);
  values.forEach((v, i) => {
    percpu.thisCpu.setFloat64(p, v);
    assert.equal(percpu.perCpu(0).getBigInt64(p), bits[i]);
    assert.ok(Object.is(percpu.perCpu(0).getFloat64(p), v));
    assert.ok(Object.is(percpu.thisCpu.getFloat64(p), v));
  });
});

test('bad input throws a typed error and changes nothing', () => {
  const percpu = SharedPercpu.create({ nrUnits: 2, unitSize: 64 << 10 });
  const p = percpu.alloc(16, 8);
  const before = JSON.stringify(percpu.stats());
  assert.throws(() => percpu.alloc(0, 8), InvalidRequestError);
  assert.throws(() => percpu.alloc(16, 12), InvalidRequestError);
  assert.throws(() => percpu.alloc(64 << 10, 8), InvalidRequestError);
  assert.throws(() => percpu.free(p + 4), InvalidFreeError);
  assert.throws(() => percpu.free(NULL_PTR), InvalidFreeError);
  assert.throws(() => percpu.perCpu(0).getInt32(p, 2), (e: RuntimeArgumentError) => e.code === 'EINVAL_ALIGN');
  assert.throws(() => percpu.perCpu(0).getFloat64(p, 4), (e: RuntimeArgumentError) => e.code === 'EINVAL_ALIGN');
  assert.throws(() => percpu.perCpu(0).getInt32(p, (64 << 10) - 2), (e: RuntimeArgumentError) => e.code === 'EINVAL_SIZE');
  assert.throws(() => percpu.perCpu(0).getInt32(50 * 2 ** 32), InvalidFreeError, 'a chunk that does not exist');
  assert.throws(() => percpu.perCpu(2), (e: RuntimeArgumentError) => e.code === 'EINVAL');
  assert.throws(() => percpu.thisCpu, NoUnitError);
  assert.throws(() => percpu.allocMany(8, 8, 5, new Float64Array(4)), RuntimeArgumentError);
  assert.equal(JSON.stringify(percpu.stats()), before);
  assert.equal(percpu.lock.locked, false, 'errors release the lock');
  percpu.free(p);
  assert.throws(() => percpu.free(p), InvalidFreeError, 'double free');

  assert.throws(() => SharedPercpu.create({ nrUnits: 0 }), RuntimeArgumentError);
  assert.throws(() => SharedPercpu.create({ nrUnits: 2, unitSize: 5000 }), RuntimeArgumentError);
  assert.throws(() => SharedPercpu.create({ nrUnits: 2, unit: 2 }), RuntimeArgumentError);
  assert.throws(() => SharedPercpu.create({ nrUnits: 4, unitSize: 1 << 20, maxBytes: 4 << 20 }), RuntimeArgumentError);
  assert.throws(() => SharedPercpu.attach(percpu.handle(), 5), RuntimeArgumentError);
});

test('futex lock states: uncontended take and release, tryLock, with()', () => {
  const words = new Int32Array(new SharedArrayBuffer(4));
  const lock = new FutexLock(words, 0);
  assert.equal(lock.tryLock(), true);
  assert.equal(words[0], threadToken(), "held: the word names the holder's thread");
  assert.equal(lock.tryLock(), false);
  lock.unlock();
  assert.equal(words[0], 0);
  assert.equal(lock.with(() => (lock.locked ? 'inside' : 'no')), 'inside');
  assert.equal(lock.locked, false);
  assert.throws(() => lock.with(() => { throw new Error('x'); }), /x/);
  assert.equal(lock.locked, false, 'released on a throw');
});

test('freeMany checks the whole list first: a bad or repeated pointer frees nothing', () => {
  const percpu = SharedPercpu.create({ nrUnits: 2 });
  const out = new Float64Array(100);
  assert.equal(percpu.allocMany(64, 8, 100, out), 100);
  const ptrs = [...out];
  const live = () => percpu.stats().allocator.nrCurAlloc;
  const before = live();
  const withBad = [...ptrs.slice(0, 50), ptrs[10]! + 8, ...ptrs.slice(50)];
  assert.throws(() => percpu.freeMany(withBad), InvalidFreeError);
  assert.equal(live(), before);
  const withRepeat = [...ptrs, ptrs[3]!];
  assert.throws(() => percpu.freeMany(withRepeat), /appears twice/);
  assert.equal(live(), before);
  percpu.freeMany(ptrs);
  assert.equal(live(), before - 100);
  assert.deepEqual(percpu.check(), []);
});
