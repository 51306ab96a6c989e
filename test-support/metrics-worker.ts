// SPDX-License-Identifier: GPL-2.0-only
/**
 * Worker side of the percpu metrics test: attach the metric set as unit
 * `unit`, wait for every worker to arrive, then for `rounds` rounds bump a
 * labelled counter, observe into a histogram (integer values, so sums are
 * exact) and raise then lower a gauge. Word 1 of `sync` counts finished
 * workers, so that the main thread can scrape while they run.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SharedPercpu, type SharedPercpuHandle } from '../src/runtime/shared-percpu.js';
import { PercpuMetrics, type PercpuMetricsHandle } from '../src/runtime/metrics.js';

export interface MetricsTask {
  percpu: SharedPercpuHandle;
  metrics: PercpuMetricsHandle;
  unit: number;
  rounds: number;
  workers: number;
  /** Int32 words: 0 arrivals, 1 finished workers. */
  sync: SharedArrayBuffer;
}

const t = workerData as MetricsTask;
const percpu = SharedPercpu.attach(t.percpu, t.unit);
const metrics = PercpuMetrics.attach(percpu, t.metrics);
const ops = metrics.counter('ops_total');
const even = ops.labels('even');
const odd = ops.labels({ parity: 'odd' });
const sizes = metrics.histogram('size');
const busy = metrics.gauge('busy');
const sync = new Int32Array(t.sync);

Atomics.add(sync, 0, 1);
while (Atomics.load(sync, 0) < t.workers) { /* start together */ }
for (let i = 0; i < t.rounds; i++) {
  busy.inc();
  (i % 2 === 0 ? even : odd).inc();
  // Values 0..9 plus the unit: every bucket of [1, 4, 8] and +Inf gets some.
  sizes.observe((i % 10) + t.unit);
  busy.dec();
}
Atomics.add(sync, 1, 1);
parentPort!.postMessage('done');
