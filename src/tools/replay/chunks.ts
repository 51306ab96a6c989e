// SPDX-License-Identifier: GPL-2.0-only
/**
 * Chunk instances and object lifetimes of a parsed trace.
 *
 * A chunk is named in the trace only by its `base_addr` hash, and the kernel
 * reuses addresses: after a `percpu_destroy_chunk`, a later
 * `percpu_create_chunk` may print the same hash for a new chunk. So a chunk
 * *instance* begins at its create event (or, for a chunk that existed before
 * tracing began, at the first event naming it) and ends at its destroy event.
 * Instances are numbered in the order they begin, which is the numbering of the
 * per-chunk golden files (`<workload>.c<N>.golden`).
 *
 * What this module owns: the instance of every event, the allocation every free
 * releases (by chunk and offset), and the tracer's lost events. An allocation
 * whose bytes overlap an object still live in our bookkeeping proves that the
 * object's free event is missing (a lost free). A free of an offset where no
 * object starts, in a chunk created inside the trace, proves that the object's
 * alloc event is missing (a lost alloc); that allocation happened after the
 * last moment the offset was known to be free — the last release of its bytes,
 * or the chunk's creation — so the chunk's history is exact only up to there.
 * The failed allocations (which name no chunk) are listed once, for the
 * per-chunk checks of `chunkHistory`. Everything is in typed arrays indexed by
 * the event's sequence number.
 *
 * Invariants: for a chunk created inside the trace, every object is known, so a
 * free always finds its allocation unless an event was lost; for a chunk that
 * existed before tracing, a free of an unknown offset is an object allocated
 * before tracing (`freeTarget` -1), not an error. A chunk history never keeps
 * an op after the earliest moment a proven lost event may have happened.
 */
import { ParseError } from '../../errors.js';
import { bytesToBitsUp, offsetToBit } from '../../engine/units.js';
import { TRACE_FLAG_RESERVED, TraceEventKind, type ParsedTrace } from '../../formats/trace.js';

/** One chunk of the kernel as the trace shows it: from its creation (or first sight) to its destruction. */
export interface ChunkInstance {
  /** Chunk number in the trace (instances in order of appearance, from 0). */
  number: number;
  /** Interned base_addr. */
  addr: number;
  base: string;
  /** Sequence number of its `percpu_create_chunk`, -1 if it existed before tracing began. */
  createdSeq: number;
  /** `task-pid` that created it ('' if it existed before tracing). */
  creator: string;
  /** Sequence number of its `percpu_destroy_chunk`, -1 if alive at the end of the trace. */
  destroyedSeq: number;
  /** First and last event naming it. */
  firstSeq: number;
  lastSeq: number;
  allocs: number;
  frees: number;
  /** Frees of objects allocated before tracing began (only possible for pre-existing chunks). */
  freesOfOlder: number;
  /** Frees of offsets where no object is live, in a chunk whose whole history is known. */
  unmatchedFrees: number[];
  /** The same frees with what they prove: an alloc event is missing (chunks created in the trace only). */
  lostAllocs: LostAlloc[];
  lostFrees: LostFree[];
  /** Objects still live at its destroy event (their frees are missing). */
  liveAtDestroy: number[];
  /** Objects allocated in the trace and still live at the end (or at destroy). */
  liveAtEnd: number;
}

/** An allocation that reused bytes of an object still live in the bookkeeping: that object's free was lost. */
export interface LostFree {
  /** The allocation that overlaps. */
  allocSeq: number;
  /** The object whose free is missing. */
  liveSeq: number;
}

/** A free that finds no object at its offset in a chunk created during the trace: the object's alloc event was lost. */
export interface LostAlloc {
  /** The free whose allocation is missing. */
  freeSeq: number;
  /**
   * The last event after which the missing allocation can have happened: the
   * latest release of the bytes at that offset before the free (a free, or the
   * allocation that proved a lost free), or the chunk's create event when no
   * known object ever held them. The history is exact up to and including it.
   */
  after: number;
}

/** The trace's events assigned to chunk instances (`indexChunks`). */
export interface TraceChunks {
  trace: ParsedTrace;
  instances: ChunkInstance[];
  /** Instance index of every event (-1 for failed allocations). */
  instanceOf: Int32Array;
  /** For a free: the sequence number of the allocation it releases; -1 if unknown. For other events: -1. */
  freeTarget: Int32Array;
  /** For an allocation: the sequence number of the free that releases it; -1 if none in the trace. */
  freedBy: Int32Array;
  /** Observations that break the tracer's usual guarantees, as sentences. */
  anomalies: string[];
  /** Sequence numbers of the failed allocations (`percpu_alloc_percpu_fail`), ascending. */
  fails: Int32Array;
}

/**
 * Live-object bookkeeping of one chunk: the owner (allocation seq) of every
 * 4-byte unit, and the event that last released it (-1: never owned).
 */
class UnitOwners {
  owner: Int32Array = new Int32Array(1024).fill(-1);
  releasedAt: Int32Array = new Int32Array(1024).fill(-1);
  live = 0;
  ensure(units: number): void {
    if (units <= this.owner.length) return;
    let n = this.owner.length;
    while (n < units) n *= 2;
    const o = new Int32Array(n).fill(-1);
    o.set(this.owner);
    this.owner = o;
    const r = new Int32Array(n).fill(-1);
    r.set(this.releasedAt);
    this.releasedAt = r;
  }
  mark(from: number, to: number, seq: number): void {
    this.owner.fill(seq, from, to);
  }
}

/** No unit is larger than 1 GiB (the engine's own bound), so no offset lies beyond it. */
const MAX_UNITS = 1 << 28;

/** Bytes an allocation occupies, in 4-byte units (bitmap bits: the allocator rounds sizes up to 4). */
function unitsOf(size: number): number {
  return Math.max(1, bytesToBitsUp(size));
}

/** Assigns every event of a trace to the chunk instance it concerns, and finds the events the trace lost. */
export function indexChunks(trace: ParsedTrace): TraceChunks {
  const ix = new ChunkIndexer(trace);
  for (let seq = 0; seq < ix.n; seq++) ix.indexEvent(seq);
  return ix.finish();
}

/** An index in progress: the instances so far, the one live at each address, and their unit owners. */
class ChunkIndexer {
  readonly n: number;
  private readonly ev: ParsedTrace['events'];
  private readonly instanceOf: Int32Array;
  private readonly freeTarget: Int32Array;
  private readonly freedBy: Int32Array;
  private readonly instances: ChunkInstance[] = [];
  private readonly owners: (UnitOwners | undefined)[] = [];
  private readonly anomalies: string[] = [];
  /** Per chunk address: the instance live there, -1 for none. */
  private readonly current: Int32Array;
  private readonly fails: number[] = [];

  constructor(private readonly trace: ParsedTrace) {
    this.ev = trace.events;
    this.n = this.ev.length;
    this.instanceOf = new Int32Array(this.n).fill(-1);
    this.freeTarget = new Int32Array(this.n).fill(-1);
    this.freedBy = new Int32Array(this.n).fill(-1);
    this.current = new Int32Array(trace.addrs.length).fill(-1);
  }

  private taskName(seq: number): string {
    return `${this.trace.tasks[this.ev.task[seq]!]}-${this.ev.pid[seq]}`;
  }

  /** A new instance at chunk address `addr`, first seen at `seq` (created there, or there before tracing). */
  private begin(addr: number, seq: number, created: boolean): number {
    const idx = this.instances.length;
    this.instances.push({
      number: idx,
      addr,
      base: this.trace.addrs[addr]!,
      createdSeq: created ? seq : -1,
      creator: created ? this.taskName(seq) : '',
      destroyedSeq: -1,
      firstSeq: seq,
      lastSeq: seq,
      allocs: 0,
      frees: 0,
      freesOfOlder: 0,
      unmatchedFrees: [],
      lostAllocs: [],
      lostFrees: [],
      liveAtDestroy: [],
      liveAtEnd: 0,
    });
    this.owners.push(new UnitOwners());
    this.current[addr] = idx;
    return idx;
  }

  /** Assigns event `seq` to its instance and keeps that instance's books. */
  indexEvent(seq: number): void {
    const ev = this.ev;
    const kind = ev.kind[seq]!;
    if (kind === TraceEventKind.AllocFail) {
      this.fails.push(seq);
      return;
    }
    const addr = ev.addr[seq]!;
    let inst = this.current[addr]!;
    if (kind === TraceEventKind.CreateChunk) {
      this.createChunk(addr, seq, inst);
      return;
    }
    if (inst < 0) inst = this.begin(addr, seq, false);
    this.instanceOf[seq] = inst;
    const ci = this.instances[inst]!;
    ci.lastSeq = seq;
    const own = this.owners[inst]!;
    if (kind === TraceEventKind.Alloc) this.noteAlloc(ci, own, seq);
    else if (kind === TraceEventKind.Free) this.noteFree(ci, own, seq);
    else {
      ci.destroyedSeq = seq;
      closeInstance(ci, own);
      this.owners[inst] = undefined;
      this.current[addr] = -1;
    }
  }

  /** A chunk created at `addr`; `live` is the instance still there (a destroy event is missing), -1 for none. */
  private createChunk(addr: number, seq: number, live: number): void {
    if (live >= 0) {
      this.anomalies.push(
        `line ${this.ev.line[seq]}: chunk ${this.trace.addrs[addr]} created again while chunk #${live} with that address was never destroyed (a destroy event is missing)`,
      );
      closeInstance(this.instances[live]!, this.owners[live]!);
      this.owners[live] = undefined;
    }
    this.instanceOf[seq] = this.begin(addr, seq, true);
  }

  private noteAlloc(ci: ChunkInstance, own: UnitOwners, seq: number): void {
    const ev = this.ev;
    ci.allocs++;
    const from: number = offsetToBit(ev.off[seq]!);
    const to = from + unitsOf(ev.size[seq]!);
    if (to > MAX_UNITS) throw new ParseError(this.trace.name, ev.line[seq]!, `offset ${ev.off[seq]} + size ${ev.size[seq]} lies beyond any percpu chunk (1 GiB)`);
    own.ensure(to);
    for (let u = from; u < to; u++) {
      const live = own.owner[u]!;
      if (live < 0) continue;
      // Bytes still owned by an object: its free event never made it into the trace.
      ci.lostFrees.push({ allocSeq: seq, liveSeq: live });
      release(own, ev, live, seq);
    }
    own.mark(from, to, seq);
    own.live++;
  }

  private noteFree(ci: ChunkInstance, own: UnitOwners, seq: number): void {
    const ev = this.ev;
    ci.frees++;
    const off = ev.off[seq]!;
    const u: number = offsetToBit(off);
    const live = u < own.owner.length ? own.owner[u]! : -1;
    if (live >= 0 && ev.off[live] === off) {
      this.freeTarget[seq] = live;
      this.freedBy[live] = seq;
      release(own, ev, live, seq);
    } else if (ci.createdSeq < 0) {
      ci.freesOfOlder++;
    } else {
      ci.unmatchedFrees.push(seq);
      ci.lostAllocs.push({ freeSeq: seq, after: lostAllocBound(ci, own, u, live) });
    }
  }

  /** The index: objects still live at the end counted, frees with no live object reported. */
  finish(): TraceChunks {
    const { trace, instances, anomalies } = this;
    instances.forEach((ci, i) => {
      const own = this.owners[i];
      if (own) ci.liveAtEnd = own.live;
    });
    for (const ci of instances) {
      if (ci.unmatchedFrees.length > 0) {
        anomalies.push(
          `chunk #${ci.number} (${ci.base}): ${ci.unmatchedFrees.length} free(s) of offsets with no live object, first at line ${this.ev.line[ci.unmatchedFrees[0]!]} (their alloc events are missing)`,
        );
      }
    }
    return { trace, instances, instanceOf: this.instanceOf, freeTarget: this.freeTarget, freedBy: this.freedBy, anomalies, fails: Int32Array.from(this.fails) };
  }
}

/**
 * The earliest event after which a lost allocation starting at `unit` can have
 * happened: its bytes were held by a known object until the last release, or
 * were never held since the chunk's creation. If a known object that starts
 * elsewhere still covers the unit, its own free was lost before the lost
 * allocation, so the bound is that object's allocation.
 */
function lostAllocBound(ci: ChunkInstance, own: UnitOwners, unit: number, coveringLive: number): number {
  if (coveringLive >= 0) return coveringLive;
  const released = unit < own.releasedAt.length ? own.releasedAt[unit]! : -1;
  return released >= 0 ? released : ci.createdSeq;
}

/** Drop object `seq` from the bookkeeping, because of event `bySeq`. */
function release(own: UnitOwners, ev: ParsedTrace['events'], seq: number, bySeq: number): void {
  const from: number = offsetToBit(ev.off[seq]!);
  const to = Math.min(from + unitsOf(ev.size[seq]!), own.owner.length);
  for (let u = from; u < to; u++) {
    if (own.owner[u] !== seq) continue;
    own.owner[u] = -1;
    own.releasedAt[u] = bySeq;
  }
  own.live--;
}

/** At destroy, anything still live lost its free (the kernel destroys only empty chunks). */
function closeInstance(ci: ChunkInstance, own: UnitOwners): void {
  ci.liveAtEnd = own.live;
  if (own.live === 0) return;
  const seen = new Set<number>();
  for (const s of own.owner) if (s >= 0 && !seen.has(s)) seen.add(s);
  ci.liveAtDestroy = [...seen].sort((a, b) => a - b);
}

// ---------------------------------------------------------------------------
// The complete history of one chunk created inside the trace.

/** The complete history of one chunk created inside the trace: its ops up to the cut, and the failed allocations it saw. */
export interface ChunkHistory {
  instance: ChunkInstance;
  /** Sequence numbers of its allocs and frees, in trace order, up to the cut. */
  ops: Int32Array;
  /**
   * Last sequence number kept, or -1 when the history is complete. A lost free
   * makes the chunk's state unknown from the lost object's allocation on (its
   * free happened at an unknown moment after it); a lost alloc makes it unknown
   * from `LostAlloc.after` on. The history stops at the earliest of them.
   */
  cut: number;
  /** What set the cut (undefined when the history is complete). */
  cutBy: { lostFree: LostFree } | { liveAtDestroy: number } | { lostAlloc: LostAlloc } | undefined;
  /** Allocations after the cut that are not replayed. */
  allocsDropped: number;
  /** Frees with no allocation (left out of the history). */
  unmatchedFrees: number;
  /**
   * Failed allocations while the chunk existed, up to the cut, that were not
   * reserved requests: the kernel searched this chunk and found no room, so
   * the model is asked the same question (chunk-replay.ts). Ascending seqs.
   */
  fails: Int32Array;
  /** Failed allocations during the chunk's life that are not checked: after the cut, or reserved requests. */
  failsUnchecked: number;
}

/** The history of one chunk instance, cut before the first moment a lost event may have touched it. */
export function chunkHistory(tc: TraceChunks, instance: number, opsOfInstance?: Int32Array): ChunkHistory {
  const ci = tc.instances[instance]!;
  const ev = tc.trace.events;
  let cut = -1;
  let cutBy: ChunkHistory['cutBy'];
  for (const l of ci.lostFrees) {
    if (cut < 0 || l.liveSeq < cut) {
      cut = l.liveSeq;
      cutBy = { lostFree: l };
    }
  }
  for (const s of ci.liveAtDestroy) {
    if (cut < 0 || s < cut) {
      cut = s;
      cutBy = { liveAtDestroy: s };
    }
  }
  for (const l of ci.lostAllocs) {
    if (cut < 0 || l.after < cut) {
      cut = l.after;
      cutBy = { lostAlloc: l };
    }
  }
  const all = opsOfInstance ?? collectOps(tc, instance);
  const kept: number[] = [];
  let dropped = 0;
  let unmatched = 0;
  for (const seq of all) {
    const kind = ev.kind[seq]!;
    if (cut >= 0 && seq > cut) {
      if (kind === TraceEventKind.Alloc) dropped++;
      continue;
    }
    if (kind === TraceEventKind.Free && tc.freeTarget[seq]! < 0) {
      unmatched++;
      continue;
    }
    // A free whose allocation lies beyond the cut cannot occur: frees follow their allocations.
    kept.push(seq);
  }
  const { fails, unchecked } = failsDuring(tc, ci, cut);
  return { instance: ci, ops: Int32Array.from(kept), cut, cutBy, allocsDropped: dropped, unmatchedFrees: unmatched, fails, failsUnchecked: unchecked };
}

/** The failed allocations while `ci` existed (strictly between its create and destroy), split at the cut. */
function failsDuring(tc: TraceChunks, ci: ChunkInstance, cut: number): { fails: Int32Array; unchecked: number } {
  const all = tc.fails;
  const ev = tc.trace.events;
  const end = ci.destroyedSeq >= 0 ? ci.destroyedSeq : ev.length;
  let lo = 0;
  let hi = all.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (all[mid]! <= ci.createdSeq) lo = mid + 1;
    else hi = mid;
  }
  const kept: number[] = [];
  let unchecked = 0;
  for (let i = lo; i < all.length && all[i]! < end; i++) {
    const s = all[i]!;
    // A reserved request searches the reserved chunk only; past the cut the chunk's state is unknown.
    if ((ev.flags[s]! & TRACE_FLAG_RESERVED) !== 0 || (cut >= 0 && s > cut)) unchecked++;
    else kept.push(s);
  }
  return { fails: Int32Array.from(kept), unchecked };
}

function collectOps(tc: TraceChunks, instance: number): Int32Array {
  const ci = tc.instances[instance]!;
  const ev = tc.trace.events;
  const out: number[] = [];
  for (let s = ci.firstSeq; s <= ci.lastSeq; s++) {
    const k = ev.kind[s]!;
    if ((k === TraceEventKind.Alloc || k === TraceEventKind.Free) && tc.instanceOf[s] === instance) out.push(s);
  }
  return Int32Array.from(out);
}

/** Alloc/free sequence numbers of every instance at once (one pass over the trace). */
export function opsByInstance(tc: TraceChunks): Int32Array[] {
  const ev = tc.trace.events;
  const counts = new Int32Array(tc.instances.length);
  for (let s = 0; s < ev.length; s++) {
    const k = ev.kind[s]!;
    if (k === TraceEventKind.Alloc || k === TraceEventKind.Free) counts[tc.instanceOf[s]!]!++;
  }
  const out = Array.from(counts, (c) => new Int32Array(c));
  const fill = new Int32Array(tc.instances.length);
  for (let s = 0; s < ev.length; s++) {
    const k = ev.kind[s]!;
    if (k !== TraceEventKind.Alloc && k !== TraceEventKind.Free) continue;
    const i = tc.instanceOf[s]!;
    out[i]![fill[i]!++] = s;
  }
  return out;
}

/** `task-pid` of an event. */
export function eventTask(trace: ParsedTrace, seq: number): string {
  return `${trace.tasks[trace.events.task[seq]!]}-${trace.events.pid[seq]}`;
}
