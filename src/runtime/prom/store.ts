// SPDX-License-Identifier: GPL-2.0-only
/**
 * The shared series store behind the prom-client-compatible metrics
 * (`percpu/prom-client`): a directory of metrics by name and a directory of
 * series by (metric, label values), both in `SharedArrayBuffer`s that every
 * thread attached to one `MetricsContext` shares, over one `SharedPercpu`
 * that holds the values (one unit per thread that writes).
 *
 * A series is created at run time by whichever thread first writes a label
 * combination: it takes the store's lock, allocates the series' values from
 * the percpu allocator (one allocation per *part*; a summary with an age
 * window has one part per age bucket), writes the key and publishes the entry
 * in the index with `Atomics.store`. Lookups take no lock (the index is the
 * PercpuHashMap's scheme: open addressing, linear probing, backward-shift
 * deletion inside a sequence lock), so every other thread and the scraper see
 * the new series as soon as it is published, without a message.
 *
 * Removal unpublishes the entry and bumps its generation at once (threads
 * holding a bound child notice the generation on their next write and look
 * the series up again), but frees its percpu memory only after a grace
 * period (`removeGraceMs`): a writer that read the old generation an instant
 * before the removal still stores into memory nobody else owns. Reclaiming
 * runs on later removals, creations and scrapes — never on the hot path.
 *
 * Unit leases: a thread that attaches takes a free unit (a word per unit
 * holding its threadId + 1); the main thread gives the unit back when the
 * worker exits (`releaseThread`), zeroing the worker's gauge shares, so that
 * a gauge summed over workers forgets a terminated worker while counters,
 * histograms and summaries keep what it counted.
 *
 * Invariants: an index slot names a live entry; a live entry's parts are
 * live percpu allocations; entries are reused only after their grace period;
 * every write the store makes happens under its lock, except lease words
 * (compareExchange) and the dropped-series counts (each unit its own).
 * The lock is taken with a time limit in request paths: when it cannot be
 * had (a thread holding it was terminated) the caller falls back to the
 * metric's overflow series instead of hanging.
 *
 * Browser-safe: no Node imports.
 */
import { NULL_PTR } from '../../engine/pointer.js';
import { SharedPercpu, type SharedPercpuHandle } from '../shared-percpu.js';
import { canBlock } from '../futex.js';
import { RuntimeArgumentError } from '../errors.js';

/** Structured-clonable: post it to a worker (`workerData.percpuMetrics`) and attach there. */
export interface MetricsContextHandle {
  percpu: SharedPercpuHandle;
  ctl: SharedArrayBuffer;
  index: SharedArrayBuffer;
  entries: SharedArrayBuffer;
  keys: SharedArrayBuffer;
  dir: SharedArrayBuffer;
  desc: SharedArrayBuffer;
  maxSeries: number;
  maxMetrics: number;
  maxLabelBytes: number;
  removeGraceMs: number;
  /** Percpu pointer of the dropped-label-set counts: one Float64 per metric id, per unit. */
  droppedPtr: number;
}

/**
 * Sizes of the shared metrics store (`setupMetrics`, or the store made on
 * first use): how many threads write, how many series and metrics it holds,
 * and the percpu allocator under it. prom-client has no such limits; here the
 * store is shared memory reserved up front, and what does not fit goes to a
 * metric's `overflow` series instead of throwing.
 */
export interface MetricsContextOptions {
  /** Threads that will write besides the creating one (workers). Default 16. */
  workers?: number;
  /** Units kept free for replacement workers (a pool restarting a terminated worker). Default `workers`. */
  spareUnits?: number;
  /** Series in all metrics together. Default 16,384. */
  maxSeries?: number;
  /** Metrics in the directory. Default 512. */
  maxMetrics?: number;
  /** Bytes of one series' label values (UTF-8, plus one byte per label). Longer label sets go to the overflow series. Default 256. */
  maxLabelBytes?: number;
  /** How long a removed series' memory waits before it is freed. Default 5,000 ms. */
  removeGraceMs?: number;
  /** Unit size of the underlying allocator (bytes). Default 256 KiB. */
  unitSize?: number;
  /** Address space reserved for values. Default 256 MiB (or enough for two chunks). */
  maxBytes?: number;
}

/** Control words. */
const enum C {
  Lock = 0,
  Seq = 1,
  Live = 2,
  FreeHead = 3,
  Bump = 4,
  Metrics = 5,
  NextSeq = 6,
  LimboHead = 7,
  DescBump = 8,
  Leases = 16,
}

/** Int32 fields of an entry. */
const enum E {
  Metric = 0,
  Gen = 1,
  State = 2,
  KeyLen = 3,
  Seq = 4,
  Next = 5,
  Parts = 6,
  Words = 8,
}
/** Entry states. */
export const enum S {
  Free = 0,
  Live = 1,
  Limbo = 2,
}

/** Int32 fields of a directory slot. */
const enum D {
  State = 0,
  DescOff = 1,
  DescLen = 2,
  Overflow = 3,
  /** Live series of the metric. */
  Count = 4,
  Words = 8,
}

/** Percpu allocations a series may have. */
export const MAX_PARTS = 8;
const DESC_BYTES = 1 << 20;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function hashBytes(b: Uint8Array, n: number, seed: number): number {
  let h = 0x811c9dc5 ^ Math.imul(seed + 1, 0x9e3779b1);
  for (let i = 0; i < n; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** What a metric's directory slot says about it (JSON in the descriptor arena). */
export interface MetricDescription {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary';
  labelNames: string[];
  aggregator: string;
  workerLabel: string;
  /** Bytes of each part of a series. */
  parts: number[];
  maxSeries: number;
  /** Whether the global registry shows it. */
  global: boolean;
  buckets?: number[];
  percentiles?: number[];
  maxAgeSeconds?: number;
  ageBuckets?: number;
  sketch?: { relativeAccuracy: number; minValue: number; maxValue: number };
}

/** The marker of an absent label in an encoded key (UTF-8 never has 0xFE or 0xFF). */
const ABSENT = 0xfe;
/** The key of a metric's overflow series: one byte no label value can start with. */
export const OVERFLOW_KEY = 0xfd;
const END = 0xff;

/** One thread's view of a context's store. */
export class SeriesStore {
  readonly percpu: SharedPercpu;
  readonly h: MetricsContextHandle;
  readonly ctl: Int32Array;
  private readonly slotEntry: Int32Array;
  private readonly slotHash: Int32Array;
  readonly ent: Int32Array;
  /** Float64 per entry: when it was removed (ms, `Date.now()`). */
  private readonly removedAt: Float64Array;
  /** MAX_PARTS Float64 per entry: percpu pointers of the parts. */
  readonly ptrs: Float64Array;
  readonly keys: Uint8Array;
  private readonly dir: Int32Array;
  private readonly desc: Uint8Array;
  private readonly mask: number;
  /** Scratch of the key being looked up. */
  readonly scratch: Uint8Array;
  private probed = -1;

  static createHandle(o: MetricsContextOptions): MetricsContextHandle {
    const workers = o.workers ?? 16;
    const spare = o.spareUnits ?? workers;
    const maxSeries = o.maxSeries ?? 16384;
    const maxMetrics = o.maxMetrics ?? 512;
    const maxLabelBytes = o.maxLabelBytes ?? 256;
    const removeGraceMs = o.removeGraceMs ?? 5000;
    const int = (v: number, lo: number, hi: number, what: string) => {
      if (!Number.isInteger(v) || v < lo || v > hi) throw new RuntimeArgumentError('EINVAL', `${what} must be an integer in ${lo}..${hi}, got ${v}`);
    };
    int(workers, 0, 4000, 'workers');
    int(spare, 0, 4000, 'spareUnits');
    int(maxSeries, 1, 1 << 22, 'maxSeries');
    int(maxMetrics, 1, 1 << 16, 'maxMetrics');
    int(maxLabelBytes, 1, 1 << 16, 'maxLabelBytes');
    if (!(removeGraceMs >= 0 && Number.isFinite(removeGraceMs))) throw new RuntimeArgumentError('EINVAL', `removeGraceMs must be a finite number >= 0, got ${removeGraceMs}`);
    const nrUnits = 1 + workers + spare;
    const unitSize = o.unitSize ?? 256 << 10;
    const maxBytes = o.maxBytes ?? Math.max(256 << 20, 2 * nrUnits * unitSize);
    // 'handover': a released unit keeps what its thread counted; the store
    // itself zeroes the gauge shares (releaseThread), and the next thread on
    // the unit counts on from there, so no count is lost when a unit changes hands.
    const percpu = SharedPercpu.create({ nrUnits, unitSize, maxBytes, onRelease: 'handover' });
    let capacity = 8;
    while (capacity < 2 * maxSeries) capacity *= 2;
    const droppedPtr = percpu.allocOrThrow(8 * maxMetrics, 8);
    return {
      droppedPtr,
      percpu: percpu.handle(),
      ctl: new SharedArrayBuffer(4 * (C.Leases + nrUnits)),
      index: new SharedArrayBuffer(8 * capacity),
      entries: new SharedArrayBuffer(maxSeries * (4 * E.Words + 8 + 8 * MAX_PARTS)),
      keys: new SharedArrayBuffer(maxSeries * maxLabelBytes),
      dir: new SharedArrayBuffer(4 * D.Words * maxMetrics),
      desc: new SharedArrayBuffer(DESC_BYTES),
      maxSeries,
      maxMetrics,
      maxLabelBytes,
      removeGraceMs,
    };
  }

  constructor(
    h: MetricsContextHandle,
    unit: number,
    /** This thread's id (the lock word names its holder). */
    readonly threadId = 0,
  ) {
    this.h = h;
    this.percpu = SharedPercpu.attach(h.percpu, unit);
    this.ctl = new Int32Array(h.ctl);
    const capacity = h.index.byteLength / 8;
    this.mask = capacity - 1;
    this.slotEntry = new Int32Array(h.index, 0, capacity);
    this.slotHash = new Int32Array(h.index, 4 * capacity, capacity);
    const n = h.maxSeries;
    this.ent = new Int32Array(h.entries, 0, n * E.Words);
    this.removedAt = new Float64Array(h.entries, 4 * E.Words * n, n);
    this.ptrs = new Float64Array(h.entries, 4 * E.Words * n + 8 * n, n * MAX_PARTS);
    this.keys = new Uint8Array(h.keys);
    this.dir = new Int32Array(h.dir);
    this.desc = new Uint8Array(h.desc);
    this.scratch = new Uint8Array(h.maxLabelBytes + 1);
  }

  get nrUnits(): number {
    return this.percpu.nrUnits;
  }

  // -------------------------------------------------------------------------
  // The lock

  /**
   * Take the store lock within `ms` milliseconds; false if it could not be
   * had. The lock word holds the holder's threadId + 1, so that the unit
   * release of a terminated thread can free a lock that thread died holding.
   */
  lockFor(ms: number): boolean {
    const c = this.ctl;
    const me = this.threadId + 1;
    if (Atomics.compareExchange(c, C.Lock, 0, me) === 0) return true;
    const deadline = Date.now() + ms;
    const block = canBlock();
    for (;;) {
      for (let n = 0; n < 100; n++) if (Atomics.compareExchange(c, C.Lock, 0, me) === 0) return true;
      if (Date.now() >= deadline) return false;
      const held = Atomics.load(c, C.Lock);
      if (block && held !== 0) Atomics.wait(c, C.Lock, held, 1);
    }
  }

  unlock(): void {
    Atomics.store(this.ctl, C.Lock, 0);
    Atomics.notify(this.ctl, C.Lock, 1);
  }

  /**
   * Free the lock if thread `threadId` holds it (it was terminated inside a
   * series creation or removal). The entry it was making may be lost (one
   * entry of `maxSeries`); index and entries stay consistent, because an
   * entry is published last, in one store.
   */
  breakLockOf(threadId: number): boolean {
    if (Atomics.compareExchange(this.ctl, C.Lock, threadId + 1, 0) !== threadId + 1) return false;
    Atomics.notify(this.ctl, C.Lock, 1);
    return true;
  }

  /** Run `fn` under the lock (taken without a time limit that matters: admin paths). */
  locked<T>(fn: () => T): T {
    if (!this.lockFor(60_000)) throw new RuntimeArgumentError('EINVAL', 'percpu metrics: the store lock was held for a minute (was a thread terminated while holding it?)');
    try {
      return fn();
    } finally {
      this.unlock();
    }
  }

  // -------------------------------------------------------------------------
  // Unit leases

  /** Take a free unit for thread `threadId`; -1 if none is free. */
  static lease(ctl: Int32Array, nrUnits: number, threadId: number, from = 1): number {
    for (let u = from; u < nrUnits; u++) if (Atomics.compareExchange(ctl, C.Leases + u, 0, threadId + 1) === 0) return u;
    return -1;
  }

  /** Claim unit `u` outright (the creating thread's unit 0). */
  static claim(ctl: Int32Array, u: number, threadId: number): void {
    Atomics.store(ctl, C.Leases + u, threadId + 1);
  }

  /** The unit thread `threadId` holds, or -1. */
  unitOf(threadId: number): number {
    for (let u = 0; u < this.nrUnits; u++) if (Atomics.load(this.ctl, C.Leases + u) === threadId + 1) return u;
    return -1;
  }

  /** Give a unit back: zero its gauge shares (under the lock), then free the lease. */
  releaseUnit(u: number, zeroGauges: (entry: number, metric: number) => void): void {
    if (u < 0 || u >= this.nrUnits) return;
    this.locked(() => {
      const bump = this.ctl[C.Bump]!;
      for (let e = 0; e < bump; e++) if (this.ent[e * E.Words + E.State] === S.Live) zeroGauges(e, this.ent[e * E.Words + E.Metric]!);
    });
    Atomics.store(this.ctl, C.Leases + u, 0);
  }

  leaseHolder(u: number): number {
    return Atomics.load(this.ctl, C.Leases + u) - 1;
  }

  // -------------------------------------------------------------------------
  // Metric directory

  /** Find a metric by name: its id, or -1. */
  findMetric(name: string): number {
    const n = Atomics.load(this.ctl, C.Metrics);
    for (let id = 0; id < n; id++) if (this.describe(id).name === name) return id;
    return -1;
  }

  private descCache: (MetricDescription | undefined)[] = [];

  describe(id: number): MetricDescription {
    let d = this.descCache[id];
    if (d === undefined) {
      const off = Atomics.load(this.dir, id * D.Words + D.DescOff);
      const len = Atomics.load(this.dir, id * D.Words + D.DescLen);
      d = JSON.parse(decoder.decode(this.desc.slice(off, off + len))) as MetricDescription;
      this.descCache[id] = d;
    }
    return d;
  }

  get metricCount(): number {
    return Atomics.load(this.ctl, C.Metrics);
  }

  /**
   * The id of the metric named `d.name`, creating it if absent. `check`
   * compares an existing description with the wanted one (throws on a
   * mismatch). Returns [id, created].
   */
  defineMetric(d: MetricDescription, check: (have: MetricDescription) => void): [number, boolean] {
    return this.locked(() => {
      const have = this.findMetric(d.name);
      if (have >= 0) {
        check(this.describe(have));
        return [have, false] as [number, boolean];
      }
      const id = this.ctl[C.Metrics]!;
      if (id >= this.h.maxMetrics) throw new RuntimeArgumentError('EINVAL_SIZE', `percpu metrics: more than ${this.h.maxMetrics} metrics (maxMetrics)`);
      const bytes = encoder.encode(JSON.stringify(d));
      const off = this.ctl[C.DescBump]!;
      if (off + bytes.length > this.desc.length) throw new RuntimeArgumentError('EINVAL_SIZE', 'percpu metrics: the descriptor area is full (too many metrics or buckets)');
      this.desc.set(bytes, off);
      this.ctl[C.DescBump] = off + bytes.length;
      this.dir[id * D.Words + D.DescOff] = off;
      this.dir[id * D.Words + D.DescLen] = bytes.length;
      Atomics.store(this.dir, id * D.Words + D.State, 1);
      Atomics.store(this.ctl, C.Metrics, id + 1);
      return [id, true] as [number, boolean];
    });
  }

  /** The overflow entry of metric `id` (+1; 0 = none yet). */
  overflowEntry(id: number): number {
    return Atomics.load(this.dir, id * D.Words + D.Overflow) - 1;
  }

  setOverflowEntry(id: number, entry: number): void {
    Atomics.store(this.dir, id * D.Words + D.Overflow, entry + 1);
  }

  // -------------------------------------------------------------------------
  // Keys

  /**
   * Encode label values (in label-name order; undefined = absent) into the
   * scratch key. Returns its length, or -1 when longer than `maxLabelBytes`.
   */
  encodeKey(values: readonly (string | undefined)[]): number {
    const s = this.scratch;
    const max = this.h.maxLabelBytes;
    let n = 0;
    for (let k = 0; k < values.length; k++) {
      const v = values[k];
      if (v === undefined) {
        if (n >= max) return -1;
        s[n++] = ABSENT;
        continue;
      }
      const r = encoder.encodeInto(v, s.subarray(n, max));
      if (r.read !== v.length) return -1;
      n += r.written;
      if (n >= max) return -1;
      s[n++] = END;
    }
    return n;
  }

  /** Label values of entry `e` (absent labels as undefined). */
  decodeKey(e: number, nrLabels: number): (string | undefined)[] {
    const at = e * this.h.maxLabelBytes;
    const len = this.ent[e * E.Words + E.KeyLen]!;
    const out: (string | undefined)[] = [];
    let i = at;
    const end = at + len;
    while (out.length < nrLabels && i < end) {
      if (this.keys[i] === ABSENT) {
        out.push(undefined);
        i++;
        continue;
      }
      let j = i;
      while (this.keys[j] !== END) j++;
      out.push(decoder.decode(this.keys.slice(i, j)));
      i = j + 1;
    }
    return out;
  }

  private keyEquals(e: number, metric: number, len: number): boolean {
    const w = e * E.Words;
    if (this.ent[w + E.Metric] !== metric || this.ent[w + E.KeyLen] !== len) return false;
    const keys = this.keys;
    const s = this.scratch;
    for (let i = 0, at = e * this.h.maxLabelBytes; i < len; i++, at++) if (keys[at] !== s[i]) return false;
    return true;
  }

  // -------------------------------------------------------------------------
  // Lookup and creation

  private probe(h: number, metric: number, len: number): number {
    const mask = this.mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const e1 = Atomics.load(this.slotEntry, i);
      if (e1 === 0) return -1;
      if (this.slotHash[i] === h && this.keyEquals(e1 - 1, metric, len)) {
        this.probed = e1 - 1;
        return i;
      }
    }
  }

  /** The live entry of the scratch key (`len` bytes) of `metric`, or -1; lock-free. */
  find(metric: number, len: number): number {
    const h = hashBytes(this.scratch, len, metric);
    const c = this.ctl;
    for (let tries = 0; ; tries++) {
      const s1 = Atomics.load(c, C.Seq);
      if ((s1 & 1) === 0) {
        const e = this.probe(h, metric, len) < 0 ? -1 : this.probed;
        if (Atomics.load(c, C.Seq) === s1) return e;
      }
      if (tries > 64 && canBlock()) Atomics.wait(c, C.Seq, s1, 0.05);
    }
  }

  /** Series of `metric` alive now. */
  liveSeriesOf(metric: number): number {
    return Atomics.load(this.dir, metric * D.Words + D.Count);
  }

  /**
   * Create the series of the scratch key (`len` bytes) for `metric`, with
   * parts of `parts` bytes, unless the metric has `limit` series already.
   * Returns the entry (an existing one if another thread created it first),
   * or -1 when refused: limit reached, store full, lock not had within
   * `lockMs`, or the allocator out of memory. Never throws for those.
   */
  create(metric: number, len: number, parts: readonly number[], limit: number, lockMs: number): number {
    if (!this.lockFor(lockMs)) return -1;
    try {
      return this.createLocked(metric, len, parts, limit);
    } finally {
      this.unlock();
    }
  }

  /** `create` for a caller that holds the lock. */
  createLocked(metric: number, len: number, parts: readonly number[], limit: number): number {
    const h = hashBytes(this.scratch, len, metric);
    if (this.probe(h, metric, len) >= 0) return this.probed;
    this.reclaimLocked();
    if (limit >= 0 && this.dir[metric * D.Words + D.Count]! >= limit) return -1;
    const e = this.takeEntry();
    if (e < 0) return -1;
    const ptrBase = e * MAX_PARTS;
    for (let p = 0; p < parts.length; p++) {
      const ptr = this.percpu.alloc(parts[p]!, 8);
      if (ptr === NULL_PTR) {
        for (let q = 0; q < p; q++) this.percpu.free(this.ptrs[ptrBase + q]!);
        this.giveEntry(e);
        return -1;
      }
      this.ptrs[ptrBase + p] = ptr;
    }
    const w = e * E.Words;
    this.ent[w + E.Metric] = metric;
    this.ent[w + E.KeyLen] = len;
    this.ent[w + E.Parts] = parts.length;
    this.ent[w + E.Seq] = this.ctl[C.NextSeq]!;
    this.ctl[C.NextSeq] = this.ctl[C.NextSeq]! + 1;
    this.keys.set(this.scratch.subarray(0, len), e * this.h.maxLabelBytes);
    Atomics.store(this.ent, w + E.State, S.Live);
    let i = h & this.mask;
    while (this.slotEntry[i] !== 0) i = (i + 1) & this.mask;
    this.slotHash[i] = h;
    Atomics.store(this.slotEntry, i, e + 1);
    if (limit >= 0) this.dir[metric * D.Words + D.Count] = this.dir[metric * D.Words + D.Count]! + 1;
    this.ctl[C.Live] = this.ctl[C.Live]! + 1;
    return e;
  }

  private takeEntry(): number {
    const c = this.ctl;
    const head = c[C.FreeHead]!;
    if (head !== 0) {
      c[C.FreeHead] = this.ent[(head - 1) * E.Words + E.Next]!;
      return head - 1;
    }
    const bump = c[C.Bump]!;
    if (bump >= this.h.maxSeries) return -1;
    Atomics.store(c, C.Bump, bump + 1);
    return bump;
  }

  private giveEntry(e: number): void {
    this.ent[e * E.Words + E.Next] = this.ctl[C.FreeHead]!;
    Atomics.store(this.ent, e * E.Words + E.State, S.Free);
    this.ctl[C.FreeHead] = e + 1;
  }

  /**
   * Unpublish entry `e` (caller holds the lock): shift its probe run back
   * inside the sequence lock, bump the generation, park it in limbo until its
   * grace period ends.
   */
  removeLocked(e: number): void {
    const w = e * E.Words;
    if (this.ent[w + E.State] !== S.Live) return;
    const mask = this.mask;
    const se = this.slotEntry;
    const sh = this.slotHash;
    const len = this.ent[w + E.KeyLen]!;
    this.scratch.set(this.keys.subarray(e * this.h.maxLabelBytes, e * this.h.maxLabelBytes + len));
    const h = hashBytes(this.scratch, len, this.ent[w + E.Metric]!);
    const slot = this.probe(h, this.ent[w + E.Metric]!, len);
    if (slot < 0 || this.probed !== e) return;
    const c = this.ctl;
    const seq = c[C.Seq]!;
    Atomics.store(c, C.Seq, seq + 1);
    let hole = slot;
    for (let j = (slot + 1) & mask; ; j = (j + 1) & mask) {
      const ej = se[j]!;
      if (ej === 0) break;
      const home = sh[j]! & mask;
      const stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (stays) continue;
      sh[hole] = sh[j]!;
      Atomics.store(se, hole, ej);
      hole = j;
    }
    Atomics.store(se, hole, 0);
    Atomics.store(c, C.Seq, seq + 2);
    Atomics.add(this.ent, w + E.Gen, 1);
    Atomics.store(this.ent, w + E.State, S.Limbo);
    this.removedAt[e] = Date.now();
    this.ent[w + E.Next] = c[C.LimboHead]!;
    c[C.LimboHead] = e + 1;
    const m = this.ent[w + E.Metric]!;
    if (!(len === 1 && this.keys[e * this.h.maxLabelBytes] === OVERFLOW_KEY)) this.dir[m * D.Words + D.Count] = this.dir[m * D.Words + D.Count]! - 1;
    c[C.Live] = c[C.Live]! - 1;
  }

  /** Free limbo entries whose grace period is over (caller holds the lock). */
  reclaimLocked(): void {
    const c = this.ctl;
    if (c[C.LimboHead] === 0) return;
    const now = Date.now();
    let prev = -1;
    let e1 = c[C.LimboHead]!;
    while (e1 !== 0) {
      const e = e1 - 1;
      const next = this.ent[e * E.Words + E.Next]!;
      if (now - this.removedAt[e]! >= this.h.removeGraceMs) {
        if (prev < 0) c[C.LimboHead] = next;
        else this.ent[prev * E.Words + E.Next] = next;
        const parts = this.ent[e * E.Words + E.Parts]!;
        for (let p = 0; p < parts; p++) this.percpu.free(this.ptrs[e * MAX_PARTS + p]!);
        this.giveEntry(e);
      } else {
        prev = e;
      }
      e1 = next;
    }
  }

  reclaim(): void {
    if (Atomics.load(this.ctl, C.LimboHead) === 0) return;
    if (!this.lockFor(50)) return;
    try {
      this.reclaimLocked();
    } finally {
      this.unlock();
    }
  }

  // -------------------------------------------------------------------------
  // Entry fields

  gen(e: number): number {
    return Atomics.load(this.ent, e * E.Words + E.Gen);
  }

  state(e: number): number {
    return Atomics.load(this.ent, e * E.Words + E.State);
  }

  metricOf(e: number): number {
    return this.ent[e * E.Words + E.Metric]!;
  }

  keyLen(e: number): number {
    return this.ent[e * E.Words + E.KeyLen]!;
  }

  seqOf(e: number): number {
    return this.ent[e * E.Words + E.Seq]!;
  }

  ptr(e: number, part: number): number {
    return this.ptrs[e * MAX_PARTS + part]!;
  }

  /** Entries ever used (live ones are among [0, bump)). */
  get bump(): number {
    return Atomics.load(this.ctl, C.Bump);
  }

  get liveSeries(): number {
    return Atomics.load(this.ctl, C.Live);
  }

  /** The generation word array and the index of entry `e`'s generation in it (for a child's plain check). */
  genIndex(e: number): number {
    return e * E.Words + E.Gen;
  }
}
