// A browser worker: attach as unit `unit`, count `increments` times into the
// counter, the metric and the hash map (key i % keys), then say so.
// Imports the compiled runtime straight from dist/ (no bundler, no import map:
// module workers do not read the page's import map).
import { SharedPercpu, PercpuCounter, PercpuHashMap, PercpuMetrics } from '/dist/src/runtime/index.js';
// prom-client's API over the same kind of shared memory (the browser-safe entry).
import { attachMetrics, Counter, Histogram } from '/dist/src/runtime/prom/index.js';

onmessage = ({ data }) => {
  const percpu = SharedPercpu.attach(data.percpu, data.unit);
  const hits = PercpuCounter.attach(percpu, data.hits);
  const map = PercpuHashMap.attach(percpu, data.map);
  const ops = PercpuMetrics.attach(percpu, data.metrics).counter('ops_total');
  const me = percpu.thisCpu;
  // As with prom-client: metrics declared by name; label values appear at run time, from any worker.
  attachMetrics(data.prom, data.unit + 1);
  const byKey = new Counter({ name: 'browser_increments_total', help: 'Increments by map key, all workers.', labelNames: ['key'] });
  const batches = new Histogram({ name: 'browser_batch_seconds', help: 'Time per 10,000 increments.', buckets: [0.0001, 0.001, 0.01, 0.1] });
  const children = Array.from({ length: data.keys }, (_, k) => byKey.labels(`k${k}`));
  let end = batches.startTimer();
  // Look every key up once: lookupOrInit inserts it if no worker did yet.
  const values = Array.from({ length: data.keys }, (_, k) => map.lookupOrInit(k));
  for (let i = 0; i < data.increments; i++) {
    hits.add(1);
    ops.inc();
    me.addInt32(values[i % data.keys], 1);
    children[i % data.keys].inc();
    if (i % 10_000 === 9_999) {
      end();
      end = batches.startTimer();
    }
  }
  postMessage({ unit: data.unit, done: data.increments });
};
