// SPDX-License-Identifier: GPL-2.0-only
/**
 * The Prometheus and OpenMetrics text formats, written the way prom-client
 * 15 writes them, so that a registry of percpu metrics prints the same bytes
 * as prom-client does for the same observations:
 *
 * - `# HELP name help` and `# TYPE name type`; the help text escapes `\` and
 *   newline; label values escape `\`, newline and `"`; label values that are
 *   not strings (a histogram's `le`, a summary's `quantile`) print as
 *   JavaScript prints the number.
 * - Sample values: JavaScript's number formatting, `+Inf` / `-Inf`, and
 *   `Nan` for NaN (prom-client's spelling).
 * - Labels: a sample's own labels (with default labels merged in, without
 *   overriding them), then its shared labels (a histogram's series labels
 *   after `le`).
 * - Prometheus: metrics separated by a blank line, a final newline.
 *   OpenMetrics: counters get `_total` appended to every sample and stripped
 *   from the family name, no blank lines, `# EOF` at the end.
 *
 * Browser-safe.
 */

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

/** Label names to values of one sample, as prom-client's `LabelValues` in its `get()` output. */
export type LabelMap = Record<string, string | number>;

/** One sample as prom-client's metrics hand them to a registry. */
export interface MetricValue {
  value: number;
  labels: LabelMap;
  metricName?: string;
  sharedLabels?: LabelMap;
}

/**
 * A metric as `get()` returns it and a registry prints it — prom-client's
 * `MetricObjectWithValues` shape, so our metrics and prom-client's register in
 * each other's registries. `values` are already aggregated over the workers.
 */
export interface MetricObject {
  name: string;
  help: string;
  /** 'counter', 'gauge', 'histogram' or 'summary'. */
  type: string;
  /** How the workers' values were combined (`Aggregator`). */
  aggregator: string;
  values: MetricValue[];
}

export function escapeString(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeLabelValue(v: string | number): string | number {
  return typeof v === 'string' ? escapeString(v).replace(/"/g, '\\"') : v;
}

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'Nan';
  if (!Number.isFinite(v)) return v < 0 ? '-Inf' : '+Inf';
  return `${v}`;
}

function formatLabels(labels: LabelMap, exclude?: LabelMap): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(labels)) {
    if (!exclude || !Object.prototype.hasOwnProperty.call(exclude, name)) out.push(`${name}="${escapeLabelValue(value)}"`);
  }
  return out;
}

/** One metric family's text (no trailing newline), as prom-client's `getMetricsAsString`. */
export function formatMetric(metric: MetricObject, defaultLabels: LabelMap | null, openMetrics: boolean): string {
  const name = escapeString(metric.name);
  const lines = [`# HELP ${name} ${escapeString(metric.help)}`, `# TYPE ${name} ${metric.type}`];
  for (const val of metric.values ?? []) {
    let metricName = val.metricName ?? name;
    let labels = val.labels ?? {};
    const shared = val.sharedLabels ?? {};
    if (openMetrics && metric.type === 'counter') metricName = `${metricName}_total`;
    if (defaultLabels) labels = { ...labels, ...defaultLabels, ...labels };
    const parts = formatLabels(labels, shared);
    const flat = formatLabels(shared).join(',');
    if (flat !== '') parts.push(flat);
    lines.push(`${metricName}${parts.length ? `{${parts.join(',')}}` : ''} ${formatValue(val.value)}`);
  }
  return lines.join('\n');
}

/** The whole exposition from the families' texts. */
export function joinMetrics(texts: string[], openMetrics: boolean): string {
  return openMetrics ? `${texts.join('\n')}\n# EOF\n` : `${texts.join('\n\n')}\n`;
}

/** The family name OpenMetrics uses for a counter (without `_total`). */
export function standardizeCounterName(name: string): string {
  return name.replace(/_total$/, '');
}
