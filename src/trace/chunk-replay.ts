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
 * Invariants: ops are only ever reordered across ops of other CPUs, a free never
 * moves before its own allocation, and the counts always describe the order that
 * was finally replayed.
 */
import { createAllocator, type PercpuAllocator } from '../allocator.js';
import { NULL_PTR, ptrOffset } from '../engine/pointer.js';
import { InvalidRequestError } from '../errors.js';
import { TraceEventKind } from './parse.js';
import type { ChunkHistory, TraceChunks } from './chunks.js';

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

export interface PlacementMismatch {
  seq: number;
  kernelOff: number;
  /** -1 when the model refused the request. */
  modelOff: number;
}

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

  let hits = 0;
  let mismatches = 0;
  const firstMismatches: PlacementMismatch[] = [];
  for (let k = 0; k < m; k++) {
    const p = order[k]!;
    if (!isAlloc[p]) continue;
    const s = ops[p]!;
    if (got[p] === ev.off[s]) {
      hits++;
    } else {
      mismatches++;
      if (firstMismatches.length < MISMATCH_KEEP) firstMismatches.push({ seq: s, kernelOff: ev.off[s]!, modelOff: got[p]! });
    }
  }
  return {
    placements,
    matched: hits,
    frees: m - placements,
    atomicAllocs,
    reorders,
    explained,
    mismatches,
    firstMismatches,
    order: Int32Array.from(order, (p) => ops[p]!),
    correctionsStopped: stopped,
  };
}
