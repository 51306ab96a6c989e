// SPDX-License-Identifier: GPL-2.0-only
/**
 * `percpu/prom-client/browser`: prom-client's API over percpu memory, without
 * anything Node-specific (for browser workers; Node code imports
 * `percpu/prom-client`, which adds default metrics and attaches workers by
 * itself). A browser worker attaches with `attachMetrics(handle, id)` before
 * it creates metrics.
 */
export {
  Counter,
  Gauge,
  Histogram,
  Summary,
  Registry,
  register,
  globalRegistry,
  contentType,
  prometheusContentType,
  openMetricsContentType,
  linearBuckets,
  exponentialBuckets,
  setupMetrics,
  attachMetrics,
  metricsContext,
  metricsHandle,
  MetricsContext,
  SharedMetric,
  OVERFLOW_LABEL,
} from './metrics.js';
export type {
  MetricConfiguration,
  HistogramConfiguration,
  SummaryConfiguration,
  LabelValues,
  Aggregator,
  Collectable,
  RegistryContentType,
  MetricsContextHandle,
  MetricsContextOptions,
  MetricObject,
  MetricValue,
  LabelMap,
} from './metrics.js';
export { SketchLayout } from './sketch.js';
export type { SketchOptions } from './sketch.js';
export { HashMapMetric } from './hash-map-metric.js';
export type { HashMapMetricConfiguration } from './hash-map-metric.js';
