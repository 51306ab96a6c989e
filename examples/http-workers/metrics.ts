// SPDX-License-Identifier: GPL-2.0-only
/**
 * The example server's metrics, defined once for both sides: the main thread
 * creates them (`createServerMetrics`), each worker looks them up by name.
 * Every label value is declared here, because a percpu metric's label set is
 * fixed at creation: routes the server does not know count as `other`, status
 * codes it never sends are simply never written.
 */
import type { PercpuMetrics } from 'percpu/runtime';

export const ROUTES = ['/hello', '/work', '/echo', 'other'] as const;
export const CODES = ['200', '400', '404', '405', '413', '500'] as const;
export type Route = (typeof ROUTES)[number];

export const M = {
  requests: 'http_requests_total',
  requestBytes: 'http_request_bytes_total',
  responseBytes: 'http_response_bytes_total',
  duration: 'http_request_duration_seconds',
  inFlight: 'http_requests_in_flight',
  perWorker: 'http_worker_requests_total',
} as const;

/** Latency buckets for a loopback server: 50 µs to 1 s. */
export const DURATION_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.25, 1];

export function createServerMetrics(metrics: PercpuMetrics): void {
  metrics.createCounter({ name: M.requests, help: 'Requests handled, by route and status code.', labels: { route: ROUTES, code: CODES } });
  metrics.createCounter({ name: M.requestBytes, help: 'Request body bytes received, by route.', labels: { route: ROUTES } });
  metrics.createCounter({ name: M.responseBytes, help: 'Response body bytes sent, by route.', labels: { route: ROUTES } });
  metrics.createHistogram({
    name: M.duration,
    help: 'Time from the request reaching the main thread to its response being ready in a worker, in seconds.',
    labels: { route: ROUTES },
    buckets: DURATION_BUCKETS,
  });
  metrics.createGauge({ name: M.inFlight, help: 'Requests a worker is handling right now (summed over workers).' });
  metrics.createCounter({ name: M.perWorker, help: 'Requests handled by each worker (exported per unit).' });
}
