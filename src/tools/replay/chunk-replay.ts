// SPDX-License-Identifier: GPL-2.0-only
/**
 * Replaying the history of one traced chunk into a fresh chunk of the
 * chunk-mode allocator and comparing every placement with the kernel's.
 *
 * The tracer records an alloc event after the allocator's lock is released,
 * so events of two CPUs that were a microsecond apart can appear in the wrong
 * order. When a placement disagrees, this module looks for such a swap: it
 * moves the disagreeing op, or one of the next few ops, across at most
 * `maxShift` ops of *other* CPUs recorded within `windowUs`, replays the chunk
 * from the start in that order, and keeps the order only if every placement in
 * the shifted window then agrees. Each kept correction is reported; a
 * disagreement no swap explains is counted as a mismatch, and from then on the
 * model's chunk no longer mirrors the kernel's, so no further corrections are
 * tried for that chunk (they would be guesses).
 *
 * A failed allocation (`percpu_alloc_percpu_fail`) is a decision too: the
 * kernel searched the chunk and found no room, so once the order is settled
 * the model is asked the same request at the same moment, in a copy of the
 * chunk's state (the answer must not change the replay). When the model also
 * finds no room, they agree. When it finds room, the kernel had to have a
 * reason the per-chunk model does not see, or it is a mismatch:
 *   - `unpopulated`: the room touches a page that holds no live object, so the
 *     page may not have been populated (atomic requests take populated pages
 *     only; a non-atomic one fails if populating fails). Pages holding a live
 *     object are populated for certain: pages are populated before they are
 *     used and depopulated only when empty.
 *   - `isolated` (7.0): a quarter or more of the chunk's pages are empty, so
 *     the kernel may have set it aside for depopulation, where no search looks.
 *   - `relegated` (7.0): the chunk's largest free run is under 32 bytes, so a
 *     failed small request may have moved it to slot 0, which no search visits.
 * Anything else is a mismatch, reported like a placement mismatch.
 *
 * Invariants: ops are only ever reordered across ops of other CPUs, a free never
 * moves before its own allocation, the counts always describe the order that
 * was finally replayed, and a failed allocation never changes the replayed state.
 */
import { createAllocator, type PercpuAllocator } from '../../engine/allocator.js';
import { NULL_PTR, ptrOffset } from '../../engine/pointer.js';
import { InvalidRequestError } from '../../errors.js';
import { TRACE_FLAG_ATOMIC, TraceEventKind, type TraceEvents } from '../../formats/trace.js';
import { parsePercpuStats, type StatsChunk } from '../../formats/stats-parse.js';
import type { ChunkHistory, TraceChunks } from './chunks.js';

/** Options of the per-chunk replay. */
export interface ChunkReplayOptions {
  /** Profile (default 7.0). */
  kernel?: string;
  unitSize: number;
  pageSize?: number;
  nrUnits?: number;
  /** Look for trace-order corrections (default true). */
  correct?: boolean;
  /** Largest time gap between two ops a correction may swap, in µs (default 10). */
  windowUs?: number;
  /** Most ops a correction may move one op across (default 3). */
  maxShift?: number;
  /** Correction attempts per chunk before giving up (default 64). */
  maxAttempts?: number;
}

/** `seq` was replayed right before `beforeSeq` although the trace recorded it after. */
export interface Reorder {
  seq: number;
  beforeSeq: number;
  /** Timestamp gap in µs. */
  gapUs: number;
}

/** An allocation placed elsewhere than the kernel placed it. */
export interface PlacementMismatch {
  seq: number;
  kernelOff: number;
  /** -1 when the model refused the request. */
  modelOff: number;
}

/** What replaying one chunk's history found: placements matched, reorders, mismatches, failed allocations checked. */
export interface ChunkReplayResult {
  placements: number;
  matched: number;
  frees: number;
  atomicAllocs: number;
  reorders: Reorder[];
  /** Disagreements that a trace-order correction explained. */
  explained: number;
  /** Disagreements left (the first `MISMATCH_KEEP` are listed). */
  mismatches: number;
  firstMismatches: PlacementMismatch[];
  /** The op order finally replayed (sequence numbers). */
  order: Int32Array;
  /** Correction search stopped: budget spent, or the model diverged. */
  correctionsStopped: 'budget' | 'diverged' | undefined;
  /**
   * Set when the first disagreement (after trace-order corrections) is an
   * atomic request: the kernel places those in populated pages only, and this
   * model has no population, so the placements from there on are not compared
   * (`allocsNotChecked`, left out of `placements`); `percpu replay` models
   * population and compares them.
   */
  atomicCut?: { seq: number; allocsNotChecked: number };
  /** The kernel's failed allocations checked against this chunk. */
  fails: ChunkFailChecks;
  /**
   * The model's `percpu_stats` section after the last op replayed: its allocation map and hints are
   * the kernel's wherever every placement matched; population is not modelled here (chunk mode).
   */
  finalSection: StatsChunk | undefined;
}

/** Why the model's room for a request the kernel refused does not contradict the kernel (see the header). */
export type FailExcuse = 'unpopulated' | 'isolated' | 'relegated' | 'budget';

/** One failed allocation asked of the model: where it would place it, and the verdict. */
export interface FailCheck {
  seq: number;
  /** Where the model would place the request; -1 when it finds no room either. */
  modelOff: number;
  verdict: 'agreed' | 'mismatch' | FailExcuse;
}

/** A chunk's failed allocations asked of the model, counted by verdict. */
export interface ChunkFailChecks {
  /** Failed allocations asked of the model (while the chunk existed, before any cut). */
  checked: number;
  /** The model found no room either. */
  agreed: number;
  /** The model found room the kernel must have seen. */
  mismatched: number;
  /** The model found room, in a state where the kernel may not have looked or could not use it, by reason. */
  notComparable: Record<FailExcuse, number>;
  /** The first mismatches (at most `MISMATCH_KEEP`), then the first not-comparable case. */
  first: FailCheck[];
  /** Verdict per entry of `ChunkHistory.fails`: FAIL_AGREED, FAIL_MISMATCH or FAIL_NOT_COMPARABLE. */
  verdicts: Uint8Array;
}

export const FAIL_AGREED = 0;
export const FAIL_MISMATCH = 1;
export const FAIL_NOT_COMPARABLE = 2;

function noFailChecks(n = 0): ChunkFailChecks {
  return { checked: 0, agreed: 0, mismatched: 0, notComparable: { unpopulated: 0, isolated: 0, relegated: 0, budget: 0 }, first: [], verdicts: new Uint8Array(n) };
}

const MISMATCH_KEEP = 5;

/**
 * The model's answer to a request the kernel served: a pointer, or NULL_PTR when
 * the model refuses it — also when it rejects the request outright (a size or
 * alignment its geometry does not allow), which is a disagreement to report, not
 * a reason to stop.
 */
export function allocOrRefuse(a: PercpuAllocator, size: number, align: number, flags: number): number {
  try {
    return a.alloc(size, align, flags);
  } catch (e) {
    if (e instanceof InvalidRequestError) return NULL_PTR;
    throw e;
  }
}

/** Replays one traced chunk's history through a fresh chunk-mode model, correcting the trace order where a placement disagrees (see the header). */
export function replayChunkHistory(tc: TraceChunks, h: ChunkHistory, options: ChunkReplayOptions): ChunkReplayResult {
  const run = new ChunkHistoryReplay(tc, h, options);
  run.replayCorrecting();
  return run.result();
}

/** The ops of one chunk's history, indexed: which are allocations, which allocation each free releases. */
interface HistoryOps {
  ops: ArrayLike<number>;
  isAlloc: Uint8Array;
  /** Position (in `ops`) of the allocation each free releases, -1 for none; ops are in seq order. */
  target: Int32Array;
  placements: number;
  atomicAllocs: number;
}

function indexHistoryOps(tc: TraceChunks, h: ChunkHistory): HistoryOps {
  const ev = tc.trace.events;
  const ops = h.ops;
  const m = ops.length;
  const isAlloc = new Uint8Array(m);
  const target = new Int32Array(m).fill(-1);
  const posOfSeq = new Map<number, number>();
  let placements = 0;
  let atomicAllocs = 0;
  for (let p = 0; p < m; p++) {
    const s = ops[p]!;
    if (ev.kind[s] === TraceEventKind.Alloc) {
      isAlloc[p] = 1;
      placements++;
      if (ev.flags[s]! & 2) atomicAllocs++;
      posOfSeq.set(s, p);
    } else {
      target[p] = posOfSeq.get(tc.freeTarget[s]!) ?? -1;
    }
  }
  return { ops, isAlloc, target, placements, atomicAllocs };
}

/** A trace-order correction found at a disagreement: the new order, the position replayed up to, the allocator there. */
interface Correction {
  order: Int32Array;
  hi: number;
  alloc: PercpuAllocator;
  reorder: Reorder;
}

/** A candidate order: one op moved across others, and the window `[lo, hi]` whose allocations must then match. */
interface Candidate {
  order: Int32Array;
  lo: number;
  hi: number;
  reorder: Reorder;
}

/** One chunk history's replay in progress: the model, the order being replayed and corrected, what each op got. */
class ChunkHistoryReplay {
  private readonly ev: TraceEvents;
  private readonly x: HistoryOps;
  private readonly m: number;
  private readonly windowUs: number;
  private readonly maxShift: number;
  private readonly maxAttempts: number;
  private readonly correct: boolean;
  private readonly ptr: Float64Array;
  private readonly got: Int32Array;
  private order: Int32Array;
  private a: PercpuAllocator;
  private readonly reorders: Reorder[] = [];
  private explained = 0;
  private attempts = 0;
  private stopped: ChunkReplayResult['correctionsStopped'];

  constructor(
    private readonly tc: TraceChunks,
    private readonly h: ChunkHistory,
    private readonly options: ChunkReplayOptions,
  ) {
    this.ev = tc.trace.events;
    this.x = indexHistoryOps(tc, h);
    this.m = h.ops.length;
    this.windowUs = options.windowUs ?? 10;
    this.maxShift = options.maxShift ?? 3;
    this.maxAttempts = options.maxAttempts ?? 64;
    this.correct = options.correct ?? true;
    this.ptr = new Float64Array(this.m).fill(NULL_PTR);
    this.got = new Int32Array(this.m).fill(-1);
    this.order = new Int32Array(this.m);
    for (let p = 0; p < this.m; p++) this.order[p] = p;
    this.a = this.fresh();
  }

  /** A fresh chunk-mode model of the traced geometry. */
  readonly fresh = (): PercpuAllocator => {
    const o = this.options;
    return createAllocator({
      kernel: o.kernel ?? '7.0',
      mode: 'chunk',
      balance: 'none',
      geometry: { unitSize: o.unitSize, pageSize: o.pageSize ?? 4096, nrUnits: o.nrUnits ?? 1 },
    });
  };

  /** Run the op at position `p`; for an allocation, return whether it matched. */
  private step(a: PercpuAllocator, p: number): boolean {
    const { ev, ptr, got } = this;
    const s = this.x.ops[p]!;
    if (this.x.isAlloc[p]) {
      // Atomic requests are placed as if every page were populated (FORMAT.md), so they replay as normal ones.
      const r = allocOrRefuse(a, ev.size[s]!, ev.align[s]!, 0);
      ptr[p] = r;
      got[p] = r === NULL_PTR ? -1 : ptrOffset(r);
      return got[p] === ev.off[s];
    }
    const t = this.x.target[p]!;
    if (t >= 0 && ptr[t] !== NULL_PTR) {
      a.free(ptr[t]!);
      ptr[t] = NULL_PTR;
    }
    return true;
  }

  private cpuOf(p: number): number {
    return this.ev.cpu[this.x.ops[p]!]!;
  }

  private timeOf(p: number): number {
    return this.ev.time[this.x.ops[p]!]!;
  }

  private gapUs(later: number, earlier: number): number {
    return Math.round((this.timeOf(later) - this.timeOf(earlier)) * 1e6);
  }

  /** Whether op `mover` may have happened across `others[from, to)`: another CPU, within the window, and neither frees the other. */
  private canCross(mover: number, others: ArrayLike<number>, from: number, to: number): boolean {
    const target = this.x.target;
    for (let j = from; j < to; j++) {
      const o = others[j]!;
      if (this.cpuOf(o) === this.cpuOf(mover)) return false;
      if (Math.abs(this.timeOf(mover) - this.timeOf(o)) * 1e6 > this.windowUs) return false;
      if (target[mover] === o || target[o] === mover) return false;
    }
    return true;
  }

  /** The orders that move one op across up to `maxShift` others around position k. */
  private candidatesAt(k: number): Candidate[] {
    const { order, m } = this;
    const ops = this.x.ops;
    const candidates: Candidate[] = [];
    for (let d = 1; d <= this.maxShift; d++) {
      // The disagreeing op happened earlier than recorded.
      if (k - d >= 0 && this.canCross(order[k]!, order, k - d, k)) {
        const o = order.slice();
        o.copyWithin(k - d + 1, k - d, k);
        o[k - d] = order[k]!;
        candidates.push({ order: o, lo: k - d, hi: k, reorder: { seq: ops[order[k]!]!, beforeSeq: ops[order[k - d]!]!, gapUs: this.gapUs(order[k]!, order[k - d]!) } });
      }
      // An op recorded after it happened before it.
      if (k + d < m && this.canCross(order[k + d]!, order, k, k + d)) {
        const o = order.slice();
        o.copyWithin(k + 1, k, k + d);
        o[k] = order[k + d]!;
        candidates.push({ order: o, lo: k, hi: k + d, reorder: { seq: ops[order[k + d]!]!, beforeSeq: ops[order[k]!]!, gapUs: this.gapUs(order[k + d]!, order[k]!) } });
      }
    }
    return candidates;
  }

  /** Try the candidate orders at position k; the first whose window all matches wins (the state is restored when none does). */
  private findCorrection(k: number): Correction | undefined {
    const savedPtr = this.ptr.slice();
    const savedGot = this.got.slice();
    for (const c of this.candidatesAt(k)) {
      this.ptr.fill(NULL_PTR);
      const b = this.fresh();
      let ok = true;
      for (let j = 0; j <= c.hi; j++) {
        const hit = this.step(b, c.order[j]!);
        if (j >= c.lo && this.x.isAlloc[c.order[j]!] && !hit) ok = false;
      }
      if (ok) return { order: c.order, hi: c.hi, alloc: b, reorder: c.reorder };
    }
    this.ptr.set(savedPtr);
    this.got.set(savedGot);
    return undefined;
  }

  /** Replays the ops in order; at a disagreeing allocation, looks for a trace-order correction (within the attempt budget). */
  replayCorrecting(): void {
    for (let k = 0; k < this.m; k++) {
      const p = this.order[k]!;
      if (this.step(this.a, p) || !this.x.isAlloc[p]) continue;
      if (!this.correct || this.stopped !== undefined) continue;
      if (this.attempts >= this.maxAttempts) {
        this.stopped = 'budget';
        continue;
      }
      this.attempts++;
      const c = this.findCorrection(k);
      if (c === undefined) {
        this.stopped = 'diverged';
        continue;
      }
      this.order = c.order;
      this.a = c.alloc;
      this.reorders.push(c.reorder);
      this.explained++;
      k = c.hi;
    }
  }

  /** Compares the final order's placements with the kernel's, up to the atomic cut. */
  private compare(end: number): { compared: number; hits: number; mismatches: number; firstMismatches: PlacementMismatch[] } {
    const { ev, got, order } = this;
    let hits = 0;
    let mismatches = 0;
    let compared = 0;
    const firstMismatches: PlacementMismatch[] = [];
    for (let k = 0; k < end; k++) {
      const p = order[k]!;
      if (!this.x.isAlloc[p]) continue;
      compared++;
      const s = this.x.ops[p]!;
      if (got[p] === ev.off[s]) {
        hits++;
      } else {
        mismatches++;
        if (firstMismatches.length < MISMATCH_KEEP) firstMismatches.push({ seq: s, kernelOff: ev.off[s]!, modelOff: got[p]! });
      }
    }
    return { compared, hits, mismatches, firstMismatches };
  }

  /** What the replay found, with the failed allocations checked against the final order. */
  result(): ChunkReplayResult {
    const { x, h, order } = this;
    const atomicCut = findAtomicCut(order, x.isAlloc, this.got, x.ops, this.ev);
    const c = this.compare(atomicCut === undefined ? this.m : atomicCut.at);
    const fails = h.fails.length === 0 ? noFailChecks() : checkFails(this.tc, h, order, x.isAlloc, x.target, this.fresh, this.options);
    return {
      fails,
      placements: c.compared,
      ...(atomicCut === undefined ? {} : { atomicCut: { seq: atomicCut.seq, allocsNotChecked: x.placements - c.compared } }),
      matched: c.hits,
      frees: this.m - x.placements,
      atomicAllocs: x.atomicAllocs,
      reorders: this.reorders,
      explained: this.explained,
      mismatches: c.mismatches,
      firstMismatches: c.firstMismatches,
      order: Int32Array.from(order, (p) => x.ops[p]!),
      correctionsStopped: this.stopped,
      finalSection: parsePercpuStats(this.a.formatStats(), '<chunk model>').chunks[0],
    };
  }
}

/** Largest free run under which a 7.0 chunk can sit relegated in slot 0 (slot < 3 means under 32 bytes). */
const RELEGATION_BYTES = 32;

/**
 * Ask the model each failed allocation of the history at its moment in the
 * final order. A refused request leaves the allocator untouched, so one
 * allocator walks the whole order; a placed one is rebuilt from the start
 * (bounded by a budget of replayed ops, beyond which requests are not checked).
 */
function checkFails(
  tc: TraceChunks,
  h: ChunkHistory,
  order: Int32Array,
  isAlloc: Uint8Array,
  target: Int32Array,
  fresh: () => PercpuAllocator,
  options: ChunkReplayOptions,
): ChunkFailChecks {
  const c = new FailChecker(tc, h, order, isAlloc, target, fresh, options);
  const ops = h.ops;
  const fails = h.fails;
  let fi = 0;
  for (let k = 0; k < ops.length; k++) {
    const p = order[k]!;
    while (fi < fails.length && fails[fi]! < ops[p]!) c.check(fi++, k);
    c.advance(p);
  }
  while (fi < fails.length) c.check(fi++, ops.length);
  return c.done();
}

/** The failed allocations' checks in progress: the model walking the final order, the pages the kernel's live objects populate. */
class FailChecker {
  private readonly ev: TraceEvents;
  private readonly pageSize: number;
  private readonly nrPages: number;
  // Live objects per page, by the kernel's offsets: the pages certainly populated.
  private readonly liveOnPage: Int32Array;
  private emptyPages: number;
  private readonly ptr: Float64Array;
  private readonly budget: number;
  private spent = 0;
  private a: PercpuAllocator | undefined;
  private readonly out: ChunkFailChecks;
  private readonly firstMismatches: FailCheck[] = [];
  private readonly firstExcused: FailCheck[] = [];
  // Isolation and relegation (slot 0 after a failed small request) exist in the 7.0 profile only.
  private readonly newestProfile: boolean;

  constructor(
    tc: TraceChunks,
    private readonly h: ChunkHistory,
    private readonly order: Int32Array,
    private readonly isAlloc: Uint8Array,
    private readonly target: Int32Array,
    private readonly fresh: () => PercpuAllocator,
    options: ChunkReplayOptions,
  ) {
    this.ev = tc.trace.events;
    const m = h.ops.length;
    this.pageSize = options.pageSize ?? 4096;
    this.nrPages = Math.ceil(options.unitSize / this.pageSize);
    this.liveOnPage = new Int32Array(this.nrPages);
    this.emptyPages = this.nrPages;
    this.ptr = new Float64Array(m).fill(NULL_PTR);
    this.budget = 32 * m + 100_000;
    this.a = fresh();
    this.out = noFailChecks(h.fails.length);
    this.newestProfile = this.a.kernel === '7.0';
  }

  private countPages(s: number, d: number): void {
    const { ev, pageSize, liveOnPage } = this;
    const last = Math.min(this.nrPages, Math.ceil((ev.off[s]! + ev.size[s]!) / pageSize));
    for (let pg = Math.floor(ev.off[s]! / pageSize); pg < last; pg++) {
      if (d > 0 && liveOnPage[pg] === 0) this.emptyPages--;
      liveOnPage[pg]! += d;
      if (d < 0 && liveOnPage[pg] === 0) this.emptyPages++;
    }
  }

  private apply(a: PercpuAllocator, p: number): void {
    const { ev, ptr } = this;
    const s = this.h.ops[p]!;
    if (this.isAlloc[p]) {
      ptr[p] = allocOrRefuse(a, ev.size[s]!, ev.align[s]!, 0);
      return;
    }
    const t = this.target[p]!;
    if (t >= 0 && ptr[t] !== NULL_PTR) {
      a.free(ptr[t]!);
      ptr[t] = NULL_PTR;
    }
  }

  /** The op at position `p` of the history: applied to the model, counted in the live pages. */
  advance(p: number): void {
    const ops = this.h.ops;
    if (this.a !== undefined) this.apply(this.a, p);
    if (this.isAlloc[p]) this.countPages(ops[p]!, 1);
    else if (this.target[p]! >= 0) this.countPages(ops[this.target[p]!]!, -1);
  }

  private note(c: FailCheck): void {
    if (c.verdict === 'mismatch') {
      if (this.firstMismatches.length < MISMATCH_KEEP) this.firstMismatches.push(c);
    } else if (this.firstExcused.length === 0) {
      this.firstExcused.push(c);
    }
  }

  /** The probe changed the state: rebuild the model from ops order[0..k) without it, if the budget allows. */
  private rebuild(k: number): void {
    if (this.spent + k > this.budget) {
      this.a = undefined;
      return;
    }
    this.spent += k;
    this.ptr.fill(NULL_PTR);
    const a = this.fresh();
    this.a = a;
    for (let j = 0; j < k; j++) this.apply(a, this.order[j]!);
  }

  /** The verdict on failed allocation `s` (entry `i` of the history's fails), the allocator holding ops order[0..k). */
  check(i: number, k: number): void {
    const { out, ev } = this;
    const s = this.h.fails[i]!;
    out.checked++;
    out.verdicts[i] = FAIL_NOT_COMPARABLE;
    if (this.a === undefined) {
      out.notComparable.budget++;
      this.note({ seq: s, modelOff: -1, verdict: 'budget' });
      return;
    }
    const size = ev.size[s]!;
    const p = allocOrRefuse(this.a, size, ev.align[s]!, 0);
    if (p === NULL_PTR) {
      out.agreed++;
      out.verdicts[i] = FAIL_AGREED;
      return;
    }
    const off = ptrOffset(p);
    this.rebuild(k);
    const verdict = this.verdictOfRoom(off, size);
    if (verdict === 'mismatch') {
      out.mismatched++;
      out.verdicts[i] = FAIL_MISMATCH;
    } else {
      out.notComparable[verdict]++;
    }
    this.note({ seq: s, modelOff: off, verdict });
  }

  /** Room the model found at `off` for a request the kernel refused: a mismatch, unless the kernel may not have looked there or could not use it. */
  private verdictOfRoom(off: number, size: number): 'mismatch' | FailExcuse {
    const { pageSize, nrPages } = this;
    let verdict: 'mismatch' | FailExcuse = 'mismatch';
    const last = Math.min(nrPages, Math.ceil((off + size) / pageSize));
    for (let pg = Math.floor(off / pageSize); pg < last; pg++) if (this.liveOnPage[pg] === 0) verdict = 'unpopulated';
    if (verdict === 'mismatch' && this.newestProfile && this.emptyPages >= Math.floor(nrPages / 4)) verdict = 'isolated';
    if (verdict === 'mismatch' && this.newestProfile && size < RELEGATION_BYTES && this.a !== undefined) {
      const chunk = parsePercpuStats(this.a.formatStats(), '<model>').chunks[0];
      if (chunk !== undefined && chunk.contigBytes < RELEGATION_BYTES) verdict = 'relegated';
    }
    return verdict;
  }

  /** The checks, with the first mismatches and the first excused case listed. */
  done(): ChunkFailChecks {
    this.out.first = [...this.firstMismatches, ...this.firstExcused];
    return this.out;
  }
}

/**
 * Where the comparison of a chunk's placements must stop because the first
 * disagreement is an atomic request (see `ChunkReplayResult.atomicCut`): its
 * position in `order`, or undefined when the first disagreement (if any) is a
 * normal request, which is a real mismatch.
 */
function findAtomicCut(order: Int32Array, isAlloc: Uint8Array, got: Int32Array, ops: ArrayLike<number>, ev: TraceEvents): { at: number; seq: number } | undefined {
  for (let k = 0; k < order.length; k++) {
    const p = order[k]!;
    if (!isAlloc[p]) continue;
    const s = ops[p]!;
    if (got[p] === ev.off[s]) continue;
    return ev.flags[s]! & TRACE_FLAG_ATOMIC ? { at: k, seq: s } : undefined;
  }
  return undefined;
}
