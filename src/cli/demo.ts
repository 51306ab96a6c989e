// SPDX-License-Identifier: GPL-2.0-only
/**
 * `percpu demo` (what `npm start` runs): the project's story on real data, in
 * one screen.
 *
 * A running Linux 6.18 created and destroyed a BPF per-CPU hash map of a
 * million 8-byte entries while its percpu tracepoints were recorded (the
 * bundled trace). The demo replays that trace through every profile — 4.13's
 * area map, 4.14's bitmap, today's 7.0, and 7.0 with its free-path slip
 * corrected — and prints what was replayed, how many of the kernel's
 * placements each profile reproduced, what the area map's frees cost against
 * the bitmap's, and where the report is. Everything longer (percpu_stats side
 * by side, chunk maps, who allocated, benchmark charts) goes to the HTML report.
 *
 * Two shortcuts keep it fast, and both are stated in its output (`--full`
 * turns the second off): the 4.13 replay stops after the last allocation
 * compared with the kernel's (what follows only frees, or allocates in chunks
 * older than the trace), and the 4.13 frees are timed on one chunk's share and
 * scaled to all of them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createAllocator, type PercpuAllocator } from '../engine/allocator.js';
import { ALLOC_ATOMIC } from '../engine/bitmap-allocator.js';
import { NULL_PTR, ptrChunk, ptrOffset } from '../engine/pointer.js';
import { TRACE_FLAG_ATOMIC, TraceEventKind, parseTraceFile, type ParsedTrace, type TraceEvents } from '../formats/trace.js';
import { replayTrace, type TraceReplayResult } from '../tools/replay/trace.js';
import { geometryFromStats } from '../formats/stats-parse.js';
import { readPercpuStatsFile } from '../formats/files.js';
import { writeOutput } from '../formats/input.js';
import { renderAllocatorMap, renderDiffMap, snapshotChunks, type ChunkSnapshot } from '../tools/viz/allocator-map.js';
import { renderReport, type ReportBlock, type ReportSection } from '../tools/viz/report.js';
import { benchSvgFiles } from '../tools/viz/bench-charts.js';
import { html } from '../tools/viz/markup.js';
import { compareStats, statsColumnsMarkup } from '../tools/viz/stats-compare.js';
import { bundled, PACKAGE_ROOT } from './paths.js';
import { InputError } from '../errors.js';
import { progress } from './progress.js';

export interface DemoOptions {
  trace?: string;
  stats?: string;
  report?: string;
  /** Draw every chunk of every bitmap profile page by page in the report (no bands). */
  full?: boolean;
  /** Also print the pairwise placement table and every profile's percpu_stats. */
  verbose?: boolean;
  write: (s: string) => void;
}

interface ProfileRun {
  label: string;
  kernel: string;
  fixed: boolean;
  /** Allocator time for the trace's allocations and frees, replayed in a tight loop. */
  allocMs: number;
  freeMs: number;
  /** Frees actually timed (fewer than all when extrapolated). */
  freesTimed: number;
  freesTotal: number;
  /** Events replayed (fewer than the trace's when the replay stopped after the last compared allocation). */
  eventsReplayed: number;
  /** Allocations into chunks older than the trace (counted, not compared). */
  unverifiable: number;
  result: TraceReplayResult;
  statsAtPeak: string;
  chunksAtPeak: number;
  snapshot: ChunkSnapshot | undefined;
}

interface Profile {
  label: string;
  kernel: string;
  fixed: boolean;
  /** The area map: replay up to the last allocation, time a prefix of the frees. */
  areaMap: boolean;
}

const PROFILES: Profile[] = [
  { label: '4.13', kernel: '4.13', fixed: false, areaMap: true },
  { label: '4.14', kernel: '4.14', fixed: false, areaMap: false },
  { label: '7.0', kernel: '7.0', fixed: false, areaMap: false },
  { label: '7.0 fixed', kernel: '7.0', fixed: true, areaMap: false },
];

/** The event after which the most allocations are live: the map is complete there. */
function peakEvent(trace: ParsedTrace): { seq: number; live: number } {
  const ev = trace.events;
  let live = 0;
  let best = { seq: 0, live: 0 };
  for (let s = 0; s < ev.length; s++) {
    const k = ev.kind[s];
    if (k === TraceEventKind.Alloc) live++;
    else if (k === TraceEventKind.Free) live--;
    if (live > best.live) best = { seq: s, live };
  }
  return best;
}

/**
 * One past the last event whose placement is compared with the kernel's: an
 * allocation into a chunk the trace saw created, or a failed allocation. What
 * follows can only free, or allocate in chunks older than the trace, which the
 * replay counts as unverifiable without simulating.
 */
function endOfComparedAllocations(trace: ParsedTrace): number {
  const ev = trace.events;
  const created = new Set<number>();
  for (let s = 0; s < ev.length; s++) if (ev.kind[s] === TraceEventKind.CreateChunk) created.add(ev.addr[s]!);
  for (let s = ev.length - 1; s >= 0; s--) if ((ev.kind[s] === TraceEventKind.Alloc && created.has(ev.addr[s]!)) || ev.kind[s] === TraceEventKind.AllocFail) return s + 1;
  return 0;
}

/** Allocation events from `from` on (after a cut: all into chunks older than the trace). */
function allocationsFrom(trace: ParsedTrace, from: number): number {
  let k = 0;
  for (let s = from; s < trace.events.length; s++) if (trace.events.kind[s] === TraceEventKind.Alloc) k++;
  return k;
}

/** The first `n` events of a trace (views, no copies). */
function tracePrefix(trace: ParsedTrace, n: number): ParsedTrace {
  if (n >= trace.events.length) return trace;
  const e = trace.events;
  const events: TraceEvents = {
    length: n,
    kind: e.kind.subarray(0, n),
    cpu: e.cpu.subarray(0, n),
    pid: e.pid.subarray(0, n),
    task: e.task.subarray(0, n),
    time: e.time.subarray(0, n),
    addr: e.addr.subarray(0, n),
    off: e.off.subarray(0, n),
    size: e.size.subarray(0, n),
    align: e.align.subarray(0, n),
    flags: e.flags.subarray(0, n),
    callSite: e.callSite.subarray(0, n),
    line: e.line.subarray(0, n),
  };
  const counts = [0, 0, 0, 0, 0];
  for (let s = 0; s < n; s++) counts[events.kind[s]!]!++;
  return { ...trace, events, counts, lines: events.line[n - 1] ?? 0 };
}

type Geometry = ReturnType<typeof geometryFromStats>;

/** CPU time of this process in ms: steadier than wall time on a shared machine. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * The allocator's own cost: replay the trace's requests (allocations, and
 * frees of objects allocated in the trace) in a tight loop and time each
 * contiguous run of allocations and of frees.
 *
 * With `sampleFrom` (an event), the frees from there on are executed and timed
 * only for objects in one chunk — the one holding the most allocations at that
 * point — and their time is scaled by all those frees over the sampled ones: a chunk's frees cost what its own
 * map holds, whatever the other chunks do, so one chunk of the trace's bulk
 * stands for the others (the area map's frees, ~7x cheaper to time this way).
 */
function timeAllocator(trace: ParsedTrace, freeTarget: Int32Array, geometry: Geometry, p: Profile, sampleFrom: number): { allocMs: number; freeMs: number; freesTimed: number; freesTotal: number } {
  const ev = trace.events;
  const a = createAllocator({ kernel: p.kernel, fixed: p.fixed, geometry, backend: 'vm', balance: 'sync' });
  const ptr = new Float64Array(ev.length).fill(NULL_PTR);
  let allocMs = 0;
  let freeMs = 0;
  let freesTotal = 0;
  let freesTimed = 0;
  let sampledMs = 0;
  let sampledTotal = 0;
  let sampledTimed = 0;
  let sampleChunk = -1;
  let s = 0;
  while (s < ev.length) {
    const kind = ev.kind[s];
    if (kind !== TraceEventKind.Alloc && kind !== TraceEventKind.Free) {
      s++;
      continue;
    }
    const sampling = kind === TraceEventKind.Free && s >= sampleFrom;
    if (sampling && sampleChunk < 0) sampleChunk = busiestChunk(ptr, s);
    const t0 = cpuMs();
    if (kind === TraceEventKind.Alloc) {
      for (; s < ev.length && ev.kind[s] === kind; s++) ptr[s] = a.alloc(ev.size[s]!, ev.align[s]!, ev.flags[s]! & TRACE_FLAG_ATOMIC ? ALLOC_ATOMIC : 0);
      allocMs += cpuMs() - t0;
    } else {
      for (; s < ev.length && ev.kind[s] === kind; s++) {
        const t = freeTarget[s]!;
        if (t < 0 || ptr[t] === NULL_PTR) continue;
        freesTotal++;
        if (sampling) {
          sampledTotal++;
          if (ptrChunk(ptr[t]!) !== sampleChunk) continue;
          sampledTimed++;
        }
        a.free(ptr[t]!);
        freesTimed++;
      }
      if (sampling) sampledMs += cpuMs() - t0;
      else freeMs += cpuMs() - t0;
    }
  }
  if (sampledTimed > 0) freeMs += (sampledMs * sampledTotal) / sampledTimed;
  return { allocMs, freeMs, freesTimed, freesTotal };
}

/** The chunk holding the most of the allocations made so far (`ptr[0..upTo)`). */
function busiestChunk(ptr: Float64Array, upTo: number): number {
  const perChunk = new Map<number, number>();
  for (let s = 0; s < upTo; s++) if (ptr[s] !== NULL_PTR) perChunk.set(ptrChunk(ptr[s]!), (perChunk.get(ptrChunk(ptr[s]!)) ?? 0) + 1);
  let best = -1;
  for (const [c, k] of perChunk) if (best < 0 || k > perChunk.get(best)!) best = c;
  return best;
}

/** Replay one profile (placements, stats and maps at the peak); timing comes later. */
function replayProfile(trace: ParsedTrace, geometry: Geometry, p: Profile, peak: number): Omit<ProfileRun, 'allocMs' | 'freeMs' | 'freesTimed' | 'freesTotal'> {
  let statsAtPeak = '';
  let chunksAtPeak = 0;
  let snapshot: ChunkSnapshot | undefined;
  const replayed = p.areaMap ? tracePrefix(trace, Math.max(endOfComparedAllocations(trace), peak + 1)) : trace;
  const result = replayTrace(replayed, {
    kernel: p.kernel,
    fixed: p.fixed,
    geometry,
    afterEvent: (seq: number, sim: PercpuAllocator) => {
      if (seq !== peak) return;
      statsAtPeak = sim.formatStats();
      chunksAtPeak = (statsAtPeak.match(/^Chunk/gm) ?? []).length;
      const view = sim.bitmapView();
      if (view !== undefined) snapshot = snapshotChunks(view);
    },
  });
  // The allocations past the cut went to chunks older than the trace: unverifiable, as a whole replay counts them.
  const unverifiable = result.unverifiablePreexisting + allocationsFrom(trace, replayed.events.length);
  return { label: p.label, kernel: p.kernel, fixed: p.fixed, eventsReplayed: replayed.events.length, unverifiable, result, statsAtPeak, chunksAtPeak, snapshot };
}

/** The most frequent allocation size of the trace: the map's values. */
function dominantRequest(trace: ParsedTrace): { size: number; count: number } {
  const ev = trace.events;
  const bySize = new Map<number, number>();
  for (let s = 0; s < ev.length; s++) if (ev.kind[s] === TraceEventKind.Alloc) bySize.set(ev.size[s]!, (bySize.get(ev.size[s]!) ?? 0) + 1);
  let best = { size: 0, count: 0 };
  for (const [size, count] of bySize) if (count > best.count) best = { size, count };
  return best;
}

/** Allocation events two profiles placed differently (chunk or offset), and the first of them. */
function placementDifferences(a: ProfileRun, b: ProfileRun): { count: number; first: string | undefined } {
  const pa = a.result.placements;
  const pb = b.result.placements;
  const ev = a.result.trace.events;
  let count = 0;
  let first: string | undefined;
  const n = Math.min(pa.length, pb.length);
  for (let s = 0; s < n; s++) {
    const x = pa[s]!;
    const y = pb[s]!;
    if (x === y) continue;
    count++;
    if (first === undefined) {
      const where = (p: number) => (p === NULL_PTR ? 'refused' : `chunk ${ptrChunk(p)} offset ${ptrOffset(p)}`);
      first = `line ${ev.line[s]}: ${ev.size[s]} B align ${ev.align[s]} -> ${a.label}: ${where(x)}, ${b.label}: ${where(y)}`;
    }
  }
  return { count, first };
}

/** Allocations and bytes per interned id (call site or task), the largest first. */
function topBy(ids: Int32Array, names: string[], trace: ParsedTrace, limit: number): (string | number)[][] {
  const ev = trace.events;
  const count = new Float64Array(names.length);
  const bytes = new Float64Array(names.length);
  for (let s = 0; s < ev.length; s++) {
    if (ev.kind[s] !== TraceEventKind.Alloc) continue;
    const id = ids[s]!;
    if (id < 0) continue;
    count[id]!++;
    bytes[id]! += ev.size[s]!;
  }
  const order = names.map((_, i) => i).filter((i) => count[i]! > 0);
  order.sort((x, y) => count[y]! - count[x]!);
  return order.slice(0, limit).map((i) => [names[i]!, count[i]!.toLocaleString('en-US'), bytes[i]!.toLocaleString('en-US')]);
}

const n = (x: number) => x.toLocaleString('en-US');
const ms = (x: number) => `${x >= 100 ? x.toFixed(0) : x.toFixed(1)} ms`;

/** What `percpu demo` says when installed from npm, where its 7.7 MB trace is not shipped. */
const REPO_ONLY_DEMO = 'not found: the demo\'s trace (7.7 MB) ships with the repository, not the npm package';
const REPO_ONLY_HINT = 'run it from a clone (npm ci && npm start), or pass --trace <file> --stats <file>';

/** A profile pair's placement differences (first one described). */
type PlacementDiff = { pair: string; count: number; first: string | undefined };

/** What the demo's story is told from. */
interface DemoStory {
  trace: ParsedTrace;
  geometry: ReturnType<typeof geometryFromStats>;
  peak: { seq: number; live: number };
  runs: ProfileRun[];
  diffs: PlacementDiff[];
  statsColumns: ReturnType<typeof compareStats>;
  reportPath: string;
  bundledTrace: boolean;
}

/** `percpu demo`: replays the trace through every profile, writes the report, tells the story; true when 7.0 reproduced every placement. */
export async function runDemo(options: DemoOptions): Promise<boolean> {
  const tracePath = options.trace ?? bundled('demo', 'bpf-percpu-hash-1M-x-8B.trace.gz');
  const statsPath = options.stats ?? bundled('demo', 'before.percpu_stats');
  // The bundled trace (7.7 MB) is in the repository, not in the npm package (kept under 1 MB).
  if (options.trace === undefined && !existsSync(tracePath)) throw new InputError(tracePath, REPO_ONLY_DEMO, REPO_ONLY_HINT);
  // Each phase named in full, short enough for the bar on an 80-column terminal.
  const phases = ['parsing the trace', ...PROFILES.map((p) => `replaying ${p.label} vs the kernel`), ...PROFILES.map((p) => `timing ${p.label}'s allocs and frees`), 'drawing maps, writing the report'];
  const bar = progress(phases.length, 'demo');
  let phase = 0;
  const next = () => bar.update(phase, phases[phase++]);
  next();
  const trace = await parseTraceFile(tracePath, tracePath.startsWith(PACKAGE_ROOT) ? tracePath.slice(PACKAGE_ROOT.length + 1) : tracePath);
  const beforeStats = await readPercpuStatsFile(statsPath);
  const geometry = geometryFromStats(beforeStats, trace.preamble.nrCpus !== undefined ? { nrUnits: trace.preamble.nrCpus } : {});
  const peak = peakEvent(trace);
  const runs = runProfiles(trace, geometry, peak, options, next);
  const diffs = placementDiffs(runs);
  next();
  const reportPath = resolve(options.report ?? 'percpu-report.html');
  const statsColumns = compareStats(runs.map((r) => ({ label: r.label, text: r.statsAtPeak })));
  writeOutput(reportPath, buildReport(trace, peak, runs, diffs, statsColumns, options.full ?? false), '--report');
  bar.done();
  return tellStory(options, { trace, geometry, peak, runs, diffs, statsColumns, reportPath, bundledTrace: options.trace === undefined });
}

/** Every profile replayed against the kernel, then timed (`next` marks each phase). */
function runProfiles(trace: ParsedTrace, geometry: ReturnType<typeof geometryFromStats>, peak: { seq: number; live: number }, options: DemoOptions, next: () => void): ProfileRun[] {
  // Which allocation each free frees is a property of the trace: take it from a whole-trace replay.
  const replays = PROFILES.map((p) => {
    next();
    return replayProfile(trace, geometry, p, peak.seq);
  });
  const whole = replays.find((r) => r.eventsReplayed === trace.events.length);
  return replays.map((r, i) => {
    const p = PROFILES[i]!;
    const source = p.areaMap && whole ? whole : r;
    const freeTarget = source.result.verification.chunks.freeTarget;
    next();
    return { ...r, ...timeAllocator(trace, freeTarget, geometry, p, p.areaMap && !options.full ? peak.seq : Infinity) };
  });
}

/** Every pair of profiles: how many allocations they place differently. */
function placementDiffs(runs: ProfileRun[]): PlacementDiff[] {
  const diffs: PlacementDiff[] = [];
  for (let i = 0; i < runs.length; i++)
    for (let j = i + 1; j < runs.length; j++) diffs.push({ pair: `${runs[i]!.label} vs ${runs[j]!.label}`, ...placementDifferences(runs[i]!, runs[j]!) });
  return diffs;
}

/** The story, in one screen. */
function tellStory(options: DemoOptions, x: DemoStory): boolean {
  const write = options.write;
  storyPlacements(write, x);
  storyFreeCost(write, x);
  const { runs, statsColumns, reportPath, diffs, peak } = x;
  const ev = x.trace.events;
  const statsLine = statsColumns.length === 1 ? `identical for all ${runs.length} profiles` : statsColumns.map((c) => `${c.labels.join(', ')}${c.labels.length > 1 ? ' identical' : ''}`).join('; ') + ` (${statsColumns.reduce((s, c) => s + c.differs.filter(Boolean).length, 0)} differing lines)`;
  write(`percpu_stats at the peak: ${statsLine}.\n`);
  write(`Report (chunk maps, percpu_stats side by side, call sites, benchmark charts): ${reportPath}\n`);
  const allMatched = runs.filter((r) => r.label === '7.0').every((r) => r.result.matched === r.result.compared && r.result.failsMatched === r.result.fails);
  write(`The 7.0 profile ${allMatched ? 'reproduced every' : 'did NOT reproduce every'} placement the kernel made in chunks created during the trace.\n`);

  if (options.verbose) {
    write('\nWhere the profiles place differently (same requests, same order):\n');
    write(formatTable(['pair', 'allocations placed differently', 'first difference'], diffs.map((d) => [d.pair, String(d.count), d.first ?? '-'])));
    for (const r of runs) write(`\n== percpu_stats of the ${r.label} simulation when the map is complete (line ${ev.line[peak.seq]}):\n${r.statsAtPeak}\n`);
  }
  return allMatched;
}

/** The trace in two lines, and each profile's placements reproduced. */
function storyPlacements(write: (s: string) => void, x: DemoStory): void {
  const { trace, geometry, peak, runs, diffs, bundledTrace } = x;
  const ev = trace.events;
  const counts = trace.counts;
  const bulk = dominantRequest(trace);
  const first = runs[0]!;
  if (bundledTrace) {
    write(`Replayed ${trace.name}: Linux 6.18 (${geometry.nrUnits} CPUs, ${geometry.unitSize >> 10} KiB units) creating and destroying\n`);
    write(`a BPF per-CPU hash map, ${n(bulk.count)} values of ${bulk.size} B: ${n(ev.length)} events (${n(counts[TraceEventKind.Alloc]!)} allocations, ${n(counts[TraceEventKind.Free]!)} frees,\n`);
  } else {
    write(`Replayed ${trace.name} (${geometry.nrUnits} CPUs, ${geometry.unitSize >> 10} KiB units; most frequent request ${n(bulk.count)} x ${bulk.size} B):\n`);
    write(`${n(ev.length)} events (${n(counts[TraceEventKind.Alloc]!)} allocations, ${n(counts[TraceEventKind.Free]!)} frees,\n`);
  }
  write(`${n(counts[TraceEventKind.AllocFail]!)} failed, ${counts[TraceEventKind.CreateChunk]} chunks created, ${counts[TraceEventKind.DestroyChunk]} destroyed); ${n(peak.live)} allocations live at the peak (line ${ev.line[peak.seq]}).\n\n`);
  write(`Kernel placements reproduced, per profile (allocations into chunks created during the trace;\n`);
  write(`the ${n(first.unverifiable)} that went into chunks older than the trace cannot be checked):\n`);
  const rows = runs.map((r) => [r.label, `${n(r.result.matched)}/${n(r.result.compared)}`, r.result.fails > 0 ? `${r.result.failsMatched}/${r.result.fails}` : '-', String(r.chunksAtPeak), ms(r.allocMs), `${r.freesTimed < r.freesTotal ? '~' : ''}${ms(r.freeMs)}`]);
  write(formatTable(['profile', 'placements matched', 'failures matched', 'chunks at peak', 'allocations', 'frees'], rows));
  const differing = diffs.filter((d) => d.count > 0);
  if (differing.length === 0) write(`All ${runs.length} profiles place every allocation identically.\n`);
  else for (const d of differing.slice(0, 3)) write(`${d.pair}: ${n(d.count)} allocations placed differently, first at ${d.first}\n`);
  if (differing.length > 3) write(`(${differing.length - 3} more pairs differ: see the report)\n`);
}

/** The 4.13 area map's free cost against the bitmap's, and what the times are. */
function storyFreeCost(write: (s: string) => void, x: DemoStory): void {
  const { runs, bundledTrace } = x;
  const area = runs.find((r) => r.label === '4.13');
  const bitmaps = runs.filter((r) => r.label === '4.14' || r.label === '7.0');
  if (area && bitmaps.length > 0) {
    const ratio = area.freeMs / Math.max(...bitmaps.map((b) => b.freeMs));
    write(`\nFree cost: the 4.13 area map's frees take ${ms(area.freeMs)}, ${ratio >= 10 ? ratio.toFixed(0) : ratio.toFixed(1)}x the bitmap's (${bitmaps.map((b) => `${b.label} ${ms(b.freeMs)}`).join(', ')}):\n`);
    write(`each area-map free memmoves the chunk's map of areas, the cost that made 4.14 replace it.\n`);
    if (area.freesTimed < area.freesTotal)
      write(`(~: after the peak, 4.13 frees timed on one chunk's share (${n(area.freesTimed)} of ${n(area.freesTotal)} frees run) and scaled;\n --full times all. Its replay stopped after the last allocation compared with the kernel's.)\n`);
  }
  write(`(Times: this engine's CPU time for all of the trace's requests in a tight loop.`);
  if (bundledTrace) write(` The real kernel took 323 ms to create and\n 67.8 ms to free this map, page population and zeroing included.`);
  write(`)\n\n`);
}

function formatTable(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => '  ' + cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n') + '\n';
}

/** The HTML report: the story, who allocated, chunk maps, percpu_stats side by side, benchmarks. */
function buildReport(
  trace: ParsedTrace,
  peak: { seq: number; live: number },
  runs: ProfileRun[],
  diffs: PlacementDiff[],
  statsColumns: ReturnType<typeof compareStats>,
  full: boolean,
): string {
  const sections: ReportSection[] = [
    { id: 'story', title: 'The story', blocks: reportStory(trace, peak, runs, diffs) },
    { id: 'who', title: 'Who allocated', blocks: reportWho(trace) },
    { id: 'maps', title: 'Chunk maps', blocks: reportMaps(trace, peak, runs, full) },
    reportStats(statsColumns),
    { id: 'bench', title: 'Benchmarks', blocks: benchmarkSection() },
  ];
  return renderReport({ title: 'percpu — a BPF per-CPU hash map through every allocator', subtitle: `Linux 4.13, 4.14 and 7.0 percpu allocators replaying a real Linux 6.18 trace`, sections });
}

/** The report's story: what was traced, each profile's placements and times, the pairs that differ. */
function reportStory(trace: ParsedTrace, peak: { seq: number; live: number }, runs: ProfileRun[], diffs: PlacementDiff[]): ReportBlock[] {
  const ev = trace.events;
  const bulk = dominantRequest(trace);
  const area = runs.find((r) => r.label === '4.13');
  const head = ['profile', 'kernel placements reproduced', 'unverifiable (older chunks)', 'failed allocations matched', 'chunks at peak', 'chunks created', 'allocations', 'frees'];
  const rows = runs.map((r) => {
    const x = r.result;
    return [r.label, `${n(x.matched)}/${n(x.compared)}`, n(r.unverifiable), x.fails > 0 ? `${x.failsMatched}/${x.fails}` : '-', String(r.chunksAtPeak), String(x.simCreated.length), ms(r.allocMs), `${r.freesTimed < r.freesTotal ? '~' : ''}${ms(r.freeMs)}`];
  });
  const differing = diffs.filter((d) => d.count > 0);
  const story: ReportBlock[] = [
    {
      kind: 'text',
      html: html`<p>A running Linux 6.18 created a BPF per-CPU hash map — ${n(bulk.count)} values of ${bulk.size} B — and destroyed it while its five <code>percpu</code> tracepoints were recorded (<code>${trace.name}</code>: ${n(ev.length)} events). Creating such a map allocates one percpu value per entry, each the same offset in every CPU's unit; destroying it frees them all. That churn is what made the kernel replace its area-map allocator with the hinted bitmap allocator in 4.14.</p>
<p>Each profile replays the same requests in the same order. Allocations into chunks created during the trace are compared with the kernel's offsets; the peak (line ${ev.line[peak.seq]}, ${n(peak.live)} allocations live) is when the map is complete, and what the maps and statistics below show.</p>`,
    },
    { kind: 'table', head, rows, caption: 'Per profile: placements reproduced, chunks, and this engine\'s time for the trace\'s requests' },
  ];
  if (area && area.freesTimed < area.freesTotal)
    story.push({ kind: 'text', html: html`<p class="note">~ After the peak, the 4.13 frees were timed only for the objects of one chunk (the busiest; ${n(area.freesTimed)} of ${n(area.freesTotal)} frees run in all), and scaled to all: a chunk's frees cost what its own area map holds (<code>percpu demo --full</code> times every free). The 4.13 replay stopped after the last allocation compared with the kernel's: what follows only frees, or allocates in chunks older than the trace (counted as unverifiable all the same).</p>` });
  if (differing.length === 0) story.push({ kind: 'text', html: html`<p><strong>All ${runs.length} profiles place every allocation identically</strong> (${diffs.length} pairs compared), so no diff maps are drawn.</p>` });
  else story.push({ kind: 'table', head: ['pair', 'allocations placed differently', 'first difference'], rows: differing.map((d) => [d.pair, n(d.count), d.first ?? '-']), caption: 'Pairs of profiles that place differently (the others place identically)' });
  return story;
}

/** Allocations by call site and by task. */
function reportWho(trace: ParsedTrace): ReportBlock[] {
  const ev = trace.events;
  const who: ReportBlock[] = [];
  const sites = topBy(ev.callSite, trace.callSites, trace, 12);
  if (sites.length > 0) who.push({ kind: 'table', head: ['call site', 'allocations', 'bytes'], rows: sites, caption: 'Allocations by call site (the largest 12)' });
  who.push({ kind: 'table', head: ['task', 'allocations', 'bytes'], rows: topBy(ev.task, trace.tasks, trace, 12), caption: 'Allocations by task (comm, the largest 12)' });
  return who;
}

/** 7.0's chunk maps at the peak, the diff maps of profiles that differ, and (--full) every page of every profile. */
function reportMaps(trace: ParsedTrace, peak: { seq: number; live: number }, runs: ProfileRun[], full: boolean): ReportBlock[] {
  const ev = trace.events;
  const mapBlocks: ReportBlock[] = [];
  const main = runs.find((r) => r.label === '7.0' && r.snapshot);
  if (main?.snapshot) {
    mapBlocks.push({
      kind: 'svg',
      svg: renderAllocatorMap(main.snapshot, { width: 1024, rowHeight: 5, label: '7.0 ' }),
      caption: `7.0: every chunk when the map is complete (line ${ev.line[peak.seq]}); runs of full or free pages drawn as one band`,
      className: 'chunk-maps',
    });
  }
  for (const [a, b] of [
    ['4.14', '7.0'],
    ['7.0', '7.0 fixed'],
  ] as const) {
    const l = runs.find((r) => r.label === a)?.snapshot;
    const r = runs.find((x) => x.label === b)?.snapshot;
    if (!l || !r) continue;
    const d = renderDiffMap(l, r, [a, b], { rowHeight: 5 });
    if (d.differingBits === 0) continue;
    mapBlocks.push({ kind: 'svg', svg: d.svg, caption: `${a} vs ${b}: ${n(d.differingBits * 4)} bytes placed differently (outlined in red)`, className: 'chunk-maps' });
  }
  if (mapBlocks.length === 1 && main) mapBlocks.push({ kind: 'text', html: html`<p>4.14, 7.0 and 7.0 fixed hold the same bitmaps at the peak: no diff maps.</p>` });
  if (full) {
    for (const r of runs) {
      if (!r.snapshot) continue;
      mapBlocks.push({ kind: 'svg', svg: renderAllocatorMap(r.snapshot, { width: 1024, rowHeight: 3, label: `${r.label} `, collapse: false }), caption: `${r.label}, in full: every page of every chunk (--full)`, className: 'chunk-maps full' });
    }
  } else mapBlocks.push({ kind: 'text', html: html`<p class="note">Run <code>percpu demo --full</code> for every page of every chunk of each bitmap profile, drawn without bands.</p>` });
  mapBlocks.push({ kind: 'text', html: html`<p class="note">The 4.13 area map has no bitmap to draw: it keeps an array of area offsets per chunk.</p>` });
  return mapBlocks;
}

/** percpu_stats at the peak, side by side. */
function reportStats(statsColumns: ReturnType<typeof compareStats>): ReportSection {
  const same = statsColumns.length === 1;
  return {
    id: 'stats',
    title: 'percpu_stats',
    blocks: [
      {
        kind: 'figure',
        body: statsColumnsMarkup(statsColumns),
        caption: same ? `percpu_stats at the peak: identical for every profile` : `percpu_stats at the peak, side by side: identical profiles shown once, lines another column lacks highlighted`,
        className: 'stats',
      },
    ],
  };
}

const CHART_CAPTIONS: Record<string, string> = {
  'bench-alloc-by-size.svg': 'Allocation time by object size, this engine against the kernel C',
  'bench-free-by-size.svg': 'Free time by object size, this engine against the kernel C',
  'bench-other-alloc.svg': 'Allocation time of the other workloads',
  'bench-other-free.svg': 'Free time of the other workloads',
};

/** Charts from the committed benchmark results (docs/benchmarks.json), when present. */
function benchmarkSection(): ReportBlock[] {
  const path = resolve(PACKAGE_ROOT, 'docs', 'benchmarks.json');
  if (!existsSync(path)) return [{ kind: 'text', html: html`<p>No recorded benchmark results (run <code>npx percpu bench</code>).</p>` }];
  const file = JSON.parse(readFileSync(path, 'utf8'));
  const charts = (file.results ?? []).length > 0 ? benchSvgFiles(file) : [];
  return [
    { kind: 'text', html: html`<p>From the recorded run in <code>docs/BENCHMARKS.md</code> (not measured by this demo): allocation and free time of the oracle workloads, this engine against the kernel's own C, and metadata bytes.</p>` },
    ...charts.map(([name, svg]) => ({ kind: 'svg' as const, svg, caption: CHART_CAPTIONS[name] ?? `Metadata bytes as objects accumulate (${name.replace(/^bench-metadata-|\.svg$/g, '')})` })),
  ];
}
