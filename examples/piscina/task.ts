// SPDX-License-Identifier: GPL-2.0-only
/**
 * A piscina task file: handles one request per call, counting it as a
 * prom-client user would. Importing `percpu/prom-client` attaches this worker
 * to the main thread's metrics (piscina passes `workerData.percpuMetrics`
 * on) on a unit of its own.
 *
 * Routes: GET /hello; GET /users/:id; GET /work?n=N (primes up to N);
 * GET /sleep?ms=M (awaits M ms: the timer runs across the await);
 * GET /spin?ms=M (blocks the event loop M ms, so that the main thread's
 * task timeout aborts it and piscina terminates this worker).
 */
import { collectDefaultMetrics } from 'percpu/prom-client';
import { defineMetrics, routeOf, type Task, type TaskResult } from './routes.js';

const m = defineMetrics();
collectDefaultMetrics({ intervalMs: 500 });

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

async function respond(method: string, url: URL): Promise<TaskResult> {
  const text = (status: number, body: string) => ({ status, type: 'text/plain; charset=utf-8', body });
  const ms = Math.min(10_000, Math.max(0, Number(url.searchParams.get('ms') ?? '0') || 0));
  if (method !== 'GET') return text(405, 'method not allowed\n');
  switch (routeOf(url.pathname)) {
    case '/hello':
      return text(200, 'hello\n');
    case '/users/:id':
      return { status: 200, type: 'application/json', body: JSON.stringify({ id: Number(url.pathname.slice(7)) }) };
    case '/work': {
      const n = Number(url.searchParams.get('n') ?? '1000');
      if (!Number.isInteger(n) || n < 0 || n > 1_000_000) return text(400, 'n must be an integer in 0..1000000\n');
      return { status: 200, type: 'application/json', body: JSON.stringify({ n, primes: countPrimes(n) }) };
    }
    case '/sleep':
      await new Promise((r) => setTimeout(r, ms));
      return text(200, `slept ${ms} ms\n`);
    case '/spin': {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        /* a handler that blocks its worker */
      }
      return text(200, `spun ${ms} ms\n`);
    }
    default:
      return text(404, 'not found\n');
  }
}

export default async function handle(task: Task): Promise<TaskResult> {
  const url = new URL(task.url, 'http://localhost');
  const labels = { method: task.method, route: routeOf(url.pathname) };
  const end = m.duration.startTimer(labels);
  m.inFlight.inc();
  try {
    const r = await respond(task.method, url);
    m.requests.inc({ ...labels, code: r.status });
    if (task.tenant !== '') m.tenants.inc({ tenant: task.tenant });
    return r;
  } finally {
    m.inFlight.dec();
    end();
  }
}
