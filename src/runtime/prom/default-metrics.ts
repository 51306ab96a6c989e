// SPDX-License-Identifier: GPL-2.0-only
/**
 * prom-client's `collectDefaultMetrics` for worker threads (Node only).
 *
 * Each thread that calls it samples its own isolate — heap, event-loop delay
 * and utilisation, garbage collections — into its own unit, on a timer
 * (`intervalMs`, unref'd), instead of at scrape time as prom-client does: a
 * scrape never asks a worker anything, so a worker must have written its
 * figures before. The gauges are exported per worker (label `worker`, the
 * unit), since a heap size or a loop delay summed over threads means little;
 * GC durations are a histogram summed over workers (label `kind`). A
 * `percpu_worker_heartbeat_timestamp_seconds` gauge per worker says when each
 * worker last sampled: a worker whose event loop is blocked stops updating
 * it, which is how a scrape shows a stuck worker without waiting for it
 * (`time() - percpu_worker_heartbeat_timestamp_seconds`).
 * The process-wide figures (CPU, resident memory, start time, Node version)
 * are sampled only on the main thread.
 */
import { PerformanceObserver, constants, monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import { isMainThread } from 'node:worker_threads';
import { Counter, Gauge, Histogram, globalRegistry, type Registry } from './metrics.js';

/**
 * Options of `collectDefaultMetrics`, as prom-client's (`register`, `prefix`,
 * `eventLoopMonitoringPrecision`, `gcDurationBuckets`) plus `intervalMs`: each
 * thread samples its own figures on that timer instead of at scrape time (a
 * scrape never waits on a worker). prom-client's `labels` option is not taken.
 */
export interface DefaultMetricsOptions {
  /** The registry the default metrics register in. Default the global `register`. */
  register?: Registry;
  /** Prefix of every default metric's name. Default ''. */
  prefix?: string;
  /** Milliseconds between samples. Default 1000. */
  intervalMs?: number;
  /** Resolution of the event-loop delay monitor, ms. Default 10 (prom-client's). */
  eventLoopMonitoringPrecision?: number;
  /** Upper bounds (seconds) of the GC duration histogram. Default prom-client's [0.001, 0.01, 0.1, 1, 2, 5]. */
  gcDurationBuckets?: number[];
}

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

/** Start sampling this thread's default metrics; `stop()` ends the timer and the observers. */
export function collectDefaultMetrics(o: DefaultMetricsOptions = {}): { stop(): void; sample(): void } {
  const prefix = o.prefix ?? '';
  const registers = [o.register ?? globalRegistry];
  const perWorker = { registers, aggregator: 'perWorker' as const };
  const gauge = (name: string, help: string, labelNames: string[] = []) => new Gauge({ name: prefix + name, help, labelNames, ...perWorker });
  const heapTotal = gauge('nodejs_heap_size_total_bytes', 'Process heap size from Node.js in bytes.');
  const heapUsed = gauge('nodejs_heap_size_used_bytes', 'Process heap size used from Node.js in bytes.');
  const external = gauge('nodejs_external_memory_bytes', 'Node.js external memory size in bytes.');
  const space = gauge('nodejs_heap_space_size_used_bytes', 'Process heap space size used from Node.js in bytes.', ['space']);
  const lag = gauge('nodejs_eventloop_lag_seconds', 'Lag of event loop in seconds (mean since the previous sample).');
  const lagMin = gauge('nodejs_eventloop_lag_min_seconds', 'The minimum recorded event loop delay.');
  const lagMax = gauge('nodejs_eventloop_lag_max_seconds', 'The maximum recorded event loop delay.');
  const lagP99 = gauge('nodejs_eventloop_lag_p99_seconds', 'The 99th percentile of the recorded event loop delays.');
  const elu = gauge('nodejs_eventloop_utilization_ratio', 'Share of the time the event loop was busy since the previous sample.');
  const heartbeat = gauge('percpu_worker_heartbeat_timestamp_seconds', 'When this worker last sampled its default metrics (Unix time, seconds).');
  const gc = new Histogram({
    name: `${prefix}nodejs_gc_duration_seconds`,
    help: 'Garbage collection duration by kind, one of major, minor, incremental or weakcb.',
    labelNames: ['kind'],
    buckets: o.gcDurationBuckets ?? [0.001, 0.01, 0.1, 1, 2, 5],
    registers,
  });
  let cpuUser: Counter | undefined;
  let cpuSystem: Counter | undefined;
  let cpuTotal: Counter | undefined;
  let rss: Gauge | undefined;
  if (isMainThread) {
    const proc = { registers, aggregator: 'first' as const };
    cpuUser = new Counter({ name: `${prefix}process_cpu_user_seconds_total`, help: 'Total user CPU time spent in seconds.', registers });
    cpuSystem = new Counter({ name: `${prefix}process_cpu_system_seconds_total`, help: 'Total system CPU time spent in seconds.', registers });
    cpuTotal = new Counter({ name: `${prefix}process_cpu_seconds_total`, help: 'Total user and system CPU time spent in seconds.', registers });
    rss = new Gauge({ name: `${prefix}process_resident_memory_bytes`, help: 'Resident memory size in bytes.', ...proc });
    new Gauge({ name: `${prefix}process_start_time_seconds`, help: 'Start time of the process since unix epoch in seconds.', ...proc }).set(Math.round(Date.now() / 1000 - process.uptime()));
    const [major, minor, patch] = process.versions.node.split('.');
    new Gauge({ name: `${prefix}nodejs_version_info`, help: 'Node.js version info.', labelNames: ['version', 'major', 'minor', 'patch'], ...proc }).set({ version: process.version, major: major!, minor: minor!, patch: patch! }, 1);
  }

  const delay = monitorEventLoopDelay({ resolution: o.eventLoopMonitoringPrecision ?? 10 });
  delay.enable();
  let lastElu = performance.eventLoopUtilization();
  let lastCpu = process.cpuUsage();
  const gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = GC_KINDS[(e as unknown as { detail?: { kind?: number } }).detail?.kind ?? -1] ?? 'unknown';
      gc.observe({ kind }, e.duration / 1000);
    }
  });
  gcObserver.observe({ entryTypes: ['gc'] });

  const sample = () => {
    const h = getHeapStatistics();
    heapTotal.set(h.total_heap_size);
    heapUsed.set(h.used_heap_size);
    external.set(h.external_memory);
    for (const s of getHeapSpaceStatistics()) space.set({ space: s.space_name.replace(/_space$/, '') }, s.space_used_size);
    if (delay.count > 0) {
      lag.set(delay.mean / 1e9);
      lagMin.set(delay.min / 1e9);
      lagMax.set(delay.max / 1e9);
      lagP99.set(delay.percentile(99) / 1e9);
    }
    delay.reset();
    const u = performance.eventLoopUtilization();
    elu.set(performance.eventLoopUtilization(u, lastElu).utilization);
    lastElu = u;
    if (cpuUser && cpuSystem && cpuTotal && rss) {
      const c = process.cpuUsage();
      const user = (c.user - lastCpu.user) / 1e6;
      const system = (c.system - lastCpu.system) / 1e6;
      cpuUser.inc(user);
      cpuSystem.inc(system);
      cpuTotal.inc(user + system);
      lastCpu = c;
      rss.set(process.memoryUsage.rss());
    }
    heartbeat.set(Date.now() / 1000);
  };
  sample();
  const timer = setInterval(sample, o.intervalMs ?? 1000);
  timer.unref();
  return {
    sample,
    stop() {
      clearInterval(timer);
      delay.disable();
      gcObserver.disconnect();
    },
  };
}
