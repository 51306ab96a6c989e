// SPDX-License-Identifier: GPL-2.0-only
/**
 * `percpu verify-trace`: for every chunk a trace shows being created, replay its
 * complete history into a fresh chunk of the chunk-mode allocator and compare
 * each placement with the kernel's.
 *
 * What this module owns: the per-trace loop, the report (per chunk, per trace,
 * and the `placements: matched X/Y` total), and the per-chunk golden files it
 * can write (FORMAT.md, "Files recorded from a running kernel"). Every
 * correction of the tracer's pitfalls is printed: trace-order swaps (with the
 * two events and their time gap), histories cut at a lost free or a lost alloc
 * (with the proof and the number of allocations left unchecked), frees with no
 * allocation. Failed allocations are reported per chunk (agreed, mismatched,
 * not comparable and why) and summed per trace; a mismatch among them fails
 * the chunk like a placement mismatch. Chunks that existed before tracing are
 * not replayed and are reported as such.
 */
import { basename } from 'node:path';
import { chunkHistory, indexChunks, opsByInstance, type ChunkHistory, type ChunkInstance, type TraceChunks } from './chunks.js';
import { replayChunkHistory, type ChunkReplayOptions, type ChunkReplayResult, type FailExcuse } from './chunk-replay.js';
import { lostEventWarnings, TRACE_FLAG_ATOMIC, TraceEventKind, type ParsedTrace } from '../../formats/trace.js';

/** Options of `verifyParsedTrace`. */
export interface VerifyTraceOptions extends ChunkReplayOptions {
  /** Print only failing chunks and the summaries. */
  quiet?: boolean;
  /** Label written in front of "trace" in golden `workload:` lines (e.g. "Linux 6.18"). */
  label?: string;
  /** `kernel:` value of written golden files (default: the profile name). */
  kernelLabel?: string;
}

/** One chunk of the trace, its history and its replay's result. */
export interface ChunkVerification {
  instance: ChunkInstance;
  history: ChunkHistory;
  result: ChunkReplayResult;
}

/** What `verifyParsedTrace` found: every chunk's replay, the placements matched, and the failed allocations checked. */
export interface TraceVerification {
  trace: ParsedTrace;
  chunks: TraceChunks;
  /** Workload name (file name without `.trace`, `.xz`, `.gz`). */
  workload: string;
  verified: ChunkVerification[];
  placements: number;
  matched: number;
  unitSize: number;
  /** Allocations in replayed chunks that end beyond the unit size (a wrong --unit-size, most likely). */
  beyondUnit: number;
  /** Failed allocations: the events, and their checks against the replayed chunks alive at that moment (summed over chunks). */
  fails: TraceFailSummary;
}

/** The trace's failed allocations, checked against the replayed chunks. */
export interface TraceFailSummary {
  /** `percpu_alloc_percpu_fail` events in the trace. */
  events: number;
  /** Of those, the ones no replayed chunk could be asked about (none existed then, or all were cut or the request was reserved). */
  unchecked: number;
  checks: number;
  agreed: number;
  mismatched: number;
  notComparable: number;
}

function summariseFails(trace: ParsedTrace, tc: TraceChunks, verified: ChunkVerification[]): TraceFailSummary {
  const asked = new Set<number>();
  const sum: TraceFailSummary = { events: tc.fails.length, unchecked: 0, checks: 0, agreed: 0, mismatched: 0, notComparable: 0 };
  for (const c of verified) {
    for (const s of c.history.fails) asked.add(s);
    const f = c.result.fails;
    sum.checks += f.checked;
    sum.agreed += f.agreed;
    sum.mismatched += f.mismatched;
    sum.notComparable += f.notComparable.unpopulated + f.notComparable.isolated + f.notComparable.relegated + f.notComparable.budget;
  }
  sum.unchecked = trace.counts[TraceEventKind.AllocFail]! - asked.size;
  return sum;
}

/** A trace file name without its directory and its `.trace`/`.txt`, `.gz`/`.xz` endings. */
export function workloadName(traceName: string): string {
  return basename(traceName).replace(/\.(xz|gz)$/, '').replace(/\.(trace|txt)$/, '');
}

/** Replays each chunk the trace created on its own (the kernel's per-chunk step) and compares every placement: `percpu verify-trace`. */
export function verifyParsedTrace(trace: ParsedTrace, options: VerifyTraceOptions): TraceVerification {
  const tc = indexChunks(trace);
  const byInstance = opsByInstance(tc);
  const verified: ChunkVerification[] = [];
  let placements = 0;
  let matched = 0;
  for (const ci of tc.instances) {
    if (ci.createdSeq < 0) continue;
    const history = chunkHistory(tc, ci.number, byInstance[ci.number]);
    const result = replayChunkHistory(tc, history, options);
    verified.push({ instance: ci, history, result });
    placements += result.placements;
    matched += result.matched;
  }
  let beyondUnit = 0;
  for (const c of verified) {
    for (const s of c.history.ops) if (trace.events.kind[s] === TraceEventKind.Alloc && trace.events.off[s]! + trace.events.size[s]! > options.unitSize) beyondUnit++;
  }
  const fails = summariseFails(trace, tc, verified);
  return { trace, chunks: tc, workload: workloadName(trace.name), verified, placements, matched, unitSize: options.unitSize, beyondUnit, fails };
}

const us = (n: number) => `${n} µs`;

/** Why a chunk's history stops where it does, and what that leaves unchecked. */
function cutNotes(v: TraceVerification, c: ChunkVerification): string[] {
  const ev = v.trace.events;
  const line = (seq: number) => ev.line[seq]!;
  const { instance: ci, history: h } = c;
  const by = h.cutBy;
  const out: string[] = [];
  if (by !== undefined && 'lostAlloc' in by) {
    const l = by.lostAlloc;
    const from =
      l.after === ci.createdSeq
        ? `no earlier event shows those bytes in use, so it happened at an unknown moment after the chunk's creation (line ${line(l.after)})`
        : `those bytes were last released at seq ${l.after} (line ${line(l.after)}), so it happened at an unknown moment after that`;
    out.push(
      `  history cut after seq ${h.cut} (line ${line(h.cut)}): lost alloc: free seq ${l.freeSeq} (line ${line(l.freeSeq)}) releases off ${ev.off[l.freeSeq]}, where no object is live: ` +
        `its alloc event is missing; ${from}; ${h.allocsDropped} later allocation(s) are not checked`,
    );
  } else {
    const why =
      by !== undefined && 'lostFree' in by
        ? `alloc seq ${by.lostFree.allocSeq} (line ${line(by.lostFree.allocSeq)}) reuses bytes of seq ${h.cut} (off ${ev.off[h.cut]}, size ${ev.size[h.cut]}), whose free event is missing`
        : `seq ${h.cut} (off ${ev.off[h.cut]}) is still live when the chunk is destroyed, so its free event is missing`;
    out.push(`  history cut after seq ${h.cut} (line ${line(h.cut)}): lost free: ${why}; its free happened at an unknown moment, so ${h.allocsDropped} later allocation(s) are not checked`);
  }
  const more = ci.lostFrees.length + ci.liveAtDestroy.length + ci.lostAllocs.length - 1;
  if (more > 0) out.push(`  (${more} more lost event(s) proven in this chunk after the cut)`);
  return out;
}

const FAIL_EXCUSES: Record<FailExcuse, string> = {
  unpopulated: 'the room touches a page holding no live object, which may not have been populated',
  isolated: 'a quarter or more of the chunk was empty, so the kernel may have isolated it for depopulation (never searched)',
  relegated: 'its largest free run was under 32 bytes, so it may have sat relegated in slot 0 (never searched)',
  budget: 'not checked: the budget for rebuilding the model after a probe was spent',
};

/** What the failed allocations during a chunk's life say about the model. */
function failNotes(v: TraceVerification, c: ChunkVerification): string[] {
  const ev = v.trace.events;
  const f = c.result.fails;
  const out: string[] = [];
  if (f.checked === 0 && c.history.failsUnchecked === 0) return out;
  const nc = f.notComparable;
  const excused = nc.unpopulated + nc.isolated + nc.relegated + nc.budget;
  out.push(
    `  failed allocations during its life: ${f.checked} checked: the model refused ${f.agreed} too, found room for ${f.mismatched} the kernel must have seen (mismatch), ` +
      `${excused} not comparable` +
      (excused > 0 ? ` (${(Object.keys(nc) as FailExcuse[]).filter((k) => nc[k] > 0).map((k) => `${nc[k]} ${k}`).join(', ')})` : '') +
      (c.history.failsUnchecked > 0 ? `; ${c.history.failsUnchecked} not checked (reserved requests, or after the history's cut)` : ''),
  );
  for (const x of f.first) {
    const req = `${ev.flags[x.seq]! & TRACE_FLAG_ATOMIC ? 'atomic ' : ''}size ${ev.size[x.seq]} align ${ev.align[x.seq]}`;
    if (x.verdict === 'mismatch') {
      out.push(`  mismatch at failed alloc seq ${x.seq} (line ${ev.line[x.seq]}, ${req}): the kernel refused it, the model places it at off ${x.modelOff} in pages that hold live objects`);
    } else {
      out.push(`  not comparable: failed alloc seq ${x.seq} (line ${ev.line[x.seq]}, ${req})${x.modelOff >= 0 ? `, model room at off ${x.modelOff}` : ''}: ${FAIL_EXCUSES[x.verdict as FailExcuse]}`);
    }
  }
  return out;
}

/** The report of one trace, as lines. */
export function formatTraceVerification(v: TraceVerification, options: { quiet?: boolean } = {}): string[] {
  const out: string[] = [];
  const t = v.trace;
  for (const w of lostEventWarnings(t)) out.push(`WARNING ${t.name}: ${w}`);
  for (const a of v.chunks.anomalies) out.push(`WARNING ${t.name}: ${a}`);
  if (v.beyondUnit > 0) out.push(`WARNING ${t.name}: ${v.beyondUnit} allocation(s) end beyond the unit size ${v.unitSize}: is the unit size right?`);
  for (const c of v.verified) {
    const r = c.result;
    const ok = r.mismatches === 0 && r.fails.mismatched === 0;
    const notes = chunkNotes(v, c);
    if (options.quiet && ok) continue;
    out.push(chunkHeadline(v, c, ok), ...notes);
  }
  out.push(...traceSummary(v));
  return out;
}

/** One replayed chunk's first line: ok or FAIL, its life, placements matched. */
function chunkHeadline(v: TraceVerification, c: ChunkVerification, ok: boolean): string {
  const line = (seq: number) => v.trace.events.line[seq]!;
  const { instance: ci, result: r } = c;
  const life = `created line ${line(ci.createdSeq)} by ${ci.creator}, ${ci.destroyedSeq >= 0 ? `destroyed line ${line(ci.destroyedSeq)}` : 'alive at the end'}`;
  return `${ok ? 'ok' : 'FAIL'} ${v.workload} chunk ${ci.number} (base ${ci.base}, ${life}): ${r.matched}/${r.placements} placements, ${r.frees} frees`;
}

/** What the report says under a replayed chunk's headline: corrections, cuts, failed allocations, mismatches, atomic requests. */
function chunkNotes(v: TraceVerification, c: ChunkVerification): string[] {
  const ev = v.trace.events;
  const line = (seq: number) => ev.line[seq]!;
  const { history: h, result: r } = c;
  const notes: string[] = [];
  for (const ro of r.reorders) {
    const k = (s: number) => (ev.kind[s] === TraceEventKind.Alloc ? 'alloc' : 'free');
    notes.push(
      `  corrected order: ${k(ro.seq)} seq ${ro.seq} (line ${line(ro.seq)}, CPU ${ev.cpu[ro.seq]}) replayed before ${k(ro.beforeSeq)} seq ${ro.beforeSeq} ` +
        `(line ${line(ro.beforeSeq)}, CPU ${ev.cpu[ro.beforeSeq]}), recorded ${us(Math.abs(ro.gapUs))} apart: the alloc event fires after the allocator's lock is released`,
    );
  }
  if (h.cut >= 0) notes.push(...cutNotes(v, c));
  if (h.unmatchedFrees > 0) notes.push(`  ${h.unmatchedFrees} free(s) of offsets with no live object left out (their alloc events are missing)`);
  notes.push(...failNotes(v, c));
  for (const mm of r.firstMismatches) {
    notes.push(`  mismatch at seq ${mm.seq} (line ${line(mm.seq)}): kernel placed it at off ${mm.kernelOff}, the model at ${mm.modelOff < 0 ? 'nothing (refused)' : `off ${mm.modelOff}`}`);
  }
  if (r.mismatches > r.firstMismatches.length) notes.push(`  … ${r.mismatches - r.firstMismatches.length} more mismatch(es)`);
  if (r.correctionsStopped === 'diverged' && r.atomicCut === undefined) notes.push(`  no trace-order swap explains the first mismatch; later placements in this chunk are compared against a model that has already diverged`);
  if (r.correctionsStopped === 'budget') notes.push(`  correction search stopped after its budget of attempts`);
  if (r.atomicAllocs > 0) {
    notes.push(`  ${r.atomicAllocs} atomic allocation(s) replayed as normal ones (as if every page were populated: this per-chunk model has no population)`);
  }
  if (r.atomicCut !== undefined) {
    const s = r.atomicCut.seq;
    notes.push(
      `  not compared from seq ${s} (line ${line(s)}) on: the kernel put this atomic request at off ${ev.off[s]}, in pages it had populated, ` +
        `and which pages are populated is the balance work's choice, which this per-chunk model does not have; ${r.atomicCut.allocsNotChecked} allocation(s) not checked here. ` +
        '`percpu replay` models population and compares them (docs/ENGINE.md, "When the balance work runs")',
    );
  }
  return notes;
}

/** The report's closing lines: chunks that existed before tracing, the totals, the failed allocations. */
function traceSummary(v: TraceVerification): string[] {
  const out: string[] = [];
  const pre = v.chunks.instances.filter((c) => c.createdSeq < 0);
  if (pre.length > 0) {
    const allocs = pre.reduce((a, c) => a + c.allocs, 0);
    const frees = pre.reduce((a, c) => a + c.frees, 0);
    out.push(
      `${v.workload}: ${pre.length} chunk(s) existed before tracing began (${pre.map((c) => c.base).join(', ')}); their state is unknown, ` +
        `so their ${allocs} allocation(s) and ${frees} free(s) are not replayed`,
    );
  }
  const reorders = v.verified.reduce((a, c) => a + c.result.reorders.length, 0);
  const cuts = v.verified.filter((c) => c.history.cut >= 0);
  const unchecked = cuts.reduce((a, c) => a + c.history.allocsDropped, 0);
  const atomicCuts = v.verified.filter((c) => c.result.atomicCut !== undefined);
  const atomicUnchecked = atomicCuts.reduce((a, c) => a + c.result.atomicCut!.allocsNotChecked, 0);
  out.push(
    `${v.workload}: ${v.verified.length} chunk(s) created in the trace, ${v.matched}/${v.placements} placements matched` +
      `; ${reorders} trace-order correction(s); ${cuts.length} history cut(s) at a lost event (${unchecked} allocation(s) not checked)` +
      (atomicCuts.length > 0 ? `; ${atomicCuts.length} chunk(s) compared up to an atomic request only (${atomicUnchecked} allocation(s) not checked: population)` : ''),
  );
  const f = v.fails;
  if (f.events > 0) {
    out.push(
      `${v.workload}: ${f.events} failed allocation(s), checked ${f.checks} time(s) against the replayed chunks alive then: the model refused ${f.agreed} too, ` +
        `${f.mismatched} mismatch(es), ${f.notComparable} not comparable; ${f.unchecked} failed allocation(s) met no replayed chunk (not checked)`,
    );
  }
  return out;
}

// ---------------------------------------------------------------------------
// Per-chunk golden files.

export function formatChunkGolden(
  v: TraceVerification,
  c: ChunkVerification,
  options: { unitSize: number; pageSize?: number; nrUnits?: number; label?: string; kernelLabel?: string },
): string {
  const t = v.trace;
  const ev = t.events;
  const ci = c.instance;
  const h = c.history;
  const r = c.result;
  const allocs = r.placements;
  const frees = r.frees;
  const head = [
    '# percpu-golden 1',
    '# source: kernel-trace',
    `# kernel: ${options.kernelLabel ?? '7.0'}`,
    '# mode: chunk',
    `# geometry: page_size=${options.pageSize ?? 4096} unit_size=${options.unitSize} nr_units=${options.nrUnits ?? 1}`,
    '# balance: none',
    `# workload: ${options.label ? options.label + ' ' : ''}trace ${v.workload} chunk ${ci.number} base=${ci.base} created_seq=${ci.createdSeq} ` +
      `creator=${ci.creator} destroyed_seq=${ci.destroyedSeq >= 0 ? ci.destroyedSeq : '-'}`,
    `# note: counts allocs=${allocs} frees=${frees} atomic_allocs=${r.atomicAllocs} live_at_end=${allocs - frees} reorders=${r.reorders.length} ` +
      `model_mismatch_trace_order=${r.explained} model_unexplained=${r.mismatches} lost_free_cut=${h.cut >= 0 ? h.cut : '-'}`,
  ];
  for (const ro of r.reorders) head.push(`# note: reorder seq=${ro.seq} moved_before seq=${ro.beforeSeq}`);
  if (h.cut >= 0) {
    head.push(`# note: truncated_after_seq ${h.cut} (a free event was lost by the tracer after this point; later history omitted)`);
    for (const l of ci.lostFrees) {
      head.push(
        `# note: lost alloc seq ${l.allocSeq} off ${ev.off[l.allocSeq]} size ${ev.size[l.allocSeq]} overlaps live alloc seq ${l.liveSeq} ` +
          `off ${ev.off[l.liveSeq]} size ${ev.size[l.liveSeq]} (missing free)`,
      );
    }
    for (const s of ci.liveAtDestroy) head.push(`# note: live alloc seq ${s} off ${ev.off[s]} size ${ev.size[s]} at chunk destruction (missing free)`);
  }
  const body: string[] = [];
  for (const s of r.order) {
    if (ev.kind[s] === TraceEventKind.Alloc) body.push(`a ${s} ${ev.size[s]} ${ev.align[s]} 0 ${ev.off[s]}`);
    else body.push(`f ${v.chunks.freeTarget[s]}`);
  }
  return head.join('\n') + '\n' + body.join('\n') + (body.length ? '\n' : '');
}
