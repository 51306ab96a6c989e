// SPDX-License-Identifier: GPL-2.0-only
/**
 * The percpu metrics (metrics.ts) in a prom-client `Registry`, as its own
 * entry point (`percpu/prometheus`) so that the browser-safe runtime never
 * pulls prom-client in.
 *
 * Each percpu metric becomes one *collector*: an object with the shape the
 * registry reads from its own metrics (`name`, `help`, `type`, `aggregator`,
 * an async `get()` and `reset()`), registered with `registerMetric`. Nothing is
 * copied into prom-client ahead of time: `get()` runs at scrape time and sums
 * every unit's values then, so `/metrics` always shows what the workers have
 * written so far, and the workers never call into prom-client. Histograms are
 * exported as prom-client exports its own: cumulative `_bucket` series with an
 * `le` label (first, as prom-client puts it; the +Inf bucket last), then
 * `_sum` and `_count`.
 *
 * A metric named in `perUnit` is exported once per unit instead of summed,
 * with the unit as an extra label — to see how the work spreads over workers.
 *
 * prom-client's typings only accept its own metric classes in
 * `registerMetric`, so the collector goes in through a cast; the registry's
 * actual contract is the duck type above (it calls `get()` or
 * `getForPromString()`, reads `name`, `help`, `type`, and `reset()` on
 * `resetMetrics()`), which this module implements and its tests check through
 * `registry.metrics()` and `registry.getMetricsAsJSON()`.
 */
import type { Metric } from 'prom-client';
import type { AnyPercpuMetric, PercpuMetrics, SeriesLabels } from './metrics.js';
import { RuntimeArgumentError } from './errors.js';

/** Options of the prom-client export: which metrics go out per unit instead of summed. */
export interface PrometheusExportOptions {
  /** Metrics exported per unit (one series per unit, labelled `unitLabel`) instead of summed. */
  perUnit?: readonly string[];
  /** The label that names the unit in per-unit metrics. Default 'unit'. */
  unitLabel?: string;
}

/** A prom-client `Registry` of either content type (only `registerMetric` is used). */
export interface RegistryLike {
  registerMetric(metric: Metric): void;
}

/** One sample as prom-client's registry formats it. */
export interface Sample {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

/** One metric as prom-client's registry collects it: every series summed over the workers. */
export interface CollectedMetric {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  aggregator: 'sum';
  values: Sample[];
}

/** A percpu metric seen by a prom-client registry. */
export class PercpuCollector {
  /** Mutable: the registry strips `_total` from counter names when it writes OpenMetrics. */
  name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  /** How prom-client's cluster registry merges workers' values; units are already summed here. */
  readonly aggregator = 'sum' as const;
  readonly metric: AnyPercpuMetric;
  private readonly unitLabel: string | undefined;

  constructor(metric: AnyPercpuMetric, unitLabel?: string) {
    if (unitLabel !== undefined && (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(unitLabel) || unitLabel.startsWith('__') || unitLabel === 'le' || metric.labelNames.includes(unitLabel))) {
      throw new RuntimeArgumentError('EINVAL', `metric ${metric.name}: ${unitLabel} cannot name the unit (not a label name, reserved, or already one of its labels)`);
    }
    this.metric = metric;
    this.name = metric.name;
    this.help = metric.help;
    this.type = metric.kind;
    this.unitLabel = unitLabel;
  }

  /** The scrape: every series, summed over units (or per unit), read now. */
  async get(): Promise<CollectedMetric> {
    const values: Sample[] = [];
    const label = this.unitLabel;
    if (label === undefined) this.collect(values, undefined, undefined);
    else for (let u = 0; u < this.metric.nrUnits; u++) this.collect(values, u, label);
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  private collect(out: Sample[], unit: number | undefined, label: string | undefined): void {
    const m = this.metric;
    const extra = (labels: SeriesLabels): Record<string, string | number> => (label === undefined ? labels : { ...labels, [label]: String(unit) });
    if (m.kind !== 'histogram') {
      for (const s of m.read(unit)) out.push({ value: s.value, labels: extra(s.labels) });
      return;
    }
    const bucketName = `${this.name}_bucket`;
    for (const s of m.read(unit)) {
      const labels = extra(s.labels);
      m.buckets.forEach((le, k) => out.push({ value: s.cumulative[k]!, labels: { le, ...labels }, metricName: bucketName }));
      out.push({ value: s.count, labels: { le: '+Inf', ...labels }, metricName: bucketName });
      out.push({ value: s.sum, labels, metricName: `${this.name}_sum` });
      out.push({ value: s.count, labels, metricName: `${this.name}_count` });
    }
  }

  /** `registry.resetMetrics()`: zero every unit (racy against workers writing at that moment; see `PercpuMetric.reset`). */
  reset(): void {
    this.metric.reset();
  }
}

/**
 * Register every metric of `metrics` (a set, or a list of metrics) with
 * `registry`, as collectors read at scrape time. Returns the collectors.
 * Throws prom-client's error when a name is already registered (after
 * registering the metrics before it).
 */
export function registerPercpuMetrics(registry: RegistryLike, metrics: PercpuMetrics | readonly AnyPercpuMetric[], options: PrometheusExportOptions = {}): PercpuCollector[] {
  const list = Array.isArray(metrics) ? (metrics as readonly AnyPercpuMetric[]) : (metrics as PercpuMetrics).all();
  const perUnit = new Set(options.perUnit ?? []);
  const unitLabel = options.unitLabel ?? 'unit';
  for (const name of perUnit) {
    if (!list.some((m) => m.name === name)) throw new RuntimeArgumentError('EINVAL', `perUnit names ${name}, which is not among the metrics`);
  }
  // Build every collector first, so a bad option registers nothing.
  const collectors = list.map((m) => new PercpuCollector(m, perUnit.has(m.name) ? unitLabel : undefined));
  for (const c of collectors) registry.registerMetric(c as unknown as Metric);
  return collectors;
}
