// SPDX-License-Identifier: GPL-2.0-only
/**
 * The JavaScript-threads runtime: percpu memory for worker threads (one unit
 * per worker), percpu counters and per-worker hash maps. Browser-safe: nothing
 * here imports a Node module, so a browser worker can import this entry point
 * directly (`percpu/runtime`).
 */
export { SharedPercpu, defaultAlign } from './shared-percpu.js';
export type { SharedPercpuOptions, SharedPercpuHandle, SharedPercpuStats, UnitRequest, ReleaseMode, WatchableWorker } from './shared-percpu.js';
export { ThreadTable } from './threads.js';
export { ThisCpuAccessor, PerCpuAccessor, Int32Ref } from './accessors.js';
export type { UnitAccessor } from './accessors.js';
export { PercpuCounter, defaultCounterBatch } from './counter.js';
export type { PercpuCounterOptions, PercpuCounterHandle, PercpuCounterMode } from './counter.js';
export { PercpuHashMap, BPF_ANY, BPF_NOEXIST, BPF_EXIST } from './hash-map.js';
export type { PercpuHashMapOptions, PercpuHashMapHandle, PercpuKey, PercpuKeyType, UpdateStatus, ValueKind, PercpuMapItem } from './hash-map.js';
export { FutexLock, canBlock, threadToken } from './futex.js';
export type { FutexLockOptions, LockOwnerRegistry } from './futex.js';
export { PercpuMetrics, PercpuMetric, PercpuMetricCounter, PercpuMetricGauge, PercpuMetricHistogram, CounterSeries, GaugeSeries, HistogramSeries, defaultBuckets, MAX_METRIC_VALUES } from './metrics.js';
export type { MetricKind, LabelSet, MetricOptions, HistogramOptions, MetricDescriptor, PercpuMetricsHandle, SeriesLabels, LabelValuesInput, SeriesValue, HistogramSeriesValue, AnyPercpuMetric } from './metrics.js';
export { PercpuMemory } from './memory.js';
export type { MemoryBuffers } from './memory.js';
export { RuntimeArgumentError, NoUnitError, MapFullError, DestroyedError, LockReentryError, NoFreeUnitError, UnitBusyError } from './errors.js';
export { NULL_PTR, formatPtr } from '../engine/pointer.js';
