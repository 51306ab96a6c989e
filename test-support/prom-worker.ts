// SPDX-License-Identifier: GPL-2.0-only
/**
 * Worker side of the percpu/prom-client tests: instrumentation written as
 * for prom-client (only the import differs). Importing the Node entry
 * attaches this worker to the main thread's store (workerData.percpuMetrics)
 * on a free unit. Tasks arrive as messages; each answers when done.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Counter, Gauge, Histogram, Summary, collectDefaultMetrics, metricsContext } from '../src/runtime/prom/node.js';

const requests = new Counter({ name: 'app_requests_total', help: 'Requests.', labelNames: ['route', 'code'] });
const latency = new Histogram({ name: 'app_latency_seconds', help: 'Latency.', labelNames: ['route'], buckets: [0.1, 1, 10] });
const sizes = new Summary({ name: 'app_size_bytes', help: 'Sizes.', labelNames: ['route'], percentiles: [0.5, 0.9, 0.99] });
const busy = new Gauge({ name: 'app_busy', help: 'Busy.', aggregator: (workerData as { aggregator?: 'sum' }).aggregator ?? 'sum' });
const tenants = new Counter({ name: 'app_tenant_total', help: 'Per tenant.', labelNames: ['tenant'], maxSeries: 5 });

export type Task =
  | { kind: 'count'; worker: number; routes: number; rounds: number }
  | { kind: 'sizes'; values: number[] }
  | { kind: 'tenants'; tenants: string[] }
  | { kind: 'busy'; value: number }
  | { kind: 'remove'; route: string; code: string }
  | { kind: 'block'; ms: number }
  | { kind: 'defaults' }
  | { kind: 'unit' };

parentPort!.on('message', (t: Task) => {
  switch (t.kind) {
    case 'count':
      for (let r = 0; r < t.rounds; r++) {
        for (let k = 0; k < t.routes; k++) {
          // Label values first seen at run time, in whichever worker gets there first.
          requests.inc({ route: `/r${k}`, code: 200 });
          latency.labels(`/r${k}`).observe(r % 3 === 0 ? 0.05 : 2);
        }
      }
      requests.labels(`/w${t.worker}`, '201').inc(t.worker + 1);
      break;
    case 'sizes':
      for (const v of t.values) sizes.observe({ route: '/s' }, v);
      break;
    case 'tenants':
      for (const x of t.tenants) tenants.inc({ tenant: x });
      break;
    case 'busy':
      busy.set(t.value);
      break;
    case 'remove':
      requests.remove(t.route, t.code);
      break;
    case 'block': {
      const end = Date.now() + t.ms;
      while (Date.now() < end) {
        /* a blocked event loop */
      }
      break;
    }
    case 'defaults':
      collectDefaultMetrics({ intervalMs: 50 });
      break;
    case 'unit':
      break;
  }
  parentPort!.postMessage({ done: t.kind, unit: metricsContext().unit });
});
parentPort!.postMessage({ ready: true, unit: metricsContext().unit });
