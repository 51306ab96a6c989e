// SPDX-License-Identifier: GPL-2.0-only
/**
 * prom-client's API — `Counter`, `Gauge`, `Histogram`, `Summary`, `Registry`,
 * `register` — over percpu memory shared by worker threads
 * (`percpu/prom-client`). Instrumentation written for prom-client runs on
 * worker threads by changing its import: every thread that constructs a
 * metric of a name attaches to the same shared metric, each thread writes its
 * own unit, and a scrape from any thread sums the units (or aggregates them as
 * the metric's `aggregator` says) without waiting on any thread.
 *
 * Hot paths. `labels(...)` and `inc(labels, v)` walk a per-thread trie of
 * Maps keyed by the label values (no string is built, nothing allocated) to
 * a per-thread child that holds the resolved index of its own unit's values.
 * Counts (counter increments by small integers, histogram buckets) go to
 * Int32 words with plain reads and writes — tear-free at 32 bits — folded
 * into Float64s under a sequence word every ~2^30; other values (fractional
 * increments, gauge values, sums) are Float64s stored with one
 * `Atomics.store` of the 64 bits (they tear otherwise; see accessors.ts). A
 * child checks its series' generation with one plain 32-bit read: a series
 * removed by any thread makes the child look its labels up again.
 *
 * Slow path (first sight of a label set in a thread): encode the values,
 * look the series up in the shared store without a lock, else create it there
 * (store.ts). A refused creation — the metric's `maxSeries` reached, the
 * store full, label values too long, the lock unavailable — writes to the
 * metric's `overflow` series instead and counts a dropped label set; it never
 * throws. What throws, as in prom-client, is a programming error: an unknown
 * label name, a value that is not a number, a counter decremented.
 *
 * Browser-safe: no Node imports (default metrics live in default-metrics.ts).
 */
import { NoUnitError, RuntimeArgumentError } from '../errors.js';
import { canBlock } from '../futex.js';
import { SeriesStore, S, OVERFLOW_KEY, type MetricDescription, type MetricsContextHandle, type MetricsContextOptions } from './store.js';
import { SketchLayout, type SketchOptions } from './sketch.js';
import {
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  formatMetric,
  joinMetrics,
  standardizeCounterName,
  type LabelMap,
  type MetricObject,
  type MetricValue,
} from './exposition.js';

export type { MetricsContextHandle, MetricsContextOptions } from './store.js';
export type { MetricObject, MetricValue, LabelMap } from './exposition.js';

// ---------------------------------------------------------------------------
// The context: one per thread, attached to one shared store

const castBuffer = new ArrayBuffer(8);
const castF64 = new Float64Array(castBuffer);
const castI64 = new BigInt64Array(castBuffer);

function loadF64(i64: BigInt64Array, i: number): number {
  castI64[0] = Atomics.load(i64, i);
  return castF64[0]!;
}

/** How long a request path waits for the store lock before it writes to the overflow series instead. */
const REQUEST_LOCK_MS = 1000;

/**
 * A thread's attachment to the shared metrics: its store view, its unit, and
 * the per-metric dropped-label-set counters.
 */
export class MetricsContext {
  readonly store: SeriesStore;
  readonly unit: number;
  readonly threadId: number;
  /** Metrics this thread constructed, by directory id (their `collect` and bound children live here). */
  readonly local = new Map<number, SharedMetric>();

  private constructor(store: SeriesStore, threadId: number) {
    this.store = store;
    this.unit = store.percpu.unit;
    this.threadId = threadId;
  }

  /** A new shared store; this thread takes unit 0. */
  static create(options: MetricsContextOptions = {}, threadId = 0): MetricsContext {
    const h = SeriesStore.createHandle(options);
    const ctl = new Int32Array(h.ctl);
    SeriesStore.claim(ctl, 0, threadId);
    return new MetricsContext(new SeriesStore(h, 0, threadId), threadId);
  }

  /**
   * Attach a thread to a store another thread created, on a free unit
   * (waiting up to `waitMs` for one: a pool may start a replacement worker
   * before the old one's unit was given back). Throws `NoUnitError` when no
   * unit frees up.
   */
  static attach(h: MetricsContextHandle, threadId: number, waitMs = 2000): MetricsContext {
    const ctl = new Int32Array(h.ctl);
    const nrUnits = h.percpu.nrUnits;
    const deadline = Date.now() + waitMs;
    for (;;) {
      const u = SeriesStore.lease(ctl, nrUnits, threadId);
      if (u >= 0) return new MetricsContext(new SeriesStore(h, u, threadId), threadId);
      if (Date.now() >= deadline) throw new NoUnitError(`percpu metrics: all ${nrUnits - 1} worker units are leased (raise workers/spareUnits, or release the units of exited threads)`);
      // Sleep 10 ms (on a private word nobody changes) before looking again.
      if (canBlock()) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }

  handle(): MetricsContextHandle {
    return this.store.h;
  }

  /**
   * The thread `threadId` exited (or was terminated): give its unit back.
   * Its gauge shares are zeroed (a gauge summed over workers forgets it);
   * what it counted in counters, histograms and summaries stays.
   */
  releaseThread(threadId: number): boolean {
    this.store.breakLockOf(threadId);
    const u = this.store.unitOf(threadId);
    if (u <= 0) return false;
    this.store.releaseUnit(u, (entry, metric) => {
      if (this.store.describe(metric).type !== 'gauge') return;
      const p = this.store.percpu.perCpu(u);
      const ptr = this.store.ptr(entry, 0);
      p.setFloat64(ptr, 0, 0);
      p.setFloat64(ptr, 0, 8);
    });
    return true;
  }

  /** @internal This thread's dropped-label-set counts (undefined without a unit). */
  droppedSlots(): Slot | undefined {
    const store = this.store;
    const unit = store.percpu.unit;
    if (unit < 0) return undefined;
    const m = store.percpu.memory;
    const ptr = store.h.droppedPtr;
    m.address(ptr, unit, 8 * (store.h.maxMetrics - 1), 8);
    return { f64: m.f64, i64: m.i64, i32: m.i32, at: m.address(ptr, unit, 0, 8) >>> 3 };
  }

  /** Units now leased, by unit: the holder's threadId or -1. */
  leases(): number[] {
    return Array.from({ length: this.store.nrUnits }, (_, u) => this.store.leaseHolder(u));
  }
}

let current: MetricsContext | undefined;
let nextThreadId = 0;

/**
 * Create this thread's shared metrics store (call it on the main thread
 * before any metric is created, to size it), or get the one that exists.
 */
export function setupMetrics(options: MetricsContextOptions = {}, threadId = nextThreadId): MetricsContext {
  if (current !== undefined) throw new RuntimeArgumentError('EINVAL', 'percpu metrics are already set up in this thread (setupMetrics/attachMetrics once, before the first metric)');
  current = MetricsContext.create(options, threadId);
  return current;
}

/** Attach this thread (a worker) to the store whose handle it was given. */
export function attachMetrics(handle: MetricsContextHandle, threadId: number, waitMs?: number): MetricsContext {
  if (current !== undefined) throw new RuntimeArgumentError('EINVAL', 'percpu metrics are already set up in this thread');
  current = MetricsContext.attach(handle, threadId, waitMs);
  return current;
}

/** This thread's context; without a setup, a store of default size is created (this thread on unit 0). */
export function metricsContext(): MetricsContext {
  return (current ??= MetricsContext.create({}, nextThreadId));
}

/** The handle to post to workers (`workerData: { percpuMetrics: metricsHandle() }`). */
export function metricsHandle(): MetricsContextHandle {
  return metricsContext().handle();
}

/** @internal For the Node entry: which thread id a default context takes. */
export function setDefaultThreadId(id: number): void {
  nextThreadId = id;
}

/** @internal Tests: forget this thread's context (its shared memory stays with the others). */
export function resetMetricsContextForTests(): void {
  current = undefined;
  globalRegistry.clear();
}

// ---------------------------------------------------------------------------
// Configuration as prom-client takes it

/** Label names to values for a write or a lookup, as prom-client's `LabelValues`. */
export type LabelValues<T extends string = string> = Partial<Record<T, string | number>>;
/**
 * How a scrape combines the workers' values of a series: prom-client's
 * cluster aggregators (`sum`, `first`, `min`, `max`, `average`, `omit`) — here
 * applied to worker threads at every scrape, not by an `AggregatorRegistry` —
 * plus `perWorker`: one series per worker, labelled by `workerLabel`.
 */
export type Aggregator = 'sum' | 'first' | 'min' | 'max' | 'average' | 'omit' | 'perWorker';

/**
 * A metric's options, as prom-client's `MetricConfiguration` plus `maxSeries`
 * and `workerLabel`. `aggregator` defaults to `sum` for every type (prom-client's
 * default too); `enableExemplars: true` throws (no exemplars); `collect` runs
 * only in the thread that scrapes and constructed the metric.
 */
export interface MetricConfiguration<T extends string = string> {
  name: string;
  help: string;
  labelNames?: readonly T[];
  registers?: Registry[];
  aggregator?: Aggregator;
  collect?: (this: any) => void | Promise<void>;
  /** Series this metric may have at once; past it, writes of new label sets go to the `overflow` series. Default 10,000. */
  maxSeries?: number;
  /** The label naming the worker in `aggregator: 'perWorker'`. Default 'worker'. */
  workerLabel?: string;
  enableExemplars?: boolean;
}

/** A histogram's options: `buckets` (upper bounds), default prom-client's [0.005 … 10]. */
export interface HistogramConfiguration<T extends string = string> extends MetricConfiguration<T> {
  buckets?: number[];
}

/**
 * A summary's options, as prom-client's plus `sketch`. Quantiles come from a
 * mergeable sketch (sketch.ts), not a t-digest; `compressCount` and
 * `pruneAgedBuckets` are accepted and ignored; `ageBuckets` is at most 8.
 */
export interface SummaryConfiguration<T extends string = string> extends MetricConfiguration<T> {
  percentiles?: number[];
  maxAgeSeconds?: number;
  ageBuckets?: number;
  pruneAgedBuckets?: boolean;
  compressCount?: number;
  /** The quantile sketch's accuracy and range (sketch.ts). */
  sketch?: SketchOptions;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const DEFAULT_MAX_SERIES = 10_000;
const AGGREGATORS: readonly Aggregator[] = ['sum', 'first', 'min', 'max', 'average', 'omit', 'perWorker'];
/**
 * The label value of a metric's overflow series: the writes of label sets that
 * could not get a series of their own (the metric's `maxSeries` or the store
 * full, label values too long) land there instead of throwing. No prom-client
 * counterpart (prom-client grows without bound).
 */
export const OVERFLOW_LABEL = 'overflow';
const NO_LABELS: Readonly<Record<string, string | number>> = Object.freeze({});
/** The label values of an overflow child (a stale one goes back to the overflow series, not to the empty label set). */
const OVERFLOW_VALUES: readonly (string | undefined)[] = Object.freeze([]);

function now(): number {
  return performance.now();
}

// ---------------------------------------------------------------------------
// Children: one per series per thread

/** A child's view of its own unit, resolved once. */
interface Slot {
  f64: Float64Array;
  i64: BigInt64Array;
  i32: Int32Array;
  /** Float64 index of the part's first value in this thread's unit. */
  at: number;
}

abstract class Child {
  readonly entry: number;
  readonly gen: number;
  /** Index of the generation word in `store.ent`. */
  readonly gi: number;
  readonly ent: Int32Array;
  readonly values: readonly (string | undefined)[];
  readonly slots: Slot[];

  constructor(metric: SharedMetric, entry: number, values: readonly (string | undefined)[]) {
    const store = metric.ctx.store;
    this.entry = entry;
    this.values = values;
    this.ent = store.ent;
    this.gi = store.genIndex(entry);
    this.gen = entry < 0 ? 0 : store.gen(entry);
    this.slots = [];
    const unit = store.percpu.unit;
    if (entry < 0 || unit < 0) {
      this.slots.push(...sinkSlots(metric.desc.parts));
      return;
    }
    const m = store.percpu.memory;
    const d = metric.desc;
    for (let p = 0; p < d.parts.length; p++) {
      const ptr = store.ptr(entry, p);
      // Resolving the part's last byte first makes the views cover all of it.
      m.address(ptr, unit, d.parts[p]! - 8, 8);
      const at = m.address(ptr, unit, 0, 8) >>> 3;
      this.slots.push({ f64: m.f64, i64: m.i64, i32: m.i32, at });
    }
  }

  /** False once the series was removed by any thread. */
  get live(): boolean {
    return this.entry >= 0 && this.ent[this.gi] === this.gen;
  }
}

/** A sink for writes that have nowhere to go (the overflow series could not be made either): one per thread. */
let sinkBuffer: ArrayBuffer | undefined;
function sinkSlots(parts: readonly number[]): Slot[] {
  // Made on first use: the module must load where SharedArrayBuffer is missing (the page then says why it cannot run).
  const b = (sinkBuffer ??= new ArrayBuffer(1 << 15));
  return parts.map(() => ({ f64: new Float64Array(b), i64: new BigInt64Array(b), i32: new Int32Array(b), at: 0 }));
}

function storeOwn(s: Slot, i: number, v: number): void {
  castF64[0] = v;
  Atomics.store(s.i64, i, castI64[0]!);
}

// ---------------------------------------------------------------------------
// The shared metric

/** Values read off every unit for one series at scrape time. */
interface SeriesRead {
  entry: number;
  labels: LabelMap;
}

/**
 * What `Counter`, `Gauge`, `Histogram` and `Summary` share: the metric's
 * shared description (created by the first thread to construct the name,
 * checked by every later one), the per-thread children of its label sets, and
 * the scrape that reads every unit. prom-client's base class is not exported;
 * this one is, for `instanceof` and for typing code that takes any metric.
 */
export abstract class SharedMetric<T extends string = string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly T[];
  readonly aggregator: Aggregator;
  readonly registers: Registry[];
  readonly collect?: (this: any) => void | Promise<void>;
  abstract readonly type: 'counter' | 'gauge' | 'histogram' | 'summary';
  /** @internal */
  readonly ctx: MetricsContext;
  /** @internal Directory id. */
  readonly id: number;
  /** @internal */
  readonly desc: MetricDescription;
  readonly maxSeries: number;
  readonly workerLabel: string;
  private readonly root = new Map<unknown, unknown>();
  private readonly byKey = new Map<string, Child>();
  private only: Child | undefined;
  private overflowChild: Child | undefined;
  private readonly droppedSlot: Slot | undefined;

  protected constructor(config: MetricConfiguration<T>, type: MetricDescription['type'], extra: Partial<MetricDescription>, parts: number[], ctx = metricsContext()) {
    if (config === null || typeof config !== 'object') throw new TypeError('constructor expected a config object');
    if (!config.help) throw new Error('Missing mandatory help parameter');
    if (!config.name) throw new Error('Missing mandatory name parameter');
    if (!METRIC_NAME.test(config.name)) throw new Error('Invalid metric name');
    const labelNames = [...(config.labelNames ?? [])];
    if (!labelNames.every((l) => LABEL_NAME.test(l))) throw new Error('Invalid label name');
    if (config.collect !== undefined && typeof config.collect !== 'function') throw new Error('Optional "collect" parameter must be a function');
    const aggregator = config.aggregator ?? 'sum';
    if (!AGGREGATORS.includes(aggregator)) throw new Error(`aggregator must be one of ${AGGREGATORS.join(', ')}, got ${String(aggregator)}`);
    if (config.enableExemplars) throw new Error('percpu metrics do not record exemplars (see docs/RUNTIME.md, differences from prom-client)');
    const maxSeries = config.maxSeries ?? DEFAULT_MAX_SERIES;
    if (!Number.isInteger(maxSeries) || maxSeries < 1) throw new Error(`maxSeries must be a positive integer, got ${maxSeries}`);
    const workerLabel = config.workerLabel ?? 'worker';
    if (!LABEL_NAME.test(workerLabel) || labelNames.includes(workerLabel as T)) throw new Error(`workerLabel ${workerLabel} is not a label name, or is one of the metric's labels`);
    this.name = config.name;
    this.help = config.help;
    this.labelNames = labelNames;
    this.aggregator = aggregator;
    this.registers = config.registers ?? [globalRegistry];
    if (config.collect) this.collect = config.collect;
    this.maxSeries = maxSeries;
    this.workerLabel = workerLabel;
    this.ctx = ctx;
    const global = this.registers.includes(globalRegistry);
    const want: MetricDescription = { name: this.name, help: this.help, type, labelNames, aggregator, workerLabel, parts, maxSeries, global, ...extra };
    const [id] = ctx.store.defineMetric(want, (have) => checkSame(have, want));
    this.id = id;
    this.desc = ctx.store.describe(id);
    const dropped = ctx.droppedSlots();
    this.droppedSlot = dropped === undefined ? undefined : { ...dropped, at: dropped.at + id };
    for (const r of this.registers) r.registerMetric(this);
    ctx.local.set(id, this);
    // The overflow series exists before it is needed: a write refused because the store lock
    // could not be had must still land somewhere. It is shown once a label set was dropped.
    if (labelNames.length > 0 && ctx.store.overflowEntry(id) < 0) {
      const store = ctx.store;
      store.locked(() => {
        if (store.overflowEntry(id) >= 0) return;
        store.scratch[0] = OVERFLOW_KEY;
        const e = store.find(id, 1);
        store.setOverflowEntry(id, e >= 0 ? e : store.createLocked(id, 1, this.desc.parts, -1));
      });
    }
  }

  /** @internal Subclasses call it last: an unlabelled metric has its series from the start, as in prom-client. */
  protected init(): void {
    if (this.labelNames.length === 0) this.childFor(NO_LABELS);
  }

  /** @internal Make the child object of entry `e` (entry -1: the sink). */
  protected abstract makeChild(entry: number, values: readonly (string | undefined)[]): Child;

  /** @internal The child of `labels` (a trie walk; the slow path on a miss). */
  protected childFor(labels: Readonly<Record<string, string | number | undefined>> | undefined): Child {
    const names = this.labelNames;
    const n = names.length;
    if (n === 0) {
      const c = this.only;
      if (c !== undefined && c.ent[c.gi] === c.gen) return c;
      return this.slowChild(labels);
    }
    const l = labels ?? NO_LABELS;
    let node = this.root;
    for (let k = 0; k < n - 1; k++) {
      const next = node.get(l[names[k]!]) as Map<unknown, unknown> | undefined;
      if (next === undefined) return this.slowChild(labels);
      node = next;
    }
    const c = node.get(l[names[n - 1]!]) as Child | undefined;
    if (c !== undefined && c.ent[c.gi] === c.gen) return c;
    return this.slowChild(labels);
  }

  /** @internal `labels('a', 'b')`: the same trie walked with positional values (no labels object made). */
  protected childAt(args: readonly unknown[]): Child {
    const n = this.labelNames.length;
    if (n === 0 || args.length !== n || (typeof args[0] === 'object' && args[0] !== null)) return this.childFor(labelsOf(this.labelNames, args));
    let node = this.root;
    for (let k = 0; k < n - 1; k++) {
      const next = node.get(args[k]) as Map<unknown, unknown> | undefined;
      if (next === undefined) return this.childFor(labelsOf(this.labelNames, args));
      node = next;
    }
    const c = node.get(args[n - 1]) as Child | undefined;
    if (c !== undefined && c.ent[c.gi] === c.gen) return c;
    return this.childFor(labelsOf(this.labelNames, args));
  }

  private slowChild(labels: Readonly<Record<string, string | number | undefined>> | undefined): Child {
    const names = this.labelNames;
    const l = labels ?? NO_LABELS;
    for (const k in l) {
      if (!(names as readonly string[]).includes(k)) throw new Error(`Added label "${k}" is not included in initial labelset: [ ${names.map((x) => `'${x}'`).join(', ')} ]`);
    }
    const values = names.map((k) => (l[k] === undefined ? undefined : String(l[k])));
    const key = values.map((v) => (v === undefined ? '\u0001' : v)).join('\u0000');
    let c = this.byKey.get(key);
    if (c === undefined || !c.live) {
      const e = this.resolveEntry(values);
      if (e < 0) return this.overflow();
      c = this.makeChild(e, values);
      if (this.byKey.size >= 4 * this.maxSeries) this.forget();
      this.byKey.set(key, c);
    }
    if (names.length === 0) {
      this.only = c;
      return c;
    }
    let node = this.root;
    for (let k = 0; k < names.length - 1; k++) {
      const v = l[names[k]!];
      let next = node.get(v) as Map<unknown, unknown> | undefined;
      if (next === undefined) node.set(v, (next = new Map()));
      node = next;
    }
    node.set(l[names[names.length - 1]!], c);
    return c;
  }

  /** @internal The child a stale child's write goes to now. */
  childForValues(values: readonly (string | undefined)[]): Child {
    return values === OVERFLOW_VALUES ? this.overflow() : this.childFor(valuesToLabels(this.labelNames, values));
  }

  /** Forget every cached child of this thread (bounded caches under label churn). */
  private forget(): void {
    this.root.clear();
    this.byKey.clear();
    this.only = undefined;
  }

  /** The entry of these label values, created if need be; -1 when refused. */
  private resolveEntry(values: (string | undefined)[]): number {
    const store = this.ctx.store;
    const len = store.encodeKey(values);
    if (len < 0) return -1;
    const e = store.find(this.id, len);
    if (e >= 0) return e;
    return store.create(this.id, len, this.desc.parts, this.maxSeries, REQUEST_LOCK_MS);
  }

  /** The overflow series' child (created without the limit); counts the dropped label set. */
  private overflow(): Child {
    const d = this.droppedSlot;
    if (d !== undefined) storeOwn(d, d.at, d.f64[d.at]! + 1);
    const c = this.overflowChild;
    if (c !== undefined && c.live) return c;
    const store = this.ctx.store;
    let e = store.overflowEntry(this.id);
    if (e < 0 || store.state(e) !== S.Live) {
      store.scratch[0] = OVERFLOW_KEY;
      e = store.find(this.id, 1);
      if (e < 0) e = store.create(this.id, 1, this.desc.parts, -1, REQUEST_LOCK_MS);
      if (e >= 0) store.setOverflowEntry(this.id, e);
    }
    const child = this.makeChild(e, OVERFLOW_VALUES);
    if (e >= 0) this.overflowChild = child;
    return child;
  }

  /**
   * Remove the series of these labels (any thread's writes to it stop
   * counting; its memory is freed after the grace period).
   */
  remove(...args: (string | number | LabelValues<T>)[]): void {
    const labels = labelsOf(this.labelNames, args);
    const values = this.labelNames.map((k) => (labels[k] === undefined ? undefined : String(labels[k])));
    const store = this.ctx.store;
    store.locked(() => {
      const len = store.encodeKey(values);
      if (len < 0) return;
      const e = store.find(this.id, len);
      if (e >= 0) store.removeLocked(e);
      store.reclaimLocked();
    });
  }

  /** Every series removed (labelled metrics), or zeroed (the unlabelled one), as prom-client's `reset`. */
  reset(): void {
    const store = this.ctx.store;
    store.locked(() => {
      for (let e = 0; e < store.bump; e++) if (store.state(e) === S.Live && store.metricOf(e) === this.id) store.removeLocked(e);
    });
    this.forget();
    if (this.labelNames.length === 0 && this.type !== 'histogram') this.childFor(NO_LABELS);
  }

  /** Series of this metric alive now (in all threads). */
  get seriesCount(): number {
    return this.ctx.store.liveSeriesOf(this.id);
  }

  /** Label sets refused so far (sent to the overflow series), over all threads. */
  get droppedLabelSets(): number {
    return readDropped(this.ctx, this.id);
  }

  /** prom-client's `get()`: the metric as a registry reads it, aggregated over units now. */
  async get(): Promise<MetricObject> {
    if (this.collect) {
      const v = this.collect();
      if (v instanceof Promise) await v;
    }
    return collectShared(this.ctx, this.id, false);
  }

  /** @internal prom-client's registry calls this for the text format (histograms keep their series labels apart). */
  async getForPromString(): Promise<MetricObject> {
    if (this.collect) {
      const v = this.collect();
      if (v instanceof Promise) await v;
    }
    return collectShared(this.ctx, this.id, true);
  }
}

function checkSame(have: MetricDescription, want: MetricDescription): void {
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  const fields: (keyof MetricDescription)[] = ['type', 'labelNames', 'aggregator', 'parts', 'buckets', 'percentiles', 'maxAgeSeconds', 'ageBuckets', 'sketch'];
  for (const f of fields) {
    if (!same(have[f], want[f])) throw new Error(`metric ${want.name} exists (made by another thread) with ${f} ${JSON.stringify(have[f])}, not ${JSON.stringify(want[f])}`);
  }
}

function labelsOf<T extends string>(names: readonly T[], args: readonly unknown[]): Record<string, string | number> {
  if (typeof args[0] === 'object' && args[0] !== null) return args[0] as Record<string, string | number>;
  if (names.length !== args.length) {
    throw new Error(`Invalid number of arguments (${args.length}): "${args.join(', ')}" for label names (${names.length}): "${names.join(', ')}".`);
  }
  const out: Record<string, string | number> = {};
  for (let i = 0; i < names.length; i++) out[names[i]!] = args[i] as string | number;
  return out;
}

function isObject(x: unknown): x is object {
  return x !== null && typeof x === 'object';
}

// ---------------------------------------------------------------------------
// Counter

/** prom-client's checks of a counter increment (NaN passes, as there). */
function checkIncrement(value: number): void {
  if (value && !Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${String(value)}`);
  if (value < 0) throw new Error('It is not possible to decrease a counter');
}

function checkObserved(value: number): void {
  if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${String(value)}`);
}

function checkNumber(value: unknown, what: string): void {
  if (typeof value !== 'number') throw new TypeError(`${what} is not a valid number: ${String(value)}`);
}

class CounterChild extends Child {
  constructor(
    private readonly metric: Counter<string>,
    entry: number,
    values: readonly (string | undefined)[],
  ) {
    super(metric, entry, values);
  }

  inc(value?: number): void {
    if (value === undefined) value = 1;
    else checkIncrement(value);
    if (this.ent[this.gi] !== this.gen && this.entry >= 0) return this.metric.incValues(this.values, value);
    const s = this.slots[0]!;
    // Small integer increments add to the Int32 word: a plain 32-bit store is tear-free, no
    // atomics and no BigInt needed. Past SMALL_LIMIT the word is folded into the Float64.
    // While the Float64 holds an integer, this is exactly the sum prom-client's adds make.
    const f = s.f64[s.at]!;
    const j = 2 * s.at + 2;
    if ((value | 0) === value && value < SMALL_STEP && Math.floor(f) === f) {
      const n = s.i32[j]! + value;
      if (n < SMALL_LIMIT) s.i32[j] = n;
      else foldCounter(s, value);
      return;
    }
    // Anything else: fold the word first, so the additions happen in prom-client's order.
    if (s.i32[j] !== 0) foldCounter(s, value);
    else storeOwn(s, s.at, f + value);
  }
}

/** Increments taken by the Int32 word of a counter, and the value at which it is folded. */
const SMALL_STEP = 1 << 16;
const SMALL_LIMIT = 1 << 30;

/**
 * Move a counter's Int32 word into its Float64 and add `add` after it (every ~2^30 counts, or
 * before a fractional increment): inside a sequence count (odd while folding), so that a
 * reader never counts the word twice or misses it.
 */
function foldCounter(s: Slot, add: number): void {
  const j = 2 * s.at + 2;
  const seq = s.i32[j + 1]!;
  Atomics.store(s.i32, j + 1, seq + 1);
  // The Float64 and the word are integers here, so their sum is exact; then the increment.
  storeOwn(s, s.at, s.f64[s.at]! + s.i32[j]! + add);
  Atomics.store(s.i32, j, 0);
  Atomics.store(s.i32, j + 1, seq + 2);
}

/**
 * A histogram unit: Float64 folded counts [0, B], Float64 sum at B + 1, then Int32 small
 * counts [0, B] and the fold sequence word.
 */
function histogramBytes(buckets: number): number {
  const words = 2 * (buckets + 2) + buckets + 2;
  return 4 * (words + (words & 1));
}

function foldBucket(s: Slot, n: number, k: number, c: number): void {
  const base = 2 * (s.at + n + 2);
  const q = base + n + 1;
  const seq = s.i32[q]!;
  Atomics.store(s.i32, q, seq + 1);
  storeOwn(s, s.at + k, s.f64[s.at + k]! + c);
  Atomics.store(s.i32, base + k, 0);
  Atomics.store(s.i32, q, seq + 2);
}

/** Add one histogram unit's counts (B + 1) and sum into `out`, read consistently with its folds. */
function readHistogram(i64: BigInt64Array, i32: Int32Array, at: number, n: number, out: Float64Array, scratch: Float64Array): void {
  const base = 2 * (at + n + 2);
  const q = base + n + 1;
  for (;;) {
    const seq = Atomics.load(i32, q);
    if ((seq & 1) !== 0) continue;
    for (let k = 0; k <= n; k++) scratch[k] = loadF64(i64, at + k) + Atomics.load(i32, base + k);
    scratch[n + 1] = loadF64(i64, at + n + 1);
    if (Atomics.load(i32, q) === seq) break;
  }
  for (let k = 0; k < n + 2; k++) out[k]! += scratch[k]!;
}

/** One unit's counter value at Float64 index `at`: the Float64 plus the Int32 word, read consistently. */
function readCounter(i64: BigInt64Array, i32: Int32Array, at: number): number {
  const j = 2 * at + 2;
  for (;;) {
    const seq = Atomics.load(i32, j + 1);
    if ((seq & 1) !== 0) continue;
    const v = loadF64(i64, at) + Atomics.load(i32, j);
    if (Atomics.load(i32, j + 1) === seq) return v;
  }
}

/**
 * prom-client's `Counter` over percpu memory: `inc()` adds to this thread's
 * own unit (a plain 32-bit add for small integer steps, no lock, no shared
 * write) and a scrape sums the units. Same API and errors as prom-client's
 * (a negative `inc` throws); no exemplars.
 */
export class Counter<T extends string = string> extends SharedMetric<T> {
  readonly type = 'counter' as const;

  constructor(config: MetricConfiguration<T>) {
    super(config, 'counter', {}, [16]);
    this.init();
  }

  protected makeChild(entry: number, values: readonly (string | undefined)[]): Child {
    return new CounterChild(this as Counter<string>, entry, values);
  }

  /** `inc()`, `inc(v)`, `inc(labels)`, `inc(labels, v)`. */
  inc(labels?: LabelValues<T> | number, value?: number): void {
    const v = isObject(labels) ? value : labels;
    if (v !== undefined) checkIncrement(v);
    if (isObject(labels)) (this.childFor(labels) as CounterChild).inc(value);
    else (this.childFor(undefined) as CounterChild).inc(labels);
  }

  /** @internal A stale child's write, forwarded to the series its labels name now. */
  incValues(values: readonly (string | undefined)[], value: number): void {
    (this.childForValues(values) as CounterChild).inc(value);
  }

  labels(...values: (string | number)[] | [LabelValues<T>]): { inc(value?: number): void } {
    return this.childAt(values) as CounterChild;
  }
}

function valuesToLabels(names: readonly string[], values: readonly (string | undefined)[]): Record<string, string> {
  const out: Record<string, string> = {};
  names.forEach((n, k) => {
    if (values[k] !== undefined) out[n] = values[k]!;
  });
  return out;
}

// ---------------------------------------------------------------------------
// Gauge: per unit [value, written]

class GaugeChild extends Child {
  constructor(
    private readonly metric: Gauge<string>,
    entry: number,
    values: readonly (string | undefined)[],
  ) {
    super(metric, entry, values);
  }

  set(value: number): void {
    checkNumber(value, 'Value');
    if (this.ent[this.gi] !== this.gen && this.entry >= 0) return (this.metric.childForValues(this.values) as GaugeChild).set(value);
    const s = this.slots[0]!;
    storeOwn(s, s.at, value);
    if (s.f64[s.at + 1] !== 1) storeOwn(s, s.at + 1, 1);
  }

  inc(value = 1): void {
    checkNumber(value, 'Delta');
    if (this.ent[this.gi] !== this.gen && this.entry >= 0) return (this.metric.childForValues(this.values) as GaugeChild).inc(value);
    const s = this.slots[0]!;
    storeOwn(s, s.at, s.f64[s.at]! + value);
    if (s.f64[s.at + 1] !== 1) storeOwn(s, s.at + 1, 1);
  }

  dec(value = 1): void {
    this.inc(-value);
  }

  setToCurrentTime(): void {
    this.set(Date.now() / 1000);
  }

  startTimer(): (labels?: LabelValues) => number {
    const start = now();
    return (endLabels) => {
      const v = (now() - start) / 1000;
      if (endLabels === undefined) this.set(v);
      else this.metric.set({ ...valuesToLabels(this.metric.labelNames, this.values), ...endLabels } as LabelValues<string>, v);
      return v;
    };
  }
}

/**
 * prom-client's `Gauge` over percpu memory. `inc`/`dec` change this thread's
 * share; `set` sets this thread's share, and the exported value aggregates the
 * shares (`aggregator`, default `sum`) — for a "last value wins" gauge written
 * from several threads use `max`, `first` or `perWorker`.
 */
export class Gauge<T extends string = string> extends SharedMetric<T> {
  readonly type = 'gauge' as const;

  constructor(config: MetricConfiguration<T>) {
    super(config, 'gauge', {}, [16]);
    this.init();
  }

  protected makeChild(entry: number, values: readonly (string | undefined)[]): Child {
    return new GaugeChild(this as Gauge<string>, entry, values);
  }


  /** This thread's share: `set(v)` or `set(labels, v)`. */
  set(labels: LabelValues<T> | number, value?: number): void {
    checkNumber(isObject(labels) ? value : labels, 'Value');
    if (isObject(labels)) (this.childFor(labels) as GaugeChild).set(value as number);
    else (this.childFor(undefined) as GaugeChild).set(labels);
  }

  inc(labels?: LabelValues<T> | number, value?: number): void {
    checkNumber((isObject(labels) ? value : labels) ?? 1, 'Delta');
    if (isObject(labels)) (this.childFor(labels) as GaugeChild).inc(value ?? 1);
    else (this.childFor(undefined) as GaugeChild).inc(labels ?? 1);
  }

  dec(labels?: LabelValues<T> | number, value?: number): void {
    checkNumber((isObject(labels) ? value : labels) ?? 1, 'Delta');
    if (isObject(labels)) (this.childFor(labels) as GaugeChild).dec(value ?? 1);
    else (this.childFor(undefined) as GaugeChild).dec(labels ?? 1);
  }

  setToCurrentTime(labels?: LabelValues<T>): void {
    (this.childFor(labels) as GaugeChild).setToCurrentTime();
  }

  startTimer(labels?: LabelValues<T>): (labels?: LabelValues<T>) => number {
    return (this.childFor(labels) as GaugeChild).startTimer();
  }

  labels(...values: (string | number)[] | [LabelValues<T>]): { inc(v?: number): void; dec(v?: number): void; set(v: number): void; setToCurrentTime(): void; startTimer(): (labels?: LabelValues<T>) => number } {
    return this.childAt(values) as GaugeChild;
  }
}

// ---------------------------------------------------------------------------
// Histogram: per unit, B + 1 bucket counts (the last is +Inf) then the sum

const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

class HistogramChild extends Child {
  private readonly bounds: Float64Array;

  constructor(
    private readonly metric: Histogram<string>,
    entry: number,
    values: readonly (string | undefined)[],
  ) {
    super(metric, entry, values);
    this.bounds = metric.bounds;
  }

  observe(value: number): void {
    checkObserved(value);
    if (this.ent[this.gi] !== this.gen && this.entry >= 0) return (this.metric.childForValues(this.values) as HistogramChild).observe(value);
    const b = this.bounds;
    const n = b.length;
    let k = 0;
    while (k < n && value > b[k]!) k++;
    const s = this.slots[0]!;
    const at = s.at;
    // Counts in Int32 words (plain, tear-free), folded into the Float64 counts every ~2^30.
    const j = 2 * (at + n + 2) + k;
    const c = s.i32[j]! + 1;
    if (c < SMALL_LIMIT) s.i32[j] = c;
    else foldBucket(s, n, k, c);
    storeOwn(s, at + n + 1, s.f64[at + n + 1]! + value);
  }

  startTimer(): (labels?: LabelValues) => number {
    const start = now();
    return (endLabels) => {
      const v = (now() - start) / 1000;
      if (endLabels === undefined) this.observe(v);
      else this.metric.observe({ ...valuesToLabels(this.metric.labelNames, this.values), ...endLabels } as LabelValues<string>, v);
      return v;
    };
  }
}

/**
 * prom-client's `Histogram` over percpu memory: `observe` bumps this thread's
 * own bucket count and sum; a scrape adds the units' buckets. Differs from
 * prom-client in `zero(labels)`, which creates an absent series and leaves an
 * existing one as it is (prom-client resets it).
 */
export class Histogram<T extends string = string> extends SharedMetric<T> {
  readonly type = 'histogram' as const;
  readonly upperBounds: readonly number[];
  /** @internal */
  readonly bounds: Float64Array;

  constructor(config: HistogramConfiguration<T>) {
    const buckets = [...(config.buckets ?? DEFAULT_BUCKETS)];
    for (const l of config.labelNames ?? []) if (l === 'le') throw new Error('le is a reserved label keyword');
    for (let k = 0; k < buckets.length; k++) {
      if (typeof buckets[k] !== 'number' || Number.isNaN(buckets[k]) || (k > 0 && !(buckets[k]! > buckets[k - 1]!))) throw new Error(`histogram ${config.name}: buckets must be increasing numbers`);
    }
    if (histogramBytes(buckets.length) > 32768) throw new Error(`histogram ${config.name}: at most 2,728 buckets`);
    super(config, 'histogram', { buckets }, [histogramBytes(buckets.length)]);
    this.upperBounds = Object.freeze(buckets);
    this.bounds = Float64Array.from(buckets);
    this.init();
  }

  protected makeChild(entry: number, values: readonly (string | undefined)[]): Child {
    return new HistogramChild(this as Histogram<string>, entry, values);
  }


  /** `observe(v)` or `observe(labels, v)`. */
  observe(labels: LabelValues<T> | number, value?: number): void {
    checkObserved((isObject(labels) ? value : labels) as number);
    if (isObject(labels)) (this.childFor(labels) as HistogramChild).observe(value as number);
    else (this.childFor(undefined) as HistogramChild).observe(labels);
  }

  /** The series exists, with zero counts, from now on (it is not zeroed if it had counts: see RUNTIME.md). */
  zero(labels: LabelValues<T>): void {
    this.childFor(labels);
  }

  startTimer(labels?: LabelValues<T>): (labels?: LabelValues<T>) => number {
    return (this.childFor(labels) as HistogramChild).startTimer();
  }

  labels(...values: (string | number)[] | [LabelValues<T>]): { observe(v: number): void; startTimer(): (labels?: LabelValues<T>) => number } {
    return this.childAt(values) as HistogramChild;
  }
}

// ---------------------------------------------------------------------------
// Summary: per unit and part, [count, sum, reset epoch] then Int32 sketch counts

const DEFAULT_PERCENTILES = [0.01, 0.05, 0.5, 0.9, 0.95, 0.99, 0.999];
/** Float64 header words of a summary part: count, sum, reset epoch. */
const SUMMARY_HEADER = 3;

class SummaryChild extends Child {
  private readonly layout: SketchLayout;
  private readonly windowMs: number;
  private readonly nParts: number;

  constructor(
    private readonly metric: Summary<string>,
    entry: number,
    values: readonly (string | undefined)[],
  ) {
    super(metric, entry, values);
    this.layout = metric.layout;
    this.windowMs = metric.rotateMs;
    this.nParts = this.slots.length;
  }

  observe(value: number): void {
    checkObserved(value);
    if (this.ent[this.gi] !== this.gen && this.entry >= 0) return (this.metric.childForValues(this.values) as SummaryChild).observe(value);
    const slot = this.layout.slot(value);
    const s0 = this.slots[0]!;
    storeOwn(s0, s0.at, s0.f64[s0.at]! + 1);
    storeOwn(s0, s0.at + 1, s0.f64[s0.at + 1]! + value);
    const n = this.nParts;
    if (this.windowMs === 0) {
      const i = 2 * (s0.at + SUMMARY_HEADER) + slot;
      s0.i32[i] = s0.i32[i]! + 1;
      return;
    }
    const epoch = Math.floor(Date.now() / this.windowMs);
    for (let p = 0; p < n; p++) {
      const s = this.slots[p]!;
      // Part p was last reset at the latest epoch ≡ p (mod n) not after now.
      const resetAt = epoch - ((((epoch - p) % n) + n) % n);
      if (s.f64[s.at + 2] !== resetAt) {
        const from = 2 * (s.at + SUMMARY_HEADER);
        s.i32.fill(0, from, from + this.layout.slots);
        storeOwn(s, s.at + 2, resetAt);
      }
      const i = 2 * (s.at + SUMMARY_HEADER) + slot;
      s.i32[i] = s.i32[i]! + 1;
    }
  }

  startTimer(): (labels?: LabelValues) => number {
    const start = now();
    return (endLabels) => {
      const v = (now() - start) / 1000;
      if (endLabels === undefined) this.observe(v);
      else this.metric.observe({ ...valuesToLabels(this.metric.labelNames, this.values), ...endLabels } as LabelValues<string>, v);
      return v;
    };
  }
}

/**
 * prom-client's `Summary` over percpu memory. Each thread counts observations
 * into its own unit's sketch buckets (sketch.ts); a scrape adds the sketches
 * and reads the quantiles off the sum, each within a relative error α of the
 * exact quantile over all workers — prom-client's per-process t-digest states
 * no bound and cannot be merged across threads. Age windows
 * (`maxAgeSeconds`, `ageBuckets` ≤ 8) rotate as prom-client's.
 */
export class Summary<T extends string = string> extends SharedMetric<T> {
  readonly type = 'summary' as const;
  readonly percentiles: readonly number[];
  /** @internal */
  readonly layout: SketchLayout;
  /** @internal Milliseconds between rotations (0: no age window). */
  readonly rotateMs: number;

  constructor(config: SummaryConfiguration<T>) {
    for (const l of config.labelNames ?? []) if (l === 'quantile') throw new Error('quantile is a reserved label keyword');
    const percentiles = [...(config.percentiles ?? DEFAULT_PERCENTILES)];
    for (const q of percentiles) if (!(typeof q === 'number' && q >= 0 && q <= 1)) throw new Error(`summary ${config.name}: percentiles must be numbers in [0, 1]`);
    const layout = new SketchLayout(config.sketch);
    const windowed = Boolean(config.maxAgeSeconds && config.ageBuckets);
    const ageBuckets = windowed ? config.ageBuckets! : 1;
    if (!Number.isInteger(ageBuckets) || ageBuckets < 1 || ageBuckets > 8) throw new Error(`summary ${config.name}: ageBuckets must be an integer in 1..8 here`);
    const partBytes = 8 * SUMMARY_HEADER + 4 * layout.slots + ((4 * layout.slots) % 8);
    if (partBytes > 32768) throw new Error(`summary ${config.name}: the sketch needs ${partBytes} bytes per age bucket, more than 32 KiB: raise relativeAccuracy or narrow minValue..maxValue`);
    const sketch = { relativeAccuracy: layout.relativeAccuracy, minValue: layout.minValue, maxValue: layout.maxValue };
    const extra: Partial<MetricDescription> = { percentiles, sketch, ...(windowed ? { maxAgeSeconds: config.maxAgeSeconds!, ageBuckets } : {}) };
    super(config, 'summary', extra, new Array<number>(ageBuckets).fill(partBytes));
    this.percentiles = Object.freeze(percentiles);
    this.layout = layout;
    this.rotateMs = windowed ? (config.maxAgeSeconds! * 1000) / ageBuckets : 0;
    this.init();
  }

  protected makeChild(entry: number, values: readonly (string | undefined)[]): Child {
    return new SummaryChild(this as Summary<string>, entry, values);
  }


  observe(labels: LabelValues<T> | number, value?: number): void {
    checkObserved((isObject(labels) ? value : labels) as number);
    if (isObject(labels)) (this.childFor(labels) as SummaryChild).observe(value as number);
    else (this.childFor(undefined) as SummaryChild).observe(labels);
  }

  startTimer(labels?: LabelValues<T>): (labels?: LabelValues<T>) => number {
    return (this.childFor(labels) as SummaryChild).startTimer();
  }

  labels(...values: (string | number)[] | [LabelValues<T>]): { observe(v: number): void; startTimer(): (labels?: LabelValues<T>) => number } {
    return this.childAt(values) as SummaryChild;
  }
}

// ---------------------------------------------------------------------------
// Dropped label sets: one Float64 per metric per unit (store.ts allocates them)

function readDropped(ctx: MetricsContext, id: number): number {
  const store = ctx.store;
  let s = 0;
  for (let u = 0; u < store.nrUnits; u++) s += store.percpu.perCpu(u).getFloat64(store.h.droppedPtr, 8 * id);
  return s;
}

// ---------------------------------------------------------------------------
// Scrape: read every unit of every live series, aggregate

/** Per thread: decoded labels of entries, by entry and generation. */
const labelCache = new WeakMap<SeriesStore, Map<number, { gen: number; labels: LabelMap }>>();

function seriesOf(ctx: MetricsContext, id: number): SeriesRead[] {
  const store = ctx.store;
  const d = store.describe(id);
  let cache = labelCache.get(store);
  if (cache === undefined) labelCache.set(store, (cache = new Map()));
  const found: { seq: number; entry: number }[] = [];
  const bump = store.bump;
  const hidden = readDropped(ctx, id) === 0 ? store.overflowEntry(id) : -1;
  for (let e = 0; e < bump; e++) if (store.state(e) === S.Live && store.metricOf(e) === id && e !== hidden) found.push({ seq: store.seqOf(e), entry: e });
  found.sort((a, b) => a.seq - b.seq);
  const out: SeriesRead[] = [];
  for (const { entry } of found) {
    const gen = store.gen(entry);
    let c = cache.get(entry);
    if (c === undefined || c.gen !== gen) {
      let labels: LabelMap;
      if (store.keyLen(entry) === 1 && store.keys[entry * store.h.maxLabelBytes] === OVERFLOW_KEY) labels = { [OVERFLOW_LABEL]: 'true' };
      else {
        labels = {};
        const values = store.decodeKey(entry, d.labelNames.length);
        d.labelNames.forEach((n, k) => {
          if (values[k] !== undefined) labels[n] = values[k]!;
        });
      }
      c = { gen, labels };
      cache.set(entry, c);
    }
    out.push({ entry, labels: c.labels });
  }
  return out;
}

/** Units whose values count: every unit (values of exited workers stay). */
function unitsOf(store: SeriesStore): number {
  return store.nrUnits;
}

/**
 * Float64 index of unit 0's copy of part `part` of entry `e`; unit u's copy is
 * `unitStride(store)` further per unit (the units of one allocation are unitSize bytes apart).
 * Resolving the last unit's last value first makes this thread's views cover every copy.
 */
function unitBase(store: SeriesStore, e: number, part: number): number {
  const m = store.percpu.memory;
  const ptr = store.ptr(e, part);
  m.address(ptr, store.nrUnits - 1, store.describe(store.metricOf(e)).parts[part]! - 8, 8);
  return m.address(ptr, 0, 0, 8) >>> 3;
}

function unitStride(store: SeriesStore): number {
  return store.percpu.unitSize >>> 3;
}

/** Sum over units of Float64 `k` of part `part` of entry `e`. */
function sumF64(store: SeriesStore, e: number, part: number, k: number): number {
  const base = unitBase(store, e, part) + k;
  const stride = unitStride(store);
  const i64 = store.percpu.memory.i64;
  let s = 0;
  for (let u = 0, n = unitsOf(store); u < n; u++) s += loadF64(i64, base + u * stride);
  return s;
}

function aggregateGauge(store: SeriesStore, e: number, aggregator: Aggregator): number | undefined {
  const m = store.percpu.memory;
  const ptr = store.ptr(e, 0);
  let sum = 0;
  let n = 0;
  let min = Infinity;
  let max = -Infinity;
  let first: number | undefined;
  for (let u = 0, units = unitsOf(store); u < units; u++) {
    const at = m.address(ptr, u, 0, 8) >>> 3;
    const v = loadF64(m.i64, at);
    if (loadF64(m.i64, at + 1) !== 1) continue;
    sum += v;
    n++;
    if (v < min) min = v;
    if (v > max) max = v;
    first ??= v;
  }
  switch (aggregator) {
    case 'sum':
      return sum;
    case 'first':
      return first ?? 0;
    case 'min':
      return n === 0 ? 0 : min;
    case 'max':
      return n === 0 ? 0 : max;
    case 'average':
      return n === 0 ? 0 : sum / n;
    default:
      return undefined;
  }
}

/** The metric `id` as prom-client's `get()` returns it (`forText`: histogram series labels as shared labels). */
export function collectShared(ctx: MetricsContext, id: number, forText: boolean): MetricObject {
  const store = ctx.store;
  const d = store.describe(id);
  const values: MetricValue[] = [];
  const series = seriesOf(ctx, id);
  const aggregator = d.aggregator as Aggregator;
  const m = store.percpu.memory;
  const workerLabel = d.workerLabel;
  switch (d.type) {
    case 'counter':
      if (aggregator === 'perWorker') perWorker(store, series, workerLabel, 0, values);
      else for (const s of series) values.push({ value: sumCounter(store, s.entry), labels: s.labels });
      break;
    case 'gauge':
      if (aggregator === 'perWorker') perWorker(store, series, workerLabel, 1, values);
      else if (aggregator !== 'omit') for (const s of series) values.push({ value: aggregateGauge(store, s.entry, aggregator)!, labels: s.labels });
      break;
    case 'histogram': {
      const bounds = d.buckets!;
      const n = bounds.length;
      const counts = new Float64Array(n + 2);
      const scratch = new Float64Array(n + 2);
      for (const s of series) {
        counts.fill(0);
        const base = unitBase(store, s.entry, 0);
        const stride = unitStride(store);
        for (let u = 0, units = unitsOf(store); u < units; u++) readHistogram(m.i64, m.i32, base + u * stride, n, counts, scratch);
        let acc = 0;
        let total = 0;
        for (let k = 0; k <= n; k++) total += counts[k]!;
        const name = `${d.name}_bucket`;
        const shared = (own: LabelMap): { labels: LabelMap; sharedLabels?: LabelMap } => (forText ? { labels: own, sharedLabels: s.labels } : { labels: { ...own, ...s.labels } });
        for (let k = 0; k < n; k++) {
          acc += counts[k]!;
          values.push({ value: acc, metricName: name, ...shared({ le: bounds[k]! }) });
        }
        values.push({ value: total, metricName: name, ...shared({ le: '+Inf' }) });
        values.push({ value: counts[n + 1]!, metricName: `${d.name}_sum`, ...shared({}) });
        values.push({ value: total, metricName: `${d.name}_count`, ...shared({}) });
      }
      break;
    }
    case 'summary':
      collectSummary(store, d, series, values);
      break;
  }
  return { name: d.name, help: d.help, type: d.type, values, aggregator: aggregator === 'perWorker' ? 'sum' : aggregator };
}

function sumCounter(store: SeriesStore, e: number): number {
  const base = unitBase(store, e, 0);
  const stride = unitStride(store);
  const m = store.percpu.memory;
  let s = 0;
  for (let u = 0, n = unitsOf(store); u < n; u++) s += readCounter(m.i64, m.i32, base + u * stride);
  return s;
}

function perWorker(store: SeriesStore, series: SeriesRead[], label: string, flagOffset: number, out: MetricValue[]): void {
  const m = store.percpu.memory;
  for (const s of series) {
    const ptr = store.ptr(s.entry, 0);
    for (let u = 0, units = unitsOf(store); u < units; u++) {
      const at = m.address(ptr, u, 0, 8) >>> 3;
      const v = flagOffset === 1 ? loadF64(m.i64, at) : readCounter(m.i64, m.i32, at);
      // Gauges: only units that wrote; counters: units with a count.
      if (flagOffset === 1 ? loadF64(m.i64, at + 1) !== 1 : v === 0) continue;
      out.push({ value: v, labels: { ...s.labels, [label]: String(u) } });
    }
  }
}

function collectSummary(store: SeriesStore, d: MetricDescription, series: SeriesRead[], out: MetricValue[]): void {
  const layout = new SketchLayout(d.sketch);
  const qs = d.percentiles!;
  const parts = d.parts.length;
  const windowed = d.maxAgeSeconds !== undefined;
  const rotateMs = windowed ? (d.maxAgeSeconds! * 1000) / parts : 0;
  const counts = new Float64Array(layout.slots);
  const q = new Array<number>(qs.length);
  const m = store.percpu.memory;
  for (const s of series) {
    counts.fill(0);
    let total = 0;
    let part = 0;
    let resetAt = 0;
    if (windowed) {
      const epoch = Math.floor(Date.now() / rotateMs);
      // The part that has gathered longest: reset at epoch − parts + 1.
      part = (epoch + 1) % parts;
      resetAt = epoch + 1 - parts;
    }
    const ptr = store.ptr(s.entry, part);
    for (let u = 0, units = unitsOf(store); u < units; u++) {
      const at = m.address(ptr, u, 0, 8) >>> 3;
      if (windowed && loadF64(m.i64, at + 2) !== resetAt) continue;
      const base = 2 * (at + SUMMARY_HEADER);
      for (let k = 0; k < layout.slots; k++) {
        const c = Atomics.load(m.i32, base + k);
        if (c !== 0) {
          counts[k]! += c;
          total += c;
        }
      }
    }
    layout.quantiles(counts, total, qs, q);
    for (let j = 0; j < qs.length; j++) out.push({ labels: { quantile: qs[j]!, ...s.labels }, value: q[j]! });
    out.push({ metricName: `${d.name}_sum`, labels: s.labels, value: sumF64(store, s.entry, 0, 1) });
    out.push({ metricName: `${d.name}_count`, labels: s.labels, value: sumF64(store, s.entry, 0, 0) });
  }
}

// ---------------------------------------------------------------------------
// Registry

/** Anything a registry can print: prom-client's metrics, ours, or a collector with `get()`. */
export interface Collectable {
  name: string;
  type?: string;
  get(): Promise<MetricObject> | MetricObject;
  getForPromString?(): Promise<MetricObject> | MetricObject;
  reset?(): void;
}

/** A metric another thread created, as this thread's registry sees it. */
class RemoteMetric implements Collectable {
  readonly name: string;
  readonly type: string;
  constructor(
    private readonly ctx: MetricsContext,
    private readonly id: number,
  ) {
    const d = ctx.store.describe(id);
    this.name = d.name;
    this.type = d.type;
  }
  get(): MetricObject {
    return collectShared(this.ctx, this.id, false);
  }
  getForPromString(): MetricObject {
    return collectShared(this.ctx, this.id, true);
  }
}

/** The two exposition formats a `Registry` prints: Prometheus text 0.0.4 or OpenMetrics 1.0.0, as prom-client's. */
export type RegistryContentType = typeof PROMETHEUS_CONTENT_TYPE | typeof OPENMETRICS_CONTENT_TYPE;

/**
 * prom-client's `Registry`. The global one (`register`) shows every metric of
 * the shared store that was created for it in any thread, in creation order,
 * then collectors registered in this thread only; another `Registry` shows
 * what was registered with it in this thread.
 */
export class Registry {
  static readonly PROMETHEUS_CONTENT_TYPE = PROMETHEUS_CONTENT_TYPE;
  static readonly OPENMETRICS_CONTENT_TYPE = OPENMETRICS_CONTENT_TYPE;
  private metricsByName = new Map<string, Collectable>();
  private defaultLabels: LabelMap = {};
  private type: RegistryContentType;
  /** @internal */
  shared = false;

  constructor(contentType: RegistryContentType = PROMETHEUS_CONTENT_TYPE) {
    if (contentType !== PROMETHEUS_CONTENT_TYPE && contentType !== OPENMETRICS_CONTENT_TYPE) throw new TypeError(`Content type ${String(contentType)} is unsupported`);
    this.type = contentType;
  }

  get contentType(): RegistryContentType {
    return this.type;
  }

  setContentType(t: RegistryContentType): void {
    if (t !== PROMETHEUS_CONTENT_TYPE && t !== OPENMETRICS_CONTENT_TYPE) throw new Error(`Content type ${String(t)} is unsupported`);
    this.type = t;
  }

  registerMetric(metric: Collectable): void {
    const have = this.metricsByName.get(metric.name);
    if (have !== undefined && have !== metric) throw new Error(`A metric with the name ${metric.name} has already been registered.`);
    this.metricsByName.set(metric.name, metric);
  }

  /** Metrics in the order they print. */
  getMetricsAsArray(): Collectable[] {
    if (!this.shared || current === undefined) return [...this.metricsByName.values()];
    const ctx = current;
    const out: Collectable[] = [];
    const seen = new Set<string>();
    for (let id = 0; id < ctx.store.metricCount; id++) {
      const d = ctx.store.describe(id);
      if (!d.global) continue;
      const local = this.metricsByName.get(d.name);
      // A metric of that name that this thread registered itself wins (it may have a `collect`).
      if (local !== undefined && !(local instanceof SharedMetric && local.id !== id)) out.push(local);
      else if (!this.removed.has(d.name)) out.push(this.remote(ctx, id));
      seen.add(d.name);
    }
    for (const [name, m] of this.metricsByName) if (!seen.has(name)) out.push(m);
    return out;
  }

  private remotes = new Map<number, RemoteMetric>();
  private removed = new Set<string>();

  private remote(ctx: MetricsContext, id: number): RemoteMetric {
    let r = this.remotes.get(id);
    if (r === undefined) this.remotes.set(id, (r = new RemoteMetric(ctx, id)));
    return r;
  }

  async getMetricsAsString(metric: Collectable): Promise<string> {
    const om = this.type === OPENMETRICS_CONTENT_TYPE;
    const data = typeof metric.getForPromString === 'function' ? await metric.getForPromString() : await metric.get();
    const named = om && data.type === 'counter' ? { ...data, name: standardizeCounterName(data.name) } : data;
    return formatMetric(named, Object.keys(this.defaultLabels).length > 0 ? this.defaultLabels : null, om);
  }

  /** The exposition text, read now from every unit; never waits on another thread. */
  async metrics(): Promise<string> {
    current?.store.reclaim();
    const texts = await Promise.all(this.getMetricsAsArray().map((m) => this.getMetricsAsString(m)));
    return joinMetrics(texts, this.type === OPENMETRICS_CONTENT_TYPE);
  }

  async getMetricsAsJSON(): Promise<MetricObject[]> {
    const names = Object.keys(this.defaultLabels);
    const out = await Promise.all(this.getMetricsAsArray().map((m) => m.get()));
    if (names.length > 0) {
      for (const item of out) {
        for (const v of item.values ?? []) {
          v.labels = { ...v.labels };
          for (const n of names) v.labels[n] = v.labels[n] || this.defaultLabels[n]!;
        }
      }
    }
    return out;
  }

  getSingleMetric(name: string): Collectable | undefined {
    return this.getMetricsAsArray().find((m) => m.name === name);
  }

  getSingleMetricAsString(name: string): Promise<string> {
    const m = this.getSingleMetric(name);
    if (m === undefined) throw new Error(`no metric named ${name}`);
    return this.getMetricsAsString(m);
  }

  /** Stop showing a metric in this thread's registry (its shared series stay for the other threads). */
  removeSingleMetric(name: string): void {
    this.metricsByName.delete(name);
    if (this.shared) this.removed.add(name);
  }

  clear(): void {
    this.metricsByName.clear();
    this.remotes.clear();
    this.removed.clear();
    this.defaultLabels = {};
  }

  setDefaultLabels(labels: LabelMap): void {
    this.defaultLabels = labels;
  }

  resetMetrics(): void {
    for (const m of this.metricsByName.values()) m.reset?.();
  }

  static merge(registers: Registry[]): Registry {
    const type = registers[0]!.contentType;
    for (const r of registers) if (r.contentType !== type) throw new Error('Registers can only be merged if they have the same content type');
    const merged = new Registry(type);
    for (const r of registers) for (const m of r.getMetricsAsArray()) merged.registerMetric(m);
    return merged;
  }
}

/** prom-client's global registry (`register`). */
export const globalRegistry = new Registry();
globalRegistry.shared = true;
/**
 * prom-client's global registry: every metric created with the default
 * `registers` in any thread of the shared store, so one scrape from any
 * thread shows every worker's values.
 */
export const register = globalRegistry;
/** The Prometheus text format's content type, as prom-client exports it (the global registry's default). */
export const contentType = PROMETHEUS_CONTENT_TYPE;
/** Content type of the Prometheus text format 0.0.4 (`Registry.PROMETHEUS_CONTENT_TYPE`). */
export const prometheusContentType = PROMETHEUS_CONTENT_TYPE;
/** Content type of OpenMetrics 1.0.0 (`Registry.OPENMETRICS_CONTENT_TYPE`), for `setContentType`. */
export const openMetricsContentType = OPENMETRICS_CONTENT_TYPE;

/** prom-client's bucket generators. */
export function linearBuckets(start: number, width: number, count: number): number[] {
  if (count < 1) throw new Error('Linear buckets needs a positive count');
  return Array.from({ length: count }, (_, i) => start + i * width);
}

/** prom-client's `exponentialBuckets`: `count` upper bounds `start`, `start × factor`, …; the same errors for bad arguments. */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  if (start <= 0) throw new Error('Exponential buckets needs a positive start');
  if (count < 1) throw new Error('Exponential buckets needs a positive count');
  if (factor <= 1) throw new Error('Exponential buckets needs a factor greater than 1');
  return Array.from({ length: count }, (_, i) => start * factor ** i);
}
