// SPDX-License-Identifier: GPL-2.0-only
/**
 * `npm run bench:metrics`: percpu/prom-client against prom-client, in one run.
 *
 * 1. Per-operation cost on the main thread, prom-client and ours
 *    interleaved round by round (the order alternates), median ns/op:
 *    `inc()`, `observe(v)`, `labels(a, b).inc()`, `inc({labels})`,
 *    `startTimer()()`, and a Summary's `observe(v)`.
 * 2. Scrape time (`register.metrics()`) of 10,000 series written by 8
 *    worker threads (labels created at run time in the workers), median.
 * 3. Scrape latency while one of 4 workers is blocked for 2 s: ours (worker
 *    threads) against prom-client's `AggregatorRegistry.clusterMetrics()`
 *    over 4 cluster worker processes, one of them blocked the same way.
 *
 *   node dist/bench/metrics.js [--rounds N] [--ops N] [--json]
 *
 * This file is also the worker thread and the cluster worker (it re-launches
 * itself; the role is in workerData or PERCPU_BENCH_ROLE).
 */
import cluster from 'node:cluster';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import { once } from 'node:events';
import * as prom from 'prom-client';
import * as ours from '../src/runtime/prom/node.js';
import { machineFacts } from './common.js';

const SELF = fileURLToPath(import.meta.url);
const SERIES = 10_000;
const SCRAPE_WORKERS = 8;
const BLOCK_WORKERS = 4;
const BLOCK_MS = 2000;

interface ThreadJob {
  role: 'thread';
  percpuMetrics: unknown;
  index: number;
  workers: number;
}

// ---------------------------------------------------------------------------
// Worker thread: write its share of the 10,000 series, then wait for "block"

function threadMain(job: ThreadJob): void {
  const c = new ours.Counter({ name: 'bench_series_total', help: 'Series for the scrape benchmark.', labelNames: ['id', 'shard'] });
  for (let i = job.index; i < SERIES; i += job.workers) c.inc({ id: String(i), shard: String(i % 16) }, i);
  parentPort!.on('message', (m: { block: number }) => {
    const end = Date.now() + m.block;
    while (Date.now() < end) {
      /* blocked */
    }
    parentPort!.postMessage('unblocked');
  });
  parentPort!.postMessage('ready');
}

// Cluster worker: the same metric in prom-client, answering the primary's scrapes through its IPC listener.
function clusterWorkerMain(index: number, workers: number): void {
  // Constructing it installs the worker's listener for the primary's requests.
  new prom.AggregatorRegistry();
  const c = new prom.Counter({ name: 'bench_series_total', help: 'Series for the scrape benchmark.', labelNames: ['id', 'shard'] });
  for (let i = index; i < SERIES / 4; i += workers) c.inc({ id: String(i), shard: String(i % 16) }, i);
  process.on('message', (m: unknown) => {
    if (typeof m === 'object' && m !== null && 'block' in m) {
      const end = Date.now() + (m as { block: number }).block;
      while (Date.now() < end) {
        /* blocked */
      }
    }
  });
  process.send!('ready');
}

if (!isMainThread && (workerData as ThreadJob | undefined)?.role === 'thread') threadMain(workerData as ThreadJob);
else if (cluster.isWorker && process.env.PERCPU_BENCH_ROLE === 'cluster') clusterWorkerMain(Number(process.env.PERCPU_BENCH_INDEX), Number(process.env.PERCPU_BENCH_WORKERS));
else if (isMainThread && cluster.isPrimary) await main();

// ---------------------------------------------------------------------------
// Main

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

type Case = { name: string; prom: (n: number) => void; ours: (n: number) => void };

function cases(): Case[] {
  const pr = new prom.Registry();
  const or = new ours.Registry();
  const routes = ['/a', '/b', '/c', '/d'];
  const mk = <L extends typeof prom | typeof ours>(lib: L, reg: unknown) => {
    const registers = [reg] as never;
    return {
      plain: new lib.Counter({ name: 'b_plain_total', help: 'h', registers }),
      hist: new lib.Histogram({ name: 'b_hist_seconds', help: 'h', registers }),
      labelled: new lib.Counter({ name: 'b_labelled_total', help: 'h', labelNames: ['route', 'code'], registers }),
      timed: new lib.Histogram({ name: 'b_timed_seconds', help: 'h', registers }),
      summary: new lib.Summary({ name: 'b_summary_seconds', help: 'h', registers }),
    };
  };
  const p = mk(prom, pr);
  const o = mk(ours, or);
  // Each library gets its own compiled copy of every loop, so that neither shares call-site
  // feedback (and deoptimisations) with the other.
  const both = (name: string, body: string): Case => ({
    name,
    prom: new Function('m', 'routes', 'n', body).bind(null, p, routes) as (n: number) => void,
    ours: new Function('m', 'routes', 'n', body).bind(null, o, routes) as (n: number) => void,
  });
  return [
    both('counter.inc()', 'for (let i = 0; i < n; i++) m.plain.inc();'),
    both('histogram.observe(v)', 'for (let i = 0; i < n; i++) m.hist.observe((i & 1023) / 1000);'),
    both("counter.labels('/a', '200').inc()", "for (let i = 0; i < n; i++) m.labelled.labels(routes[i & 3], '200').inc();"),
    both("counter.inc({ route, code: '200' })", "for (let i = 0; i < n; i++) m.labelled.inc({ route: routes[i & 3], code: '200' });"),
    both('histogram.startTimer()()', 'let s = 0; for (let i = 0; i < n; i++) s += m.timed.startTimer()(); return s;'),
    both('summary.observe(v)', 'for (let i = 0; i < n; i++) m.summary.observe((i & 1023) / 1000);'),
  ];
}

function nsPerOp(f: (n: number) => void, n: number): number {
  const t0 = process.hrtime.bigint();
  f(n);
  return Number(process.hrtime.bigint() - t0) / n;
}

async function scrapeBench(runs: number) {
  const threads: Worker[] = [];
  for (let k = 0; k < SCRAPE_WORKERS; k++) {
    const job: ThreadJob = { role: 'thread', percpuMetrics: ours.metricsHandle(), index: k, workers: SCRAPE_WORKERS };
    const w = new Worker(SELF, { workerData: job });
    threads.push(w);
  }
  await Promise.all(threads.map((w) => once(w, 'message')));
  const text = await ours.register.metrics();
  const series = text.split('\n').filter((l) => l.startsWith('bench_series_total{')).length;
  if (series !== SERIES) throw new Error(`scrape shows ${series} series, not ${SERIES}: ${text.split("\n").filter((l) => l.includes("overflow")).join(" ")}`);
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await ours.register.metrics();
    times.push(performance.now() - t0);
  }
  // Blocked: one of the workers spins for BLOCK_MS; scrape meanwhile (the first BLOCK_WORKERS are used, the rest idle).
  const blocked: number[] = [];
  for (let r = 0; r < 3; r++) {
    threads[0]!.postMessage({ block: BLOCK_MS });
    await new Promise((res) => setTimeout(res, 100));
    const t0 = performance.now();
    await ours.register.metrics();
    blocked.push(performance.now() - t0);
    await once(threads[0]!, 'message');
  }
  await Promise.all(threads.map((w) => w.terminate()));
  return { scrapeMs: median(times), blockedMs: median(blocked) };
}

async function clusterBench(runs: number) {
  cluster.setupPrimary({ exec: SELF });
  const workers = Array.from({ length: BLOCK_WORKERS }, (_, k) => cluster.fork({ PERCPU_BENCH_ROLE: 'cluster', PERCPU_BENCH_INDEX: String(k), PERCPU_BENCH_WORKERS: String(BLOCK_WORKERS) }));
  await Promise.all(workers.map((w) => once(w, 'message')));
  const agg = new prom.AggregatorRegistry();
  let timeouts = 0;
  // prom-client gives up after 5 s ("Operation timed out."): count it, and take the time it waited.
  const scrape = async () => {
    const t0 = performance.now();
    try {
      await agg.clusterMetrics();
    } catch {
      timeouts++;
    }
    return performance.now() - t0;
  };
  const times: number[] = [];
  for (let r = 0; r < runs; r++) times.push(await scrape());
  const blocked: number[] = [];
  for (let r = 0; r < 3; r++) {
    workers[0]!.send({ block: BLOCK_MS });
    await new Promise((res) => setTimeout(res, 100));
    blocked.push(await scrape());
    await new Promise((res) => setTimeout(res, 200));
  }
  for (const w of workers) w.kill();
  await Promise.all(workers.map((w) => once(w, 'exit')));
  return { scrapeMs: median(times), blockedMs: median(blocked), timeouts };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '9' }, ops: { type: 'string', default: '200000' }, json: { type: 'boolean', default: false } } });
  const rounds = Number(values.rounds);
  const ops = Number(values.ops);
  ours.setupMetrics({ workers: SCRAPE_WORKERS, maxSeries: 16384 });
  const load0 = loadavg();
  const list = cases();
  const results = list.map((c) => ({ name: c.name, prom: [] as number[], ours: [] as number[] }));
  for (const c of list) {
    c.prom(ops / 10);
    c.ours(ops / 10);
  }
  for (let r = 0; r < rounds; r++) {
    list.forEach((c, k) => {
      if (r % 2 === 0) {
        results[k]!.prom.push(nsPerOp(c.prom, ops));
        results[k]!.ours.push(nsPerOp(c.ours, ops));
      } else {
        results[k]!.ours.push(nsPerOp(c.ours, ops));
        results[k]!.prom.push(nsPerOp(c.prom, ops));
      }
    });
  }
  const perOp = results.map((r) => ({ name: r.name, promNs: median(r.prom), oursNs: median(r.ours), ratio: median(r.prom) / median(r.ours) }));
  const scrape = await scrapeBench(9);
  const clusterScrape = await clusterBench(9);
  const load1 = loadavg();
  const out = { machine: machineFacts(), loadavg: { start: load0, end: load1 }, rounds, ops, perOp, scrape, cluster: clusterScrape };
  if (values.json) {
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return;
  }
  const f = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
  const lines = [
    `percpu/prom-client vs prom-client — ${out.machine.node}, ${out.machine.cpu}, ${out.machine.cores} cores`,
    `load average at start ${load0.map((x) => x.toFixed(2)).join(' ')}, at end ${load1.map((x) => x.toFixed(2)).join(' ')}`,
    '',
    `Main thread, median of ${rounds} interleaved rounds of ${ops} ops:`,
    '',
    '| operation | prom-client ns/op | percpu ns/op | prom-client / percpu |',
    '|---|---:|---:|---:|',
    ...perOp.map((p) => `| \`${p.name}\` | ${f(p.promNs)} | ${f(p.oursNs)} | ${p.ratio.toFixed(1)}× |`),
    '',
    '| scrape | percpu (worker threads) | prom-client AggregatorRegistry (cluster) |',
    '|---|---:|---:|',
    `| ${SERIES.toLocaleString('en')} series over ${SCRAPE_WORKERS} workers, median of 9 | ${f(scrape.scrapeMs)} ms | – |`,
    `| ${(SERIES / 4).toLocaleString('en')} series over ${BLOCK_WORKERS} workers, median of 9 | – | ${f(clusterScrape.scrapeMs)} ms |`,
    `| the same, while one worker is blocked for ${BLOCK_MS / 1000} s, median of 3 | ${f(scrape.blockedMs)} ms | ${f(clusterScrape.blockedMs)} ms |`,
    '',
    `prom-client scrapes that timed out (5 s): ${clusterScrape.timeouts} of 12.`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
