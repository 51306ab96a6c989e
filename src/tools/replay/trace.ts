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
import { createAllocator, type PercpuAllocator } from '../../engine/allocator.js';
import { ALLOC_ATOMIC, type BitmapAllocatorView } from '../../engine/api.js';
import { testBit } from '../../engine/bitmap.js';
import { EMPTY_POP_PAGES_HIGH } from '../../engine/constants.js';
import { Hdr } from '../../engine/chunk.js';
import { NULL_CHUNK_ID, NULL_PTR, ptrChunk, ptrOffset } from '../../engine/pointer.js';
import type { GeometryInput } from '../../engine/geometry.js';
import { PercpuError } from '../../errors.js';
import { TraceEventKind, type ParsedTrace } from '../../formats/trace.js';
import { parsePercpuStats } from '../../formats/stats-parse.js';
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
  const run = new TraceReplay(trace, options);
  for (let k = 0; k < run.n; k++) run.replayEvent(run.order[k]!);
  run.finish();
  return run.r;
}

/** The per-chunk analysis the whole-trace replay applies (header): run now unless the caller did. */
function perChunkAnalysis(trace: ParsedTrace, options: TraceReplayOptions): TraceVerification {
  return options.verification ?? verifyParsedTrace(trace, {
    unitSize: options.geometry.unitSize,
    pageSize: options.geometry.pageSize ?? 4096,
    ...(options.kernel ? { kernel: options.kernel } : {}),
    ...(options.windowUs !== undefined ? { windowUs: options.windowUs } : {}),
    ...(options.maxShift !== undefined ? { maxShift: options.maxShift } : {}),
  });
}

/** Per traced chunk instance: the seq its history was cut at (a lost free), -1 when never. */
function historyCuts(v: TraceVerification): Int32Array {
  const cutOf = new Int32Array(v.chunks.instances.length).fill(-1);
  for (const c of v.verified) cutOf[c.instance.number] = c.history.cut;
  return cutOf;
}

/** The earliest moment a lost alloc event may lie, anywhere (-1: none proven). */
function earliestLostAlloc(v: TraceVerification): number {
  let cut = -1;
  for (const c of v.verified) for (const l of c.instance.lostAllocs) if (cut < 0 || l.after < cut) cut = l.after;
  return cut;
}

/** A result with every count at zero, before the first event. */
function emptyResult(run: TraceReplay, verification: TraceVerification, fillerAllocs: number, placements: Float64Array): TraceReplayResult {
  const instances = run.tc.instances.length;
  return {
    trace: run.trace,
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
    lostAllocCut: run.lostAllocCut,
    fails: 0,
    failsMatched: 0,
    failsNotCompared: 0,
    frees: { replayed: 0, olderObjects: 0, unverifiableObjects: 0, injected: 0 },
    firstDisagreements: [],
    pairs: [],
    finalPairs: new Map(),
    kernelCreated: 0,
    kernelDestroyed: 0,
    simCreated: run.simCreated,
    simDestroyed: run.simDestroyed,
    lifetimeDisagreements: [],
    lifetimeDifferences: 0,
    repairs: 0,
    setup: { fillerAllocs },
    balance: run.policy,
    balanceDelayUs: run.policy === 'deferred' ? run.delayUs : 0,
    balanceRuns: { 'kernel-balance-event': 0, 'atomic-after-failure': 0, 'atomic-needs-population': 0, 'alloc-into-isolated': 0, delay: 0, end: 0 },
    directedPopulation: [],
    atomicFailuresAtEnd: 0,
    outsideEmptyPages: run.outsideStart,
    outsideEmptyPagesEnd: run.outsideEnd,
    simulation: run.sim,
    chunkAllocs: new Int32Array(instances),
    chunkMatched: new Int32Array(instances),
    placements,
  };
}

/** Whether the event is the kernel's balance work running: a chunk destroyed, or created by a kworker (the allocation path creates them in the allocating task). */
function isKernelBalanceEvent(trace: ParsedTrace, seq: number): boolean {
  const kind = trace.events.kind[seq]!;
  return kind === TraceEventKind.DestroyChunk || (kind === TraceEventKind.CreateChunk && trace.tasks[trace.events.task[seq]!]!.startsWith('kworker'));
}

/** One whole-trace replay in progress: the simulation, the chunk pairing, the deferred balance work's state and the counts. */
class TraceReplay {
  readonly ev: ParsedTrace['events'];
  readonly n: number;
  readonly tc: TraceVerification['chunks'];
  /** Event seqs in corrected order. */
  readonly order: Int32Array;
  readonly lostAllocCut: number;
  readonly policy: BalancePolicy;
  readonly delayUs: number;
  readonly sim: PercpuAllocator;
  readonly bsim: BitmapAllocatorView | undefined;
  readonly outsideStart: number;
  readonly outsideEnd: number;
  readonly r: TraceReplayResult;
  readonly simCreated: TraceReplayResult['simCreated'] = [];
  readonly simDestroyed: TraceReplayResult['simDestroyed'] = [];
  private readonly failVerdict: ReturnType<typeof failVerdicts>;
  private readonly injectBefore: Map<number, number[]>;
  private readonly cutOf: Int32Array;
  private readonly pageSize: number;
  private currentSeq = -1;
  private setupDone = false;
  private outsideNow: number;
  private readonly simPtr: Float64Array;
  private readonly simOfKernel = new Map<number, number>();
  private readonly kernelOfSim = new Map<number, number>();
  private readonly simEverPaired = new Set<number>();
  // Live objects per chunk on each side: two empty chunks are interchangeable, so they may be (re)paired.
  private readonly kernelLive: Int32Array;
  private readonly simLive: Map<number, number>;
  private simDestroyedSeen = 0;
  // Deferred balance work: when the simulation scheduled it (trace clock), and the kernel's atomic
  // failures whose balance run (with `pcpu_atomic_alloc_failed` set) the trace has not shown yet.
  private scheduledAt = -1;
  private pendingAtomicFailures = 0;
  private lastWasKernelBalanceEvent = false;

  constructor(
    readonly trace: ParsedTrace,
    readonly options: TraceReplayOptions,
  ) {
    this.ev = trace.events;
    this.n = this.ev.length;
    const verification = perChunkAnalysis(trace, options);
    this.tc = verification.chunks;
    this.order = correctedOrder(verification, this.n);
    this.failVerdict = failVerdicts(verification);
    this.injectBefore = lostFreeInjections(verification);
    this.cutOf = historyCuts(verification);
    this.lostAllocCut = earliestLostAlloc(verification);
    this.policy = options.balance ?? 'deferred';
    this.delayUs = options.balanceDelayUs ?? DEFAULT_BALANCE_DELAY_US;
    this.pageSize = options.geometry.pageSize ?? 4096;
    this.sim = createAllocator({
      kernel: options.kernel ?? '7.0',
      geometry: options.geometry,
      backend: 'vm',
      balance: this.policy === 'sync' ? 'sync' : 'none',
      fixed: options.fixed ?? false,
      onChunkEvent: (type, chunk) => {
        if (!this.setupDone) return;
        (type === 'create' ? this.simCreated : this.simDestroyed).push({ chunk, seq: this.currentSeq });
      },
    });
    this.bsim = this.sim.bitmapView();
    this.outsideStart = Math.max(0, options.outsideEmptyPages ?? 0);
    this.outsideEnd = Math.max(0, options.outsideEmptyPagesEnd ?? this.outsideStart);
    this.outsideNow = this.outsideStart;
    const fillerAllocs = this.setUp();
    this.r = emptyResult(this, verification, fillerAllocs, new Float64Array(this.n).fill(NULL_PTR));
    this.simPtr = new Float64Array(this.n).fill(NULL_PTR);
    this.kernelLive = new Int32Array(this.tc.instances.length);
    this.simLive = new Map<number, number>([[0, fillerAllocs]]);
  }

  /** The simulation's state before the first event: its first chunk full, the outside pages counted, the balance work quiet. */
  private setUp(): number {
    const bsim = this.bsim;
    const fillerAllocs = fillFirstChunk(this.sim);
    if (this.outsideStart && bsim) bsim.addUnmodelledEmptyPages(this.outsideStart);
    // The kernel was quiescent when tracing began: whatever the filler scheduled has run.
    if (this.policy === 'deferred' && bsim) for (let i = 0; i < FIXED_POINT_RUNS && bsim.balanceScheduled; i++) bsim.runBalanceWork();
    this.setupDone = true;
    return fillerAllocs;
  }

  private disagree(seq: number, kind: MismatchKind, detail: string): void {
    this.r.mismatched[kind]++;
    if (this.r.firstDisagreements.length < KEEP) this.r.firstDisagreements.push({ seq, kind, detail });
  }

  private addSimLive(chunk: number, d: number): void {
    this.simLive.set(chunk, (this.simLive.get(chunk) ?? 0) + d);
  }

  private unpairKernel(inst: number): void {
    const sc = this.simOfKernel.get(inst);
    if (sc === undefined) return;
    this.simOfKernel.delete(inst);
    this.kernelOfSim.delete(sc);
  }

  private unpairSim(sc: number): void {
    const inst = this.kernelOfSim.get(sc);
    if (inst !== undefined) this.unpairKernel(inst);
  }

  private lifetime(text: string): void {
    this.r.lifetimeDifferences++;
    if (this.r.lifetimeDisagreements.length < KEEP) this.r.lifetimeDisagreements.push(text);
  }

  private freeSim(allocSeq: number): boolean {
    const p = this.simPtr[allocSeq]!;
    if (p === NULL_PTR) return false;
    this.sim.free(p);
    this.addSimLive(ptrChunk(p), -1);
    this.simPtr[allocSeq] = NULL_PTR;
    return true;
  }

  /**
   * An atomic request goes only where pages are populated. When the kernel's target pages are
   * unpopulated in the simulation's partner chunk (or that chunk is isolated there), the two
   * differ in population — decided by balance work at moments the trace does not show — not in
   * placement: say why, instead of counting a disagreement.
   */
  private atomicTiming(inst: number, seq: number): string | undefined {
    const sim = this.bsim;
    const paired = this.simOfKernel.get(inst);
    if (paired === undefined || sim === undefined) return undefined;
    const c = sim.getChunk(paired);
    if (c === undefined) return undefined;
    const pageSize = sim.geometry.pageSize;
    const off = this.ev.off[seq]!;
    const end = off + ((this.ev.size[seq]! + 3) & ~3);
    const where = `kernel chunk #${this.tc.instances[inst]!.number} off ${off}`;
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
  }

  /** Chunks the simulation destroyed during the last op: compare with the kernel, then forget the pairing. */
  private noteSimDestroys(seq: number): void {
    const ev = this.ev;
    for (; this.simDestroyedSeen < this.simDestroyed.length; this.simDestroyedSeen++) {
      const d = this.simDestroyed[this.simDestroyedSeen]!;
      const ki = this.kernelOfSim.get(d.chunk);
      if (ki !== undefined) {
        const ci = this.tc.instances[ki]!;
        if (ci.destroyedSeq < 0 || ci.destroyedSeq > seq) {
          this.lifetime(
            `simulation destroyed chunk ${d.chunk} while replaying line ${ev.line[seq]}; the kernel ` +
              (ci.destroyedSeq < 0 ? `kept its chunk #${ci.number} to the end` : `destroyed its chunk #${ci.number} later (line ${ev.line[ci.destroyedSeq]})`),
          );
        }
      }
      this.unpairSim(d.chunk);
    }
  }

  private runBalance(why: BalancePoint, seq: number): void {
    if (!this.bsim) return;
    this.bsim.runBalanceWork();
    this.r.balanceRuns[why]++;
    this.scheduledAt = -1;
    this.noteSimDestroys(seq);
  }

  private noteScheduled(seq: number): void {
    if (this.policy === 'deferred' && this.scheduledAt < 0 && this.bsim?.balanceScheduled) this.scheduledAt = this.ev.time[seq]!;
  }

  /** The simulated chunk standing for traced chunk `inst`; an empty kernel chunk not yet paired stands for an empty simulated one (the newest unpaired). */
  private partnerForAtomic(bsim: BitmapAllocatorView, inst: number, kernelWasEmpty: boolean): number | undefined {
    let sc = this.simOfKernel.get(inst);
    if (sc === undefined && kernelWasEmpty) {
      for (const { chunk: c } of bsim.chunksInSlotOrder()) {
        const id = c.hdr[Hdr.Id]!;
        if (id !== 0 && c.hdr[Hdr.NrAlloc] === 0 && !this.kernelOfSim.has(id) && (sc === undefined || id > sc)) sc = id;
      }
    }
    return sc;
  }

  /**
   * Deferred policy, before the kernel's atomic allocation `seq` into traced chunk `inst`: if the
   * simulation's partner chunk lacks the population the kernel's placement shows, the kernel's
   * balance work ran meanwhile. Run the simulation's; if its populate step chose other pages (or
   * another chunk) than the kernel's, populate the pages the placement proves populated, as the
   * populate step does (counted in `directedPopulation`).
   */
  private beforeAtomic(inst: number, seq: number, kernelWasEmpty: boolean): void {
    const bsim = this.bsim;
    if (!bsim) return;
    const sc = this.partnerForAtomic(bsim, inst, kernelWasEmpty);
    if (sc === undefined) return;
    const chunk = bsim.getChunk(sc)!;
    const off = this.ev.off[seq]!;
    const first = Math.floor(off / this.pageSize);
    const last = Math.ceil((off + ((this.ev.size[seq]! + 3) & ~3)) / this.pageSize);
    const missing = () => {
      for (let pg = first; pg < last; pg++) if (!testBit(chunk.populated, pg)) return true;
      return false;
    };
    if (!missing() && chunk.hdr[Hdr.Slot] !== bsim.toDepopulateSlot) return;
    let pages = 0;
    if (this.pendingAtomicFailures > 0) {
      // After an atomic failure the kernel's populate step populates 4 pages (lowest runs first) in
      // the first chunk with holes, slot by slot; the placement shows it was this one. Each failure
      // ran it once; the simulation's other scheduled steps run too.
      this.pendingAtomicFailures = 0;
      this.r.balanceRuns['atomic-after-failure']++;
      for (let i = 0; i < 64 && missing(); i++) {
        const got = bsim.populatePagesAsBalance(sc, 0, chunk.nrPages, EMPTY_POP_PAGES_HIGH);
        if (got === 0) break;
        pages += got;
      }
      if (bsim.balanceScheduled) this.runBalance('atomic-after-failure', seq);
    } else if (bsim.balanceScheduled) this.runBalance('atomic-needs-population', seq);
    // Still short: the kernel had these pages populated (a populate step the trace does not show, or
    // a reclaim that stopped before them).
    if (missing()) pages += bsim.populatePagesAsBalance(sc, first, last);
    if (pages > 0) this.r.directedPopulation.push({ seq, chunk: sc, pages });
  }

  /** Replays the event `seq` (the next in corrected order). */
  replayEvent(seq: number): void {
    this.currentSeq = seq;
    this.moveOutsidePages(seq);
    this.balanceBefore(seq);
    this.injectLostFrees(seq);
    const inst = this.tc.instanceOf[seq]!;
    switch (this.ev.kind[seq]!) {
      case TraceEventKind.Alloc:
        this.replayAlloc(seq, inst);
        break;
      case TraceEventKind.AllocFail:
        this.replayFail(seq);
        break;
      case TraceEventKind.Free:
        this.replayFree(seq, inst);
        break;
      case TraceEventKind.CreateChunk:
        this.r.kernelCreated++;
        break;
      case TraceEventKind.DestroyChunk:
        this.replayDestroy(seq, inst);
        break;
    }
    this.noteSimDestroys(seq);
    this.noteScheduled(seq);
    this.options.afterEvent?.(seq, this.sim);
  }

  /** The outside chunks' empty pages, moved linearly in trace time towards their end value. */
  private moveOutsidePages(seq: number): void {
    const { ev, n, bsim, outsideStart, outsideEnd } = this;
    if (outsideEnd === outsideStart || !bsim || n <= 1) return;
    const t0 = ev.time[0]!;
    const span = ev.time[n - 1]! - t0;
    const want = Math.round(outsideStart + (outsideEnd - outsideStart) * (span > 0 ? (ev.time[seq]! - t0) / span : 1));
    if (want !== this.outsideNow) {
      bsim.addUnmodelledEmptyPages(want - this.outsideNow);
      this.outsideNow = want;
    }
  }

  /** Deferred policy: the balance work the trace shows to have run by this event (its delay passed, or the kernel's balance work ran). */
  private balanceBefore(seq: number): void {
    const bsim = this.bsim;
    if (this.policy !== 'deferred' || !bsim) return;
    // The workqueue has run the work once the trace's clock moved on far enough.
    if (this.scheduledAt >= 0 && this.delayUs > 0 && (this.ev.time[seq]! - this.scheduledAt) * 1e6 > this.delayUs) this.runBalance('delay', seq);
    const balanceEvent = isKernelBalanceEvent(this.trace, seq);
    if (balanceEvent && !this.lastWasKernelBalanceEvent) {
      // If atomic requests failed since the last run, this run has the kernel's flag set.
      if (this.pendingAtomicFailures > 0) bsim.noteAtomicAllocFailure();
      this.pendingAtomicFailures = 0;
      this.runBalance('kernel-balance-event', seq);
    }
    this.lastWasKernelBalanceEvent = balanceEvent;
  }

  /** Objects whose free the trace lost, freed at the latest moment possible: right before this event. */
  private injectLostFrees(seq: number): void {
    const lost = this.injectBefore.get(seq);
    if (!lost) return;
    for (const s of lost) {
      this.kernelLive[this.tc.instanceOf[s]!]!--;
      if (this.freeSim(s)) this.r.frees.injected++;
    }
    this.noteSimDestroys(seq);
  }

  private replayAlloc(seq: number, inst: number): void {
    const r = this.r;
    r.allocs++;
    r.chunkAllocs[inst]!++;
    if (this.tc.instances[inst]!.createdSeq < 0) {
      r.unverifiablePreexisting++;
      // An atomic success after failures: the kernel's balance work ran and populated pages, in
      // a chunk outside the simulation as far as the trace shows (not simulated).
      if (this.ev.flags[seq]! & 2) this.pendingAtomicFailures = 0;
      return;
    }
    const kernelWasEmpty = this.kernelLive[inst] === 0;
    this.kernelLive[inst]!++;
    const flags = this.ev.flags[seq]! & 2 ? ALLOC_ATOMIC : 0;
    this.balanceBeforeAlloc(seq, inst, flags, kernelWasEmpty);
    const p = allocOrRefuse(this.sim, this.ev.size[seq]!, this.ev.align[seq]!, flags);
    this.simPtr[seq] = p;
    r.placements[seq] = p;
    const sc = p === NULL_PTR ? NULL_CHUNK_ID : ptrChunk(p);
    const simWasEmpty = sc >= 0 && (this.simLive.get(sc) ?? 0) === 0;
    if (sc >= 0) this.addSimLive(sc, 1);
    if (this.notCompared(seq, inst, flags, p, sc)) return;
    r.compared++;
    if (p === NULL_PTR) {
      this.disagree(seq, 'refused', `the simulation refused it (kernel: chunk #${this.tc.instances[inst]!.number} off ${this.ev.off[seq]})`);
      return;
    }
    if (!this.pairedOrPairs(seq, inst, sc, kernelWasEmpty && simWasEmpty)) return;
    if (ptrOffset(p) === this.ev.off[seq]) {
      r.matched++;
      r.chunkMatched[inst]!++;
    }
    else this.disagree(seq, 'offset', `chunk #${this.tc.instances[inst]!.number}: kernel off ${this.ev.off[seq]}, simulation off ${ptrOffset(p)}`);
  }

  /** Deferred policy, before an allocation into traced chunk `inst`: the balance work the kernel's placement shows to have run. */
  private balanceBeforeAlloc(seq: number, inst: number, flags: number, kernelWasEmpty: boolean): void {
    const bsim = this.bsim;
    if (this.policy !== 'deferred' || !bsim) return;
    const partner = this.simOfKernel.get(inst);
    if (flags !== 0) this.beforeAtomic(inst, seq, kernelWasEmpty);
    else if (partner !== undefined && bsim.getChunk(partner)?.hdr[Hdr.Slot] === bsim.toDepopulateSlot && bsim.balanceScheduled) {
      // The kernel placed it in a chunk the simulation holds isolated (never searched): its reclaim had run.
      this.runBalance('alloc-into-isolated', seq);
    }
  }

  /** Whether a simulated allocation is left uncompared (counted with its reason): after a lost alloc or free, or decided by population timing. */
  private notCompared(seq: number, inst: number, flags: number, p: number, sc: number): boolean {
    const r = this.r;
    const cut = this.cutOf[inst]!;
    if (this.lostAllocCut >= 0 && seq > this.lostAllocCut) {
      r.unverifiableAfterLostAlloc++;
      return true;
    }
    if (cut >= 0 && seq > cut) {
      r.unverifiableAfterLostFree++;
      return true;
    }
    const timing = flags !== 0 && (p === NULL_PTR || this.simOfKernel.get(inst) !== sc) ? this.atomicTiming(inst, seq) : undefined;
    if (timing === undefined) return false;
    r.unverifiableAtomicTiming++;
    if (r.atomicTimingNotes.length < KEEP) r.atomicTimingNotes.push({ seq, detail: timing });
    return true;
  }

  /**
   * Whether kernel chunk `inst` and simulated chunk `sc` stand for each other, pairing them when
   * both were empty (interchangeable, whatever each side did with its older chunks); otherwise a
   * chunk disagreement.
   */
  private pairedOrPairs(seq: number, inst: number, sc: number, bothWereEmpty: boolean): boolean {
    const paired = this.simOfKernel.get(inst);
    if (paired === sc) return true;
    if (!bothWereEmpty) {
      const owner = this.kernelOfSim.get(sc);
      this.disagree(
        seq,
        'chunk',
        `kernel chunk #${this.tc.instances[inst]!.number} (simulated chunk ${paired ?? 'none'}), simulation chunk ${sc}` +
          `${owner !== undefined ? ` (kernel chunk #${this.tc.instances[owner]!.number})` : ''}`,
      );
      return false;
    }
    if (this.simEverPaired.has(sc) || paired !== undefined) this.r.repairs++;
    this.simEverPaired.add(sc);
    this.unpairKernel(inst);
    this.unpairSim(sc);
    this.simOfKernel.set(inst, sc);
    this.kernelOfSim.set(sc, inst);
    this.r.pairs.push({ kernelChunk: inst, simChunk: sc, pairedAt: seq });
    return true;
  }

  private replayFail(seq: number): void {
    const r = this.r;
    r.fails++;
    // An atomic failure sets `pcpu_atomic_alloc_failed` and schedules the balance work.
    if (this.ev.flags[seq]! & 2 && this.bsim) {
      if (this.policy === 'deferred') this.pendingAtomicFailures++;
      else if (this.policy === 'sync') this.bsim.noteAtomicAllocFailure();
    }
    const v = this.failVerdict.get(seq);
    if (v === undefined) r.failsNotCompared++;
    else if (v.verdict === FAIL_AGREED) r.failsMatched++;
    else if (v.verdict === FAIL_MISMATCH) this.disagree(seq, 'failed', `the kernel refused it; the per-chunk model finds room it must have seen in chunk #${v.chunk}${v.off >= 0 ? ` at off ${v.off}` : ''}`);
    else r.failsNotCompared++;
  }

  private replayFree(seq: number, inst: number): void {
    const a = this.tc.freeTarget[seq]!;
    if (a < 0) {
      this.r.frees.olderObjects++;
      return;
    }
    this.kernelLive[inst]!--;
    if (this.freeSim(a)) this.r.frees.replayed++;
    else this.r.frees.unverifiableObjects++;
  }

  private replayDestroy(seq: number, inst: number): void {
    this.r.kernelDestroyed++;
    const sc = this.simOfKernel.get(inst);
    if (sc === undefined) return;
    this.lifetime(`kernel destroyed chunk #${this.tc.instances[inst]!.number} at line ${this.ev.line[seq]}; its simulated chunk ${sc} is still alive then`);
    this.unpairKernel(inst);
  }

  /** After the last event: the outside pages at their end value and, deferred, the balance work run to quiescence. */
  finish(): void {
    const bsim = this.bsim;
    if (this.outsideNow !== this.outsideEnd && bsim) {
      bsim.addUnmodelledEmptyPages(this.outsideEnd - this.outsideNow);
      this.outsideNow = this.outsideEnd;
    }
    if (this.policy === 'deferred' && bsim) {
      // Quiescence: the kernel's last scheduled work has run by the after-snapshot (the capture waits
      // for the events to stop). Its last atomic failure, if no success followed, left the flag set.
      this.r.atomicFailuresAtEnd = this.pendingAtomicFailures;
      if (this.pendingAtomicFailures > 0) bsim.noteAtomicAllocFailure();
      const last = this.n > 0 ? this.order[this.n - 1]! : -1;
      for (let i = 0; i < FIXED_POINT_RUNS && bsim.balanceScheduled; i++) this.runBalance('end', last);
    }
    this.r.finalPairs = this.simOfKernel;
  }
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
  return [
    `replay ${r.verification.workload}: simulated allocator, ${geometryText}`,
    ...setupLines(r),
    ...allocationLines(r),
    ...freeAndChunkLines(r),
    ...balanceLines(r),
    ...disagreementLines(r),
  ];
}

/** The report's assumptions: the chunks that existed before tracing and the empty pages they hold. */
function setupLines(r: TraceReplayResult): string[] {
  const tc = r.verification.chunks;
  const out: string[] = [];
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
  return out;
}

/** Allocations: unverifiable by reason, compared and matched, failed ones. */
function allocationLines(r: TraceReplayResult): string[] {
  const ev = r.trace.events;
  const out: string[] = [];
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
  return out;
}

/** Frees, trace-order corrections, chunks created and destroyed on each side, lifetime differences. */
function freeAndChunkLines(r: TraceReplayResult): string[] {
  const out: string[] = [];
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
  return out;
}

/** Deferred policy: when the balance work ran, the population it was directed to, atomic failures left at the end. */
function balanceLines(r: TraceReplayResult): string[] {
  const out: string[] = [];
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
  return out;
}

/** Re-pairings, the first disagreements, and the placement total. */
function disagreementLines(r: TraceReplayResult): string[] {
  const ev = r.trace.events;
  const out: string[] = [];
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

