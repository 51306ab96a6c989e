// SPDX-License-Identifier: GPL-2.0-only
/**
 * Compare the replayed `percpu_stats` with the kernel's snapshot taken after
 * the trace (`verify-trace --stats`, `replay --stats`).
 *
 * What this module owns: which chunk sections can be compared, how a kernel
 * chunk of the trace is found among the snapshot's sections, the field-by-field
 * verdicts and their report.
 *
 * - Only chunks whose whole life is in the trace are compared: created in it,
 *   alive at its end, history not cut at a lost event, standing for a
 *   simulated chunk at the end. Each other chunk created in the trace and
 *   alive at the end is listed as not compared, with the reason.
 * - The snapshot does not name chunks (no base address), so a traced chunk is
 *   found by what its replay determines exactly: the allocation map (nr_alloc,
 *   free_bytes, first_bit and the fragment numbers). Among sections agreeing on
 *   those, the one agreeing on most other fields is taken; a section is used
 *   for one chunk at most.
 * - The allocation-map fields come from the per-chunk replay (exact) — or,
 *   when that replay misplaced atomic requests (it has no population) but the
 *   whole-trace replay placed every allocation of the chunk where the kernel
 *   did, from the latter, said so (`modelNote`); the header (plain,
 *   sidelined, to-depopulate) and empty_pop_pages from the whole-allocator
 *   simulation, and only when its chunk holds the same map (else they are
 *   `not comparable`, with the reason). A difference in the map fields is
 *   `differs`; in the two population fields it is `timing`, naming the
 *   unknowns that decide it (`TimingReason`) — except a sidelined or
 *   to-depopulate header against a profile without isolation (4.14), which
 *   is a real difference.
 * - The pre-existing chunks' empty pages at the end (`outsideEmptyPagesAtEnd`)
 *   are read here too: the snapshot's global count less the traced chunks'.
 * - Global fields count chunks that existed before tracing, whose state the
 *   trace does not show: they are listed as not comparable, never as matches.
 *
 * Invariant: every compared field is exactly one of equal, differs, timing,
 * not comparable.
 */
import type { PercpuAllocator } from '../../engine/allocator.js';
import { Hdr } from '../../engine/chunk.js';
import { parsePercpuStats, type PercpuStatsFile, type StatsChunk } from '../../formats/stats-parse.js';
import { CHUNK_FIELD_KEYS, CHUNK_HEADER, STATS_LAYOUTS, type StatsChunkField } from '../../formats/stats.js';
import type { TraceReplayResult } from './trace.js';
import type { TraceVerification } from './verify-trace.js';

/** Fields of a chunk section, in the file's order after the header (the format's, `src/formats/stats.ts`). */
export const CHUNK_FIELDS = Object.keys(CHUNK_FIELD_KEYS) as readonly StatsChunkField[];
export type ChunkField = 'header' | StatsChunkField;

/** Fields the allocation map alone determines: how a traced chunk is recognised in the snapshot. */
const IDENTITY: readonly ChunkField[] = ['nr_alloc', 'free_bytes', 'first_bit', 'sum_frag', 'max_frag', 'cur_min_alloc', 'cur_med_alloc', 'cur_max_alloc'];

/** Fields decided by population and the balance work (isolation, depopulation, sidelining). */
const BALANCE_FIELDS: ReadonlySet<ChunkField> = new Set(['header', 'empty_pop_pages']);

export function fieldValue(c: StatsChunk, f: ChunkField): string | number {
  if (f === 'header') return CHUNK_HEADER[c.kind];
  // A field the layout lacks (4.13's empty_pop_pages, first_bit) reads as -1.
  return c[CHUNK_FIELD_KEYS[f]] ?? -1;
}

const ALL_FIELDS: readonly ChunkField[] = ['header', ...CHUNK_FIELDS];

export interface FieldDifference {
  field: ChunkField;
  kernel: string | number;
  replay: string | number;
  /** `timing`: the balance work's decision here depends on what the trace cannot show (`reason`, `reasons`). */
  verdict: 'differs' | 'timing' | 'not comparable';
  reason?: string;
  /** `timing`: the unknowns named (see `TimingReason`). */
  reasons?: TimingReason[];
}

export interface ChunkStatsComparison {
  /** Trace chunk number. */
  chunk: number;
  base: string;
  /** Simulated chunk id standing for it (-1: none). */
  simChunk: number;
  /** 1-based line of the matched section in the kernel's snapshot, -1 when no section agrees on the allocation map. */
  kernelLine: number;
  equal: number;
  differences: FieldDifference[];
  /** Why the population fields (header, empty_pop_pages) could not be compared, if so. */
  balanceUnknown: string | undefined;
  /** Set when the allocation-map fields come from the whole-trace replay, not the per-chunk one: why. */
  modelNote?: string | undefined;
}

export interface StatsComparison {
  source: string;
  compared: ChunkStatsComparison[];
  /** Chunks created in the trace and alive at its end that could not be compared, with the reason. */
  notCompared: { chunk: number; base: string; reason: string }[];
  /** Global fields: never compared (see the header), with the reason. */
  globalNotComparable: { field: string; kernel: number; replay: number; reason: string }[];
  /** Chunks that differ in a field not explained by timing. */
  differing: number;
  /** Chunks whose only differences are timing. */
  timingOnly: number;
  /** Chunks equal in every field compared, with the population fields not comparable. */
  partial: number;
}

/** The simulation's chunk sections by chunk id, as `percpu_stats` prints them. */
export function simulatedSections(sim: PercpuAllocator): Map<number, StatsChunk> {
  const out = new Map<number, StatsChunk>();
  const view = sim.bitmapView();
  if (view === undefined) return out;
  const parsed = parsePercpuStats(sim.formatStats(), '<simulation>');
  const order = view.chunksInSlotOrder().map((x) => x.chunk.hdr[Hdr.Id]!);
  const sections = parsed.chunks.filter((c) => c.kind !== 'reserved');
  order.forEach((id, i) => out.set(id, sections[i]!));
  return out;
}

function agreesOn(a: StatsChunk, b: StatsChunk, fields: readonly ChunkField[]): boolean {
  return fields.every((f) => fieldValue(a, f) === fieldValue(b, f));
}

function countEqual(a: StatsChunk, b: StatsChunk): number {
  return ALL_FIELDS.filter((f) => fieldValue(a, f) === fieldValue(b, f)).length;
}

/**
 * The facts no trace shows that a population field (header, empty_pop_pages) depends on, each
 * named: a `timing` difference lists the ones that apply to it.
 * - `workqueue-moment`: when the kernel's workqueue ran the balance work (no event records it,
 *   only the chunks it creates or destroys);
 * - `preexisting-empty-pages`: the empty populated pages of the chunks that existed before
 *   tracing, part of the global count that isolation, reclaim's stop and the populate step read;
 * - `final-atomic-failures`: the trace ends with atomic failures no success followed, each of
 *   which makes a balance run populate 4 pages in the fullest chunk with holes: how many such
 *   runs happened before quiescence, and in which chunk;
 * - `populate-choice`: which chunk the populate step chose, when the trace showed (by the
 *   kernel's atomic placements) that it chose another than the simulation's.
 */
export type TimingReason = 'workqueue-moment' | 'preexisting-empty-pages' | 'final-atomic-failures' | 'populate-choice';

function timingReasons(field: ChunkField, kernel: StatsChunk, replay: StatsChunk, r: TraceReplayResult, preexisting: number): { codes: TimingReason[]; text: string } {
  const codes: TimingReason[] = [];
  const parts: string[] = [];
  if (field === 'header') {
    const kIso = kernel.kind === 'sidelined' || kernel.kind === 'to_depopulate';
    const rIso = replay.kind === 'sidelined' || replay.kind === 'to_depopulate';
    parts.push(
      kIso !== rIso
        ? `${kIso ? 'the kernel' : 'the simulation'} isolated the chunk on a free (a quarter or more of its pages empty and populated, and more than 4 more empty populated pages elsewhere) ` +
            `and ${kIso ? 'the simulation' : 'the kernel'} did not, or reintegrated it (fewer than 4 empty pages elsewhere during reclaim, a full chunk after reclaim, or an allocation into it)`
        : 'both isolated it, but only one side\'s balance work had sidelined it by the end',
    );
  } else if (r.simulation.bitmapView()?.profile.depopulation === false) {
    parts.push(
      `which pages are populated is the balance work's: ${r.simulation.kernel} never depopulates a live chunk, its populate step tops the global count up to 4 in the fullest chunks with holes, ` +
        'and it recounts a chunk\'s empty pages only when a free refreshes the whole chunk (spec §3.8, §4.3)',
    );
  } else {
    parts.push('which pages stay populated is the balance work\'s: reclaim depopulates an isolated chunk\'s free pages until the global count falls under 4, the populate step tops it up to 4 in the fullest chunks with holes');
  }
  if (r.balance !== 'none') {
    codes.push('workqueue-moment');
    const runs = Object.entries(r.balanceRuns).filter(([, n]) => n > 0).map(([p, n]) => `${n} ${p}`).join(', ');
    parts.push(
      r.balance === 'sync'
        ? 'workqueue-moment: the kernel ran the balance work from a workqueue at moments no event records; the simulation right after each op that scheduled it'
        : `workqueue-moment: the kernel ran the balance work from a workqueue at moments no event records; the simulation at the moments the trace implies (${runs || 'none'})`,
    );
  } else parts.push('the simulation never ran its balance work (--balance none)');
  if (preexisting > 0) {
    codes.push('preexisting-empty-pages');
    const assumed = r.outsideEmptyPagesEnd !== r.outsideEmptyPages ? `${r.outsideEmptyPages} at the start, ${r.outsideEmptyPagesEnd} at the end, linearly between` : `${r.outsideEmptyPages} throughout`;
    parts.push(
      `preexisting-empty-pages: the global count includes the empty populated pages of the ${preexisting} chunk(s) that existed before tracing, whose changes the trace does not show ` +
        `(the simulation assumed ${assumed})`,
    );
  }
  if (field === 'empty_pop_pages' && r.atomicFailuresAtEnd > 0) {
    codes.push('final-atomic-failures');
    parts.push(
      `final-atomic-failures: the trace ends with ${r.atomicFailuresAtEnd} atomic failure(s) no success followed; each schedules a run that populates 4 pages in the fullest chunk with holes, ` +
        'and how many ran before quiescence, in which chunk (possibly one that existed before tracing), no event shows (the simulation ran one)',
    );
  }
  if (field === 'empty_pop_pages' && r.directedPopulation.length > 0) {
    codes.push('populate-choice');
    parts.push(
      `populate-choice: ${r.directedPopulation.length} time(s) the kernel's atomic placements showed pages its populate step had populated where the simulation's had not; the simulation populated them then`,
    );
  }
  return { codes, text: parts.join('; ') };
}

/**
 * The empty populated pages the chunks that existed before tracing held when the after-snapshot
 * was taken: its global `empty_pop_pages` less those of the sections the traced chunks alive at
 * the end are recognised by (their allocation map, from the per-chunk replay; isolated sections
 * are not in the global count). A fact of the snapshot, not of the simulation.
 */
export function outsideEmptyPagesAtEnd(v: TraceVerification, after: PercpuStatsFile): number {
  const total = after.global.emptyPopPages;
  if (total === undefined) return 0;
  const used = new Set<StatsChunk>();
  let traced = 0;
  for (const cv of v.verified) {
    const model = cv.result.finalSection;
    if (cv.instance.destroyedSeq >= 0 || model === undefined) continue;
    const k = after.chunks.find((c) => !used.has(c) && c.kind !== 'reserved' && c.kind !== 'first' && agreesOn(c, model, IDENTITY));
    if (k === undefined) continue;
    used.add(k);
    if (k.kind === 'chunk') traced += k.emptyPopPages ?? 0;
  }
  return Math.max(0, total - traced);
}

/**
 * The pre-existing chunks' empty pages at the trace's start and end, from the snapshots: start,
 * the before-snapshot's global count (every chunk then existing existed before tracing); end,
 * `outsideEmptyPagesAtEnd`. A missing snapshot takes the other's value; none gives 0.
 */
export function outsideFromSnapshots(v: TraceVerification, before: PercpuStatsFile | undefined, after: PercpuStatsFile | undefined): { outsideEmptyPages: number; outsideEmptyPagesEnd: number } {
  const end = after ? outsideEmptyPagesAtEnd(v, after) : undefined;
  const start = before?.global.emptyPopPages ?? end ?? 0;
  return { outsideEmptyPages: start, outsideEmptyPagesEnd: end ?? start };
}

const GLOBAL_REASON = 'counts chunks that existed before tracing, whose state the trace does not show';
const MAP_FIELDS: readonly ChunkField[] = ALL_FIELDS.filter((f) => !BALANCE_FIELDS.has(f));

/** What every chunk's comparison with the snapshot reads: the replay, the simulation's sections, the snapshot sections already matched. */
interface SnapshotComparison {
  r: TraceReplayResult;
  after: PercpuStatsFile;
  sections: Map<number, StatsChunk>;
  preexisting: number;
  depopulating: boolean;
  used: Set<StatsChunk>;
  /** Simulated chunks standing for a kernel chunk (a spare empty one joins when picked). */
  pairedSim: Set<number>;
  out: StatsComparison;
}

/** Compares each replayed chunk's section with the after-snapshot's, field by field; the global fields are listed as not comparable. */
export function compareWithSnapshot(r: TraceReplayResult, after: PercpuStatsFile, source: string): StatsComparison {
  const x: SnapshotComparison = {
    r,
    after,
    sections: simulatedSections(r.simulation),
    preexisting: r.verification.chunks.instances.filter((c) => c.createdSeq < 0).length,
    depopulating: r.simulation.bitmapView()?.profile.depopulation !== false,
    used: new Set<StatsChunk>(),
    pairedSim: new Set(r.finalPairs.values()),
    out: { source, compared: [], notCompared: [], globalNotComparable: [], differing: 0, timingOnly: 0, partial: 0 },
  };
  for (const cv of r.verification.verified) {
    if (cv.instance.destroyedSeq >= 0) continue;
    const skipped = compareChunk(x, cv);
    if (skipped !== undefined) x.out.notCompared.push({ chunk: cv.instance.number, base: cv.instance.base, reason: skipped });
  }
  x.out.globalNotComparable.push(...globalFields(after, r.simulation));
  return x.out;
}

/**
 * Empty chunks are interchangeable: a kernel chunk empty at the end whose simulated partner is gone
 * stands for an empty simulated chunk no kernel chunk is paired with (the newest first).
 */
function spareEmpty(x: SnapshotComparison): number | undefined {
  let pick: number | undefined;
  for (const [id, sec] of x.sections) if (!x.pairedSim.has(id) && id !== 0 && sec.nrAlloc === 0 && (pick === undefined || id > pick)) pick = id;
  if (pick !== undefined) x.pairedSim.add(pick);
  return pick;
}

/** Compares one traced chunk alive at the end; returns why it was not compared, if it was not. */
function compareChunk(x: SnapshotComparison, cv: TraceVerification['verified'][number]): string | undefined {
  const ci = cv.instance;
  if (cv.history.cut >= 0) return 'its history was cut at a lost event, so its state at the end is unknown';
  const m = modelSection(x, cv);
  if (typeof m === 'string') return m;
  const { mine, sc, balanceUnknown } = withSimulatedBalance(x, ci.number, m.model);
  const cmp: ChunkStatsComparison = { chunk: ci.number, base: ci.base, simChunk: sc ?? -1, kernelLine: -1, equal: 0, differences: [], balanceUnknown, modelNote: m.modelNote };
  let best = bestSection(x, mine, true);
  if (best === undefined) {
    // No section holds this allocation map: show the nearest one; every difference is a real one.
    best = bestSection(x, mine, false);
    if (best === undefined) return 'the snapshot has no chunk section left to compare it with';
  } else {
    x.used.add(best);
    cmp.kernelLine = best.line;
  }
  compareFields(x, cmp, best, mine);
  const out = x.out;
  if (cmp.differences.some((d) => d.verdict === 'differs')) out.differing++;
  else if (cmp.differences.some((d) => d.verdict === 'timing')) out.timingOnly++;
  else if (cmp.differences.length > 0) out.partial++;
  out.compared.push(cmp);
  return undefined;
}

/** The section that stands for the kernel's chunk at the end: the per-chunk replay's, or the whole-trace replay's where that one placed everything (or why neither does). */
function modelSection(x: SnapshotComparison, cv: TraceVerification['verified'][number]): { model: StatsChunk; modelNote: string | undefined } | string {
  const { r } = x;
  const ci = cv.instance;
  let model = cv.result.finalSection;
  let modelNote: string | undefined;
  const diverged = cv.result.mismatches > 0 || cv.result.atomicCut !== undefined;
  if (model !== undefined && diverged) {
    // The per-chunk replay places atomic requests as normal ones (it has no population); when the
    // whole-trace replay placed every allocation of this chunk where the kernel did, its chunk
    // holds the kernel's allocation map and stands for it.
    const sc = r.lostAllocCut >= 0 ? undefined : r.finalPairs.get(ci.number);
    const all = r.chunkAllocs[ci.number]!;
    const sim = sc === undefined ? undefined : x.sections.get(sc);
    if (sim !== undefined && all > 0 && r.chunkMatched[ci.number] === all) {
      model = sim;
      modelNote =
        `its per-chunk replay ${cv.result.mismatches > 0 ? `disagrees with ${cv.result.mismatches} placement(s)` : 'stopped comparing at an atomic request'} (it has no population, so it cannot place atomic requests as the kernel does); ` +
        `the whole-trace replay placed all ${all} of its allocations where the kernel did, so its chunk stands for it in every field`;
    }
  }
  if (model === undefined || (diverged && modelNote === undefined)) {
    const why = model === undefined ? 'left no chunk' : cv.result.mismatches > 0 ? `disagrees with ${cv.result.mismatches} placement(s)` : 'stopped comparing at an atomic request it cannot place without population';
    return `its per-chunk replay ${why}, so its state at the end is not the kernel's`;
  }
  return { model, modelNote };
}

/** Population and balance fields come from the simulation, when its chunk holds the same allocation map; otherwise why they are unknown. */
function withSimulatedBalance(x: SnapshotComparison, chunk: number, model: StatsChunk): { mine: StatsChunk; sc: number | undefined; balanceUnknown: string | undefined } {
  const { r } = x;
  let sc = r.lostAllocCut >= 0 ? undefined : r.finalPairs.get(chunk);
  const spare = sc === undefined && r.lostAllocCut < 0 && model.nrAlloc === 0;
  if (spare) sc = spareEmpty(x);
  const simSection = sc === undefined ? undefined : x.sections.get(sc);
  let balanceUnknown: string | undefined;
  if (r.lostAllocCut >= 0) balanceUnknown = 'a lost alloc event leaves the simulation with room the kernel had not, so its population no longer stands for the kernel\'s';
  else if (simSection === undefined) balanceUnknown = 'no simulated chunk stands for it at the end (the simulation destroyed or re-paired its chunk: lifetimes differ, see replay)';
  else if (!agreesOn(simSection, model, spare ? IDENTITY : MAP_FIELDS)) balanceUnknown = `the simulation placed some of its allocations in another chunk (its chunk ${sc} holds another map), so its population stands for another history`;
  const mine: StatsChunk = simSection !== undefined && balanceUnknown === undefined ? { ...model, kind: simSection.kind, emptyPopPages: simSection.emptyPopPages } : model;
  return { mine, sc, balanceUnknown };
}

/** The snapshot's dynamic chunk section (not yet matched) with the most fields equal to `mine`; `sameMap`: only those holding its allocation map. */
function bestSection(x: SnapshotComparison, mine: StatsChunk, sameMap: boolean): StatsChunk | undefined {
  let best: StatsChunk | undefined;
  let bestScore = -1;
  for (const k of x.after.chunks) {
    if (x.used.has(k) || k.kind === 'reserved' || k.kind === 'first' || (sameMap && !agreesOn(k, mine, IDENTITY))) continue;
    const score = countEqual(k, mine);
    if (score > bestScore) {
      best = k;
      bestScore = score;
    }
  }
  return best;
}

/** Field by field: equal, differing, depending on timing the trace cannot show, or not comparable. */
function compareFields(x: SnapshotComparison, cmp: ChunkStatsComparison, best: StatsChunk, mine: StatsChunk): void {
  const { balanceUnknown } = cmp;
  for (const f of ALL_FIELDS) {
    const kv = fieldValue(best, f);
    const rv = fieldValue(mine, f);
    if (BALANCE_FIELDS.has(f) && balanceUnknown !== undefined) {
      cmp.differences.push({ field: f, kernel: kv, replay: '?', verdict: 'not comparable', reason: balanceUnknown });
      continue;
    }
    if (kv === rv) {
      cmp.equal++;
      continue;
    }
    const d: FieldDifference = { field: f, kernel: kv, replay: rv, verdict: 'differs' };
    if (f === 'header' && !x.depopulating && (best.kind === 'sidelined' || best.kind === 'to_depopulate')) {
      // Not timing: the profile replayed has no isolation at all.
      d.reason = `the ${x.r.simulation.kernel} profile has no chunk isolation or sidelining (added in 5.14), the snapshot's kernel has: it is newer than the profile`;
    } else if (BALANCE_FIELDS.has(f) && cmp.kernelLine >= 0) {
      d.verdict = 'timing';
      const why = timingReasons(f, best, mine, x.r, x.preexisting);
      d.reason = why.text;
      d.reasons = why.codes;
    }
    cmp.differences.push(d);
  }
}

/** The global section, kernel next to replay, in the format's order (fields both sides print): never comparable (see GLOBAL_REASON). */
function globalFields(after: PercpuStatsFile, sim: PercpuAllocator): StatsComparison['globalNotComparable'] {
  const g = after.global;
  const s = parsePercpuStats(sim.formatStats(), '<simulation>').global;
  const out: StatsComparison['globalNotComparable'] = [];
  for (const f of STATS_LAYOUTS[after.layout].globalFields) {
    const kernel = g[f.key];
    const replay = s[f.key];
    if (kernel !== undefined && replay !== undefined) out.push({ field: f.name, kernel, replay, reason: GLOBAL_REASON });
  }
  return out;
}

/** Whether the comparison found a difference the trace's timing does not explain. */
export function statsDiffer(c: StatsComparison): boolean {
  return c.differing > 0;
}

export function formatStatsComparison(c: StatsComparison, workload: string): string[] {
  const out: string[] = [];
  for (const x of c.compared) {
    const where = x.kernelLine >= 0 ? `${c.source} line ${x.kernelLine}` : `no section of ${c.source} holds its allocation map; nearest section`;
    const real = x.differences.filter((d) => d.verdict === 'differs');
    const timing = x.differences.filter((d) => d.verdict === 'timing');
    const unknown = x.differences.filter((d) => d.verdict === 'not comparable');
    const status = real.length > 0 ? 'DIFFERS' : timing.length > 0 ? 'timing' : unknown.length > 0 ? 'equal-where-comparable' : 'equal';
    out.push(
      `stats ${status} ${workload} chunk ${x.chunk} (base ${x.base}) vs ${where}: ${x.equal}/${ALL_FIELDS.length} fields equal` +
        (real.length > 0 ? `, ${real.length} differ` : '') +
        (timing.length > 0 ? `, ${timing.length} depend on timing the trace cannot show` : '') +
        (unknown.length > 0 ? `, ${unknown.length} not comparable (${unknown.map((d) => d.field).join(', ')})` : ''),
    );
    if (x.modelNote) out.push(`  ${x.modelNote}`);
    for (const d of real) out.push(`  ${d.field}: kernel ${d.kernel}, replay ${d.replay}${d.reason ? ` (${d.reason})` : ''}`);
    for (const d of timing) out.push(`  ${d.field}: kernel ${d.kernel}, replay ${d.replay} (timing the trace cannot show: ${(d.reasons ?? []).join(', ')})`);
    for (const d of timing) out.push(`    why (${d.field}): ${d.reason}`);
    if (unknown.length > 0) out.push(`  ${unknown.map((d) => `${d.field} (kernel ${d.kernel})`).join(', ')} not comparable: ${x.balanceUnknown}`);
  }
  for (const n of c.notCompared) out.push(`stats not compared: ${workload} chunk ${n.chunk} (base ${n.base}): ${n.reason}`);
  if (c.globalNotComparable.length > 0) {
    out.push(
      `stats global fields not comparable (${c.globalNotComparable[0]!.reason}): ` +
        c.globalNotComparable.map((g) => `${g.field} kernel ${g.kernel} / replay ${g.replay}`).join(', '),
    );
  }
  out.push(
    `stats ${workload}: ${c.compared.length} chunk section(s) compared with ${c.source}: ${c.compared.length - c.differing - c.timingOnly - c.partial} equal, ` +
      `${c.partial} equal where comparable (population not comparable), ` +
      `${c.timingOnly} differing only in what the balance work decides at moments the trace cannot show, ${c.differing} differing; ${c.notCompared.length} not compared`,
  );
  return out;
}
