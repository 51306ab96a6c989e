// SPDX-License-Identifier: GPL-2.0-only
/**
 * Percpu metrics (src/runtime/metrics.ts): counters, gauges and fixed-bucket
 * histograms written per unit and summed on read. Units are driven from one
 * thread (one `SharedPercpu` attached per unit) for exact interleavings, and
 * then from real worker threads while the main thread reads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import fc from 'fast-check';
import { ROOT } from '../test-support/fixtures.js';
import type { MetricsTask } from '../test-support/metrics-worker.js';
import { SharedPercpu } from '../src/runtime/shared-percpu.js';
import { PercpuMetrics, MAX_METRIC_VALUES, type PercpuMetricsHandle } from '../src/runtime/metrics.js';
import { DestroyedError, NoUnitError, RuntimeArgumentError } from '../src/runtime/errors.js';

const WORKER = join(ROOT, 'dist', 'test-support', 'metrics-worker.js');

/** A metric set created on a unit-less main thread, and the same set attached as each unit. */
function setup(n: number, define: (m: PercpuMetrics) => void) {
  const main = SharedPercpu.create({ nrUnits: n, unitSize: 64 << 10, maxBytes: 4 * n * (64 << 10) });
  const metrics = PercpuMetrics.create(main);
  define(metrics);
  const units = Array.from({ length: n }, (_, u) => PercpuMetrics.attach(SharedPercpu.attach(main.handle(), u), metrics.handle()));
  return { main, metrics, units };
}

/** Every Float64 the metric holds, per unit, read raw: to prove a rejected call wrote nothing. */
function rawValues(main: SharedPercpu, ptr: number, count: number): number[] {
  const out: number[] = [];
  for (let u = 0; u < main.nrUnits; u++) for (let k = 0; k < count; k++) out.push(main.perCpu(u).getFloat64(ptr, 8 * k));
  return out;
}

test('a counter: each unit adds on its own copy, reads sum over units', () => {
  const { main, metrics, units } = setup(3, (m) => m.createCounter({ name: 'requests_total', help: 'r' }));
  units[0]!.counter('requests_total').inc();
  units[0]!.counter('requests_total').inc(4);
  units[2]!.counter('requests_total').inc(2.5);
  const c = metrics.counter('requests_total');
  assert.equal(c.value(), 7.5);
  assert.deepEqual([0, 1, 2].map((u) => c.value(u)), [5, 0, 2.5]);
  // The raw memory: unit k's copy at the metric's pointer, nothing shared.
  assert.deepEqual(rawValues(main, c.ptr, 1), [5, 0, 2.5]);
  assert.deepEqual(c.read(), [{ labels: {}, value: 7.5 }]);
  assert.deepEqual(c.read(2), [{ labels: {}, value: 2.5 }]);
});

test('labels: series numbered in mixed radix, last label fastest; positional and by-name agree', () => {
  const { main, metrics, units } = setup(2, (m) => m.createCounter({ name: 'hits_total', help: 'h', labels: { method: ['GET', 'POST'], code: ['200', '404', '500'] } }));
  const c = metrics.counter('hits_total');
  assert.equal(c.seriesCount, 6);
  assert.equal(c.seriesIndex(['POST', '404']), 4);
  assert.equal(c.seriesIndex({ code: 404, method: 'POST' }), 4);
  assert.deepEqual(c.seriesLabels(4), { method: 'POST', code: '404' });
  const w = units[1]!.counter('hits_total');
  w.labels('POST', '404').inc(3);
  w.labels({ method: 'GET', code: 500 }).inc();
  assert.equal(w.labels('POST', 404), w.labels({ method: 'POST', code: '404' }), 'one cached series object per combination');
  // Series 4 and 2 of unit 1, read raw.
  assert.deepEqual(rawValues(main, c.ptr, 6).slice(6), [0, 0, 1, 0, 3, 0]);
  assert.deepEqual(
    c.read().filter((s) => s.value !== 0),
    [
      { labels: { method: 'GET', code: '500' }, value: 1 },
      { labels: { method: 'POST', code: '404' }, value: 3 },
    ],
  );
  assert.equal(c.read().length, 6);
});

test('bad label values and bad amounts throw typed errors and write nothing', () => {
  const { main, metrics, units } = setup(2, (m) => {
    m.createCounter({ name: 'c_total', help: '', labels: { route: ['/a', '/b'] } });
    m.createGauge({ name: 'g', help: '' });
    m.createHistogram({ name: 'h', help: '', buckets: [1, 2] });
  });
  const w = units[0]!;
  w.counter('c_total').labels('/a').inc(2);
  w.gauge('g').set(5);
  w.histogram('h').observe(1.5);
  const before = metrics.all().map((m) => rawValues(main, m.ptr, m.seriesCount * m.valuesPerSeries));
  const bad: [() => unknown, new (...a: never[]) => Error][] = [
    [() => w.counter('c_total').labels('/c'), RuntimeArgumentError],
    [() => w.counter('c_total').labels('/a', 'x'), RuntimeArgumentError],
    [() => w.counter('c_total').labels({ route: '/a', extra: 'x' }), RuntimeArgumentError],
    [() => w.counter('c_total').labels({}), RuntimeArgumentError],
    [() => w.counter('c_total').inc(), RuntimeArgumentError], // labelled: must pick a series
    [() => w.counter('c_total').labels('/a').inc(-1), RuntimeArgumentError],
    [() => w.counter('c_total').labels('/a').inc(Number.NaN), RuntimeArgumentError],
    [() => w.counter('c_total').labels('/a').inc(Infinity), RuntimeArgumentError],
    [() => w.gauge('g').set(Number.NaN), RuntimeArgumentError],
    [() => w.gauge('g').inc(-Infinity), RuntimeArgumentError],
    [() => w.histogram('h').observe(Number.NaN), RuntimeArgumentError],
    [() => w.histogram('h').observe(Infinity), RuntimeArgumentError],
    [() => w.gauge('nope'), RuntimeArgumentError],
    [() => w.counter('g'), RuntimeArgumentError], // wrong kind
    [() => metrics.counter('c_total').labels('/a').inc(), NoUnitError], // the main thread has no unit
    [() => metrics.gauge('g').set(1), NoUnitError],
    [() => metrics.histogram('h').observe(1), NoUnitError],
    [() => metrics.counter('c_total').labels('/a').value(2), RuntimeArgumentError],
  ];
  for (const [call, type] of bad) assert.throws(call, type);
  const after = metrics.all().map((m) => rawValues(main, m.ptr, m.seriesCount * m.valuesPerSeries));
  assert.deepEqual(after, before);
});

test('a gauge: each unit holds its share; the value is the sum of the shares', () => {
  const { metrics, units } = setup(3, (m) => m.createGauge({ name: 'in_flight', help: '', labels: { pool: ['a', 'b'] } }));
  units[0]!.gauge('in_flight').labels('a').inc(3);
  units[1]!.gauge('in_flight').labels('a').set(10);
  units[1]!.gauge('in_flight').labels('a').dec(4);
  units[2]!.gauge('in_flight').labels('b').dec(2);
  const g = metrics.gauge('in_flight');
  assert.equal(g.labels('a').value(), 9);
  assert.equal(g.labels('b').value(), -2);
  assert.deepEqual([0, 1, 2].map((u) => g.labels('a').value(u)), [3, 6, 0]);
});

test('a histogram: le is inclusive, counts are cumulative on read, +Inf = count', () => {
  const { main, metrics, units } = setup(2, (m) => m.createHistogram({ name: 'lat', help: '', buckets: [1, 2, 5] }));
  const h0 = units[0]!.histogram('lat');
  const h1 = units[1]!.histogram('lat');
  for (const v of [1, -3, 1.0000001, 2]) h0.observe(v);
  for (const v of [5, 6, 100, 0.5]) h1.observe(v);
  const h = metrics.histogram('lat');
  // Values ≤ 1: 1, -3, 0.5; ≤ 2: + 1.0000001, 2; ≤ 5: + 5; all: + 6, 100.
  assert.deepEqual(h.snapshot(), { cumulative: [3, 5, 6, 8], count: 8, sum: 1 - 3 + 1.0000001 + 2 + (5 + 6 + 100 + 0.5) });
  assert.deepEqual(h.snapshot(1), { cumulative: [1, 1, 2, 4], count: 4, sum: 111.5 });
  // Per-unit memory: bucket counts (not cumulative) then the sum.
  assert.deepEqual(rawValues(main, h.ptr, 5).slice(0, 5), [2, 2, 0, 0, 1 - 3 + 1.0000001 + 2]);
  assert.equal(h.valuesPerSeries, 5);
});

test('histogram time(fn) returns what fn returns and observes its duration in seconds, even when fn throws', () => {
  const { metrics, units } = setup(1, (m) => m.createHistogram({ name: 't', help: '', buckets: [60] }));
  const h = units[0]!.histogram('t');
  assert.equal(h.time(() => 42), 42);
  assert.throws(() => h.time(() => {
    throw new Error('boom');
  }), /boom/);
  const snap = metrics.histogram('t').snapshot();
  assert.equal(snap.count, 2);
  assert.deepEqual(snap.cumulative, [2, 2], 'both well under a minute');
  assert.ok(snap.sum >= 0 && snap.sum < 1);
});

test('histogram counts match a brute-force count of observations ≤ each bound (property)', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 4 }),
      fc.uniqueArray(fc.integer({ min: -50, max: 50 }), { minLength: 1, maxLength: 8 }),
      fc.array(fc.tuple(fc.nat(3), fc.integer({ min: -60, max: 60 }), fc.boolean()), { maxLength: 80 }),
      (n, rawBounds, obs) => {
        const bounds = [...rawBounds].sort((a, b) => a - b);
        const { metrics, units } = setup(n, (m) => m.createHistogram({ name: 'h', help: '', buckets: bounds, labels: { kind: ['x', 'y'] } }));
        for (const [u, v, y] of obs) units[u % n]!.histogram('h').labels(y ? 'y' : 'x').observe(v);
        for (const kind of ['x', 'y']) {
          const values = obs.filter(([, , y]) => (y ? 'y' : 'x') === kind).map(([, v]) => v);
          const snap = metrics.histogram('h').labels(kind).snapshot();
          assert.deepEqual(snap.cumulative, [...bounds.map((b) => values.filter((v) => v <= b).length), values.length]);
          assert.equal(snap.count, values.length);
          assert.equal(snap.sum, values.reduce((a, b) => a + b, 0)); // integers: exact in any order
        }
      },
    ),
    { numRuns: 100 },
  );
});

test('creation validates before it allocates: a rejected metric leaves the allocator and the set unchanged', () => {
  const { main, metrics } = setup(2, (m) => m.createCounter({ name: 'taken_total', help: '' }));
  const allocs = main.stats().allocator.nrCurAlloc;
  const tooMany = Array.from({ length: 65 }, (_, i) => `v${i}`);
  const bad: (() => unknown)[] = [
    () => metrics.createCounter({ name: '1bad', help: '' }),
    () => metrics.createCounter({ name: 'has space', help: '' }),
    () => metrics.createCounter({ name: 'taken_total', help: '' }),
    () => metrics.createCounter({ name: 'ok', help: '', labels: { 'bad-name': ['a'] } }),
    () => metrics.createCounter({ name: 'ok', help: '', labels: { __reserved: ['a'] } }),
    () => metrics.createCounter({ name: 'ok', help: '', labels: { a: [] } }),
    () => metrics.createCounter({ name: 'ok', help: '', labels: { a: ['x', 'x'] } }),
    () => metrics.createHistogram({ name: 'ok', help: '', labels: { le: ['1'] } }),
    () => metrics.createHistogram({ name: 'ok', help: '', buckets: [] }),
    () => metrics.createHistogram({ name: 'ok', help: '', buckets: [1, 1] }),
    () => metrics.createHistogram({ name: 'ok', help: '', buckets: [2, 1] }),
    () => metrics.createHistogram({ name: 'ok', help: '', buckets: [1, Infinity] }),
    // 65 × 65 = 4225 series > 4096 values in one 32 KiB allocation.
    () => metrics.createCounter({ name: 'ok', help: '', labels: { a: tooMany, b: tooMany } }),
  ];
  for (const call of bad) assert.throws(call, RuntimeArgumentError);
  assert.equal(main.stats().allocator.nrCurAlloc, allocs);
  assert.deepEqual(metrics.all().map((m) => m.name), ['taken_total']);
  // The largest metric that fits: exactly MAX_METRIC_VALUES values, one 32 KiB allocation.
  const big = metrics.createCounter({ name: 'big', help: '', labels: { a: tooMany.slice(0, 64), b: tooMany.slice(0, 64) } });
  assert.equal(big.seriesCount * big.valuesPerSeries, MAX_METRIC_VALUES);
  assert.equal(main.stats().allocator.nrCurAlloc, allocs + 1);
});

test('handle, attach, reset and destroy', () => {
  const { main, metrics, units } = setup(2, (m) => {
    m.createCounter({ name: 'a_total', help: 'A' });
    m.createHistogram({ name: 'b', help: 'B', buckets: [0.5], labels: { x: ['p', 'q'] } });
  });
  const h: PercpuMetricsHandle = structuredClone(metrics.handle());
  assert.deepEqual(h.metrics.map((d) => [d.kind, d.name, d.labelNames, d.buckets]), [
    ['counter', 'a_total', [], []],
    ['histogram', 'b', ['x'], [0.5]],
  ]);
  units[1]!.counter('a_total').inc(2);
  units[0]!.histogram('b').labels('q').observe(0.25);
  const again = PercpuMetrics.attach(SharedPercpu.attach(main.handle()), h);
  assert.equal(again.counter('a_total').value(), 2);
  assert.deepEqual(again.histogram('b').labels('q').snapshot(), { cumulative: [1, 1], count: 1, sum: 0.25 });
  metrics.counter('a_total').reset();
  assert.equal(again.counter('a_total').value(), 0);
  assert.equal(again.histogram('b').labels('q').snapshot().count, 1, 'reset is per metric');

  const allocs = main.stats().allocator.nrCurAlloc;
  metrics.destroy();
  assert.equal(main.stats().allocator.nrCurAlloc, allocs - 2, 'both allocations given back');
  assert.equal(again.destroyed, true, 'seen from every attached copy');
  assert.throws(() => metrics.destroy(), DestroyedError);
  assert.throws(() => again.createGauge({ name: 'g', help: '' }), DestroyedError);
  assert.throws(() => PercpuMetrics.attach(main, h), DestroyedError);
  assert.equal(main.check().length, 0);
});

test('worker threads write their own units while the main thread reads; the final sums are exact', async () => {
  const workers = 3;
  const rounds = 200_000;
  const main = SharedPercpu.create({ nrUnits: workers, unitSize: 64 << 10, maxBytes: 4 * workers * (64 << 10) });
  const metrics = PercpuMetrics.create(main);
  const ops = metrics.createCounter({ name: 'ops_total', help: '', labels: { parity: ['even', 'odd'] } });
  const sizes = metrics.createHistogram({ name: 'size', help: '', buckets: [1, 4, 8] });
  const busy = metrics.createGauge({ name: 'busy', help: '' });
  const sync = new SharedArrayBuffer(8);
  const done = Array.from({ length: workers }, (_, unit) => {
    const task: MetricsTask = { percpu: main.handle(), metrics: metrics.handle(), unit, rounds, workers, sync };
    const w = new Worker(WORKER, { workerData: task });
    return new Promise<void>((resolve, reject) => {
      w.once('message', () => resolve());
      w.once('error', reject);
    });
  });
  // Read while they write: each unit's value only grows, so every sum is at least the previous one.
  const flags = new Int32Array(sync);
  let last = 0;
  let reads = 0;
  const deadline = Date.now() + 15_000;
  while (Atomics.load(flags, 1) < workers && Date.now() < deadline) {
    const total = ops.read().reduce((a, s) => a + s.value, 0);
    assert.ok(total >= last, `sum went back from ${last} to ${total}`);
    const snap = sizes.snapshot();
    for (let k = 1; k < snap.cumulative.length; k++) assert.ok(snap.cumulative[k]! >= snap.cumulative[k - 1]!);
    last = total;
    reads++;
    await new Promise((r) => setImmediate(r));
  }
  await Promise.all(done);
  assert.ok(reads >= 1);
  assert.deepEqual(ops.read(), [
    { labels: { parity: 'even' }, value: workers * (rounds / 2) },
    { labels: { parity: 'odd' }, value: workers * (rounds / 2) },
  ]);
  for (let u = 0; u < workers; u++) assert.equal(ops.labels('even').value(u), rounds / 2);
  // Unit u observed (i % 10) + u: count the values ≤ each bound by hand.
  const expected = [0, 0, 0, 0];
  let sum = 0;
  for (let u = 0; u < workers; u++) {
    for (let r = 0; r < 10; r++) {
      const v = r + u;
      const times = rounds / 10;
      sum += v * times;
      [1, 4, 8, Infinity].forEach((b, k) => {
        if (v <= b) expected[k]! += times;
      });
    }
  }
  assert.deepEqual(sizes.snapshot(), { cumulative: expected, count: workers * rounds, sum });
  assert.equal(busy.value(), 0);
});
