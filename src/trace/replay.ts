// SPDX-License-Identifier: GPL-2.0-only
/**
 * `percpu replay`: drive a whole simulated allocator (allocator mode, vm
 * backend) with a trace's events in order and report where it and the kernel
 * disagree.
 *
 * The trace does not say what the chunks that existed before tracing began
 * held, so nothing placed in them can be checked, and the kernel's choice of
 * them over newer chunks depended on that unknown state. The simulation
 * therefore stands in for all of them with its own first chunk, filled before
 * the first event so that it takes nothing; allocations the kernel served from
 * a pre-existing chunk are counted as unverifiable and are not simulated (nor
 * are their frees). Everything placed in chunks created during the trace is
 * simulated and compared: which chunk and which offset. A kernel chunk is
 * paired with the simulated chunk that receives the same allocation while both
 * are empty (empty chunks are interchangeable); a pairing ends when either side
 * destroys its chunk, since the kernel's balance work runs later, from a
 * workqueue, than the simulation's. Lifetime differences are reported, never
 * counted as placements.
 *
 * The per-chunk analysis (`verify-trace`) runs first: its trace-order
 * corrections are applied to the global order, and after a lost free the
 * simulation frees the object at the latest moment possible (right before the
 * allocation that proves the loss) and counts the chunk's later allocations as
 * unverifiable.
 *
 * A lost alloc is different from a lost free: the kernel's chunk held an
 * object the simulation never had, from an unknown moment on, so the
 * simulation has room the kernel did not, and its choice of chunk for every
 * later request may differ for that reason alone. From the earliest moment
 * such a hole may lie (see chunks.ts), allocations are still simulated but no
 * longer compared (`unverifiableAfterLostAlloc`); the per-chunk analysis still
 * checks every other chunk.
 *
 * A failed allocation is not tried on the simulation: the kernel failed for
 * want of populated pages or of memory for a new chunk, which the simulation
 * does not share (it populates and balances on its own schedule, and always
 * gets its new chunk), and a probe would change its state. It takes the
 * per-chunk analysis' verdicts instead: a failed allocation for which the
 * model finds room the kernel must have seen, in a chunk whose whole life is
 * in the trace, is a disagreement (`failed`); one the model refuses in every
 * such chunk alive then agrees; the others are not comparable.
 *
 * When the balance work runs (`deferred`, the default): the kernel runs it from
 * a workqueue and no event records that, so the simulation schedules it as the
 * kernel's code does but runs it only at the moments the trace implies — a
 * chunk destroyed, or created by a kworker (only the balance work does either);
 * an atomic allocation into pages the partner chunk lacks (after failures the
 * populate step must have run, in the chunk the placement shows, whose pages
 * are then populated as that step does); an allocation into a chunk the
 * simulation holds isolated (the kernel's reclaim had run); the trace clock
 * moving `balanceDelayUs` past the scheduling op — and to a fixed point after
 * the last event (the after-snapshot is taken at quiescence). `sync` runs it
 * after every op, `none` never. Atomic failures are not tried, but set the
 * kernel's failure flag for the next run. The pre-existing chunks' empty pages
 * (part of the global count every balance decision reads) are an assumption:
 * `outsideEmptyPages` at the start, moving linearly to `outsideEmptyPagesEnd`.
 *
 * An atomic allocation the kernel placed in pages the simulation's partner
 * chunk still had not populated, or in a chunk the simulation had isolated or
 * sidelined, tells about the balance work's unrecorded timing, not about
 * placement, so it is counted as unverifiable with its reason
 * (`unverifiableAtomicTiming`).
 *
 * Invariant: every allocation in the trace is counted exactly once, as matched,
 * mismatched (another chunk, another offset, refused) or unverifiable (with the
 * reason); every failed allocation once, as agreed, mismatched or not compared.
 */
import { createAllocator, type PercpuAllocator } from '../allocator.js';
import { ALLOC_ATOMIC, BitmapAllocator } from '../engine/bitmap-allocator.js';
import { testBit } from '../engine/bitmap.js';
import { EMPTY_POP_PAGES_HIGH } from '../engine/constants.js';
import { Hdr } from '../engine/chunk.js';
import { NULL_CHUNK_ID, NULL_PTR, ptrChunk, ptrOffset } from '../engine/pointer.js';
import type { GeometryInput } from '../engine/geometry.js';
import { PercpuError } from '../errors.js';
import { TraceEventKind, type ParsedTrace } from './parse.js';
import { parsePercpuStats } from './stats-parse.js';
import { verifyParsedTrace, type TraceVerification } from './verify-trace.js';
import { allocOrRefuse, FAIL_AGREED, FAIL_MISMATCH } from './chunk-replay.js';

/** Options of `replayTrace`. */
export interface TraceReplayOptions {
  kernel?: string;
  geometry: GeometryInput;
  /**
   * When the simulation runs its balance work (see "When the balance work runs" in the header):
   * `deferred` (default) at the moments the trace implies and to a fixed point at its end; `sync`
   * right after each op that scheduled it; `none` never.
   */
  balance?: BalancePolicy;
  /**
   * `deferred` only: a scheduled balance work has run once the trace's clock has moved on this
   * many microseconds (default `DEFAULT_BALANCE_DELAY_US`); 0 or less: only at the implied points.
   */
  balanceDelayUs?: number;
  /** Passed to the per-chunk analysis. */
  windowUs?: number;
  maxShift?: number;
  /** Correct the free-path slip in the simulation. */
  fixed?: boolean;
  /** Called after each event is replayed (events in corrected order), with the simulation. */
  afterEvent?: (seq: number, simulation: PercpuAllocator) => void;
  /**
   * Empty populated pages of the chunks that existed before tracing when tracing began (the
   * before-snapshot's global `empty_pop_pages`), counted in the simulation's global count.
   */
  outsideEmptyPages?: number;
  /**
   * The same at the trace's end (`outsideEmptyPagesAtEnd` of the after-snapshot). When given, the
   * count moves linearly in trace time from `outsideEmptyPages` to this; otherwise it stays.
   */
  outsideEmptyPagesEnd?: number;
  /** The per-chunk analysis of this trace, when the caller already ran it (same unit size and kernel). */
  verification?: TraceVerification;
}

/** When the simulation runs its balance work: at the moments the trace implies (`deferred`), right after every op that schedules it (`sync`), or never. */
export type BalancePolicy = 'deferred' | 'sync' | 'none';

/**
 * The moments the deferred policy runs the simulation's balance work at, each one a fact of the
 * trace or of the kernel's code (docs/ENGINE.md, "When the balance work runs").
 */
export type BalancePoint =
  | 'kernel-balance-event'
  | 'atomic-after-failure'
  | 'atomic-needs-population'
  | 'alloc-into-isolated'
  | 'delay'
  | 'end';

export const BALANCE_POINTS: readonly BalancePoint[] = ['kernel-balance-event', 'atomic-after-failure', 'atomic-needs-population', 'alloc-into-isolated', 'delay', 'end'];

const BALANCE_POINT_TEXT: Record<BalancePoint, string> = {
  'kernel-balance-event': 'at a chunk destroyed or created by the kernel\'s balance work',
  'atomic-after-failure': 'before an atomic allocation after atomic failures (populated meanwhile)',
  'atomic-needs-population': 'before an atomic allocation into pages the simulation had not populated',
  'alloc-into-isolated': 'before an allocation into a chunk the simulation held isolated',
  delay: 'after the delay',
  end: 'at the end',
};

/** Microseconds after which a scheduled balance work has surely run (see the header). */
export const DEFAULT_BALANCE_DELAY_US = 1000;

/** `failed`: the kernel refused a request the per-chunk model places where the kernel must have seen room. */
export type MismatchKind = 'chunk' | 'offset' | 'refused' | 'failed';

/** One event where the replayed allocator and the kernel disagree. */
export interface ReplayDisagreement {
  seq: number;
  kind: MismatchKind;
  detail: string;
}

/** A kernel chunk and the simulated chunk it was found to be. */
export interface ChunkPair {
  kernelChunk: number;
  simChunk: number;
  /** Event seq of the first allocation that paired them. */
  pairedAt: number;
}

/** What a whole-trace replay found: allocations compared and matched, disagreements, the chunk pairing. */
export interface TraceReplayResult {
  trace: ParsedTrace;
  verification: TraceVerification;
  allocs: number;
  compared: number;
  matched: number;
  mismatched: Record<MismatchKind, number>;
  /** Allocations into chunks that existed before tracing (not simulated). */
  unverifiablePreexisting: number;
  /** Allocations into a traced chunk after its history was cut at a lost free (simulated, not compared). */
  unverifiableAfterLostFree: number;
  /** Allocations after the earliest moment a lost alloc event may lie, anywhere (simulated, not compared); see the header. */
  unverifiableAfterLostAlloc: number;
  /**
   * Atomic allocations the kernel placed in pages its partner chunk in the simulation had not
   * populated (or had isolated): population is decided by balance work at moments the trace does not
   * show, so they are not compared (simulated where the simulation could place them).
   */
  unverifiableAtomicTiming: number;
  atomicTimingNotes: { seq: number; detail: string }[];
  /** That moment: the seq after which nothing is compared, -1 when no lost alloc was proven. */
  lostAllocCut: number;
  /** Failed allocations (`percpu_alloc_percpu_fail`), judged by the per-chunk analysis (see the header). */
  fails: number;
  /** Refused by the model in every chunk created in the trace and alive then (and at least one was). */
  failsMatched: number;
  /** Neither agreed nor mismatched: no such chunk, or the model's room there may have been unusable to the kernel. */
  failsNotCompared: number;
  frees: { replayed: number; olderObjects: number; unverifiableObjects: number; injected: number };
  firstDisagreements: ReplayDisagreement[];
  pairs: ChunkPair[];
  /** The pairings still standing after the last event: kernel chunk instance → simulated chunk id. */
  finalPairs: Map<number, number>;
  /** Kernel chunk events in the trace. */
  kernelCreated: number;
  kernelDestroyed: number;
  /** Simulation chunk events after setup, with the seq being replayed when they happened. */
  simCreated: { chunk: number; seq: number }[];
  simDestroyed: { chunk: number; seq: number }[];
  /** Pairs whose chunk one side destroyed while the other kept it (the first few, and the count). */
  lifetimeDisagreements: string[];
  lifetimeDifferences: number;
  /** Times a simulated chunk that had stood for another kernel chunk was paired with a new one (both empty). */
  repairs: number;
  setup: { fillerAllocs: number };
  balance: BalancePolicy;
  balanceDelayUs: number;
  /** Deferred policy: how many times the simulation ran its balance work, by the point that ran it. */
  balanceRuns: Record<BalancePoint, number>;
  /**
   * Pages the simulation populated because the kernel's placement of an atomic request proves its
   * populate step had populated them (the simulation's own balance work had not), with the seq.
   */
  directedPopulation: { seq: number; chunk: number; pages: number }[];
  /** Atomic failures of the kernel whose balance run (populate 4 pages in the fullest chunk with holes) was still due at the end. */
  atomicFailuresAtEnd: number;
  /** Empty populated pages assumed for the chunks that existed before tracing (`TraceReplayOptions.outsideEmptyPages`). */
  outsideEmptyPages: number;
  /** At the end (equal to `outsideEmptyPages` when no end value was given). */
  outsideEmptyPagesEnd: number;
  /**
   * Per kernel chunk instance: its allocations in the trace, and how many of them the simulation
   * placed at the kernel's chunk and offset (compared and matched).
   */
  chunkAllocs: Int32Array;
  chunkMatched: Int32Array;
  /** The simulated allocator, in its state after the last event. */
  simulation: PercpuAllocator;
  /** Where the simulation placed each allocation event (by seq; NULL_PTR where it was not simulated or was refused). */
  placements: Float64Array;
}

const KEEP = 8;
/** The balance work is idempotent once nothing is scheduled; a few runs reach that. */
const FIXED_POINT_RUNS = 8;

/** Allocate the simulation's first chunk full, so it stands in for the kernel's chunks of unknown state. */
function fillFirstChunk(sim: PercpuAllocator): number {
  let n = 0;
  for (let guard = 0; guard < 10_000; guard++) {
    const first = parsePercpuStats(sim.formatStats(), '<simulation>').chunks.find((c) => c.kind === 'first');
    if (first === undefined) throw new PercpuError('EUNSUPPORTED', 'simulation has no first chunk to stand in for the chunks that existed before tracing');
    const contig = first.contigBytes;
    if (contig < 4) return n;
    let size = Math.min(contig, 32 << 10) & ~3;
    for (;;) {
      const p = sim.alloc(size, 4);
      if (p !== NULL_PTR && ptrChunk(p) === 0) break;
      if (p !== NULL_PTR) sim.free(p);
      if (size <= 4) return n;
      size = Math.max(4, (size >>> 1) & ~3);
    }
    n++;
  }
  return n;
}

/** Replays a whole trace through one simulated allocator of the given geometry and compares every placement with the kernel's. */
export function replayTrace(trace: ParsedTrace, options: TraceReplayOptions): TraceReplayResult {
  const ev = trace.events;
  const n = ev.length;
  const unitSize = options.geometry.unitSize;
  const verification = options.verification ?? verifyParsedTrace(trace, {
    unitSize,
    pageSize: options.geometry.pageSize ?? 4096,
    ...(options.kernel ? { kernel: options.kernel } : {}),
    ...(options.windowUs !== undefined ? { windowUs: options.windowUs } : {}),
    ...(options.maxShift !== undefined ? { maxShift: options.maxShift } : {}),
  });
  const tc = verification.chunks;

  const order = correctedOrder(verification, n);
  const failVerdict = failVerdicts(verification);
  const injectBefore = lostFreeInjections(verification);
  const cutOf = new Int32Array(tc.instances.length).fill(-1);
  for (const c of verification.verified) cutOf[c.instance.number] = c.history.cut;
  let lostAllocCut = -1;
  for (const c of verification.verified) for (const l of c.instance.lostAllocs) if (lostAllocCut < 0 || l.after < lostAllocCut) lostAllocCut = l.after;

  let currentSeq = -1;
  let setupDone = false;
  const simCreated: TraceReplayResult['simCreated'] = [];
  const simDestroyed: TraceReplayResult['simDestroyed'] = [];
  const policy: BalancePolicy = options.balance ?? 'deferred';
  const delayUs = options.balanceDelayUs ?? DEFAULT_BALANCE_DELAY_US;
  const sim = createAllocator({
    kernel: options.kernel ?? '7.0',
    geometry: options.geometry,
    backend: 'vm',
    balance: policy === 'sync' ? 'sync' : 'none',
    fixed: options.fixed ?? false,
    onChunkEvent: (type, chunk) => {
      if (!setupDone) return;
      (type === 'create' ? simCreated : simDestroyed).push({ chunk, seq: currentSeq });
    },
  });
  const bsim = sim instanceof BitmapAllocator ? sim : undefined;
  const fillerAllocs = fillFirstChunk(sim);
  const outsideStart = Math.max(0, options.outsideEmptyPages ?? 0);
  const outsideEnd = Math.max(0, options.outsideEmptyPagesEnd ?? outsideStart);
  let outsideNow = outsideStart;
  if (outsideStart && bsim) bsim.addUnmodelledEmptyPages(outsideStart);
  // The kernel was quiescent when tracing began: whatever the filler scheduled has run.
  if (policy === 'deferred' && bsim) for (let i = 0; i < FIXED_POINT_RUNS && bsim.balanceScheduled; i++) bsim.runBalanceWork();
  setupDone = true;
  const placements = new Float64Array(n).fill(NULL_PTR);

  const r: TraceReplayResult = {
    trace,
    verification,
    allocs: 0,
    compared: 0,
    matched: 0,
    mismatched: { chunk: 0, offset: 0, refused: 0, failed: 0 },
    unverifiablePreexisting: 0,
    unverifiableAfterLostFree: 0,
    unverifiableAfterLostAlloc: 0,
    unverifiableAtomicTiming: 0,
    atomicTimingNotes: [],
    lostAllocCut: -1,
    fails: 0,
    failsMatched: 0,
    failsNotCompared: 0,
    frees: { replayed: 0, olderObjects: 0, unverifiableObjects: 0, injected: 0 },
    firstDisagreements: [],
    pairs: [],
    finalPairs: new Map(),
    kernelCreated: 0,
    kernelDestroyed: 0,
    simCreated,
    simDestroyed,
    lifetimeDisagreements: [],
    lifetimeDifferences: 0,
    repairs: 0,
    setup: { fillerAllocs },
    balance: policy,
    balanceDelayUs: policy === 'deferred' ? delayUs : 0,
    balanceRuns: { 'kernel-balance-event': 0, 'atomic-after-failure': 0, 'atomic-needs-population': 0, 'alloc-into-isolated': 0, delay: 0, end: 0 },
    directedPopulation: [],
    atomicFailuresAtEnd: 0,
    outsideEmptyPages: outsideStart,
    outsideEmptyPagesEnd: outsideEnd,
    simulation: sim,
    chunkAllocs: new Int32Array(tc.instances.length),
    chunkMatched: new Int32Array(tc.instances.length),
    placements,
  };
  r.lostAllocCut = lostAllocCut;
  const disagree = (seq: number, kind: MismatchKind, detail: string) => {
    r.mismatched[kind]++;
    if (r.firstDisagreements.length < KEEP) r.firstDisagreements.push({ seq, kind, detail });
  };

  const simPtr = new Float64Array(n).fill(NULL_PTR);
  const simOfKernel = new Map<number, number>();
  const kernelOfSim = new Map<number, number>();
  const simEverPaired = new Set<number>();
  // Live objects per chunk on each side: two empty chunks are interchangeable, so they may be (re)paired.
  const kernelLive = new Int32Array(tc.instances.length);
  const simLive = new Map<number, number>([[0, fillerAllocs]]);
  const addSimLive = (chunk: number, d: number) => simLive.set(chunk, (simLive.get(chunk) ?? 0) + d);
  const unpairKernel = (inst: number) => {
    const sc = simOfKernel.get(inst);
    if (sc === undefined) return;
    simOfKernel.delete(inst);
    kernelOfSim.delete(sc);
  };
  const unpairSim = (sc: number) => {
    const inst = kernelOfSim.get(sc);
    if (inst !== undefined) unpairKernel(inst);
  };
  const lifetime = (text: string) => {
    r.lifetimeDifferences++;
    if (r.lifetimeDisagreements.length < KEEP) r.lifetimeDisagreements.push(text);
  };
  const freeSim = (allocSeq: number) => {
    const p = simPtr[allocSeq]!;
    if (p === NULL_PTR) return false;
    sim.free(p);
    addSimLive(ptrChunk(p), -1);
    simPtr[allocSeq] = NULL_PTR;
    return true;
  };
  /**
   * An atomic request goes only where pages are populated. When the kernel's target pages are
   * unpopulated in the simulation's partner chunk (or that chunk is isolated there), the two
   * differ in population — decided by balance work at moments the trace does not show — not in
   * placement: say why, instead of counting a disagreement.
   */
  const atomicTiming = (inst: number, seq: number): string | undefined => {
    const paired = simOfKernel.get(inst);
    if (paired === undefined || !(sim instanceof BitmapAllocator)) return undefined;
    const c = sim.getChunk(paired);
    if (c === undefined) return undefined;
    const pageSize = sim.geometry.pageSize;
    const off = ev.off[seq]!;
    const end = off + ((ev.size[seq]! + 3) & ~3);
    const where = `kernel chunk #${tc.instances[inst]!.number} off ${off}`;
    if (c.hdr[Hdr.Slot] === sim.toDepopulateSlot) return `atomic, ${where}: the simulation had isolated that chunk for depopulation (never searched); the kernel had not, or had reintegrated it`;
    if (c.hdr[Hdr.Slot] === sim.sidelinedSlot) {
      return `atomic, ${where}: the simulation had sidelined that chunk (searched after every size slot, so another chunk came first); the kernel had not, or had reintegrated it`;
    }
    for (let pg = Math.floor(off / pageSize); pg < Math.ceil(end / pageSize); pg++) {
      if (!testBit(c.populated, pg)) {
        return `atomic, ${where}: page ${pg} is not populated in the simulation; the kernel's balance work had populated it (or not depopulated it) by then`;
      }
    }
    return undefined;
  };
  let simDestroyedSeen = 0;
  /** Chunks the simulation destroyed during the last op: compare with the kernel, then forget the pairing. */
  const noteSimDestroys = (seq: number) => {
    for (; simDestroyedSeen < simDestroyed.length; simDestroyedSeen++) {
      const d = simDestroyed[simDestroyedSeen]!;
      const ki = kernelOfSim.get(d.chunk);
      if (ki !== undefined) {
        const ci = tc.instances[ki]!;
        if (ci.destroyedSeq < 0 || ci.destroyedSeq > seq) {
          lifetime(
            `simulation destroyed chunk ${d.chunk} while replaying line ${ev.line[seq]}; the kernel ` +
              (ci.destroyedSeq < 0 ? `kept its chunk #${ci.number} to the end` : `destroyed its chunk #${ci.number} later (line ${ev.line[ci.destroyedSeq]})`),
          );
        }
      }
      unpairSim(d.chunk);
    }
  };

  // Deferred balance work: when the simulation scheduled it (trace clock), and the kernel's atomic
  // failures whose balance run (with `pcpu_atomic_alloc_failed` set) the trace has not shown yet.
  let scheduledAt = -1;
  let pendingAtomicFailures = 0;
  let lastWasKernelBalanceEvent = false;
  const runBalance = (why: BalancePoint, seq: number) => {
    if (!bsim) return;
    bsim.runBalanceWork();
    r.balanceRuns[why]++;
    scheduledAt = -1;
    noteSimDestroys(seq);
  };
  const noteScheduled = (seq: number) => {
    if (policy === 'deferred' && scheduledAt < 0 && bsim?.balanceScheduled) scheduledAt = ev.time[seq]!;
  };
  const pageSize = options.geometry.pageSize ?? 4096;
  /**
   * Deferred policy, before the kernel's atomic allocation `seq` into traced chunk `inst`: if the
   * simulation's partner chunk lacks the population the kernel's placement shows, the kernel's
   * balance work ran meanwhile. Run the simulation's; if its populate step chose other pages (or
   * another chunk) than the kernel's, populate the pages the placement proves populated, as the
   * populate step does (counted in `directedPopulation`).
   */
  const beforeAtomic = (inst: number, seq: number, kernelWasEmpty: boolean) => {
    if (!bsim) return;
    // An empty kernel chunk not yet paired stands for an empty simulated one (the newest unpaired).
    let sc = simOfKernel.get(inst);
    if (sc === undefined && kernelWasEmpty) {
      for (const { chunk: c } of bsim.chunksInSlotOrder()) {
        const id = c.hdr[Hdr.Id]!;
        if (id !== 0 && c.hdr[Hdr.NrAlloc] === 0 && !kernelOfSim.has(id) && (sc === undefined || id > sc)) sc = id;
      }
    }
    if (sc === undefined) return;
    const chunk = bsim.getChunk(sc)!;
    const off = ev.off[seq]!;
    const first = Math.floor(off / pageSize);
    const last = Math.ceil((off + ((ev.size[seq]! + 3) & ~3)) / pageSize);
    const missing = () => {
      for (let pg = first; pg < last; pg++) if (!testBit(chunk.populated, pg)) return true;
      return false;
    };
    if (!missing() && chunk.hdr[Hdr.Slot] !== bsim.toDepopulateSlot) return;
    let pages = 0;
    if (pendingAtomicFailures > 0) {
      // After an atomic failure the kernel's populate step populates 4 pages (lowest runs first) in
      // the first chunk with holes, slot by slot; the placement shows it was this one. Each failure
      // ran it once; the simulation's other scheduled steps run too.
      pendingAtomicFailures = 0;
      r.balanceRuns['atomic-after-failure']++;
      for (let i = 0; i < 64 && missing(); i++) {
        const got = bsim.populatePagesAsBalance(sc, 0, chunk.nrPages, EMPTY_POP_PAGES_HIGH);
        if (got === 0) break;
        pages += got;
      }
      if (bsim.balanceScheduled) runBalance('atomic-after-failure', seq);
    } else if (bsim.balanceScheduled) runBalance('atomic-needs-population', seq);
    // Still short: the kernel had these pages populated (a populate step the trace does not show, or
    // a reclaim that stopped before them).
    if (missing()) pages += bsim.populatePagesAsBalance(sc, first, last);
    if (pages > 0) r.directedPopulation.push({ seq, chunk: sc, pages });
  };

  for (let k = 0; k < n; k++) {
    const seq = order[k]!;
    currentSeq = seq;
    const kind = ev.kind[seq]!;
    if (outsideEnd !== outsideStart && bsim && n > 1) {
      const t0 = ev.time[0]!;
      const span = ev.time[n - 1]! - t0;
      const want = Math.round(outsideStart + (outsideEnd - outsideStart) * (span > 0 ? (ev.time[seq]! - t0) / span : 1));
      if (want !== outsideNow) {
        bsim.addUnmodelledEmptyPages(want - outsideNow);
        outsideNow = want;
      }
    }
    if (policy === 'deferred' && bsim) {
      // The workqueue has run the work once the trace's clock moved on far enough.
      if (scheduledAt >= 0 && delayUs > 0 && (ev.time[seq]! - scheduledAt) * 1e6 > delayUs) runBalance('delay', seq);
      // A chunk destroyed, or created by a kworker, is the balance work running (only it destroys
      // chunks; the allocation path creates them in the allocating task).
      const balanceEvent = kind === TraceEventKind.DestroyChunk || (kind === TraceEventKind.CreateChunk && trace.tasks[ev.task[seq]!]!.startsWith('kworker'));
      if (balanceEvent && !lastWasKernelBalanceEvent) {
        // If atomic requests failed since the last run, this run has the kernel's flag set.
        if (pendingAtomicFailures > 0) bsim.noteAtomicAllocFailure();
        pendingAtomicFailures = 0;
        runBalance('kernel-balance-event', seq);
      }
      lastWasKernelBalanceEvent = balanceEvent;
    }
    const lost = injectBefore.get(seq);
    if (lost) {
      for (const s of lost) {
        kernelLive[tc.instanceOf[s]!]!--;
        if (freeSim(s)) r.frees.injected++;
      }
      noteSimDestroys(seq);
    }
    const inst = tc.instanceOf[seq]!;
    switch (kind) {
      case TraceEventKind.Alloc: {
        r.allocs++;
        r.chunkAllocs[inst]!++;
        const ci = tc.instances[inst]!;
        if (ci.createdSeq < 0) {
          r.unverifiablePreexisting++;
          // An atomic success after failures: the kernel's balance work ran and populated pages, in
          // a chunk outside the simulation as far as the trace shows (not simulated).
          if (ev.flags[seq]! & 2) pendingAtomicFailures = 0;
          break;
        }
        const kernelWasEmpty = kernelLive[inst] === 0;
        kernelLive[inst]!++;
        const flags = ev.flags[seq]! & 2 ? ALLOC_ATOMIC : 0;
        if (policy === 'deferred' && bsim) {
          const partner = simOfKernel.get(inst);
          if (flags !== 0) beforeAtomic(inst, seq, kernelWasEmpty);
          else if (partner !== undefined && bsim.getChunk(partner)?.hdr[Hdr.Slot] === bsim.toDepopulateSlot && bsim.balanceScheduled) {
            // The kernel placed it in a chunk the simulation holds isolated (never searched): its reclaim had run.
            runBalance('alloc-into-isolated', seq);
          }
        }
        const p = allocOrRefuse(sim, ev.size[seq]!, ev.align[seq]!, flags);
        simPtr[seq] = p;
        placements[seq] = p;
        const sc = p === NULL_PTR ? NULL_CHUNK_ID : ptrChunk(p);
        const simWasEmpty = sc >= 0 && (simLive.get(sc) ?? 0) === 0;
        if (sc >= 0) addSimLive(sc, 1);
        const cut = cutOf[inst]!;
        if (lostAllocCut >= 0 && seq > lostAllocCut) {
          r.unverifiableAfterLostAlloc++;
          break;
        }
        if (cut >= 0 && seq > cut) {
          r.unverifiableAfterLostFree++;
          break;
        }
        const timing = flags !== 0 && (p === NULL_PTR || simOfKernel.get(inst) !== sc) ? atomicTiming(inst, seq) : undefined;
        if (timing !== undefined) {
          r.unverifiableAtomicTiming++;
          if (r.atomicTimingNotes.length < KEEP) r.atomicTimingNotes.push({ seq, detail: timing });
          break;
        }
        r.compared++;
        if (p === NULL_PTR) {
          disagree(seq, 'refused', `the simulation refused it (kernel: chunk #${ci.number} off ${ev.off[seq]})`);
          break;
        }
        const paired = simOfKernel.get(inst);
        if (paired !== sc) {
          if (!(kernelWasEmpty && simWasEmpty)) {
            const owner = kernelOfSim.get(sc);
            disagree(
              seq,
              'chunk',
              `kernel chunk #${ci.number} (simulated chunk ${paired ?? 'none'}), simulation chunk ${sc}` +
                `${owner !== undefined ? ` (kernel chunk #${tc.instances[owner]!.number})` : ''}`,
            );
            break;
          }
          // Both chunks were empty: they are interchangeable, whatever each side did with its older chunks.
          if (simEverPaired.has(sc) || paired !== undefined) r.repairs++;
          simEverPaired.add(sc);
          unpairKernel(inst);
          unpairSim(sc);
          simOfKernel.set(inst, sc);
          kernelOfSim.set(sc, inst);
          r.pairs.push({ kernelChunk: inst, simChunk: sc, pairedAt: seq });
        }
        if (ptrOffset(p) === ev.off[seq]) {
          r.matched++;
          r.chunkMatched[inst]!++;
        }
        else disagree(seq, 'offset', `chunk #${ci.number}: kernel off ${ev.off[seq]}, simulation off ${ptrOffset(p)}`);
        break;
      }
      case TraceEventKind.AllocFail: {
        r.fails++;
        // An atomic failure sets `pcpu_atomic_alloc_failed` and schedules the balance work.
        if (ev.flags[seq]! & 2 && bsim) {
          if (policy === 'deferred') pendingAtomicFailures++;
          else if (policy === 'sync') bsim.noteAtomicAllocFailure();
        }
        const v = failVerdict.get(seq);
        if (v === undefined) r.failsNotCompared++;
        else if (v.verdict === FAIL_AGREED) r.failsMatched++;
        else if (v.verdict === FAIL_MISMATCH) disagree(seq, 'failed', `the kernel refused it; the per-chunk model finds room it must have seen in chunk #${v.chunk}${v.off >= 0 ? ` at off ${v.off}` : ''}`);
        else r.failsNotCompared++;
        break;
      }
      case TraceEventKind.Free: {
        const a = tc.freeTarget[seq]!;
        if (a < 0) r.frees.olderObjects++;
        else {
          kernelLive[inst]!--;
          if (freeSim(a)) r.frees.replayed++;
          else r.frees.unverifiableObjects++;
        }
        break;
      }
      case TraceEventKind.CreateChunk:
        r.kernelCreated++;
        break;
      case TraceEventKind.DestroyChunk: {
        r.kernelDestroyed++;
        const sc = simOfKernel.get(inst);
        if (sc !== undefined) {
          lifetime(`kernel destroyed chunk #${tc.instances[inst]!.number} at line ${ev.line[seq]}; its simulated chunk ${sc} is still alive then`);
          unpairKernel(inst);
        }
        break;
      }
    }
    noteSimDestroys(seq);
    noteScheduled(seq);
    options.afterEvent?.(seq, sim);
  }
  if (outsideNow !== outsideEnd && bsim) {
    bsim.addUnmodelledEmptyPages(outsideEnd - outsideNow);
    outsideNow = outsideEnd;
  }
  if (policy === 'deferred' && bsim) {
    // Quiescence: the kernel's last scheduled work has run by the after-snapshot (the capture waits
    // for the events to stop). Its last atomic failure, if no success followed, left the flag set.
    r.atomicFailuresAtEnd = pendingAtomicFailures;
    if (pendingAtomicFailures > 0) bsim.noteAtomicAllocFailure();
    const last = n > 0 ? order[n - 1]! : -1;
    for (let i = 0; i < FIXED_POINT_RUNS && bsim.balanceScheduled; i++) runBalance('end', last);
  }
  r.finalPairs = simOfKernel;
  return r;
}

/** Per failed allocation: the worst per-chunk verdict (a mismatch beats not comparable beats agreed), with the chunk. */
const rank = (verdict: number) => (verdict === FAIL_MISMATCH ? 2 : verdict === FAIL_AGREED ? 0 : 1);

function failVerdicts(v: TraceVerification): Map<number, { verdict: number; chunk: number; off: number }> {
  const m = new Map<number, { verdict: number; chunk: number; off: number }>();
  for (const c of v.verified) {
    const f = c.result.fails;
    c.history.fails.forEach((seq, i) => {
      const verdict = f.verdicts[i]!;
      const had = m.get(seq);
      if (had !== undefined && rank(had.verdict) >= rank(verdict)) return;
      const off = f.first.find((x) => x.seq === seq)?.modelOff ?? -1;
      m.set(seq, { verdict, chunk: c.instance.number, off });
    });
  }
  return m;
}

/** The trace order with each traced chunk's ops permuted into its corrected order, within their own positions. */
function correctedOrder(v: TraceVerification, n: number): Int32Array {
  const order = new Int32Array(n);
  for (let s = 0; s < n; s++) order[s] = s;
  for (const c of v.verified) {
    const final = c.result.order;
    const slots = Int32Array.from(final).sort();
    for (let i = 0; i < slots.length; i++) order[slots[i]!] = final[i]!;
  }
  return order;
}

/** Lost frees, keyed by the event before which the object is freed at the latest: the reusing alloc, or the chunk's destroy. */
function lostFreeInjections(v: TraceVerification): Map<number, number[]> {
  const m = new Map<number, number[]>();
  const push = (k: number, obj: number) => {
    const l = m.get(k);
    if (l) l.push(obj);
    else m.set(k, [obj]);
  };
  for (const c of v.verified) {
    for (const l of c.instance.lostFrees) push(l.allocSeq, l.liveSeq);
    for (const s of c.instance.liveAtDestroy) push(c.instance.destroyedSeq, s);
  }
  return m;
}

/** A whole-trace replay's report, as `percpu replay` prints it (one line per entry). */
export function formatTraceReplay(r: TraceReplayResult, geometryText: string): string[] {
  const t = r.trace;
  const ev = t.events;
  const tc = r.verification.chunks;
  const out: string[] = [];
  out.push(`replay ${r.verification.workload}: simulated allocator, ${geometryText}`);
  const pre = tc.instances.filter((c) => c.createdSeq < 0);
  out.push(
    `  ${pre.length} chunk(s) existed before tracing began (${pre.map((c) => `#${c.number} ${c.base}`).join(', ') || 'none'}): their contents are unknown, ` +
      `so the simulation stands in for them with its first chunk, filled before the first event (${r.setup.fillerAllocs} filler allocation(s))`,
  );
  if (r.outsideEmptyPagesEnd !== r.outsideEmptyPages) {
    out.push(
      `  assumed: the chunks that existed before tracing hold ${r.outsideEmptyPages} empty populated page(s) when tracing begins and ${r.outsideEmptyPagesEnd} at its end ` +
        `(the snapshots' values), linearly in trace time between, counted in the simulation's global empty-page count`,
    );
  } else if (r.outsideEmptyPages > 0) {
    out.push(`  assumed: the chunks that existed before tracing hold ${r.outsideEmptyPages} empty populated page(s) throughout, counted in the simulation's global empty-page count`);
  }
  out.push(`allocations: ${r.allocs}`);
  out.push(`  unverifiable: ${r.unverifiablePreexisting} placed by the kernel in chunks that existed before tracing (not simulated)`);
  if (r.unverifiableAfterLostFree > 0) {
    out.push(`  unverifiable: ${r.unverifiableAfterLostFree} placed in a chunk after its history was cut at a lost free event (simulated, not compared)`);
  }
  if (r.unverifiableAfterLostAlloc > 0) {
    out.push(
      `  unverifiable: ${r.unverifiableAfterLostAlloc} placed after line ${ev.line[r.lostAllocCut]}, the earliest moment a lost alloc event may lie: the simulation has room the kernel had not, ` +
        `so its chunk choices no longer stand for the kernel's (simulated, not compared; verify-trace checks the other chunks one by one)`,
    );
  }
  if (r.unverifiableAtomicTiming > 0) {
    out.push(
      `  timing the trace cannot show: ${r.unverifiableAtomicTiming} atomic allocation(s) the kernel placed in pages the simulation had not populated (or in a chunk it had isolated); ` +
        `which pages are populated is decided by the balance work, whose moments no event records (simulated, not compared)`,
    );
    for (const t of r.atomicTimingNotes) out.push(`    seq ${t.seq} (line ${ev.line[t.seq]}): ${t.detail}`);
    if (r.unverifiableAtomicTiming > r.atomicTimingNotes.length) out.push(`    … ${r.unverifiableAtomicTiming - r.atomicTimingNotes.length} more`);
  }
  out.push(
    `  compared: ${r.compared}: matched ${r.matched}, in another chunk ${r.mismatched.chunk}, at another offset ${r.mismatched.offset}, refused by the simulation ${r.mismatched.refused}`,
  );
  if (r.fails > 0) {
    out.push(
      `failed allocations: ${r.fails} (not tried on the simulation; judged per chunk): refused by the model in every chunk created in the trace and alive then ${r.failsMatched}, ` +
        `room the kernel must have seen ${r.mismatched.failed}, not comparable ${r.failsNotCompared}`,
    );
  }
  const f = r.frees;
  out.push(
    `frees: ${f.replayed} replayed, ${f.olderObjects} of objects allocated before tracing (skipped), ${f.unverifiableObjects} of objects not simulated (skipped)` +
      (f.injected ? `, ${f.injected} missing from the trace and injected` : ''),
  );
  const reorders = r.verification.verified.reduce((a, c) => a + c.result.reorders.length, 0);
  if (reorders > 0) out.push(`trace order: ${reorders} correction(s) from the per-chunk analysis applied (alloc events recorded after the lock was released)`);
  out.push(
    `chunks: the kernel created ${r.kernelCreated} and destroyed ${r.kernelDestroyed} during the trace; the simulation created ${r.simCreated.length} and destroyed ${r.simDestroyed.length} ` +
      `(${r.pairs.length} pairing(s) of a kernel chunk with a simulated one, made at an allocation into both while both were empty)`,
  );
  if (r.lifetimeDisagreements.length > 0) {
    out.push(`  chunk lifetimes differ (the kernel runs its balance work later from a workqueue; the simulation runs it ${r.balance === 'sync' ? 'right after the op that scheduled it' : 'never'}):`);
  }
  for (const l of r.lifetimeDisagreements) out.push(`    ${l}`);
  if (r.lifetimeDifferences > r.lifetimeDisagreements.length) out.push(`    … ${r.lifetimeDifferences - r.lifetimeDisagreements.length} more`);
  if (r.balance === 'deferred') {
    const runs = BALANCE_POINTS.filter((p) => r.balanceRuns[p] > 0).map((p) => `${r.balanceRuns[p]} ${BALANCE_POINT_TEXT[p]}`);
    out.push(
      `balance work (deferred: run at the moments the trace implies${r.balanceDelayUs > 0 ? `, ${r.balanceDelayUs} µs of trace clock after it was scheduled,` : ''} and to a fixed point at the end): ` +
        `${runs.length > 0 ? runs.join(', ') : 'never ran'}`,
    );
    if (r.directedPopulation.length > 0) {
      const pages = r.directedPopulation.reduce((a, d) => a + d.pages, 0);
      out.push(
        `  ${pages} page(s) in ${r.directedPopulation.length} step(s) populated as the kernel's placements of atomic requests prove its populate step had done ` +
          `(the simulation's own populate step chose other pages or another chunk: the chunks that existed before tracing take part in that choice)`,
      );
    }
    if (r.atomicFailuresAtEnd > 0) {
      out.push(`  the trace ends with ${r.atomicFailuresAtEnd} atomic failure(s) no success followed: the last run populated 4 pages in the simulation's fullest chunk with holes (the kernel's may have been one that existed before tracing)`);
    }
  }
  if (r.repairs > 0) {
    out.push(
      `  ${r.repairs} time(s) a simulated chunk that had stood for another kernel chunk was paired with a new one: both were empty at that moment, so interchangeable for placement`,
    );
  }
  for (const d of r.firstDisagreements) out.push(`  disagreement at seq ${d.seq} (line ${ev.line[d.seq]}): ${d.kind}: ${d.detail}`);
  const total = r.mismatched.chunk + r.mismatched.offset + r.mismatched.refused + r.mismatched.failed;
  if (total > r.firstDisagreements.length) out.push(`  … ${total - r.firstDisagreements.length} more disagreement(s)`);
  out.push(`placements: matched ${r.matched}/${r.compared} (${r.unverifiablePreexisting + r.unverifiableAfterLostFree + r.unverifiableAfterLostAlloc} unverifiable` +
      `${r.unverifiableAtomicTiming > 0 ? `, ${r.unverifiableAtomicTiming} atomic ones decided by population timing` : ''})`);
  return out;
}
