// SPDX-License-Identifier: GPL-2.0-only
/**
 * A request handler thread of the example server. It attaches to the shared
 * percpu allocator as its own unit, looks the metrics up by name, and for
 * each request posted by the main thread: routes it, builds the response, and
 * counts into its own unit — requests by route and code, body bytes in and
 * out, latency — with no lock and no shared write. The main thread sums the
 * units when /metrics is scraped.
 *
 * Routes: GET /hello, GET /work?n=N (counts the primes up to N ≤ 200000),
 * POST /echo (returns the body), anything else 404 (405 for a wrong method,
 * 413 for a body over the main thread's limit).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SharedPercpu, PercpuMetrics, type CounterSeries, type HistogramSeries } from 'percpu/runtime';
import { CODES, M, ROUTES, type Route } from './metrics.js';
import type { RequestMessage, ResponseMessage, WorkerData } from './protocol.js';

const data = workerData as WorkerData;
const percpu = SharedPercpu.attach(data.percpu, data.unit);
const metrics = PercpuMetrics.attach(percpu, data.metrics);

// Bind every series once: the per-request path is then a few typed-array writes.
const requests = new Map<string, CounterSeries>();
for (const route of ROUTES) for (const code of CODES) requests.set(`${route} ${code}`, metrics.counter(M.requests).labels(route, code));
const bytesIn = new Map<Route, CounterSeries>(ROUTES.map((r) => [r, metrics.counter(M.requestBytes).labels(r)]));
const bytesOut = new Map<Route, CounterSeries>(ROUTES.map((r) => [r, metrics.counter(M.responseBytes).labels(r)]));
const duration = new Map<Route, HistogramSeries>(ROUTES.map((r) => [r, metrics.histogram(M.duration).labels(r)]));
const inFlight = metrics.gauge(M.inFlight);
const handled = metrics.counter(M.perWorker);

const MAX_N = 200_000;
const encoder = new TextEncoder();

function countPrimes(n: number): number {
  const composite = new Uint8Array(n + 1);
  let count = 0;
  for (let i = 2; i <= n; i++) {
    if (composite[i] !== 0) continue;
    count++;
    for (let j = i * i; j <= n; j += i) composite[j] = 1;
  }
  return count;
}

function routeOf(path: string): Route {
  return (ROUTES as readonly string[]).includes(path) && path !== 'other' ? (path as Route) : 'other';
}

function route(req: RequestMessage): { route: Route; status: number; body: Uint8Array; type: string } {
  const url = new URL(req.url, 'http://localhost');
  const text = (route: Route, status: number, s: string) => ({ route, status, body: encoder.encode(s), type: 'text/plain; charset=utf-8' });
  if (req.tooLarge) return text(routeOf(url.pathname), 413, 'request body too large\n');
  switch (url.pathname) {
    case '/hello':
      return req.method === 'GET' ? text('/hello', 200, `hello from worker ${data.unit}\n`) : text('/hello', 405, 'method not allowed\n');
    case '/work': {
      if (req.method !== 'GET') return text('/work', 405, 'method not allowed\n');
      const n = Number(url.searchParams.get('n') ?? '1000');
      if (!Number.isInteger(n) || n < 0 || n > MAX_N) return text('/work', 400, `n must be an integer in 0..${MAX_N}\n`);
      return { route: '/work', status: 200, body: encoder.encode(JSON.stringify({ n, primes: countPrimes(n), worker: data.unit })), type: 'application/json' };
    }
    case '/echo':
      return req.method === 'POST' ? { route: '/echo', status: 200, body: new Uint8Array(req.body), type: 'application/octet-stream' } : text('/echo', 405, 'method not allowed\n');
    default:
      return text('other', 404, 'not found\n');
  }
}

function handle(req: RequestMessage): ResponseMessage {
  inFlight.inc();
  try {
    const r = route(req);
    requests.get(`${r.route} ${r.status}`)!.inc();
    bytesIn.get(r.route)!.inc(req.body.byteLength);
    bytesOut.get(r.route)!.inc(r.body.byteLength);
    handled.inc();
    // The main thread stamped the arrival on the shared clock (time origin + monotonic now).
    const seconds = Math.max(0, performance.timeOrigin + performance.now() - req.arrived) / 1000;
    duration.get(r.route)!.observe(seconds);
    const body = r.body.byteOffset === 0 && r.body.byteLength === r.body.buffer.byteLength ? (r.body.buffer as ArrayBuffer) : (r.body.slice().buffer as ArrayBuffer);
    return { id: req.id, status: r.status, type: r.type, body };
  } finally {
    inFlight.dec();
  }
}

/** A handler that threw: answer 500 and count it, so that every request the main thread sent is counted once. */
function failed(req: RequestMessage, e: unknown): ResponseMessage {
  requests.get('other 500')!.inc();
  handled.inc();
  return { id: req.id, status: 500, type: 'text/plain; charset=utf-8', body: encoder.encode(`internal error: ${String(e)}\n`).buffer as ArrayBuffer };
}

parentPort!.on('message', (req: RequestMessage) => {
  let res: ResponseMessage;
  try {
    res = handle(req);
  } catch (e) {
    res = failed(req, e);
  }
  parentPort!.postMessage(res, [res.body]);
});
parentPort!.postMessage({ ready: data.unit });
