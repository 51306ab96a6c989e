// SPDX-License-Identifier: GPL-2.0-only
/**
 * Example: an HTTP server whose request handlers run in a pool of worker
 * threads, each counting into its own unit of percpu metrics, with the main
 * thread serving `/metrics` for Prometheus through prom-client.
 *
 *   npm run build && node dist/examples/http-workers/server.js [--port 8080] [--workers 4] [--host 127.0.0.1]
 *   curl http://127.0.0.1:8080/hello; curl http://127.0.0.1:8080/metrics
 *
 * The main thread accepts connections and reads request bodies (Node cannot
 * hand a socket to a worker thread), stamps the arrival time, and posts each
 * request to the next worker in turn; the worker builds the response and
 * counts it (worker.ts). The main thread owns no unit and never writes a
 * metric: a scrape sums every worker's unit at that moment (prometheus.ts).
 *
 * `startServer` is exported for tests; run as a script it prints
 * "listening on http://HOST:PORT" and stops cleanly on SIGINT/SIGTERM.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import { SharedPercpu, PercpuMetrics } from 'percpu/runtime';
import { registerPercpuMetrics } from 'percpu/prometheus';
import { createServerMetrics, M } from './metrics.js';
import type { RequestMessage, ResponseMessage, WorkerData } from './protocol.js';

export interface ServerOptions {
  /** 0 picks a free port. Default 8080. */
  port?: number;
  /** Default 127.0.0.1 (loopback only). */
  host?: string;
  /** Worker threads, one percpu unit each. Default min(4, available parallelism). */
  workers?: number;
  /** Largest request body; a bigger one is answered 413 (by a worker, so that it is counted). Default 1 MiB. */
  maxBody?: number;
}

export interface RunningServer {
  url: string;
  port: number;
  workers: number;
  registry: Registry;
  metrics: PercpuMetrics;
  close(): Promise<void>;
}

const EMPTY = new ArrayBuffer(0);

/** Read the body, up to `max` bytes; null past that (the rest is drained and dropped). */
function readBody(req: IncomingMessage, max: number): Promise<ArrayBuffer | null> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (b: Buffer) => {
      size += b.length;
      if (size <= max) parts.push(b);
    });
    req.on('end', () => {
      if (size > max) return resolve(null);
      const all = Buffer.concat(parts, size);
      // A fresh ArrayBuffer of exactly the body, so that it can be transferred.
      resolve(all.buffer.slice(all.byteOffset, all.byteOffset + size) as ArrayBuffer);
    });
    req.on('error', reject);
  });
}

export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const nrWorkers = options.workers ?? Math.min(4, availableParallelism());
  const maxBody = options.maxBody ?? 1 << 20;
  const host = options.host ?? '127.0.0.1';
  if (!Number.isInteger(nrWorkers) || nrWorkers < 1 || nrWorkers > 64) throw new RangeError(`workers must be an integer in 1..64, got ${nrWorkers}`);

  // One unit per worker; the main thread has none (it only reads). 64 KiB units: the metrics take a few KiB.
  const percpu = SharedPercpu.create({ nrUnits: nrWorkers, unitSize: 64 << 10, maxBytes: 4 * nrWorkers * (64 << 10) });
  const metrics = PercpuMetrics.create(percpu);
  createServerMetrics(metrics);
  const registry = new Registry();
  registerPercpuMetrics(registry, metrics, { perUnit: [M.perWorker], unitLabel: 'worker' });

  const pending = new Map<number, ServerResponse>();
  const owner = new Map<number, number>();
  const alive: boolean[] = [];
  const workers: Worker[] = [];
  let closing = false;

  const failWorker = (unit: number, why: string) => {
    if (closing || !alive[unit]) return;
    alive[unit] = false;
    process.stderr.write(`worker ${unit} stopped: ${why}\n`);
    for (const [id, w] of owner) {
      if (w !== unit) continue;
      const res = pending.get(id);
      pending.delete(id);
      owner.delete(id);
      res?.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' }).end('worker stopped\n');
    }
  };

  await Promise.all(
    Array.from({ length: nrWorkers }, (_, unit) => {
      const workerData: WorkerData = { percpu: percpu.handle(), metrics: metrics.handle(), unit };
      const w = new Worker(new URL('./worker.js', import.meta.url), { workerData });
      workers.push(w);
      alive.push(true);
      return new Promise<void>((ready, fail) => {
        w.once('error', fail);
        w.once('message', () => {
          w.off('error', fail);
          w.on('message', (m: ResponseMessage) => {
            const res = pending.get(m.id);
            pending.delete(m.id);
            owner.delete(m.id);
            res?.writeHead(m.status, { 'content-type': m.type, 'content-length': m.body.byteLength }).end(Buffer.from(m.body));
          });
          w.on('error', (e) => failWorker(unit, String(e)));
          w.on('exit', (code) => failWorker(unit, `exit code ${code}`));
          ready();
        });
      });
    }),
  );

  let nextId = 1;
  let nextWorker = 0;
  const pickWorker = (): number => {
    for (let k = 0; k < nrWorkers; k++) {
      const u = (nextWorker + k) % nrWorkers;
      if (alive[u]) {
        nextWorker = (u + 1) % nrWorkers;
        return u;
      }
    }
    return -1;
  };

  const server = createServer((req, res) => {
    const arrived = performance.timeOrigin + performance.now();
    if (req.url === '/metrics' && req.method === 'GET') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (e: unknown) => res.writeHead(500).end(`metrics failed: ${String(e)}\n`),
      );
      return;
    }
    readBody(req, maxBody).then(
      (body) => {
        const unit = pickWorker();
        if (unit < 0) return void res.writeHead(503).end('no worker left\n');
        const id = nextId++;
        pending.set(id, res);
        owner.set(id, unit);
        const msg: RequestMessage = { id, method: req.method ?? 'GET', url: req.url ?? '/', body: body ?? EMPTY.slice(0), arrived, tooLarge: body === null };
        workers[unit]!.postMessage(msg, [msg.body]);
      },
      () => res.destroy(),
    );
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8080, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;

  return {
    url: `http://${host}:${port}`,
    port,
    workers: nrWorkers,
    registry,
    metrics,
    async close() {
      closing = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

function isMain(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isMain()) {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8080' },
      host: { type: 'string', default: '127.0.0.1' },
      workers: { type: 'string' },
    },
  });
  const running = await startServer({
    port: Number(values.port),
    host: values.host,
    ...(values.workers !== undefined ? { workers: Number(values.workers) } : {}),
  });
  process.stdout.write(`percpu http-workers: listening on ${running.url} (${running.workers} workers; GET /hello, GET /work?n=N, POST /echo, GET /metrics)\n`);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    running.close().then(
      () => process.exit(0),
      (e: unknown) => {
        process.stderr.write(`close failed: ${String(e)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
