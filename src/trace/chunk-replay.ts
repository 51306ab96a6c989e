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
import { createAllocator, type PercpuAllocator } from '../allocator.js';
import { NULL_PTR, ptrOffset } from '../engine/pointer.js';
import { InvalidRequestError } from '../errors.js';
import { TRACE_FLAG_ATOMIC, TraceEventKind, type TraceEvents } from './parse.js';
import { parsePercpuStats, type StatsChunk } from './stats-parse.js';
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

export function replayChunkHistory(tc: TraceChunks, h: ChunkHistory, options: ChunkReplayOptions): ChunkReplayResult {
  const ev = tc.trace.events;
  const ops = h.ops;
  const m = ops.length;
  const isAlloc = new Uint8Array(m);
  // Position (in `ops`) of the allocation each free releases; ops are in seq order.
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
  const windowUs = options.windowUs ?? 10;
  const maxShift = options.maxShift ?? 3;
  const maxAttempts = options.maxAttempts ?? 64;
  const correct = options.correct ?? true;
  const fresh = (): PercpuAllocator =>
    createAllocator({
      kernel: options.kernel ?? '7.0',
      mode: 'chunk',
      balance: 'none',
      geometry: { unitSize: options.unitSize, pageSize: options.pageSize ?? 4096, nrUnits: options.nrUnits ?? 1 },
    });

  const ptr = new Float64Array(m).fill(NULL_PTR);
  const got = new Int32Array(m).fill(-1);
  /** Run the op at position `p`; for an allocation, return whether it matched. */
  const step = (a: PercpuAllocator, p: number): boolean => {
    const s = ops[p]!;
    if (isAlloc[p]) {
      // Atomic requests are placed as if every page were populated (FORMAT.md), so they replay as normal ones.
      const r = allocOrRefuse(a, ev.size[s]!, ev.align[s]!, 0);
      ptr[p] = r;
      got[p] = r === NULL_PTR ? -1 : ptrOffset(r);
      return got[p] === ev.off[s];
    }
    const t = target[p]!;
    if (t >= 0 && ptr[t] !== NULL_PTR) {
      a.free(ptr[t]!);
      ptr[t] = NULL_PTR;
    }
    return true;
  };

  let order: Int32Array = new Int32Array(m);
  for (let p = 0; p < m; p++) order[p] = p;
  let a = fresh();
  const reorders: Reorder[] = [];
  let explained = 0;
  let attempts = 0;
  let stopped: ChunkReplayResult['correctionsStopped'];

  const cpuOf = (p: number) => ev.cpu[ops[p]!]!;
  const timeOf = (p: number) => ev.time[ops[p]!]!;
  const gapUs = (later: number, earlier: number) => Math.round((timeOf(later) - timeOf(earlier)) * 1e6);
  const canCross = (mover: number, others: ArrayLike<number>, from: number, to: number): boolean => {
    for (let j = from; j < to; j++) {
      const o = others[j]!;
      if (cpuOf(o) === cpuOf(mover)) return false;
      if (Math.abs(timeOf(mover) - timeOf(o)) * 1e6 > windowUs) return false;
      if (target[mover] === o || target[o] === mover) return false;
    }
    return true;
  };

  /** Try the orders that move one op across up to `maxShift` others around position k. */
  const findCorrection = (k: number): { order: Int32Array; hi: number; alloc: PercpuAllocator; reorder: Reorder } | undefined => {
    const savedPtr = ptr.slice();
    const savedGot = got.slice();
    const candidates: { order: Int32Array; lo: number; hi: number; reorder: Reorder }[] = [];
    for (let d = 1; d <= maxShift; d++) {
      // The disagreeing op happened earlier than recorded.
      if (k - d >= 0 && canCross(order[k]!, order, k - d, k)) {
        const o = order.slice();
        o.copyWithin(k - d + 1, k - d, k);
        o[k - d] = order[k]!;
        candidates.push({ order: o, lo: k - d, hi: k, reorder: { seq: ops[order[k]!]!, beforeSeq: ops[order[k - d]!]!, gapUs: gapUs(order[k]!, order[k - d]!) } });
      }
      // An op recorded after it happened before it.
      if (k + d < m && canCross(order[k + d]!, order, k, k + d)) {
        const o = order.slice();
        o.copyWithin(k + 1, k, k + d);
        o[k] = order[k + d]!;
        candidates.push({ order: o, lo: k, hi: k + d, reorder: { seq: ops[order[k + d]!]!, beforeSeq: ops[order[k]!]!, gapUs: gapUs(order[k + d]!, order[k]!) } });
      }
    }
    for (const c of candidates) {
      ptr.fill(NULL_PTR);
      const b = fresh();
      let ok = true;
      for (let j = 0; j <= c.hi; j++) {
        const hit = step(b, c.order[j]!);
        if (j >= c.lo && isAlloc[c.order[j]!] && !hit) ok = false;
      }
      if (ok) return { order: c.order, hi: c.hi, alloc: b, reorder: c.reorder };
    }
    ptr.set(savedPtr);
    got.set(savedGot);
    return undefined;
  };

  for (let k = 0; k < m; k++) {
    const p = order[k]!;
    if (step(a, p) || !isAlloc[p]) continue;
    if (!correct || stopped !== undefined) continue;
    if (attempts >= maxAttempts) {
      stopped = 'budget';
      continue;
    }
    attempts++;
    const c = findCorrection(k);
    if (c === undefined) {
      stopped = 'diverged';
      continue;
    }
    order = c.order;
    a = c.alloc;
    reorders.push(c.reorder);
    explained++;
    k = c.hi;
  }

  const atomicCut = findAtomicCut(order, isAlloc, got, ops, ev);
  const end = atomicCut === undefined ? m : atomicCut.at;
  let hits = 0;
  let mismatches = 0;
  let compared = 0;
  const firstMismatches: PlacementMismatch[] = [];
  for (let k = 0; k < end; k++) {
    const p = order[k]!;
    if (!isAlloc[p]) continue;
    compared++;
    const s = ops[p]!;
    if (got[p] === ev.off[s]) {
      hits++;
    } else {
      mismatches++;
      if (firstMismatches.length < MISMATCH_KEEP) firstMismatches.push({ seq: s, kernelOff: ev.off[s]!, modelOff: got[p]! });
    }
  }
  const fails = h.fails.length === 0 ? noFailChecks() : checkFails(tc, h, order, isAlloc, target, fresh, options);
  return {
    fails,
    placements: compared,
    ...(atomicCut === undefined ? {} : { atomicCut: { seq: atomicCut.seq, allocsNotChecked: placements - compared } }),
    matched: hits,
    frees: m - placements,
    atomicAllocs,
    reorders,
    explained,
    mismatches,
    firstMismatches,
    order: Int32Array.from(order, (p) => ops[p]!),
    correctionsStopped: stopped,
    finalSection: parsePercpuStats(a.formatStats(), '<chunk model>').chunks[0],
  };
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
  const ev = tc.trace.events;
  const ops = h.ops;
  const m = ops.length;
  const pageSize = options.pageSize ?? 4096;
  const nrPages = Math.ceil(options.unitSize / pageSize);
  // Live objects per page, by the kernel's offsets: the pages certainly populated.
  const liveOnPage = new Int32Array(nrPages);
  let emptyPages = nrPages;
  const countPages = (s: number, d: number) => {
    const last = Math.min(nrPages, Math.ceil((ev.off[s]! + ev.size[s]!) / pageSize));
    for (let pg = Math.floor(ev.off[s]! / pageSize); pg < last; pg++) {
      if (d > 0 && liveOnPage[pg] === 0) emptyPages--;
      liveOnPage[pg]! += d;
      if (d < 0 && liveOnPage[pg] === 0) emptyPages++;
    }
  };
  const ptr = new Float64Array(m).fill(NULL_PTR);
  const apply = (a: PercpuAllocator, p: number) => {
    const s = ops[p]!;
    if (isAlloc[p]) {
      ptr[p] = allocOrRefuse(a, ev.size[s]!, ev.align[s]!, 0);
      return;
    }
    const t = target[p]!;
    if (t >= 0 && ptr[t] !== NULL_PTR) {
      a.free(ptr[t]!);
      ptr[t] = NULL_PTR;
    }
  };
  const budget = 32 * m + 100_000;
  let spent = 0;
  let a: PercpuAllocator | undefined = fresh();
  const out = noFailChecks(h.fails.length);
  const firstMismatches: FailCheck[] = [];
  const firstExcused: FailCheck[] = [];
  const note = (c: FailCheck) => {
    if (c.verdict === 'mismatch') {
      if (firstMismatches.length < MISMATCH_KEEP) firstMismatches.push(c);
    } else if (firstExcused.length === 0) {
      firstExcused.push(c);
    }
  };
  // Isolation and relegation (slot 0 after a failed small request) exist in the 7.0 profile only.
  const newestProfile = a.kernel === '7.0';

  /** The verdict on failed allocation `s` (entry `i` of the history's fails), the allocator holding ops order[0..k). */
  const check = (i: number, k: number) => {
    const s = h.fails[i]!;
    out.checked++;
    out.verdicts[i] = FAIL_NOT_COMPARABLE;
    if (a === undefined) {
      out.notComparable.budget++;
      note({ seq: s, modelOff: -1, verdict: 'budget' });
      return;
    }
    const size = ev.size[s]!;
    const p = allocOrRefuse(a, size, ev.align[s]!, 0);
    if (p === NULL_PTR) {
      out.agreed++;
      out.verdicts[i] = FAIL_AGREED;
      return;
    }
    const off = ptrOffset(p);
    // The probe changed the state: rebuild it without the probe, if the budget allows.
    if (spent + k > budget) {
      a = undefined;
    } else {
      spent += k;
      ptr.fill(NULL_PTR);
      a = fresh();
      for (let j = 0; j < k; j++) apply(a, order[j]!);
    }
    let verdict: FailCheck['verdict'] = 'mismatch';
    const last = Math.min(nrPages, Math.ceil((off + size) / pageSize));
    for (let pg = Math.floor(off / pageSize); pg < last; pg++) if (liveOnPage[pg] === 0) verdict = 'unpopulated';
    if (verdict === 'mismatch' && newestProfile && emptyPages >= Math.floor(nrPages / 4)) verdict = 'isolated';
    if (verdict === 'mismatch' && newestProfile && size < RELEGATION_BYTES && a !== undefined) {
      const chunk = parsePercpuStats(a.formatStats(), '<model>').chunks[0];
      if (chunk !== undefined && chunk.contigBytes < RELEGATION_BYTES) verdict = 'relegated';
    }
    if (verdict === 'mismatch') {
      out.mismatched++;
      out.verdicts[i] = FAIL_MISMATCH;
    } else {
      out.notComparable[verdict]++;
    }
    note({ seq: s, modelOff: off, verdict });
  };

  const fails = h.fails;
  let fi = 0;
  for (let k = 0; k < m; k++) {
    const p = order[k]!;
    const s = ops[p]!;
    while (fi < fails.length && fails[fi]! < s) check(fi++, k);
    if (a !== undefined) apply(a, p);
    if (isAlloc[p]) countPages(s, 1);
    else if (target[p]! >= 0) countPages(ops[target[p]!]!, -1);
  }
  while (fi < fails.length) check(fi++, m);
  out.first = [...firstMismatches, ...firstExcused];
  return out;
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
