// SPDX-License-Identifier: GPL-2.0-only
/**
 * The hash map as people use it: string keys compared in full, decoded
 * iteration with per-unit and summed values, getNextKey walks, batch
 * operations, 'full' as a result instead of a throw, LRU eviction, the
 * structural checker, and DestroyedError after destroy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SharedPercpu } from '../src/runtime/shared-percpu.js';
import { PercpuHashMap, BPF_NOEXIST, BPF_EXIST, hashWords, homeSlot } from '../src/runtime/hash-map.js';
import { DestroyedError, MapFullError, RuntimeArgumentError } from '../src/runtime/errors.js';
import { NULL_PTR } from '../src/engine/pointer.js';

function setup(n: number, options: Parameters<typeof PercpuHashMap.create>[1]) {
  const main = SharedPercpu.create({ nrUnits: n, unitSize: 64 << 10 });
  const map = PercpuHashMap.create(main, options);
  const views = Array.from({ length: n }, (_, u) => PercpuHashMap.attach(SharedPercpu.attach(main.handle(), u), map.handle()));
  return { main, map, views };
}

test('string keys: UTF-8, compared in full (shared prefixes, trailing NULs), too long is an error', () => {
  const { map, views } = setup(2, { keySize: 16, keyType: 'string', valueSize: 4, maxEntries: 16 });
  const keys = ['ab', 'ab\0', 'abc', 'a', '', 'héllo', '日本', '0123456789abcdef'];
  keys.forEach((k, i) => views[i % 2]!.addInt32(k, i + 1));
  for (const [i, k] of keys.entries()) assert.equal(map.sumInt32(k), i + 1, `key ${JSON.stringify(k)}`);
  assert.equal(map.lookup('abcd'), NULL_PTR);
  assert.throws(() => map.lookup('0123456789abcdefX'), RuntimeArgumentError);
  assert.throws(() => map.lookup('日本日本日本'), RuntimeArgumentError, '18 UTF-8 bytes');
  assert.throws(() => map.lookup(5), RuntimeArgumentError, 'a number key on a string map');
  assert.deepEqual(new Set(map.keys()), new Set(keys));
  assert.deepEqual(map.check(), []);
});

test('string keys against a model: no two distinct strings ever share an element', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.string({ maxLength: 6 }), fc.boolean()), { maxLength: 80 }), (ops) => {
      const { map, views } = setup(1, { keySize: 24, keyType: 'string', valueSize: 4, maxEntries: 100 });
      const model = new Map<string, number>();
      for (const [k, del] of ops) {
        if (del) assert.equal(map.delete(k), model.delete(k));
        else {
          views[0]!.addInt32(k, 1);
          model.set(k, (model.get(k) ?? 0) + 1);
        }
      }
      for (const [k, v] of model) assert.equal(map.sumInt32(k), v);
      assert.equal(map.size, model.size);
      assert.deepEqual(map.check(), []);
    }),
    { numRuns: 60 },
  );
});

test('items() yields decoded keys with every unit value and the sum; getNextKey walks every key once', () => {
  const { map, views } = setup(3, { keySize: 8, valueSize: 8, maxEntries: 32 });
  for (let k = 0; k < 10; k++) for (let u = 0; u < 3; u++) views[u]!.addInt32(BigInt(k) << 40n, k * 10 + u);
  const seen = new Map<bigint, { values: number[]; sum: number }>();
  for (const it of map.items('int32')) {
    const key = new DataView((it.key as Uint8Array).buffer).getBigInt64(0, true);
    seen.set(key, { values: it.values, sum: it.sum });
  }
  assert.equal(seen.size, 10);
  for (let k = 0; k < 10; k++) assert.deepEqual(seen.get(BigInt(k) << 40n), { values: [k * 10, k * 10 + 1, k * 10 + 2], sum: 30 * k + 3 });
  assert.equal([...map].length, 10, 'the map itself is iterable (int32 at offset 0)');
  const walked: string[] = [];
  for (let key = map.getNextKey(); key !== undefined; key = map.getNextKey(key as Uint8Array)) walked.push(String(key));
  assert.equal(walked.length, 10);
  assert.equal(new Set(walked).size, 10);
  assert.deepEqual(map.getNextKey(new Uint8Array(8).fill(0xee)), map.getNextKey(), 'an absent key restarts at the first, as BPF');
});

test('batch lookup, update and delete', () => {
  const { map } = setup(2, { keySize: 4, valueSize: 4, maxEntries: 4 });
  const vals = (a: number, b: number) => new Uint8Array(new Int32Array([a, 0, b, 0]).buffer);
  assert.deepEqual(map.updateBatch([1, 2, 3], [vals(1, 2), vals(3, 4), vals(5, 6)]), { count: 3, status: 'ok' });
  assert.deepEqual(map.updateBatch([4, 5, 6], [vals(0, 0), vals(0, 0), vals(0, 0)]), { count: 1, status: 'full' }, 'stops at the first failure, reports it');
  const got = map.lookupBatch([2, 9, 1]);
  assert.deepEqual(new Int32Array(got[0]!.buffer), new Int32Array([3, 0, 4, 0]));
  assert.equal(got[1], undefined);
  assert.equal(map.deleteBatch([1, 9, 3, 1]), 2);
  assert.equal(map.size, 2);
  assert.deepEqual(map.check(), []);
});

test("a full map is a result the caller handles: tryUpdate 'full', tryLookupOrInit NULL; update still throws MapFullError", () => {
  const { map, views } = setup(1, { keySize: 4, valueSize: 4, maxEntries: 2 });
  const v = new Int32Array([1]);
  assert.equal(views[0]!.tryUpdate(1, v), 'ok');
  assert.equal(views[0]!.tryUpdate(2, v), 'ok');
  assert.equal(views[0]!.tryUpdate(3, v), 'full');
  assert.equal(views[0]!.tryUpdate(1, v, BPF_NOEXIST), 'exists');
  assert.equal(views[0]!.tryUpdate(7, v, BPF_EXIST), 'missing');
  assert.equal(map.tryLookupOrInit(3), NULL_PTR);
  assert.equal(views[0]!.addInt32(3, 1), false, 'addInt32 reports a full map and changes nothing');
  assert.throws(() => views[0]!.update(3, v), MapFullError);
  assert.equal(map.size, 2);
});

test('LRU mode evicts an old element when full, never the recently used ones', () => {
  const { map, views } = setup(1, { keySize: 4, valueSize: 4, maxEntries: 8, lru: true });
  const w = views[0]!;
  for (let k = 0; k < 8; k++) w.addInt32(k, 1);
  // Keep 0..3 hot for a while (each lookup stamps them; the clock advances).
  for (let r = 0; r < 200; r++) for (let k = 0; k < 4; k++) w.addInt32(k, 1);
  for (let k = 100; k < 104; k++) assert.equal(w.tryUpdate(k, new Int32Array([1])), 'ok', 'an LRU map is never full');
  assert.equal(map.size, 8);
  for (let k = 0; k < 4; k++) assert.notEqual(map.lookup(k), NULL_PTR, `hot key ${k} stayed`);
  for (let k = 100; k < 104; k++) assert.notEqual(map.lookup(k), NULL_PTR);
  assert.deepEqual(map.check(), []);
});

test('every map call after destroy is DestroyedError, in every thread', () => {
  const { map, views } = setup(2, { keySize: 4, valueSize: 4, maxEntries: 4 });
  views[1]!.addInt32(1, 1);
  map.destroy();
  for (const m of [map, ...views]) {
    assert.throws(() => m.lookup(1), DestroyedError);
    assert.throws(() => m.sumInt32(1), DestroyedError);
    assert.throws(() => m.delete(1), DestroyedError);
    assert.throws(() => m.getNextKey(), DestroyedError);
    assert.throws(() => [...m.items()], DestroyedError);
  }
  assert.throws(() => views[1]!.addInt32(1, 1), DestroyedError);
  assert.throws(() => views[1]!.tryUpdate(2, new Int32Array([1])), DestroyedError);
});

test("addInt32's fast path: any int32 key, homes up to the table's last slot and probes that wrap, each add in its own unit's value", () => {
  // The fast path computes the home slot without a mask and the value's index from the slot's
  // word in one step: a model (a Map per unit) says what every unit's value must hold.
  fc.assert(
    fc.property(fc.array(fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff }), { minLength: 1, maxLength: 60 }), fc.integer({ min: 0, max: 2 }), (drawn, sizeIx) => {
      const maxEntries = [8, 60, 100][sizeIx]!;
      const { main, map, views } = setup(2, { keySize: 4, valueSize: 8, maxEntries });
      // Keys whose home is the last slot, so that their neighbours' probes wrap to slot 0.
      const last: number[] = [];
      for (let k = 0; last.length < 3; k++) if (homeSlot(hashWords(new Int32Array([k]), 1), map.capacity) === map.capacity - 1) last.push(k);
      const keys = [...new Set([...last, ...drawn, 0x7fff_ffff, -0x8000_0000, -1])].slice(0, maxEntries);
      const model = [new Map<number, number>(), new Map<number, number>()];
      for (let round = 0; round < 3; round++) {
        keys.forEach((k, i) => {
          const u = (i + round) % 2;
          assert.equal(views[u]!.addInt32(k, i + 1), true);
          model[u]!.set(k, (model[u]!.get(k) ?? 0) + i + 1);
        });
      }
      for (const k of keys) {
        const ptr = map.lookup(k);
        for (const u of [0, 1]) assert.equal(main.perCpu(u).getInt32(ptr), model[u]!.get(k) ?? 0, `key ${k}, unit ${u}`);
      }
      assert.deepEqual(map.check(), []);
    }),
    { numRuns: 60 },
  );
});

test("addInt32's fast path lands in the key's own value, whether the preallocated values are contiguous or scattered", () => {
  for (const scattered of [false, true]) {
    const main = SharedPercpu.create({ nrUnits: 2, unitSize: 64 << 10 });
    if (scattered) {
      // Holes of 8 bytes between live allocations: the map's values fill them, not one run.
      const ps = Array.from({ length: 64 }, () => main.alloc(8, 8));
      for (let i = 0; i < ps.length; i += 2) main.free(ps[i]!);
    }
    const map = PercpuHashMap.create(main, { keySize: 4, valueSize: 8, maxEntries: 40 });
    assert.equal(map.handle().valueBase < 0, scattered, scattered ? 'values scattered' : 'values contiguous');
    const views = [0, 1].map((u) => PercpuHashMap.attach(SharedPercpu.attach(main.handle(), u), map.handle()));
    for (let round = 0; round < 3; round++) for (let k = 0; k < 40; k++) views[k % 2]!.addInt32(k * 7919, k + 1);
    for (let k = 0; k < 40; k++) {
      assert.equal(map.sumInt32(k * 7919), 3 * (k + 1), `key ${k * 7919}`);
      const ptr = map.lookup(k * 7919);
      assert.equal(main.perCpu(k % 2).getInt32(ptr), 3 * (k + 1), 'in the adding unit');
      assert.equal(main.perCpu(1 - (k % 2)).getInt32(ptr), 0, 'and nowhere else');
    }
    assert.deepEqual(map.check(), []);
  }
});
