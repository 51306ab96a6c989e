// SPDX-License-Identifier: GPL-2.0-only
/**
 * The prom-client adapter (src/runtime/prometheus.ts). The oracle is
 * prom-client itself: the same observations go into prom-client's own
 * Counter, Gauge and Histogram in a second registry, and both registries must
 * print the same exposition text, byte for byte — in the Prometheus and the
 * OpenMetrics formats.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Gauge, Histogram, Registry, type OpenMetricsContentType, type RegistryContentType } from 'prom-client';
import { SharedPercpu } from '../src/runtime/shared-percpu.js';
import { PercpuMetrics } from '../src/runtime/metrics.js';
import { RuntimeArgumentError } from '../src/runtime/errors.js';
import { registerPercpuMetrics } from '../src/runtime/prometheus.js';

const ROUTES = ['/a', '/b'];
const CODES = ['200', '500'];
const BUCKETS = [0.01, 0.1, 1];

function setup(n: number) {
  const main = SharedPercpu.create({ nrUnits: n, unitSize: 64 << 10, maxBytes: 4 * n * (64 << 10) });
  const metrics = PercpuMetrics.create(main);
  metrics.createCounter({ name: 'req_total', help: 'Requests.', labels: { route: ROUTES, code: CODES } });
  metrics.createGauge({ name: 'queue', help: 'Queued "jobs"\\n.' });
  metrics.createHistogram({ name: 'lat_seconds', help: 'Latency.', labels: { route: ROUTES }, buckets: BUCKETS });
  const units = Array.from({ length: n }, (_, u) => PercpuMetrics.attach(SharedPercpu.attach(main.handle(), u), metrics.handle()));
  return { main, metrics, units };
}

/** prom-client's own metrics with every series zeroed in our series order (ours exports every series). */
function openMetricsRegistry(): Registry<OpenMetricsContentType> {
  const registry = new Registry<OpenMetricsContentType>();
  registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  return registry;
}

function reference(openMetrics = false) {
  const registry: Registry<RegistryContentType> = openMetrics ? openMetricsRegistry() : new Registry();
  const req = new Counter({ name: 'req_total', help: 'Requests.', labelNames: ['route', 'code'], registers: [registry] });
  const queue = new Gauge({ name: 'queue', help: 'Queued "jobs"\\n.', registers: [registry] });
  const lat = new Histogram({ name: 'lat_seconds', help: 'Latency.', labelNames: ['route'], buckets: BUCKETS, registers: [registry] });
  for (const route of ROUTES) for (const code of CODES) req.inc({ route, code }, 0);
  queue.set(0);
  for (const route of ROUTES) lat.zero({ route });
  return { registry, req, queue, lat };
}

/** The same workload into both: per-unit writes on ours, plain calls on prom-client's. */
function drive(units: PercpuMetrics[], ref: ReturnType<typeof reference>) {
  const obs: [number, string, number][] = [
    [0, '/a', 0.005],
    [1, '/a', 0.01],
    [2, '/a', 0.5],
    [0, '/b', 3],
    [1, '/b', 0.1],
    [2, '/a', 0.25],
  ];
  for (const [u, route, v] of obs) {
    units[u]!.histogram('lat_seconds').labels(route).observe(v);
    ref.lat.observe({ route }, v);
    const code = v > 1 ? '500' : '200';
    units[u]!.counter('req_total').labels(route, code).inc();
    ref.req.inc({ route, code });
  }
  units[1]!.counter('req_total').labels('/b', '200').inc(40);
  ref.req.inc({ route: '/b', code: '200' }, 40);
  units[0]!.gauge('queue').set(7);
  units[2]!.gauge('queue').dec(2);
  ref.queue.set(5);
}

test('a scrape prints what prom-client prints for the same observations, summed over units', async () => {
  const { metrics, units } = setup(3);
  const registry = new Registry();
  const collectors = registerPercpuMetrics(registry, metrics);
  assert.equal(collectors.length, 3);
  const ref = reference();
  drive(units, ref);
  const ours = await registry.metrics();
  assert.equal(ours, await ref.registry.metrics());
  // And a few lines by hand, so that the oracle is not the only witness.
  assert.match(ours, /^req_total\{route="\/b",code="200"\} 41$/m);
  assert.match(ours, /^lat_seconds_bucket\{le="0\.01",route="\/a"\} 2$/m);
  assert.match(ours, /^lat_seconds_bucket\{le="\+Inf",route="\/a"\} 4$/m);
  assert.match(ours, /^lat_seconds_count\{route="\/b"\} 2$/m);
  assert.match(ours, /^queue 5$/m);
  // The JSON form too (prom-client adds exemplar fields of its own; compare the samples).
  const samples = async (r: Registry<RegistryContentType>) =>
    (await r.getMetricsAsJSON()).map((m) => ({ name: m.name, help: m.help, type: m.type, aggregator: m.aggregator, values: m.values.map((v) => ({ value: v.value, labels: v.labels, metricName: (v as { metricName?: string }).metricName })) }));
  assert.deepEqual(await samples(registry), await samples(ref.registry));
});

test('values are read at scrape time: a second scrape sees later writes', async () => {
  const { metrics, units } = setup(2);
  const registry = new Registry();
  registerPercpuMetrics(registry, metrics);
  units[0]!.counter('req_total').labels('/a', '200').inc();
  assert.match(await registry.metrics(), /^req_total\{route="\/a",code="200"\} 1$/m);
  units[1]!.counter('req_total').labels('/a', '200').inc(2);
  assert.match(await registry.metrics(), /^req_total\{route="\/a",code="200"\} 3$/m);
  registry.resetMetrics();
  assert.match(await registry.metrics(), /^req_total\{route="\/a",code="200"\} 0$/m);
});

test('OpenMetrics: the same text as prom-client writes (counter _total handling included)', async () => {
  const { metrics, units } = setup(3);
  const registry = openMetricsRegistry();
  registerPercpuMetrics(registry, metrics);
  const ref = reference(true);
  drive(units, ref);
  const ours = await registry.metrics();
  assert.equal(ours, await ref.registry.metrics());
  assert.match(ours, /^# EOF$/m);
});

test('perUnit: one series per unit under the unit label instead of the sum', async () => {
  const { metrics, units } = setup(3);
  const registry = new Registry();
  registerPercpuMetrics(registry, metrics, { perUnit: ['req_total', 'lat_seconds'], unitLabel: 'worker' });
  units[0]!.counter('req_total').labels('/a', '200').inc(2);
  units[2]!.counter('req_total').labels('/a', '200').inc(5);
  units[2]!.histogram('lat_seconds').labels('/b').observe(0.05);
  units[0]!.gauge('queue').set(1);
  units[1]!.gauge('queue').set(1);
  const text = await registry.metrics();
  assert.match(text, /^req_total\{route="\/a",code="200",worker="0"\} 2$/m);
  assert.match(text, /^req_total\{route="\/a",code="200",worker="1"\} 0$/m);
  assert.match(text, /^req_total\{route="\/a",code="200",worker="2"\} 5$/m);
  assert.equal(text.match(/^req_total\{/gm)!.length, 4 * 3, 'every series of every unit');
  assert.match(text, /^lat_seconds_bucket\{le="0\.1",route="\/b",worker="2"\} 1$/m);
  assert.match(text, /^lat_seconds_count\{route="\/b",worker="1"\} 0$/m);
  assert.match(text, /^queue 2$/m, 'metrics not named stay summed');
});

test('default labels, and prom-client metrics in the same registry', async () => {
  const { metrics, units } = setup(2);
  const registry = new Registry();
  registerPercpuMetrics(registry, metrics);
  const own = new Counter({ name: 'own_total', help: 'prom-client itself.', registers: [registry] });
  own.inc(3);
  registry.setDefaultLabels({ app: 'demo' });
  units[1]!.counter('req_total').labels('/b', '500').inc();
  const text = await registry.metrics();
  assert.match(text, /^req_total\{route="\/b",code="500",app="demo"\} 1$/m);
  assert.match(text, /^lat_seconds_count\{route="\/a",app="demo"\} 0$/m);
  assert.match(text, /^own_total\{app="demo"\} 3$/m);
});

test('bad options register nothing', () => {
  const { metrics } = setup(2);
  const registry = new Registry();
  assert.throws(() => registerPercpuMetrics(registry, metrics, { perUnit: ['nope'] }), RuntimeArgumentError);
  assert.throws(() => registerPercpuMetrics(registry, metrics, { perUnit: ['req_total'], unitLabel: 'route' }), RuntimeArgumentError);
  assert.throws(() => registerPercpuMetrics(registry, metrics, { perUnit: ['lat_seconds'], unitLabel: 'le' }), RuntimeArgumentError);
  assert.throws(() => registerPercpuMetrics(registry, metrics, { perUnit: ['queue'], unitLabel: 'no-dash' }), RuntimeArgumentError);
  assert.deepEqual(registry.getMetricsAsArray(), []);
  // A list of metrics works as well as a set; a name registered twice is prom-client's error.
  registerPercpuMetrics(registry, [metrics.gauge('queue')]);
  assert.throws(() => registerPercpuMetrics(registry, [metrics.gauge('queue')]), /already been registered/);
});
