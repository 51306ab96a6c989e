// SPDX-License-Identifier: GPL-2.0-only
/**
 * Per-worker metrics in percpu memory: counters, gauges and fixed-bucket
 * histograms that each worker writes on its own unit and any thread reads as
 * the sum over units — the kernel's per-CPU statistics pattern (per-CPU
 * `u64_stats`, SNMP MIBs) for worker threads.
 *
 * Storage. A metric is one percpu allocation of `series × valuesPerSeries`
 * Float64 values per unit. A series is one combination of label values; the
 * label set is fixed at creation (each label name with every value it may
 * take), so the series are the cartesian product of the declared values,
 * numbered in mixed radix with the last label varying fastest. Values per
 * series: 1 for counters and gauges; for a histogram with B bounds, B + 1
 * bucket counts (the last one is +Inf) then the sum of observations. Bucket
 * counts are kept per bucket, not cumulative, so an observation writes one
 * count and the sum; the cumulative `le` counts are made at read time.
 *
 * Concurrency, on the accessors' rules (accessors.ts): a unit's values have
 * one writer, the worker that owns the unit, so writes need no lock and no
 * read-modify-write atomics; each is a plain read then an `Atomics.store` of
 * the 64 bits (64-bit values tear unless stored atomically). Readers on any
 * thread `Atomics.load` every unit and add them up. Counts are integers in
 * Float64, so sums of counts are exact up to 2^53; a read while workers write
 * sees each unit's latest stored value (per value, not a snapshot across
 * values), and is exact once the writers are quiet.
 *
 * Invariants: a metric's allocation lives until `PercpuMetrics.destroy()`;
 * histogram bucket counts of a series add up to its count; every write goes to
 * the writing thread's own unit (a thread without a unit cannot write:
 * `NoUnitError`). Bad input (unknown label value, negative counter increment,
 * non-finite value) throws a typed error before anything is written.
 *
 * Browser-safe: no Node imports.
 */
import { MIN_UNIT_SIZE } from '../engine/constants.js';
import type { SharedPercpu } from './shared-percpu.js';
import { DestroyedError, NoUnitError, RuntimeArgumentError } from './errors.js';

/** The kinds of metric `PercpuMetrics` keeps. */
export type MetricKind = 'counter' | 'gauge' | 'histogram';

/** Label names, each with every value it may take (order kept: it is the order of the label set). */
export type LabelSet = Readonly<Record<string, readonly string[]>>;

/** Name, help and fixed label set of a metric. */
export interface MetricOptions {
  /** A Prometheus metric name: [a-zA-Z_:][a-zA-Z0-9_:]*. */
  name: string;
  help: string;
  /** The fixed label set; default none (one series). */
  labels?: LabelSet;
}

/** A histogram's options: a metric's, and its bucket bounds. */
export interface HistogramOptions extends MetricOptions {
  /** Upper bounds (`le`) of the buckets, strictly increasing and finite; +Inf is implied. Default `defaultBuckets`. */
  buckets?: readonly number[];
}

/** Everything another thread needs to attach one metric (structured-clonable). */
export interface MetricDescriptor {
  kind: MetricKind;
  name: string;
  help: string;
  labelNames: string[];
  labelValues: string[][];
  /** Histogram bounds; empty for counters and gauges. */
  buckets: number[];
  ptr: number;
}

/** Structured-clonable: post it to a worker and `PercpuMetrics.attach` it there. */
export interface PercpuMetricsHandle {
  metrics: MetricDescriptor[];
  /** Int32 word 0: 1 once the set was destroyed. */
  state: SharedArrayBuffer;
}

/** Labels of one series, by name. */
export type SeriesLabels = Record<string, string>;
/** How a caller names a series: label values in label-set order, or by name. */
export type LabelValuesInput = readonly (string | number)[] | Readonly<Record<string, string | number>>;

/** One series of a counter or gauge, summed over the units. */
export interface SeriesValue {
  labels: SeriesLabels;
  value: number;
}

/** One series of a histogram, summed over the units. */
export interface HistogramSeriesValue {
  labels: SeriesLabels;
  /** Cumulative counts, one per bound of `buckets` and a last one for +Inf (= count). */
  cumulative: number[];
  count: number;
  sum: number;
}

/** The Prometheus client libraries' default latency buckets, in seconds. */
export const defaultBuckets: readonly number[] = Object.freeze([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);

/** Float64 values one metric may hold per unit: the largest percpu allocation (32 KiB) in 8-byte values. */
export const MAX_METRIC_VALUES = MIN_UNIT_SIZE / 8;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Bit-cast scratch: 64-bit stores go through BigInt64 to be tear-free. One per thread (module instances are per thread). */
const castBuffer = new ArrayBuffer(8);
const castF64 = new Float64Array(castBuffer);
const castI64 = new BigInt64Array(castBuffer);

/** Where one thread finds a metric's values. */
interface Placement {
  f64: Float64Array;
  i64: BigInt64Array;
  /** Float64 index of unit 0's first value. */
  base: number;
  /** Float64 indices from one unit to the next. */
  unitStride: number;
  /** Float64 index of this thread's first value, -1 without a unit. */
  own: number;
  nrUnits: number;
}

function load(p: Placement, i: number): number {
  castI64[0] = Atomics.load(p.i64, i);
  return castF64[0]!;
}

/** The owner's write: plain read of its own value, tear-free store. */
function storeOwn(p: Placement, i: number, v: number): void {
  castF64[0] = v;
  Atomics.store(p.i64, i, castI64[0]!);
}

/** Sum over units (or one unit) of the value at `off` from each unit's first value. */
function sumUnits(p: Placement, off: number, unit: number): number {
  if (unit >= 0) return load(p, p.base + unit * p.unitStride + off);
  let s = 0;
  for (let u = 0, i = p.base + off; u < p.nrUnits; u++, i += p.unitStride) s += load(p, i);
  return s;
}

function checkFinite(what: string, v: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new RuntimeArgumentError('EINVAL', `${what} must be a finite number, got ${String(v)}`);
}

/** What all three kinds share: the descriptor, the placement, series numbering. */
export abstract class PercpuMetric {
  abstract readonly kind: MetricKind;
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly labelValues: readonly (readonly string[])[];
  /** Number of series: the product of the label value counts (1 without labels). */
  readonly seriesCount: number;
  /** Float64 values per series in each unit. */
  readonly valuesPerSeries: number;
  readonly ptr: number;
  /** Units the values are kept in (the allocator's `nrUnits`). */
  readonly nrUnits: number;
  /** @internal Where this metric's values sit in the workers' units. */
  protected readonly p: Placement;
  private readonly valueIndex: Map<string, number>[];
  /** Series index step of each label (mixed radix, last label fastest). */
  private readonly radix: number[];

  protected constructor(percpu: SharedPercpu, d: MetricDescriptor, valuesPerSeries: number) {
    this.name = d.name;
    this.help = d.help;
    this.labelNames = d.labelNames;
    this.labelValues = d.labelValues;
    this.ptr = d.ptr;
    this.nrUnits = percpu.nrUnits;
    this.valuesPerSeries = valuesPerSeries;
    this.valueIndex = d.labelValues.map((vs) => new Map(vs.map((v, k) => [v, k])));
    this.radix = new Array<number>(d.labelNames.length);
    let n = 1;
    for (let k = d.labelNames.length - 1; k >= 0; k--) {
      this.radix[k] = n;
      n *= d.labelValues[k]!.length;
    }
    this.seriesCount = n;
    const m = percpu.memory;
    const lastOff = (n * valuesPerSeries - 1) * 8;
    // Resolving the last value of the last unit makes the memory views cover every value of the metric.
    m.address(d.ptr, percpu.nrUnits - 1, lastOff, 8);
    const base = m.address(d.ptr, 0, 0, 8) >>> 3;
    const unitStride = percpu.unitSize >>> 3;
    this.p = { f64: m.f64, i64: m.i64, base, unitStride, own: percpu.unit >= 0 ? base + percpu.unit * unitStride : -1, nrUnits: percpu.nrUnits };
  }

  descriptor(): MetricDescriptor {
    return {
      kind: this.kind,
      name: this.name,
      help: this.help,
      labelNames: [...this.labelNames],
      labelValues: this.labelValues.map((vs) => [...vs]),
      buckets: this.bucketList(),
      ptr: this.ptr,
    };
  }

  protected bucketList(): number[] {
    return [];
  }

  /** Series number of a label combination. Throws `RuntimeArgumentError` for a missing, extra or undeclared label value. */
  seriesIndex(values: LabelValuesInput): number {
    const names = this.labelNames;
    let s = 0;
    if (Array.isArray(values)) {
      const list = values as readonly (string | number)[];
      if (list.length !== names.length) throw new RuntimeArgumentError('EINVAL', `metric ${this.name} has ${names.length} labels (${names.join(', ')}), got ${list.length} values`);
      for (let k = 0; k < names.length; k++) s += this.valuePosition(k, list[k]!) * this.radix[k]!;
      return s;
    }
    const byName = values as Readonly<Record<string, string | number>>;
    for (const key of Object.keys(byName)) {
      if (!names.includes(key)) throw new RuntimeArgumentError('EINVAL', `metric ${this.name} has no label ${key} (labels: ${names.join(', ') || 'none'})`);
    }
    for (let k = 0; k < names.length; k++) {
      const v = byName[names[k]!];
      if (v === undefined) throw new RuntimeArgumentError('EINVAL', `metric ${this.name}: label ${names[k]} is missing`);
      s += this.valuePosition(k, v) * this.radix[k]!;
    }
    return s;
  }

  private valuePosition(k: number, v: string | number): number {
    const at = this.valueIndex[k]!.get(String(v));
    if (at === undefined) {
      throw new RuntimeArgumentError('EINVAL', `metric ${this.name}: label ${this.labelNames[k]} has no value "${String(v)}" (declared: ${this.labelValues[k]!.join(', ')})`);
    }
    return at;
  }

  /** The labels of series `s`. */
  seriesLabels(s: number): SeriesLabels {
    const out: SeriesLabels = {};
    for (let k = 0; k < this.labelNames.length; k++) {
      const vs = this.labelValues[k]!;
      out[this.labelNames[k]!] = vs[Math.floor(s / this.radix[k]!) % vs.length]!;
    }
    return out;
  }

  /** The series of an unlabelled metric; a labelled one must name its series. */
  protected onlySeries(): number {
    if (this.labelNames.length !== 0) throw new RuntimeArgumentError('EINVAL', `metric ${this.name} has labels (${this.labelNames.join(', ')}): pick a series with labels(…)`);
    return 0;
  }

  protected ownIndex(what: string): number {
    const own = this.p.own;
    if (own < 0) throw new NoUnitError(`${what} (metric ${this.name})`);
    return own;
  }

  /** Float64 offset of series `s`'s first value within a unit. */
  protected seriesOffset(s: number): number {
    return s * this.valuesPerSeries;
  }

  /**
   * Zero every unit's values (`percpu_counter_set`-like): racy against workers
   * writing at the same time, whose next write may bring back an old value.
   * Use it when the writers are quiet.
   */
  reset(): void {
    const p = this.p;
    const n = this.seriesCount * this.valuesPerSeries;
    for (let u = 0; u < p.nrUnits; u++) for (let k = 0, i = p.base + u * p.unitStride; k < n; k++, i++) Atomics.store(p.i64, i, 0n);
  }
}

function unitArg(p: Placement, unit: number | undefined): number {
  if (unit === undefined) return -1;
  if (!Number.isInteger(unit) || unit < 0 || unit >= p.nrUnits) throw new RuntimeArgumentError('EINVAL', `unit must be an integer in 0..${p.nrUnits - 1}, got ${unit}`);
  return unit;
}

// ---------------------------------------------------------------------------
// Counter

/** One series of a counter, bound once (`labels(…)`) for the hot path. */
export class CounterSeries {
  /** @internal Made by `PercpuMetricCounter.labels`. */
  constructor(
    private readonly metric: PercpuMetricCounter,
    private readonly p: Placement,
    /** Float64 offset of the series in a unit. */
    private readonly off: number,
  ) {}

  /** Add `amount` (≥ 0, default 1) on this thread's unit. */
  inc(amount = 1): void {
    if (!(amount >= 0 && amount !== Infinity)) throw new RuntimeArgumentError('EINVAL', `metric ${this.metric.name}: a counter only goes up, by a finite amount; got ${String(amount)}`);
    const own = this.p.own;
    if (own < 0) throw new NoUnitError(`inc (metric ${this.metric.name})`);
    const i = own + this.off;
    storeOwn(this.p, i, this.p.f64[i]! + amount);
  }

  /** Sum over units, or one unit's value. */
  value(unit?: number): number {
    return sumUnits(this.p, this.off, unitArg(this.p, unit));
  }
}

/** A monotonic counter: each worker adds on its own unit; the value is the sum over units. */
export class PercpuMetricCounter extends PercpuMetric {
  readonly kind = 'counter' as const;
  private readonly children: (CounterSeries | undefined)[];

  /** @internal Use `PercpuMetrics.createCounter` / `counter`. */
  constructor(percpu: SharedPercpu, d: MetricDescriptor) {
    super(percpu, d, 1);
    this.children = new Array<CounterSeries | undefined>(this.seriesCount);
  }

  /** The series of these label values (cached: bind it once, `inc` it often). */
  labels(...values: (string | number)[] | [Readonly<Record<string, string | number>>]): CounterSeries {
    const s = this.seriesIndex(labelArgs(values));
    return (this.children[s] ??= new CounterSeries(this, this.p, this.seriesOffset(s)));
  }

  /** Add to the only series of an unlabelled counter. */
  inc(amount = 1): void {
    this.series(this.onlySeries()).inc(amount);
  }

  /** The unlabelled counter's value (sum over units, or one unit). */
  value(unit?: number): number {
    return this.series(this.onlySeries()).value(unit);
  }

  private series(s: number): CounterSeries {
    return (this.children[s] ??= new CounterSeries(this, this.p, this.seriesOffset(s)));
  }

  /** Every series with its value: the sum over units, or one unit's value. */
  read(unit?: number): SeriesValue[] {
    const u = unitArg(this.p, unit);
    const out: SeriesValue[] = [];
    for (let s = 0; s < this.seriesCount; s++) out.push({ labels: this.seriesLabels(s), value: sumUnits(this.p, s, u) });
    return out;
  }
}

// ---------------------------------------------------------------------------
// Gauge

/** One series of a gauge, bound once (`labels(…)`) for the hot path. */
export class GaugeSeries {
  /** @internal Made by `PercpuMetricGauge.labels`. */
  constructor(
    private readonly metric: PercpuMetricGauge,
    private readonly p: Placement,
    private readonly off: number,
  ) {}

  private index(): number {
    const own = this.p.own;
    if (own < 0) throw new NoUnitError(`gauge write (metric ${this.metric.name})`);
    return own + this.off;
  }

  /** Set this thread's unit's share of the gauge. */
  set(value: number): void {
    checkFinite(`metric ${this.metric.name}: gauge value`, value);
    storeOwn(this.p, this.index(), value);
  }

  inc(amount = 1): void {
    checkFinite(`metric ${this.metric.name}: gauge increment`, amount);
    const i = this.index();
    storeOwn(this.p, i, this.p.f64[i]! + amount);
  }

  dec(amount = 1): void {
    this.inc(-amount);
  }

  /** Sum over units, or one unit's value. */
  value(unit?: number): number {
    return sumUnits(this.p, this.off, unitArg(this.p, unit));
  }
}

/**
 * A gauge: each worker sets, raises or lowers its own share on its unit; the
 * value is the sum of the shares (in-flight requests, queued items, bytes
 * held — quantities that add up across workers).
 */
export class PercpuMetricGauge extends PercpuMetric {
  readonly kind = 'gauge' as const;
  private readonly children: (GaugeSeries | undefined)[];

  /** @internal Use `PercpuMetrics.createGauge` / `gauge`. */
  constructor(percpu: SharedPercpu, d: MetricDescriptor) {
    super(percpu, d, 1);
    this.children = new Array<GaugeSeries | undefined>(this.seriesCount);
  }

  labels(...values: (string | number)[] | [Readonly<Record<string, string | number>>]): GaugeSeries {
    return this.series(this.seriesIndex(labelArgs(values)));
  }

  private series(s: number): GaugeSeries {
    return (this.children[s] ??= new GaugeSeries(this, this.p, this.seriesOffset(s)));
  }

  set(value: number): void {
    this.series(this.onlySeries()).set(value);
  }

  inc(amount = 1): void {
    this.series(this.onlySeries()).inc(amount);
  }

  dec(amount = 1): void {
    this.series(this.onlySeries()).dec(amount);
  }

  value(unit?: number): number {
    return this.series(this.onlySeries()).value(unit);
  }

  read(unit?: number): SeriesValue[] {
    const u = unitArg(this.p, unit);
    const out: SeriesValue[] = [];
    for (let s = 0; s < this.seriesCount; s++) out.push({ labels: this.seriesLabels(s), value: sumUnits(this.p, s, u) });
    return out;
  }
}

// ---------------------------------------------------------------------------
// Histogram

/** One series of a histogram, bound once (`labels(…)`) for the hot path. */
export class HistogramSeries {
  /** @internal Made by `PercpuMetricHistogram.labels`. */
  constructor(
    private readonly metric: PercpuMetricHistogram,
    private readonly p: Placement,
    private readonly off: number,
  ) {}

  /** Count `value` in its bucket (the first bound ≥ value, else +Inf) and add it to the sum, on this thread's unit. */
  observe(value: number): void {
    const m = this.metric;
    checkFinite(`metric ${m.name}: observation`, value);
    const own = this.p.own;
    if (own < 0) throw new NoUnitError(`observe (metric ${m.name})`);
    const at = own + this.off;
    const b = at + m.bucketOf(value);
    const f64 = this.p.f64;
    storeOwn(this.p, b, f64[b]! + 1);
    const sum = at + m.buckets.length + 1;
    storeOwn(this.p, sum, f64[sum]! + value);
  }

  /** Run `fn` and observe how long it took, in seconds (`performance.now()`). */
  time<T>(fn: () => T): T {
    const start = performance.now();
    try {
      return fn();
    } finally {
      this.observe((performance.now() - start) / 1000);
    }
  }

  /** Cumulative bucket counts, count and sum: over all units, or one unit's. */
  snapshot(unit?: number): Omit<HistogramSeriesValue, 'labels'> {
    const u = unitArg(this.p, unit);
    const nb = this.metric.buckets.length;
    const cumulative: number[] = [];
    let acc = 0;
    for (let k = 0; k <= nb; k++) {
      acc += sumUnits(this.p, this.off + k, u);
      cumulative.push(acc);
    }
    return { cumulative, count: acc, sum: sumUnits(this.p, this.off + nb + 1, u) };
  }
}

/** A histogram with fixed buckets: each worker counts into its own unit's buckets. */
export class PercpuMetricHistogram extends PercpuMetric {
  readonly kind = 'histogram' as const;
  /** Upper bounds of the finite buckets, increasing. */
  readonly buckets: readonly number[];
  private readonly bounds: Float64Array;
  private readonly children: (HistogramSeries | undefined)[];

  /** @internal Use `PercpuMetrics.createHistogram` / `histogram`. */
  constructor(percpu: SharedPercpu, d: MetricDescriptor) {
    super(percpu, d, d.buckets.length + 2);
    this.buckets = Object.freeze([...d.buckets]);
    this.bounds = Float64Array.from(d.buckets);
    this.children = new Array<HistogramSeries | undefined>(this.seriesCount);
  }

  protected override bucketList(): number[] {
    return [...this.buckets];
  }

  /** Bucket of a value: the first bound ≥ value (binary search), or the +Inf bucket. */
  bucketOf(value: number): number {
    const b = this.bounds;
    let lo = 0;
    let hi = b.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (b[mid]! >= value) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  labels(...values: (string | number)[] | [Readonly<Record<string, string | number>>]): HistogramSeries {
    return this.series(this.seriesIndex(labelArgs(values)));
  }

  private series(s: number): HistogramSeries {
    return (this.children[s] ??= new HistogramSeries(this, this.p, this.seriesOffset(s)));
  }

  observe(value: number): void {
    this.series(this.onlySeries()).observe(value);
  }

  time<T>(fn: () => T): T {
    return this.series(this.onlySeries()).time(fn);
  }

  snapshot(unit?: number): Omit<HistogramSeriesValue, 'labels'> {
    return this.series(this.onlySeries()).snapshot(unit);
  }

  read(unit?: number): HistogramSeriesValue[] {
    const out: HistogramSeriesValue[] = [];
    for (let s = 0; s < this.seriesCount; s++) out.push({ labels: this.seriesLabels(s), ...this.series(s).snapshot(unit) });
    return out;
  }
}

/** Any metric of a `PercpuMetrics`. */
export type AnyPercpuMetric = PercpuMetricCounter | PercpuMetricGauge | PercpuMetricHistogram;

/** `labels('GET', 200)` or `labels({ method: 'GET', code: 200 })`. */
function labelArgs(values: (string | number)[] | [Readonly<Record<string, string | number>>]): LabelValuesInput {
  const first = values[0];
  return values.length === 1 && typeof first === 'object' && first !== null ? first : (values as (string | number)[]);
}

// ---------------------------------------------------------------------------
// The set

/**
 * A set of percpu metrics over one `SharedPercpu`: the main thread creates
 * them, posts `handle()` to each worker, and the worker attaches the same set
 * with its own unit. The handle is a snapshot: metrics created after it was
 * taken are not in it (create them all first, as with any registry filled at
 * start-up, or post a new handle).
 */
export class PercpuMetrics {
  private readonly percpu: SharedPercpu;
  private readonly byName = new Map<string, AnyPercpuMetric>();
  private readonly state: Int32Array;

  static create(percpu: SharedPercpu): PercpuMetrics {
    return new PercpuMetrics(percpu, new SharedArrayBuffer(4));
  }

  static attach(percpu: SharedPercpu, handle: PercpuMetricsHandle): PercpuMetrics {
    const set = new PercpuMetrics(percpu, handle.state);
    set.checkLive();
    for (const d of handle.metrics) set.add(build(percpu, d));
    return set;
  }

  private constructor(percpu: SharedPercpu, state: SharedArrayBuffer) {
    this.percpu = percpu;
    this.state = new Int32Array(state);
  }

  handle(): PercpuMetricsHandle {
    return { metrics: this.all().map((m) => m.descriptor()), state: this.state.buffer as SharedArrayBuffer };
  }

  createCounter(options: MetricOptions): PercpuMetricCounter {
    return this.create('counter', options, []) as PercpuMetricCounter;
  }

  createGauge(options: MetricOptions): PercpuMetricGauge {
    return this.create('gauge', options, []) as PercpuMetricGauge;
  }

  createHistogram(options: HistogramOptions): PercpuMetricHistogram {
    const buckets = options.buckets ?? defaultBuckets;
    checkBuckets(options.name, buckets);
    return this.create('histogram', options, [...buckets]) as PercpuMetricHistogram;
  }

  /** Validate everything, then allocate: a rejected metric changes nothing. */
  private create(kind: MetricKind, o: MetricOptions, buckets: number[]): AnyPercpuMetric {
    this.checkLive();
    if (typeof o.name !== 'string' || !METRIC_NAME.test(o.name)) throw new RuntimeArgumentError('EINVAL', `metric name must match ${METRIC_NAME.source}, got ${String(o.name)}`);
    if (this.byName.has(o.name)) throw new RuntimeArgumentError('EINVAL', `a metric named ${o.name} already exists in this set`);
    if (typeof o.help !== 'string') throw new RuntimeArgumentError('EINVAL', `metric ${o.name}: help must be a string`);
    const { labelNames, labelValues } = checkLabels(o.name, kind, o.labels ?? {});
    const series = labelValues.reduce((n, vs) => n * vs.length, 1);
    const perSeries = kind === 'histogram' ? buckets.length + 2 : 1;
    if (series * perSeries > MAX_METRIC_VALUES) {
      throw new RuntimeArgumentError(
        'EINVAL_SIZE',
        `metric ${o.name}: ${series} series × ${perSeries} values = ${series * perSeries} values per unit; one metric holds at most ${MAX_METRIC_VALUES} (the largest percpu allocation, 32 KiB): declare fewer label values or buckets`,
      );
    }
    const ptr = this.percpu.allocOrThrow(series * perSeries * 8, 8);
    const metric = build(this.percpu, { kind, name: o.name, help: o.help, labelNames, labelValues, buckets, ptr });
    this.add(metric);
    return metric;
  }

  private add(m: AnyPercpuMetric): void {
    this.byName.set(m.name, m);
  }

  /** Metrics in creation order. */
  all(): AnyPercpuMetric[] {
    return [...this.byName.values()];
  }

  get(name: string): AnyPercpuMetric | undefined {
    return this.byName.get(name);
  }

  counter(name: string): PercpuMetricCounter {
    return this.find(name, 'counter') as PercpuMetricCounter;
  }

  gauge(name: string): PercpuMetricGauge {
    return this.find(name, 'gauge') as PercpuMetricGauge;
  }

  histogram(name: string): PercpuMetricHistogram {
    return this.find(name, 'histogram') as PercpuMetricHistogram;
  }

  private find(name: string, kind: MetricKind): AnyPercpuMetric {
    const m = this.byName.get(name);
    if (m === undefined) throw new RuntimeArgumentError('EINVAL', `no metric named ${name} in this set (have: ${[...this.byName.keys()].join(', ') || 'none'})`);
    if (m.kind !== kind) throw new RuntimeArgumentError('EINVAL', `metric ${name} is a ${m.kind}, not a ${kind}`);
    return m;
  }

  get destroyed(): boolean {
    return Atomics.load(this.state, 0) !== 0;
  }

  private checkLive(): void {
    if (this.destroyed) throw new DestroyedError('percpu metric set');
  }

  /**
   * Give every metric's memory back to the allocator. Every thread must stop
   * writing first (writes do not check, as the kernel's per-CPU stats do not).
   */
  destroy(): void {
    if (Atomics.compareExchange(this.state, 0, 0, 1) !== 0) throw new DestroyedError('percpu metric set');
    for (const m of this.byName.values()) this.percpu.free(m.ptr);
  }
}

function build(percpu: SharedPercpu, d: MetricDescriptor): AnyPercpuMetric {
  switch (d.kind) {
    case 'counter':
      return new PercpuMetricCounter(percpu, d);
    case 'gauge':
      return new PercpuMetricGauge(percpu, d);
    case 'histogram':
      return new PercpuMetricHistogram(percpu, d);
    default:
      throw new RuntimeArgumentError('EINVAL', `unknown metric kind ${String((d as { kind: unknown }).kind)}`);
  }
}

function checkLabels(name: string, kind: MetricKind, labels: LabelSet): { labelNames: string[]; labelValues: string[][] } {
  const labelNames = Object.keys(labels);
  const labelValues: string[][] = [];
  for (const l of labelNames) {
    if (!LABEL_NAME.test(l) || l.startsWith('__')) throw new RuntimeArgumentError('EINVAL', `metric ${name}: label name must match ${LABEL_NAME.source} and not start with __, got ${l}`);
    if (kind === 'histogram' && l === 'le') throw new RuntimeArgumentError('EINVAL', `metric ${name}: a histogram cannot have a label named le (it names the buckets)`);
    const values = labels[l];
    if (!Array.isArray(values) || values.length === 0) throw new RuntimeArgumentError('EINVAL', `metric ${name}: label ${l} needs a non-empty array of values`);
    const list = values.map(String);
    if (new Set(list).size !== list.length) throw new RuntimeArgumentError('EINVAL', `metric ${name}: label ${l} lists a value twice`);
    labelValues.push(list);
  }
  return { labelNames, labelValues };
}

function checkBuckets(name: string, buckets: readonly number[]): void {
  if (!Array.isArray(buckets) || buckets.length === 0) throw new RuntimeArgumentError('EINVAL', `metric ${name}: buckets must be a non-empty array of bounds`);
  for (let k = 0; k < buckets.length; k++) {
    const b = buckets[k]!;
    if (typeof b !== 'number' || !Number.isFinite(b)) throw new RuntimeArgumentError('EINVAL', `metric ${name}: bucket bound ${String(b)} is not a finite number (+Inf is implied)`);
    if (k > 0 && !(b > buckets[k - 1]!)) throw new RuntimeArgumentError('EINVAL', `metric ${name}: bucket bounds must increase strictly (${buckets[k - 1]} then ${b})`);
  }
}
