// SPDX-License-Identifier: GPL-2.0-only
/**
 * Example: an HTTP server whose handlers run as piscina tasks on a worker
 * pool, instrumented with `percpu/prom-client` as one would with prom-client
 * — per-route request counters and latency histograms, written by every
 * worker on its own unit — and `/metrics` served by the main thread without
 * asking any worker (a blocked worker does not delay a scrape).
 *
 *   npm run build && node dist/examples/piscina/server.js [--port 8081] [--threads 2] [--timeout 1000]
 *   curl http://127.0.0.1:8081/hello; curl 'http://127.0.0.1:8081/spin?ms=5000'; curl http://127.0.0.1:8081/metrics
 *
 * Each request is a `pool.run()` with an `AbortSignal.timeout`: a task still
 * running then is aborted, and piscina terminates its worker and starts
 * another. The main thread answers 504 and counts it itself; on
 * `workerDestroy` it gives the dead worker's unit back to the metrics store
 * (its gauge share is dropped, what it counted stays), and the replacement
 * takes a free unit.
 */
import { createServer } from 'node:http';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Piscina } from 'piscina';
import { Counter, collectDefaultMetrics, register, setupMetrics } from 'percpu/prom-client';
import { defineMetrics, routeOf, type Task, type TaskResult } from './routes.js';

export interface PiscinaServerOptions {
  port?: number;
  host?: string;
  threads?: number;
  /** Milliseconds a task may run before it is aborted (and its worker terminated). Default 1000. */
  timeout?: number;
}

export async function startServer(o: PiscinaServerOptions = {}) {
  const threads = o.threads ?? 2;
  const timeout = o.timeout ?? 1000;
  const host = o.host ?? '127.0.0.1';
  const ctx = setupMetrics({ workers: threads, spareUnits: 2 * threads });
  collectDefaultMetrics({ intervalMs: 500 });
  const m = defineMetrics();
  const timeouts = new Counter({ name: 'http_task_timeouts_total', help: 'Tasks aborted by the timeout (their worker was terminated), by route.', labelNames: ['route'] });
  const exits = new Counter({ name: 'piscina_worker_exits_total', help: 'Pool workers that exited or were terminated.' });
  const pool = new Piscina<Task, TaskResult>({
    filename: new URL('./task.js', import.meta.url).href,
    minThreads: threads,
    maxThreads: threads,
    workerData: { percpuMetrics: ctx.handle() },
    // Idle workers wait on their event loop, not in Atomics.wait, so that their default metrics keep sampling.
    atomics: 'disabled',
  });
  pool.on('workerDestroy', (w: { id: number }) => {
    ctx.releaseThread(w.id);
    exits.inc();
  });

  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (url === '/metrics' && req.method === 'GET') {
      register.metrics().then(
        (text) => res.writeHead(200, { 'content-type': register.contentType }).end(text),
        (e: unknown) => res.writeHead(500).end(`metrics failed: ${String(e)}\n`),
      );
      return;
    }
    req.resume();
    const method = req.method ?? 'GET';
    const tenant = String(req.headers['x-tenant'] ?? '');
    pool.run({ method, url, tenant }, { signal: AbortSignal.timeout(timeout) }).then(
      (r) => res.writeHead(r.status, { 'content-type': r.type }).end(r.body),
      (e: unknown) => {
        const route = routeOf(new URL(url, 'http://localhost').pathname);
        const aborted = (e as { name?: string }).name === 'AbortError';
        const status = aborted ? 504 : 500;
        if (aborted) timeouts.inc({ route });
        m.requests.inc({ method, route, code: status });
        res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(aborted ? `task timed out after ${timeout} ms\n` : `task failed: ${String(e)}\n`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 8081, host, () => resolve());
  });
  const a = server.address();
  const port = typeof a === 'object' && a !== null ? a.port : 0;
  return {
    url: `http://${host}:${port}`,
    port,
    threads,
    pool,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await pool.destroy();
    },
  };
}

function isMain(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isMain()) {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '8081' }, host: { type: 'string', default: '127.0.0.1' }, threads: { type: 'string', default: '2' }, timeout: { type: 'string', default: '1000' } } });
  const running = await startServer({ port: Number(values.port), host: values.host, threads: Number(values.threads), timeout: Number(values.timeout) });
  process.stdout.write(`percpu piscina example: listening on ${running.url} (${running.threads} threads; GET /hello, /users/:id, /work?n=N, /sleep?ms=M, /spin?ms=M, /metrics)\n`);
  const stop = () => {
    // A task still spinning would hold pool.destroy(): give the close 3 s.
    setTimeout(() => process.exit(0), 3000).unref();
    running.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
