// SPDX-License-Identifier: GPL-2.0-only
/**
 * The piscina example's routes and metric definitions, shared by the main
 * thread and the tasks. The metrics are declared exactly as for prom-client
 * (only the import differs); each thread that constructs one attaches to the
 * same shared metric.
 */
import { Counter, Gauge, Histogram } from 'percpu/prom-client';

/** Route label of a path: a pattern for known routes, `unmatched` otherwise (bounded label values). */
export function routeOf(path: string): string {
  if (path === '/hello' || path === '/work' || path === '/sleep' || path === '/spin') return path;
  if (/^\/users\/\d+$/.test(path)) return '/users/:id';
  return 'unmatched';
}

export interface Task {
  method: string;
  url: string;
  tenant: string;
}

export interface TaskResult {
  status: number;
  type: string;
  body: string;
}

export function defineMetrics() {
  return {
    requests: new Counter({ name: 'http_requests_total', help: 'HTTP requests by method, route and status code.', labelNames: ['method', 'route', 'code'] }),
    duration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time a task spent handling the request, by method and route.',
      labelNames: ['method', 'route'],
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    }),
    inFlight: new Gauge({ name: 'http_requests_in_flight', help: 'Requests being handled by a task now (summed over workers).' }),
    // Label values created at run time from a request header, bounded by a cardinality limit: past 20 tenants, the overflow series.
    tenants: new Counter({ name: 'http_requests_by_tenant_total', help: 'Requests by the x-tenant header.', labelNames: ['tenant'], maxSeries: 20 }),
  };
}
