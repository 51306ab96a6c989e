// SPDX-License-Identifier: GPL-2.0-only
/**
 * percpu/prom-client (src/runtime/prom/): prom-client's API over shared
 * percpu memory. The oracle for the exposition is prom-client itself: the
 * same calls go to prom-client's classes and to ours, and both registries
 * must print the same bytes (Prometheus and OpenMetrics, default labels,
 * escaping, bucket order, number formatting). Summaries print the same lines
 * except the quantile values, which come from different sketches: ours are
 * checked against the exact quantiles with the stated bound α, and beside
 * prom-client's. Then real worker threads: labels created at run time in
 * any worker, overflow, removal, aggregators, unit release, default metrics,
 * and a scrape that does not wait for a blocked worker.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { once } from 'node:events';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import fc from 'fast-check';
import * as prom from 'prom-client';
import { ROOT } from '../test-support/fixtures.js';
import type { Task } from '../test-support/prom-worker.js';
import * as ours from '../src/runtime/prom/index.js';
import { resetMetricsContextForTests, setupMetrics, type MetricsContext } from '../src/runtime/prom/metrics.js';
import { SketchLayout } from '../src/runtime/prom/sketch.js';
import { SharedPercpu } from '../src/runtime/shared-percpu.js';
import { PercpuHashMap } from '../src/runtime/hash-map.js';
import { inCI } from '../test-support/ci.js';

const WORKER = join(ROOT, 'dist', 'test-support', 'prom-worker.js');

function fresh(options: Parameters<typeof setupMetrics>[0] = { workers: 4 }): MetricsContext {
  resetMetricsContextForTests();
  return setupMetrics(options);
}

type Lib = typeof ours | typeof prom;

/** The same instrumentation calls, against either library. */
function instrument(lib: Lib, reg: ours.Registry | prom.Registry, ops: [number, number, number][]) {
  const registers = [reg] as never;
  const c = new lib.Counter({ name: 'req_total', help: 'Requests "quoted" \\ and\nnewline.', labelNames: ['route', 'code'], registers });
  const g = new lib.Gauge({ name: 'queue_depth', help: 'Queue.', labelNames: ['q'], registers });
  const plain = new lib.Counter({ name: 'plain_total', help: 'No labels.', registers });
  const h = new lib.Histogram({ name: 'lat_seconds', help: 'Latency.', labelNames: ['route'], buckets: [0.001, 0.01, 0.1, 1, 2.5], registers });
  const h0 = new lib.Histogram({ name: 'size_bytes', help: 'Sizes.', buckets: [10, 100, 1000], registers });
  const routes = ['/a', '/b', 'we"ird\\path\n', 'ünï'];
  for (const [r, kind, v] of ops) {
    const route = routes[r % routes.length]!;
    switch (kind % 6) {
      case 0:
        c.inc({ route, code: 200 + (r % 3) }, v);
        break;
      case 1:
        c.labels(route, '500').inc();
        break;
      case 2:
        h.observe({ route }, v / 100);
        break;
      case 3:
        h.labels(route).observe(v);
        break;
      case 4:
        g.set({ q: route }, v - 50);
        break;
      case 5:
        h0.observe(v * 13);
        plain.inc(v / 7);
        break;
    }
  }
}

test('exposition: byte for byte what prom-client prints for the same calls (random workloads)', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(fc.nat(20), fc.nat(5), fc.integer({ min: 0, max: 400 })), { maxLength: 60 }), fc.boolean(), fc.boolean(), async (ops, openMetrics, withDefaults) => {
      fresh();
      const type = openMetrics ? prom.Registry.OPENMETRICS_CONTENT_TYPE : prom.Registry.PROMETHEUS_CONTENT_TYPE;
      const a = new ours.Registry(type as ours.RegistryContentType);
      const b = new prom.Registry();
      b.setContentType(type as never);
      instrument(ours, a, ops);
      instrument(prom, b, ops);
      if (withDefaults) {
        a.setDefaultLabels({ app: 'demo', route: 'ignored-where-set' });
        b.setDefaultLabels({ app: 'demo', route: 'ignored-where-set' });
      }
      assert.equal(await a.metrics(), await b.metrics());
      assert.equal(a.contentType, b.contentType);
    }),
    { numRuns: 100 },
  );
});

test('exposition: a few lines by hand (escaping, +Inf, _sum/_count, le first), and JSON', async () => {
  fresh();
  const reg = new ours.Registry();
  instrument(ours, reg, [
    [2, 0, 3],
    [0, 2, 50],
    [0, 3, 7],
    [1, 5, 14],
  ]);
  const text = await reg.metrics();
  assert.match(text, /^# HELP req_total Requests "quoted" \\\\ and\\nnewline\.$/m);
  assert.match(text, /^req_total\{route="we\\"ird\\\\path\\n",code="202"\} 3$/m);
  assert.match(text, /^lat_seconds_bucket\{le="1",route="\/a"\} 1$/m);
  assert.match(text, /^lat_seconds_bucket\{le="\+Inf",route="\/a"\} 2$/m);
  assert.match(text, /^lat_seconds_sum\{route="\/a"\} 7\.5$/m);
  assert.match(text, /^plain_total 2$/m);
  assert.match(text, /^size_bytes_count 1$/m);
  const json = await reg.getMetricsAsJSON();
  assert.deepEqual(
    json.find((m) => m.name === 'lat_seconds')!.values.slice(0, 2),
    [
      { value: 0, labels: { le: 0.001, route: '/a' }, metricName: 'lat_seconds_bucket' },
      { value: 0, labels: { le: 0.01, route: '/a' }, metricName: 'lat_seconds_bucket' },
    ],
  );
  assert.equal(reg.getSingleMetric('req_total')?.name, 'req_total');
  assert.equal(ours.register.contentType, 'text/plain; version=0.0.4; charset=utf-8');
});

test('summary: quantiles within the stated bound of the exact ones; beside prom-client; _sum/_count identical', async () => {
  fresh();
  const a = new ours.Registry();
  const b = new prom.Registry();
  const qs = [0.01, 0.5, 0.9, 0.99];
  const mine = new ours.Summary({ name: 'op_seconds', help: 'Ops.', percentiles: qs, registers: [a] });
  const theirs = new prom.Summary({ name: 'op_seconds', help: 'Ops.', percentiles: qs, registers: [b] });
  // Log-normal-ish latencies, deterministic.
  const values: number[] = [];
  let x = 12345;
  for (let i = 0; i < 20000; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const u = (x + 1) / 2 ** 32;
    values.push(Math.exp(-6 + 4 * u * u));
  }
  for (const v of values) {
    mine.observe(v);
    theirs.observe(v);
  }
  const sorted = [...values].sort((p, q) => p - q);
  const alpha = new SketchLayout().relativeAccuracy;
  const ourText = await a.metrics();
  const theirText = await b.metrics();
  const q = (text: string, quantile: number) => Number(new RegExp(`^op_seconds\\{quantile="${quantile}"\\} (\\S+)$`, 'm').exec(text)![1]);
  for (const quantile of qs) {
    const exact = sorted[Math.floor(quantile * (sorted.length - 1))]!;
    const got = q(ourText, quantile);
    assert.ok(Math.abs(got - exact) <= alpha * exact * (1 + 1e-12), `q${quantile}: ${got} vs exact ${exact}`);
    // prom-client's t-digest interpolates; on this data it lands within 2 % of ours.
    const tdigest = q(theirText, quantile);
    assert.ok(Math.abs(got - tdigest) <= 0.02 * tdigest + alpha * exact, `q${quantile}: ours ${got}, prom-client ${tdigest}`);
  }
  const tail = (t: string) => t.split('\n').filter((l) => !/quantile=/.test(l)).join('\n');
  assert.equal(tail(ourText), tail(theirText));
});

test('summary sketch: the bound holds for random data, negative values and zero included (property)', () => {
  const layout = new SketchLayout({ relativeAccuracy: 0.02 });
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.double({ min: 1e-6, max: 1e6, noNaN: true }), fc.double({ min: -1e6, max: -1e-6, noNaN: true }), fc.constant(0)), { minLength: 1, maxLength: 300 }), fc.double({ min: 0, max: 1, noNaN: true }), (vs, quantile) => {
      const counts = new Float64Array(layout.slots);
      for (const v of vs) counts[layout.slot(v)]! += 1;
      const out = [0];
      layout.quantiles(counts, vs.length, [quantile], out);
      const exact = [...vs].sort((p, q) => p - q)[Math.floor(quantile * (vs.length - 1))]!;
      assert.ok(Math.abs(out[0]! - exact) <= 0.02 * Math.abs(exact) * (1 + 1e-9), `${out[0]} vs ${exact}`);
    }),
  );
});

test('summary age window: old observations leave the quantiles after maxAgeSeconds', async () => {
  fresh();
  const reg = new ours.Registry();
  const s = new ours.Summary({ name: 'win', help: 'w', percentiles: [0.5], maxAgeSeconds: 0.4, ageBuckets: 2, registers: [reg] });
  for (let i = 0; i < 100; i++) s.observe(1000);
  const first = Number(/^win\{quantile="0\.5"\} (\S+)$/m.exec(await reg.metrics())![1]);
  assert.ok(Math.abs(first - 1000) <= 10, String(first));
  await new Promise((r) => setTimeout(r, 450));
  for (let i = 0; i < 10; i++) s.observe(1);
  const text = await reg.metrics();
  assert.match(text, /^win\{quantile="0\.5"\} (0\.99\d*|1(\.0\d*)?)$/m, text);
  assert.match(text, /^win_count 110$/m, 'count and sum are not windowed (as prom-client)');
});

test('startTimer: works across await, with labels given at the start and at the end', async () => {
  fresh();
  const reg = new ours.Registry();
  const h = new ours.Histogram({ name: 'job_seconds', help: 'j', labelNames: ['kind', 'outcome'], buckets: [0.01, 1], registers: [reg] });
  const g = new ours.Gauge({ name: 'last_seconds', help: 'l', registers: [reg] });
  const end = h.startTimer({ kind: 'io' });
  const endGauge = g.startTimer();
  await new Promise((r) => setTimeout(r, 30));
  const took = end({ outcome: 'ok' });
  endGauge();
  assert.ok(took >= 0.025 && took < 5, String(took));
  const text = await reg.metrics();
  assert.match(text, /^job_seconds_bucket\{le="0\.01",kind="io",outcome="ok"\} 0$/m);
  assert.match(text, /^job_seconds_bucket\{le="1",kind="io",outcome="ok"\} 1$/m);
  assert.ok(Number(/^last_seconds (\S+)$/m.exec(text)![1]) >= 0.025);
});

test('errors as prom-client throws them; nothing written', async () => {
  fresh();
  const reg = new ours.Registry();
  const c = new ours.Counter({ name: 'e_total', help: 'e', labelNames: ['a'], registers: [reg] });
  assert.throws(() => c.inc({ b: 'x' } as never), /Added label "b" is not included in initial labelset/);
  assert.throws(() => c.inc(-1), /not possible to decrease a counter/);
  assert.throws(() => c.inc({ a: 'x' }, Infinity), /not a valid number/);
  assert.throws(() => new ours.Counter({ name: 'e_total', help: 'e', labelNames: ['a'], registers: [reg] }), /already been registered/);
  assert.throws(() => new ours.Gauge({ name: 'e_total', help: 'e', registers: [] }), /exists .* with type "counter"/);
  assert.throws(() => new ours.Histogram({ name: 'h', help: 'h', labelNames: ['le'], registers: [] }), /le is a reserved/);
  assert.throws(() => new ours.Counter({ name: 'bad-name', help: 'h' }), /Invalid metric name/);
  assert.throws(() => new ours.Counter({ name: 'x', help: '' }), /Missing mandatory help/);
  assert.equal(await reg.metrics(), '# HELP e_total e\n# TYPE e_total counter\n');
});

test('cardinality limit: new label sets past maxSeries go to the overflow series and are counted, never thrown', async () => {
  const ctx = fresh();
  const reg = new ours.Registry();
  const c = new ours.Counter({ name: 'tenant_total', help: 't', labelNames: ['tenant'], maxSeries: 3, registers: [reg] });
  for (let i = 0; i < 10; i++) c.inc({ tenant: `t${i}` });
  c.inc({ tenant: 't0' }, 5);
  assert.equal(c.seriesCount, 3, 'the overflow series is not counted against the limit');
  assert.equal(c.droppedLabelSets, 7);
  const text = await reg.metrics();
  assert.match(text, /^tenant_total\{tenant="t0"\} 6$/m);
  assert.match(text, /^tenant_total\{overflow="true"\} 7$/m);
  assert.doesNotMatch(text, /t5/);
  // Label values longer than the store's key size also overflow.
  c.inc({ tenant: 'x'.repeat(1000) });
  assert.equal(c.droppedLabelSets, 8);
  // Removing a series makes room again.
  c.remove('t1');
  c.inc({ tenant: 'late' });
  assert.match(await reg.metrics(), /^tenant_total\{tenant="late"\} 1$/m);
  assert.equal(ctx.store.liveSeries >= 4, true);
  // A child that was handed the overflow series keeps writing there, even after a reset removed it.
  const over = c.labels('refused');
  c.reset();
  over.inc();
  const after = await reg.metrics();
  assert.match(after, /^tenant_total\{overflow="true"\} 1$/m);
  assert.doesNotMatch(after, /^tenant_total 1$/m);
});

test('remove(): the series leaves the scrape at once and its memory goes back to the allocator after the grace period', async () => {
  const ctx = fresh({ workers: 2, removeGraceMs: 50 });
  const reg = new ours.Registry();
  const c = new ours.Counter({ name: 'r_total', help: 'r', labelNames: ['k'], registers: [reg] });
  const before = ctx.store.percpu.stats().allocator.nrCurAlloc;
  const child = c.labels('gone');
  child.inc(3);
  c.inc({ k: 'kept' });
  assert.equal(ctx.store.percpu.stats().allocator.nrCurAlloc, before + 2);
  c.remove({ k: 'gone' });
  assert.doesNotMatch(await reg.metrics(), /gone/);
  // A child bound before the removal starts the series over (from zero).
  child.inc();
  assert.match(await reg.metrics(), /^r_total\{k="gone"\} 1$/m);
  c.remove('gone');
  await new Promise((r) => setTimeout(r, 70));
  await reg.metrics(); // scrapes reclaim
  assert.equal(ctx.store.percpu.stats().allocator.nrCurAlloc, before + 1, 'both incarnations of "gone" freed');
  c.reset();
  assert.equal(await reg.metrics(), '# HELP r_total r\n# TYPE r_total counter\n');
});

test('a PercpuHashMap as a metric family: keys as label values, values summed over units', async () => {
  fresh();
  const percpu = SharedPercpu.create({ nrUnits: 3, unitSize: 64 << 10, maxBytes: 4 * 3 * (64 << 10) });
  const map = PercpuHashMap.create(percpu, { keySize: 4, valueSize: 8, maxEntries: 16 });
  const units = [0, 1, 2].map((u) => PercpuHashMap.attach(SharedPercpu.attach(percpu.handle(), u), map.handle()));
  const views = [0, 1, 2].map((u) => SharedPercpu.attach(percpu.handle(), u));
  views[0]!.thisCpu.addInt32(units[0]!.lookupOrInit(7), 5);
  views[2]!.thisCpu.addInt32(units[2]!.lookupOrInit(7), 2);
  views[1]!.thisCpu.addInt32(units[1]!.lookupOrInit(300), 1);
  const reg = new ours.Registry();
  new ours.HashMapMetric({ name: 'flows_total', help: 'Packets per flow.', map, percpu, labelNames: ['flow'], registers: [reg] });
  new ours.HashMapMetric({ name: 'flows_by_worker', help: 'Per unit.', type: 'gauge', map, percpu, aggregator: 'perWorker', registers: [reg] });
  const text = await reg.metrics();
  assert.match(text, /^flows_total\{flow="7"\} 7$/m);
  assert.match(text, /^flows_total\{flow="300"\} 1$/m);
  assert.match(text, /^flows_by_worker\{key="7",worker="2"\} 2$/m);
  assert.match(text, /^# TYPE flows_by_worker gauge$/m);
  // prom-client's own registry takes it too (the same duck type as its metrics).
  const theirs = new prom.Registry();
  theirs.registerMetric(new ours.HashMapMetric({ name: 'flows_total', help: 'Packets per flow.', map, percpu, labelNames: ['flow'], registers: [] }) as never);
  assert.equal(await theirs.metrics(), text.split('\n\n')[0] + '\n');
});

// ---------------------------------------------------------------------------
// Real worker threads

interface Pool {
  workers: Worker[];
  units: number[];
  run(w: number, t: Task): Promise<void>;
  close(): Promise<void>;
}

async function startPool(ctx: MetricsContext, n: number, extra: Record<string, unknown> = {}): Promise<Pool> {
  const workers: Worker[] = [];
  const units: number[] = [];
  for (let i = 0; i < n; i++) {
    const w = new Worker(WORKER, { workerData: { percpuMetrics: ctx.handle(), ...extra } });
    const [m] = (await once(w, 'message')) as [{ unit: number }];
    units.push(m.unit);
    workers.push(w);
  }
  return {
    workers,
    units,
    async run(k, t) {
      const w = workers[k]!;
      w.postMessage(t);
      await once(w, 'message');
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

test('workers: label sets created at run time in any worker, seen by the scraper, summed exactly', { timeout: 30_000 }, async () => {
  const ctx = fresh({ workers: 4 });
  const pool = await startPool(ctx, 4);
  try {
    assert.deepEqual([...pool.units].sort(), [1, 2, 3, 4], 'each worker on its own unit');
    await Promise.all(pool.workers.map((_, k) => pool.run(k, { kind: 'count', worker: k, routes: 20, rounds: 30 })));
    const text = await ours.register.metrics();
    for (let k = 0; k < 20; k++) {
      assert.match(text, new RegExp(`^app_requests_total\\{route="/r${k}",code="200"\\} 120$`, 'm'));
      assert.match(text, new RegExp(`^app_latency_seconds_bucket\\{le="0\\.1",route="/r${k}"\\} 40$`, 'm'));
      assert.match(text, new RegExp(`^app_latency_seconds_count\\{route="/r${k}"\\} 120$`, 'm'));
    }
    for (let k = 0; k < 4; k++) assert.match(text, new RegExp(`^app_requests_total\\{route="/w${k}",code="201"\\} ${k + 1}$`, 'm'));
    assert.equal(text.match(/^app_requests_total\{/gm)!.length, 24, 'one series per label set, not one per worker');
    // A worker removes a series; the scraper stops seeing it.
    await pool.run(0, { kind: 'remove', route: '/r3', code: '200' });
    assert.doesNotMatch(await ours.register.metrics(), /route="\/r3",code="200"/);
    // Summaries merge across workers.
    const vs = Array.from({ length: 1000 }, (_, i) => i + 1);
    await Promise.all(pool.workers.map((_, k) => pool.run(k, { kind: 'sizes', values: vs.filter((v) => v % 4 === k) })));
    const s = await ours.register.metrics();
    const median = Number(/^app_size_bytes\{quantile="0\.5",route="\/s"\} (\S+)$/m.exec(s)![1]);
    assert.ok(Math.abs(median - 500) <= 0.01 * 500, `merged median ${median}`);
    assert.match(s, /^app_size_bytes_count\{route="\/s"\} 1000$/m);
    assert.match(s, /^app_size_bytes_sum\{route="\/s"\} 500500$/m);
    // Cardinality limit across workers: 5 series in all, whoever asks.
    await Promise.all(pool.workers.map((_, k) => pool.run(k, { kind: 'tenants', tenants: ['a', 'b', 'c', `own${k}`, 'd'] })));
    const t = await ours.register.metrics();
    assert.equal(t.match(/^app_tenant_total\{tenant=/gm)!.length, 5);
    const admitted = [...t.matchAll(/^app_tenant_total\{tenant="[^"]+"\} (\d+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
    const overflow = Number(/^app_tenant_total\{overflow="true"\} (\d+)$/m.exec(t)![1]);
    assert.equal(admitted + overflow, 20, 'every write counted once, admitted or overflowed');
  } finally {
    await pool.close();
  }
});

test('workers: gauge aggregators, and a released unit forgets its gauge share but keeps its counts', { timeout: 30_000 }, async () => {
  for (const aggregator of ['sum', 'min', 'max', 'average', 'first', 'perWorker'] as const) {
    const ctx = fresh({ workers: 3 });
    const pool = await startPool(ctx, 3, { aggregator });
    try {
      await Promise.all([5, 1, 9].map((v, k) => pool.run(k, { kind: 'busy', value: v })));
      const text = await ours.register.metrics();
      const want: Record<string, RegExp> = {
        sum: /^app_busy 15$/m,
        min: /^app_busy 1$/m,
        max: /^app_busy 9$/m,
        average: /^app_busy 5$/m,
        first: new RegExp(`^app_busy ${[5, 1, 9][pool.units.indexOf(Math.min(...pool.units))]}$`, 'm'),
        perWorker: new RegExp(`^app_busy\\{worker="${pool.units[2]}"\\} 9$`, 'm'),
      };
      assert.match(text, want[aggregator]!, `${aggregator}:\n${text}`);
      if (aggregator === 'sum') {
        await pool.run(2, { kind: 'count', worker: 2, routes: 1, rounds: 1 });
        // The worker goes away (terminated): its unit is released, its gauge share forgotten, its counts kept.
        const tid = pool.workers[2]!.threadId;
        await pool.workers[2]!.terminate();
        assert.equal(ctx.releaseThread(tid), true);
        const after = await ours.register.metrics();
        assert.match(after, /^app_busy 6$/m);
        assert.match(after, /^app_requests_total\{route="\/r0",code="200"\} 1$/m);
        assert.equal(ctx.leases().filter((t) => t >= 0).length, 3, 'main + 2 workers hold units');
        // A new worker takes a free unit and counts on.
        const again = await startPool(ctx, 1);
        try {
          await again.run(0, { kind: 'count', worker: 0, routes: 1, rounds: 1 });
          assert.match(await ours.register.metrics(), /^app_requests_total\{route="\/r0",code="200"\} 2$/m);
        } finally {
          await again.close();
        }
      }
    } finally {
      await pool.close();
    }
  }
});

test('workers: a scrape does not wait for a blocked worker; default metrics per worker', { timeout: 30_000 }, async () => {
  const ctx = fresh({ workers: 2 });
  const pool = await startPool(ctx, 2);
  try {
    await Promise.all(pool.workers.map((_, k) => pool.run(k, { kind: 'defaults' })));
    await pool.run(0, { kind: 'count', worker: 0, routes: 2, rounds: 3 });
    const blocked = pool.run(1, { kind: 'block', ms: 1500 });
    await new Promise((r) => setTimeout(r, 100));
    const t0 = performance.now();
    const text = await ours.register.metrics();
    const ms = performance.now() - t0;
    assert.ok(ms < 1000, `scrape took ${ms} ms while a worker was blocked`);
    assert.match(text, /^app_requests_total\{route="\/r1",code="200"\} 3$/m);
    for (const u of pool.units) {
      assert.match(text, new RegExp(`^nodejs_heap_size_used_bytes\\{worker="${u}"\\} \\d+$`, 'm'));
      assert.match(text, new RegExp(`^nodejs_eventloop_utilization_ratio\\{worker="${u}"\\} [\\d.e-]+$`, 'm'));
      assert.match(text, new RegExp(`^percpu_worker_heartbeat_timestamp_seconds\\{worker="${u}"\\} \\d+(\\.\\d+)?$`, 'm'));
    }
    assert.match(text, /^# TYPE nodejs_gc_duration_seconds histogram$/m);
    await blocked;
  } finally {
    await pool.close();
  }
});

test('promtool check metrics accepts the exposition (when Debian\'s prometheus package is installed)', async (t) => {
  const which = spawnSync('sh', ['-c', 'command -v promtool']);
  if (which.status !== 0) {
    assert.ok(!inCI(), 'promtool is missing in CI: .ci/run installs Debian\'s prometheus package');
    process.stderr.write('skip: promtool not installed (Debian: apt-get install prometheus): check skipped\n');
    t.skip('promtool not installed (Debian: apt-get install prometheus): check skipped');
    return;
  }
  fresh();
  const reg = new ours.Registry();
  instrument(ours, reg, [
    [0, 0, 3],
    [1, 1, 0],
    [2, 2, 50],
    [3, 3, 7],
    [0, 4, 9],
    [1, 5, 14],
  ]);
  new ours.Summary({ name: 'op_seconds', help: 'Ops.', labelNames: ['route'], registers: [reg] }).observe({ route: '/a' }, 0.2);
  const dir = mkdtempSync(join(tmpdir(), 'percpu-promtool-'));
  try {
    const file = join(dir, 'metrics.txt');
    writeFileSync(file, await reg.metrics());
    // promtool reads stdin; lint problems (not errors) print but exit 0 only when the format parses.
    const out = execFileSync('sh', ['-c', `promtool check metrics < ${file} 2>&1; echo "exit=$?"`]).toString();
    assert.match(out, /exit=0/, out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a store lock held by a thread that died: request paths overflow instead of hanging, and its release frees the lock', async () => {
  const ctx = fresh({ workers: 2 });
  const reg = new ours.Registry();
  const c = new ours.Counter({ name: 'l_total', help: 'l', labelNames: ['k'], registers: [reg] });
  c.inc({ k: 'before' });
  // A worker (thread id 77) leased unit 1 and was terminated inside the store lock.
  const ctl = ctx.store.ctl;
  Atomics.store(ctl, 16 + 1, 77 + 1);
  Atomics.store(ctl, 0, 77 + 1);
  const t0 = performance.now();
  c.inc({ k: 'new' });
  const waited = performance.now() - t0;
  assert.ok(waited >= 900 && waited < 5000, `waited ${waited} ms for the lock, then overflowed`);
  assert.equal(c.droppedLabelSets, 1);
  c.inc({ k: 'before' }, 2);
  assert.equal(ctx.releaseThread(77), true);
  assert.equal(Atomics.load(ctl, 0), 0, 'the dead holder\'s lock is free');
  c.inc({ k: 'new' });
  const text = await reg.metrics();
  assert.match(text, /^l_total\{k="before"\} 3$/m);
  assert.match(text, /^l_total\{k="new"\} 1$/m);
  assert.match(text, /^l_total\{overflow="true"\} 1$/m);
});

test('our metrics in a prom-client Registry, and prom-client\'s in ours', async () => {
  fresh();
  const theirs = new prom.Registry();
  const mine = new ours.Registry();
  const h = new ours.Histogram({ name: 'mixed_seconds', help: 'm', labelNames: ['r'], buckets: [1], registers: [] });
  h.observe({ r: 'x' }, 0.5);
  theirs.registerMetric(h as never);
  const pc = new prom.Counter({ name: 'theirs_total', help: 't', registers: [] });
  pc.inc(2);
  mine.registerMetric(pc as never);
  mine.registerMetric(h);
  assert.equal(await theirs.metrics(), '# HELP mixed_seconds m\n# TYPE mixed_seconds histogram\nmixed_seconds_bucket{le="1",r="x"} 1\nmixed_seconds_bucket{le="+Inf",r="x"} 1\nmixed_seconds_sum{r="x"} 0.5\nmixed_seconds_count{r="x"} 1\n');
  assert.match(await mine.metrics(), /^theirs_total 2$/m);
});

test('counter: small integer increments in the Int32 word, folded into the Float64 past 2^30, exact', async () => {
  fresh();
  const reg = new ours.Registry();
  const c = new ours.Counter({ name: 'big_total', help: 'b', registers: [reg] });
  for (let i = 0; i < 20_000; i++) c.inc(60_000);
  c.inc(0.5);
  c.inc(1e12);
  assert.match(await reg.metrics(), /^big_total 1001200000000\.5$/m);
});

test('histogram: a bucket\'s Int32 word folds into its Float64 count at 2^30, and the count stays exact', async () => {
  const ctx = fresh({ workers: 1 });
  const reg = new ours.Registry();
  const h = new ours.Histogram({ name: 'fold_seconds', help: 'f', buckets: [1, 2], registers: [reg] });
  h.observe(1.5);
  // White box: put the word of bucket 1 (le=2) of this thread's unit just under the fold point.
  const store = ctx.store;
  let entry = -1;
  for (let e = 0; e < store.bump; e++) if (store.state(e) === 1 && store.metricOf(e) === h.id) entry = e;
  const m = store.percpu.memory;
  const at = m.address(store.ptr(entry, 0), store.percpu.unit, 0, 8) >>> 3;
  const word = 2 * (at + 2 + 2) + 1;
  assert.equal(m.i32[word], 1);
  m.i32[word] = 2 ** 30 - 2;
  for (let i = 0; i < 5; i++) h.observe(1.5);
  assert.ok(m.i32[word]! < 10, 'folded');
  const text = await reg.metrics();
  assert.match(text, new RegExp(`^fold_seconds_bucket\\{le="2"\\} ${2 ** 30 + 3}$`, 'm'));
  assert.match(text, new RegExp(`^fold_seconds_count ${2 ** 30 + 3}$`, 'm'));
  assert.match(text, /^fold_seconds_sum 9$/m);
});

test('workers: more workers than units — the extra one waits, then fails with NoUnitError; a released unit is taken again', { timeout: 30_000 }, async () => {
  const ctx = fresh({ workers: 1, spareUnits: 0 });
  const pool = await startPool(ctx, 1);
  try {
    const extra = new Worker(WORKER, { workerData: { percpuMetrics: ctx.handle() } });
    const t0 = performance.now();
    const [err] = (await once(extra, 'error')) as [Error];
    assert.match(String(err), /all 1 worker units are leased/);
    assert.ok(performance.now() - t0 >= 1500, 'it waited for a unit to free up first');
    const tid = pool.workers[0]!.threadId;
    await pool.workers[0]!.terminate();
    ctx.releaseThread(tid);
    const again = await startPool(ctx, 1);
    assert.deepEqual(again.units, [1]);
    await again.close();
  } finally {
    await pool.close();
  }
});
