// SPDX-License-Identifier: GPL-2.0-only
/**
 * `PercpuCounter` against the kernel's percpu_counter semantics. Several units
 * are driven from one thread by attaching one `SharedPercpu` per unit, so
 * every interleaving here is deterministic; the concurrent case is in
 * runtime-stress.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SharedPercpu } from '../src/runtime/shared-percpu.js';
import { PercpuCounter, defaultCounterBatch } from '../src/runtime/counter.js';
import { DestroyedError, RuntimeArgumentError } from '../src/runtime/errors.js';

/** One counter seen from each of `n` units (all in this thread). */
function units(n: number, batch: number, initial = 0) {
  const main = SharedPercpu.create({ nrUnits: n, unitSize: 64 << 10, maxBytes: 4 * n * (64 << 10) });
  const c = PercpuCounter.create(main, { batch, initial });
  const views = Array.from({ length: n }, (_, u) => PercpuCounter.attach(SharedPercpu.attach(main.handle(), u), c.handle()));
  return { main, c, views };
}

test('adds stay in the unit cell; the shared total moves only when a unit drifts ±batch from what it reported', () => {
  const { main, c, views } = units(2, 4, 10);
  const u0 = views[0]!;
  u0.add(1);
  u0.add(2);
  assert.equal(c.read(), 10, 'below the batch: only the cell moved');
  assert.equal(main.perCpu(0).getInt32(c.ptr), 3, "the cell holds the unit's count");
  assert.equal(c.sum(), 13);
  u0.add(1);
  assert.equal(c.read(), 14, 'the unit drifted 4 from what it reported: reported at once');
  assert.equal(main.perCpu(0).getInt32(c.ptr), 4, 'the cell keeps the count (nothing is moved out of it)');
  views[1]!.add(-3);
  assert.equal(c.read(), 14);
  views[1]!.sub(1);
  assert.equal(c.read(), 10, 'a negative drift reports at -batch');
  views[1]!.add(1000);
  assert.equal(c.read(), 1010, 'a large amount reports at once');
  u0.inc();
  u0.dec();
  u0.dec();
  assert.equal(c.sum(), 1009);
  assert.equal(main.perCpu(0).getInt32(c.ptr), 3);
});

test("exact mode (LongAdder): read() is the exact sum and adds never touch the shared total", () => {
  const main = SharedPercpu.create({ nrUnits: 3, unitSize: 64 << 10, maxBytes: 12 * (64 << 10) });
  const c = PercpuCounter.create(main, { mode: 'exact', initial: 7 });
  const views = [0, 1, 2].map((u) => PercpuCounter.attach(SharedPercpu.attach(main.handle(), u), c.handle()));
  for (let i = 0; i < 1000; i++) views[i % 3]!.add(i % 5 === 0 ? -3 : 2);
  const truth = 7 + Array.from({ length: 1000 }, (_, i) => (i % 5 === 0 ? -3 : 2)).reduce((a, b) => a + b, 0);
  assert.equal(c.read(), truth);
  assert.equal(c.sum(), truth);
  assert.equal(c.errorBound, 0);
  assert.equal(c.mode, 'exact');
});

test('counts past 2^32 per unit and past 2^53 in total stay exact (carry into the high word, BigInt reads)', () => {
  const { c, views } = units(2, 32);
  const u0 = views[0]!;
  u0.add(0x7fff_ffff);
  u0.add(0x7fff_ffff);
  u0.add(5);
  assert.equal(c.sum(), 2 * 0x7fff_ffff + 5, 'carried across 2^32');
  u0.add(-(2 * 0x7fff_ffff + 10));
  assert.equal(c.sum(), -5, 'borrowed back below zero');
  c.set(2n ** 53n);
  views[1]!.add(3);
  assert.equal(c.sumBigInt(), 2n ** 53n + 3n, 'the value a Number cannot hold');
  views[1]!.addBigInt(2n ** 60n);
  assert.equal(c.sumBigInt(), 2n ** 53n + 3n + 2n ** 60n);
  assert.equal(c.readBigInt(), c.sumBigInt(), 'a big add reports at once');
});

test('any int32 amounts, both modes: the sum stays exact and read() within the bound (the fast path\'s wrapped window test)', () => {
  // Amounts near ±2^31 and small ones, so that low words cross the half boundaries, wrap
  // and carry while the fast path decides on the 32-bit wrapped sum.
  const amount = fc.oneof(
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    fc.integer({ min: -40, max: 40 }),
    fc.constantFrom(2 ** 31 - 1, -(2 ** 31), 2 ** 30, -(2 ** 30), 1, -1),
  );
  fc.assert(
    fc.property(fc.constantFrom('batched' as const, 'exact' as const), fc.array(fc.tuple(fc.nat(2), amount), { minLength: 1, maxLength: 120 }), (mode, steps) => {
      const main = SharedPercpu.create({ nrUnits: 3, unitSize: 64 << 10, maxBytes: 12 * (64 << 10) });
      const c = PercpuCounter.create(main, { batch: 32, mode });
      const views = Array.from({ length: 3 }, (_, u) => PercpuCounter.attach(SharedPercpu.attach(main.handle(), u), c.handle()));
      let want = 0n;
      for (const [u, d] of steps) {
        views[u]!.add(d);
        want += BigInt(d);
        assert.equal(c.sumBigInt(), want);
        const off = c.readBigInt() - want;
        assert.ok(off <= BigInt(c.errorBound) && -off <= BigInt(c.errorBound), `read() off by ${off}`);
      }
    }),
    { numRuns: 150 },
  );
});

test('use after destroy throws DestroyedError in every thread, on the fast path too', () => {
  const { main, c, views } = units(2, 1000);
  views[0]!.add(1);
  c.destroy();
  const reuse = main.allocOrThrow(16, 8);
  assert.equal(reuse, c.ptr, 'the memory went to a new allocation');
  for (const v of views) {
    assert.throws(() => v.add(1), DestroyedError, 'an add that would have fitted the batch');
    assert.throws(() => v.sum(), DestroyedError);
    assert.throws(() => v.read(), DestroyedError);
  }
  assert.equal(main.perCpu(0).getInt32(reuse), 0, 'the new allocation was not written');
  assert.throws(() => PercpuCounter.attach(main, c.handle()), DestroyedError);
});

test('a thread without a unit adds straight into the total', () => {
  const { c } = units(2, 100);
  c.add(5);
  assert.equal(c.read(), 5);
  c.addBatch(-2, 1000);
  assert.equal(c.read(), 3);
});

test('read() is within nrUnits × (batch − 1) of sum(), and compare() is always right', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 50 }),
      fc.array(fc.tuple(fc.nat(3), fc.integer({ min: -80, max: 80 })), { minLength: 5, maxLength: 60, size: 'max' }),
      fc.integer({ min: -400, max: 400 }),
      (n, batch, adds, probe) => {
        const { c, views } = units(n, batch);
        let truth = 0;
        for (const [u, amount] of adds) {
          views[u % n]!.add(amount);
          truth += amount;
        }
        assert.equal(c.sum(), truth);
        assert.ok(Math.abs(c.read() - truth) <= n * (batch - 1), `read ${c.read()} truth ${truth}`);
        assert.equal(c.errorBound, n * (batch - 1));
        for (const v of [truth, truth - 1, truth + 1, probe, truth + n * batch, truth - n * batch - 1]) {
          assert.equal(c.compare(v), Math.sign(truth - v), `compare(${v}) with truth ${truth}`);
        }
      },
    ),
    { numRuns: 150 },
  );
});

test('compare() answers from the fast read when it is far from the value, and sums when close', () => {
  const { main, c, views } = units(4, 10);
  views[1]!.add(9);
  views[2]!.add(9);
  views[3]!.add(9);
  assert.equal(c.read(), 0);
  // Within batch × nrUnits = 40 of the read: the exact sum (27) decides.
  assert.equal(c.compare(27), 0);
  assert.equal(c.compare(30), -1);
  // Far away: decided by the read alone. Make the locals lie (as a racing reader might see them) to prove no sum ran.
  main.perCpu(1).setInt32(c.ptr, 1_000_000);
  assert.equal(c.compare(-41), 1);
  assert.equal(c.compare(41), -1, 'the read (0) says below, though the locals now sum past 41');
  assert.equal(c.compare(41, 1_000_000), 1, 'with a wider batch the sum decides');
});

test('set() zeroes every unit and sets the total; destroy() gives the memory back', () => {
  const { main, c, views } = units(3, 8);
  views[0]!.add(5);
  views[2]!.add(-7);
  c.set(42);
  assert.equal(c.read(), 42);
  assert.equal(c.sum(), 42);
  for (let u = 0; u < 3; u++) assert.equal(main.perCpu(u).getInt32(c.ptr), 0);
  const live = main.stats().allocator.nrCurAlloc;
  c.destroy();
  assert.equal(main.stats().allocator.nrCurAlloc, live - 1);
  assert.equal(views[1]!.destroyed, true);
  assert.throws(() => c.destroy(), DestroyedError);
  assert.throws(() => views[1]!.add(1000), DestroyedError, 'a fold after destroy');
  assert.throws(() => c.set(1), DestroyedError);
});

test('defaults and bad input', () => {
  const main = SharedPercpu.create({ nrUnits: 40, unitSize: 32 << 10, maxBytes: 40 * (32 << 10) * 4 });
  assert.equal(PercpuCounter.create(main).batch, 80, 'max(32, 2 × units)');
  assert.equal(defaultCounterBatch(2), 32);
  const before = main.stats().allocator.nrCurAlloc;
  assert.throws(() => PercpuCounter.create(main, { batch: 0 }), RuntimeArgumentError);
  assert.throws(() => PercpuCounter.create(main, { initial: 0.5 }), RuntimeArgumentError);
  assert.equal(main.stats().allocator.nrCurAlloc, before, 'nothing allocated by a refused create');
  const c = PercpuCounter.attach(SharedPercpu.attach(main.handle(), 3), PercpuCounter.create(main, { batch: 10 }).handle());
  c.add(3);
  assert.throws(() => c.add(0.5), RuntimeArgumentError);
  assert.throws(() => c.add(Number.NaN), RuntimeArgumentError);
  assert.throws(() => c.addBatch(1, 0), RuntimeArgumentError);
  assert.equal(c.sum(), 3, 'refused adds changed nothing');
});
