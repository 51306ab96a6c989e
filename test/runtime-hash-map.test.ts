// SPDX-License-Identifier: GPL-2.0-only
/**
 * `PercpuHashMap` against BPF per-CPU hash map semantics and a plain model:
 * random updates, deletes and lookups from several units (one thread, one
 * attachment per unit) in a map small enough that probe runs collide and
 * deletes shift elements; BPF flags; a full map; element reuse zeroing the
 * other units; preallocation through the allocator and its release.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SharedPercpu } from '../src/runtime/shared-percpu.js';
import { BPF_ANY, BPF_EXIST, BPF_NOEXIST, PercpuHashMap } from '../src/runtime/hash-map.js';
import { DestroyedError, MapFullError, NoUnitError, RuntimeArgumentError } from '../src/runtime/errors.js';
import { NULL_PTR } from '../src/engine/pointer.js';

function setup(nrUnits: number, maxEntries: number, keySize = 4, valueSize = 8) {
  const main = SharedPercpu.create({ nrUnits, unitSize: 64 << 10, maxBytes: 64 * nrUnits * (64 << 10) });
  const map = PercpuHashMap.create(main, { keySize, valueSize, maxEntries });
  const views = Array.from({ length: nrUnits }, (_, u) => PercpuHashMap.attach(SharedPercpu.attach(main.handle(), u), map.handle()));
  return { main, map, views };
}

function int32Value(v: number, size = 8): Uint8Array {
  const b = new Uint8Array(size);
  new DataView(b.buffer).setInt32(0, v, true);
  return b;
}

type Op = { kind: 'update'; unit: number; key: number; value: number; flags: number } | { kind: 'delete'; key: number } | { kind: 'lookup'; key: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('update' as const), unit: fc.nat(2), key: fc.nat(24), value: fc.integer({ min: 1, max: 1e6 }), flags: fc.constantFrom(BPF_ANY, BPF_ANY, BPF_NOEXIST, BPF_EXIST) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: fc.nat(24) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('lookup' as const), key: fc.nat(24) }) },
);

test('random updates, deletes and lookups from 3 units match a model (collisions, shifting deletes, a full map)', () => {
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 40, maxLength: 150, size: 'max' }), (ops) => {
      const MAX = 10;
      const { main, map, views } = setup(3, MAX);
      const model = new Map<number, number[]>();
      for (const op of ops) {
        if (op.kind === 'update') {
          const present = model.has(op.key);
          const want = op.flags === BPF_NOEXIST ? !present : op.flags === BPF_EXIST ? present : true;
          if (want && !present && model.size === MAX) {
            const before = map.size;
            assert.throws(() => views[op.unit]!.update(op.key, int32Value(op.value), op.flags), MapFullError);
            assert.equal(map.size, before);
            continue;
          }
          assert.equal(views[op.unit]!.update(op.key, int32Value(op.value), op.flags), want);
          if (!want) continue;
          const values = model.get(op.key) ?? [0, 0, 0];
          values[op.unit] = op.value;
          model.set(op.key, values);
        } else if (op.kind === 'delete') {
          assert.equal(map.delete(op.key), model.delete(op.key));
        } else {
          const ptr = map.lookup(op.key);
          assert.equal(ptr !== NULL_PTR, model.has(op.key));
        }
        assert.equal(map.size, model.size);
      }
      for (let key = 0; key <= 24; key++) {
        const want = model.get(key);
        const ptr = map.lookup(key);
        if (want === undefined) {
          assert.equal(ptr, NULL_PTR);
          assert.equal(map.lookupAll(key), undefined);
          continue;
        }
        for (let u = 0; u < 3; u++) {
          assert.equal(main.perCpu(u).getInt32(ptr), want[u], `key ${key} unit ${u}`);
          assert.deepEqual(views[u]!.lookupElem(key), int32Value(want[u]!));
        }
        assert.equal(map.sumInt32(key), want[0]! + want[1]! + want[2]!);
      }
      const keys = map.keys().map((k) => new DataView((k as Uint8Array).buffer, (k as Uint8Array).byteOffset).getInt32(0, true)).sort((a, b) => a - b);
      assert.deepEqual(keys, [...model.keys()].sort((a, b) => a - b));
      map.destroy();
      assert.equal(main.stats().allocator.nrCurAlloc, 0);
    }),
    { numRuns: 120 },
  );
});

test('a reused element starts zeroed in the other units, as BPF initialises a new element', () => {
  const { main, map, views } = setup(2, 1);
  views[0]!.update(7, int32Value(70));
  views[1]!.update(7, int32Value(71));
  const ptr = map.lookup(7);
  assert.equal(main.perCpu(1).getInt32(ptr), 71);
  assert.equal(map.delete(7), true);
  views[0]!.update(8, int32Value(80));
  assert.equal(map.lookup(8), ptr, 'the only element is reused');
  assert.equal(main.perCpu(0).getInt32(ptr), 80);
  assert.equal(main.perCpu(1).getInt32(ptr), 0, "unit 1's old value is gone");
  assert.throws(() => views[1]!.update(9, int32Value(90)), MapFullError);
});

test('lookupOrInit, updateAll (BPF user-space layout), lookupAll and the typed sums', () => {
  const { main, map, views } = setup(3, 16, 8, 12);
  assert.equal(map.valueStride, 16, 'values are rounded up to 8 bytes per unit');
  const p = views[2]!.lookupOrInit(5n);
  assert.equal(views[0]!.lookupOrInit(5), p, 'the same element for the same 8-byte key, as bigint or number');
  SharedPercpu.attach(main.handle(), 2).thisCpu.addFloat64(p, 2.5);
  SharedPercpu.attach(main.handle(), 0).thisCpu.addFloat64(p, 0.25);
  assert.equal(map.sumFloat64(5), 2.75);
  const all = new Uint8Array(3 * 16);
  const dv = new DataView(all.buffer);
  for (let u = 0; u < 3; u++) dv.setBigInt64(u * 16, BigInt(10 + u), true);
  assert.equal(map.updateAll(-1, all, BPF_NOEXIST), true);
  assert.equal(map.updateAll(-1, all, BPF_NOEXIST), false);
  assert.equal(map.sumBigInt64(-1), 33n);
  assert.deepEqual(map.lookupAll(-1), all);
  const key = new Uint8Array(8).fill(0xff);
  assert.equal(map.lookup(key), map.lookup(-1), 'a number key is its little-endian two\'s complement bytes');
  assert.equal(map.sumInt32(12345), undefined);
});

test('creating preallocates maxEntries values through the allocator; destroying frees them', () => {
  const main = SharedPercpu.create({ nrUnits: 2, unitSize: 256 << 10 });
  const map = PercpuHashMap.create(main, { keySize: 8, valueSize: 8, maxEntries: 100_000 });
  assert.equal(main.stats().allocator.nrCurAlloc, 100_000);
  assert.equal(map.size, 0);
  for (let k = 0; k < 1000; k++) map.updateAll(k * 7919, new Uint8Array(16).fill(1));
  map.destroy();
  assert.equal(main.stats().allocator.nrCurAlloc, 0);
  assert.equal(map.destroyed, true);
  assert.throws(() => map.lookup(1), DestroyedError);
  assert.throws(() => map.destroy(), DestroyedError);
  assert.deepEqual(main.check(), []);
});

test('a map that does not fit the memory gives everything back and throws', () => {
  const main = SharedPercpu.create({ nrUnits: 2, unitSize: 32 << 10, maxBytes: 4 * 2 * (32 << 10) });
  const before = main.stats().allocator.nrCurAlloc;
  assert.throws(() => PercpuHashMap.create(main, { keySize: 4, valueSize: 1024, maxEntries: 1000 }), (e: Error & { code?: string }) => e.code === 'ENOSPC');
  assert.equal(main.stats().allocator.nrCurAlloc, before);
});

test('bad keys, values, flags and units throw typed errors and change nothing', () => {
  const { map, views } = setup(2, 4, 4, 8);
  views[0]!.update(1, int32Value(1));
  assert.throws(() => views[0]!.update(new Uint8Array(3), int32Value(1)), RuntimeArgumentError);
  assert.throws(() => views[0]!.update(2 ** 40, int32Value(1)), RuntimeArgumentError, 'a 4-byte key must be 32-bit');
  assert.throws(() => views[0]!.update(1n, int32Value(1)), RuntimeArgumentError);
  assert.throws(() => views[0]!.update(2, new Uint8Array(4)), RuntimeArgumentError);
  assert.throws(() => views[0]!.update(2, int32Value(1), 7), RuntimeArgumentError);
  assert.throws(() => map.update(2, int32Value(1)), NoUnitError, 'the main thread has no unit: use updateAll');
  assert.throws(() => map.lookupElem(1), NoUnitError);
  assert.throws(() => map.lookupElem(1, 9), RuntimeArgumentError);
  assert.equal(map.size, 1);
  assert.deepEqual(map.lookupElem(1, 0), int32Value(1));
  const main = SharedPercpu.create({ nrUnits: 1 });
  for (const bad of [{ keySize: 0, valueSize: 8, maxEntries: 1 }, { keySize: 4, valueSize: 0, maxEntries: 1 }, { keySize: 4, valueSize: 8, maxEntries: 0 }, { keySize: 4, valueSize: 40000, maxEntries: 1 }]) {
    assert.throws(() => PercpuHashMap.create(main, bad), RuntimeArgumentError);
  }
  assert.equal(main.stats().allocator.nrCurAlloc, 0);
});
