// SPDX-License-Identifier: GPL-2.0-only
/**
 * `percpu/prom-client`: the drop-in for `prom-client` on worker threads.
 *
 * Importing it in a worker whose `workerData` carries `percpuMetrics` (the
 * handle of the main thread's store: `metricsHandle()`) attaches the worker
 * on a free unit before any of the worker's modules create metrics, so that
 * instrumentation written for prom-client needs only its import changed.
 * Elsewhere (the main thread) the store is made on first use, or sized first
 * with `setupMetrics({ workers })`.
 */
import { isMainThread, threadId, workerData } from 'node:worker_threads';
import { attachMetrics, setDefaultThreadId, type MetricsContextHandle } from './metrics.js';

setDefaultThreadId(threadId);

function handleOf(data: unknown): MetricsContextHandle | undefined {
  if (data === null || typeof data !== 'object') return undefined;
  const h = (data as { percpuMetrics?: MetricsContextHandle }).percpuMetrics;
  return h !== undefined && h !== null && typeof h === 'object' && h.ctl instanceof SharedArrayBuffer ? h : undefined;
}

if (!isMainThread) {
  const h = handleOf(workerData);
  if (h !== undefined) attachMetrics(h, threadId);
}

export * from './index.js';
export { collectDefaultMetrics } from './default-metrics.js';
export type { DefaultMetricsOptions } from './default-metrics.js';
