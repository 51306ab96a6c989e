// A browser worker: attach as unit `unit`, count `increments` times into the
// counter, the metric and the hash map (key i % keys), then say so.
// Imports the compiled runtime straight from dist/ (no bundler, no import map:
// module workers do not read the page's import map).
import { SharedPercpu, PercpuCounter, PercpuHashMap, PercpuMetrics } from '/dist/src/runtime/index.js';

onmessage = ({ data }) => {
  const percpu = SharedPercpu.attach(data.percpu, data.unit);
  const hits = PercpuCounter.attach(percpu, data.hits);
  const map = PercpuHashMap.attach(percpu, data.map);
  const ops = PercpuMetrics.attach(percpu, data.metrics).counter('ops_total');
  const me = percpu.thisCpu;
  // Look every key up once: lookupOrInit inserts it if no worker did yet.
  const values = Array.from({ length: data.keys }, (_, k) => map.lookupOrInit(k));
  for (let i = 0; i < data.increments; i++) {
    hits.add(1);
    ops.inc();
    me.addInt32(values[i % data.keys], 1);
  }
  postMessage({ unit: data.unit, done: data.increments });
};
