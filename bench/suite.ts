// SPDX-License-Identifier: GPL-2.0-only
/**
 * `percpu bench`: the cover letter's experiment made reproducible — every
 * allocator of `allocators.ts` (4.13 area map, 4.14 and 7.0 bitmaps,
 * `@thi.ng/malloc`, a bump floor) on the same oracle workloads, timed the way the
 * oracle timed the kernel's C (wall clock around each contiguous run of allocs or
 * frees, stream built before timing, median of runs), plus metadata bytes as
 * objects accumulate (the "flat in memory" claim).
 *
 * Each allocator runs in a child process of its own (this module, `--child`),
 * one after another, so no allocator's classes make another's call sites
 * polymorphic and two timings never share the two cores. The parent only
 * collects: `runSuite` reports progress per finished workload.
 *
 * Caps, so the full run ends in minutes (every capped number says so):
 * - W1x on a kernel profile climbs a doubling ladder of N and, past `w1xCapS`
 *   for one phase, extrapolates full size with a power law (as `engine.ts` and
 *   the oracle did for 4.13). Every other kernel-profile row is measured whole.
 * - MemPool on the uniform workloads (W1–W6a, W1x) climbs a doubling ladder of
 *   whole units (N = k × objects per 1 MiB unit) while a run stays under
 *   `phaseCapS`, and scales the last rung linearly to full N. The reason it is
 *   linear: MemPool's free walks the unit's used list (and its free list), so
 *   its cost per op is quadratic in one unit's population, but a unit holds at
 *   most 1 MiB and the workloads visit the units one after another, so every
 *   full unit costs the same. Only the last, partly filled unit makes the
 *   scaled figure a slight overestimate.
 * - A run over REPEAT_LIMIT_MS, and a scaled or extrapolated row, is not
 *   repeated for a median.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { NULL_PTR } from '../src/engine/pointer.js';
import { extrapolate, machineFacts } from './common.js';
import { kernelCTiming } from './kernel-c-timings.js';
import { ALL_WORKLOADS, buildWorkload, FULL_N, G1, OP_ALLOC, QUICK_N, runAllocs, runFrees, timedPhases, w1x, type OpStream } from './workloads.js';
import { ALL_ALLOCATORS, THING, chunkMetadata, thingObjectsPerUnit, isKernelProfile, makeBenchAllocator, metadataOf, type AllocatorName, type BenchAllocator, type MetadataSnapshot } from './allocators.js';

/** A run longer than this is not repeated for a median. */
const REPEAT_LIMIT_MS = 10_000;
/** The golden mixes. */
const GOLDEN: readonly string[] = ['W7', 'W8'];
/** Workloads whose every unit is filled and emptied alike: MemPool may time some whole units of them and scale. */
const UNIFORM = /^(W[1-5][abc]|W6a|W1x)$/;
/** Quick mode runs this share of the golden streams W7 and W8 (a prefix of an op stream is itself valid). */
const QUICK_GOLDEN_SHARE = 0.1;
/** Workloads whose metadata is sampled as objects accumulate, as in oracle-timings §5. */
export const METADATA_WORKLOADS: readonly string[] = ['W1a', 'W3a', 'W5a'];
/** Samples per metadata series (plus the empty allocator). */
const METADATA_SAMPLES = 32;

export interface PhaseTimes {
  allocMs: number;
  freeMs: number;
}

/** One row: a workload on one allocator (`kernel` keeps the name docs/benchmarks.json readers know). */
export interface SuiteResult {
  workload: string;
  kernel: AllocatorName;
  ops: number;
  allocMs: number | null;
  freeMs: number | null;
  runs: PhaseTimes[];
  cAllocMs: number | null;
  cFreeMs: number | null;
  extrapolated: boolean;
  ladder?: [number, number, number][];
  note?: string;
}

export interface MetadataSample extends MetadataSnapshot {
  objects: number;
}

export interface MetadataSeries {
  workload: string;
  kernel: AllocatorName;
  objectSize: number;
  samples: MetadataSample[];
  /** Whether any chunk's metadata changed while it lived (false = flat: a chunk costs the same empty or full). */
  growsPerChunk: boolean;
  /** oracle-timings §5 after the full allocation phase (kernel profiles, full size only). */
  oracleBytes: number | null;
  oracleChunks: number | null;
}

export interface SuiteOptions {
  quick: boolean;
  runs: number;
  workloads: readonly string[];
  allocators: readonly AllocatorName[];
  /** Cap of one W1x phase on a kernel profile (seconds). */
  w1xCapS: number;
  /** Cap of one MemPool run on a uniform workload (seconds): beyond it, whole units are timed and scaled. */
  phaseCapS: number;
  /** Sample metadata (default on). */
  metadata: boolean;
}

export interface SuiteFile {
  tool: 'percpu bench';
  date: string;
  machine: ReturnType<typeof machineFacts>;
  quick: boolean;
  runs: number;
  geometry: typeof G1;
  caps: { w1xCapS: number; phaseCapS: number };
  load: { before: number[]; after: number[] };
  durationS: number;
  results: SuiteResult[];
  metadata: MetadataSeries[];
}

export function defaultOptions(quick: boolean): SuiteOptions {
  return {
    quick,
    runs: quick ? 1 : 3,
    workloads: ALL_WORKLOADS,
    allocators: ALL_ALLOCATORS,
    w1xCapS: quick ? 2 : 20,
    phaseCapS: quick ? 0.2 : 3,
    metadata: true,
  };
}

// ---------------------------------------------------------------------------
// Timed runs (one allocator per process; the loops are in workloads.ts)

/** One run of a stream on a fresh allocator: setup untimed, then every phase timed. */
function runOnce(name: AllocatorName, s: OpStream, phases: Uint32Array): PhaseTimes {
  const a = makeBenchAllocator(name);
  const ptrs = new Float64Array(s.objects).fill(NULL_PTR);
  let failed = 0;
  for (let i = 0; i < s.timedFrom; i++) {
    if (s.kind[i] === OP_ALLOC) failed += runAllocs(a, s, i, i + 1, ptrs);
    else runFrees(a, s, i, i + 1, ptrs);
  }
  let allocNs = 0n;
  let freeNs = 0n;
  for (let p = 0; p < phases.length; p += 2) {
    const from = phases[p]!;
    const to = phases[p + 1]!;
    const isAlloc = s.kind[from] === OP_ALLOC;
    const t0 = process.hrtime.bigint();
    if (isAlloc) failed += runAllocs(a, s, from, to, ptrs);
    else runFrees(a, s, from, to, ptrs);
    const dt = process.hrtime.bigint() - t0;
    if (isAlloc) allocNs += dt;
    else freeNs += dt;
  }
  if (failed !== 0) throw new Error(`${s.name} on ${name}: ${failed} allocations returned NULL`);
  return { allocMs: Number(allocNs) / 1e6, freeMs: Number(freeNs) / 1e6 };
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function makeResult(workload: string, name: AllocatorName, ops: number, runs: PhaseTimes[], quick: boolean, extra: Partial<SuiteResult> = {}): SuiteResult {
  // The C numbers are for full size only.
  const c = isKernelProfile(name) && !quick ? kernelCTiming(name, workload) : undefined;
  return {
    workload,
    kernel: name,
    ops,
    allocMs: runs.length ? median(runs.map((r) => r.allocMs)) : null,
    freeMs: runs.length ? median(runs.map((r) => r.freeMs)) : null,
    runs,
    cAllocMs: c?.alloc ?? null,
    cFreeMs: c?.free ?? null,
    extrapolated: false,
    ...extra,
  };
}

/** Up to `o.runs` runs of the stream, fewer when one run passes REPEAT_LIMIT_MS. */
function repeatRuns(name: AllocatorName, s: OpStream, o: SuiteOptions, first?: PhaseTimes): PhaseTimes[] {
  const phases = timedPhases(s);
  const runs: PhaseTimes[] = first ? [first] : [];
  while (runs.length < o.runs) {
    const last = runs[runs.length - 1];
    if (last && last.allocMs + last.freeMs > REPEAT_LIMIT_MS) break;
    runs.push(runOnce(name, s, phases));
  }
  return runs;
}

function benchStream(name: AllocatorName, s: OpStream, o: SuiteOptions): SuiteResult {
  const runs = repeatRuns(name, s, o);
  const note = runs.length < o.runs ? `${runs.length} run(s): a run takes over ${REPEAT_LIMIT_MS / 1000} s` : undefined;
  return makeResult(s.name, name, s.length - s.timedFrom, runs, o.quick, note ? { note } : {});
}

/**
 * MemPool on a uniform workload: rungs of k = 1, 2, 4, … whole units' worth of
 * objects (from at least 16k objects), while the next rung is predicted to stay
 * under the cap. Reaching full N measures it; otherwise the last rung is scaled
 * linearly in N (the reason it is linear: see the module header).
 */
function benchUnitLadder(name: AllocatorName, workload: string, o: SuiteOptions): SuiteResult {
  const fullN = o.quick ? QUICK_N : FULL_N;
  const probe = buildWorkload(workload, { n: 1 });
  const perUnit = thingObjectsPerUnit(probe.size[0]!, probe.align[0]!);
  const capMs = o.phaseCapS * 1000;
  const ladder: [number, number, number][] = [];
  let k = Math.max(1, 2 ** Math.ceil(Math.log2(Math.min(16384, fullN) / perUnit)));
  for (;;) {
    const n = Math.min(fullN, k * perUnit);
    const s = buildWorkload(workload, { n });
    const t = runOnce(name, s, timedPhases(s));
    if (n === fullN) {
      const runs = ladder.length === 0 ? repeatRuns(name, s, o, t) : [t];
      return makeResult(workload, name, s.length, runs, o.quick, ladder.length ? { ladder, note: `measured at full N after a ladder of whole units (1 run)` } : {});
    }
    ladder.push([n, t.allocMs, t.freeMs]);
    if (2 * (t.allocMs + t.freeMs) > capMs) break;
    k *= 2;
  }
  const [n, allocMs, freeMs] = ladder[ladder.length - 1]!;
  const scale = fullN / n;
  return makeResult(workload, name, 2 * fullN, [{ allocMs: allocMs * scale, freeMs: freeMs * scale }], o.quick, {
    extrapolated: true,
    ladder,
    note: `timed at N = ${n} (${n / perUnit} whole unit${n === perUnit ? '' : 's'} of ${perUnit} objects), scaled ×${scale.toFixed(1)} (cap ${o.phaseCapS} s; 1 run)`,
  });
}

/**
 * W1x on a kernel profile: a doubling ladder from 16k objects; when the next
 * step's predicted allocation time (or a running phase) passes the cap, full
 * size is extrapolated from the last three steps with a power law.
 */
function benchW1xLadder(name: AllocatorName, o: SuiteOptions): SuiteResult {
  const fullN = o.quick ? QUICK_N : FULL_N;
  const capMs = o.w1xCapS * 1000;
  const ladder: [number, number, number][] = [];
  for (let n = Math.min(16384, fullN); n <= fullN; n *= 2) {
    const prev = ladder[ladder.length - 1];
    const prev2 = ladder[ladder.length - 2];
    if (prev && prev2 && prev[1] * (prev[1] / prev2[1]) > capMs) break;
    const s = w1x(n);
    const phases = timedPhases(s);
    const t = runOnce(name, s, phases);
    if (n === fullN) return makeResult('W1x', name, 2 * fullN, repeatRuns(name, s, o, t), o.quick, ladder.length ? { ladder } : {});
    ladder.push([n, t.allocMs, t.freeMs]);
  }
  const last = ladder[ladder.length - 1];
  if (!last || ladder.length < 2) throw new Error(`W1x on ${name}: the ${o.w1xCapS} s cap leaves fewer than two ladder steps`);
  const fit = ladder.slice(-3);
  const allocMs = extrapolate(fit.map(([n, t]) => [n, t]), fullN);
  const freeMs = extrapolate(fit.map(([n, , t]) => [n, t]), fullN);
  return makeResult('W1x', name, 2 * fullN, [{ allocMs, freeMs }], o.quick, {
    extrapolated: true,
    ladder,
    note: `power law through N = ${fit.map(([n]) => n).join(', ')} (cap ${o.w1xCapS} s)`,
  });
}

/** The first `ops` ops of a stream (valid: every free in it frees an object allocated before it). */
export function prefixStream(s: OpStream, ops: number): OpStream {
  const n = Math.min(ops, s.length);
  return { ...s, length: n, kind: s.kind.slice(0, n), size: s.size.slice(0, n), align: s.align.slice(0, n), target: s.target.slice(0, n), timedFrom: Math.min(s.timedFrom, n) };
}

/** A workload as the suite runs it: quick mode shrinks W1–W6 and the variants (`buildWorkload`) and cuts W7/W8 to a prefix. */
export function suiteStream(workload: string, quick: boolean): OpStream {
  const s = buildWorkload(workload, { quick });
  return quick && GOLDEN.includes(workload) ? prefixStream(s, Math.round(s.length * QUICK_GOLDEN_SHARE)) : s;
}

/**
 * Why an allocator sits a workload out, if it does. MemPool skips the
 * half-filled variant: its untimed setup frees every other run of objects while
 * the rest stay live, and each such free walks the unit's used list past the
 * survivors — about 30 s per 1 MiB unit of 4-byte objects, for holes that
 * would not be half pages in MemPool's layout anyway.
 */
export function skipReason(name: AllocatorName, workload: string): string | undefined {
  if (name === THING && /^W[1-5]h$/.test(workload)) return 'not run: the untimed setup is quadratic for MemPool, and its holes would not be half pages';
  return undefined;
}

/** The W1x ladder is for allocators whose allocation itself goes superlinear (the area map); the others take the phase cap. */
function benchWorkload(name: AllocatorName, workload: string, o: SuiteOptions): SuiteResult {
  const skip = skipReason(name, workload);
  if (skip !== undefined) return makeResult(workload, name, 0, [], o.quick, { note: skip });
  if (workload === 'W1x' && isKernelProfile(name)) return benchW1xLadder(name, o);
  if (name === THING && UNIFORM.test(workload)) return benchUnitLadder(name, workload, o);
  return benchStream(name, suiteStream(workload, o.quick), o);
}

/** Let the JIT see every path once before anything is timed (small streams). */
function warmUp(name: AllocatorName): void {
  for (const w of ['W1a', 'W3c', 'W5c', 'W1x', 'W2h'].filter((x) => skipReason(name, x) === undefined)) {
    const s = buildWorkload(w, { n: 4096 });
    runOnce(name, s, timedPhases(s));
  }
  const w7 = suiteStream('W7', true);
  runOnce(name, w7, timedPhases(w7));
}

// ---------------------------------------------------------------------------
// Metadata as objects accumulate

/** oracle-timings §5, G1: total metadata bytes after the full allocation phase, and the chunks. */
export const ORACLE_METADATA: Record<string, { chunks: number; bytes: Record<'4.13' | '4.14' | '7.0', number> }> = {
  W1a: { chunks: 5, bytes: { '4.13': 7_405_568, '4.14': 284_872, '7.0': 297_256 } },
  W3a: { chunks: 65, bytes: { '4.13': 8_327_168, '4.14': 4_524_712, '7.0': 4_721_416 } },
  W5a: { chunks: 1025, bytes: { '4.13': 8_389_120, '4.14': 72_362_152, '7.0': 75_507_976 } },
};

/** Allocate the workload's objects on a fresh allocator, snapshotting metadata every N / METADATA_SAMPLES objects. */
export function sampleMetadata(name: AllocatorName, workload: string, n: number): MetadataSeries {
  const s = buildWorkload(workload, { n });
  const a = makeBenchAllocator(name);
  const every = Math.max(1, Math.floor(n / METADATA_SAMPLES));
  const samples: MetadataSample[] = [{ objects: 0, ...metadataOf(name, a) }];
  // Each chunk's bytes when first seen: a chunk seen later at other bytes means metadata follows the objects.
  const firstSeen = new Map<number, number>();
  let grows = false;
  const watch = (newestOnly: boolean) => {
    for (const [id, b] of chunkMetadata(name, a, newestOnly)) {
      const was = firstSeen.get(id);
      if (was === undefined) firstSeen.set(id, b);
      else if (was !== b) grows = true;
    }
  };
  watch(false);
  // Between samples, the chunk being filled is looked at a few times per chunk's worth of objects.
  const watchEvery = Math.max(1, Math.floor(G1.unitSize / s.size[0]! / 8));
  let objects = 0;
  for (let i = 0; i < s.length && s.kind[i] === OP_ALLOC; i++) {
    if (a.alloc(s.size[i]!, s.align[i]!) === NULL_PTR) throw new Error(`${workload} on ${name}: allocation ${i} returned NULL`);
    objects++;
    if (objects % every === 0 || objects === n) {
      samples.push({ objects, ...metadataOf(name, a) });
      watch(false);
    } else if (objects % watchEvery === 0) watch(true);
  }
  const oracle = n === FULL_N && isKernelProfile(name) ? ORACLE_METADATA[workload] : undefined;
  return {
    workload,
    kernel: name,
    objectSize: s.size[0]!,
    samples,
    growsPerChunk: grows,
    oracleBytes: oracle && isKernelProfile(name) ? oracle.bytes[name] : null,
    oracleChunks: oracle ? oracle.chunks : null,
  };
}

// ---------------------------------------------------------------------------
// Child process: one allocator

const PROGRESS_TAG = '@@step ';

function childMain(argv: string[]): void {
  const { values } = parseArgs({
    args: argv,
    options: {
      child: { type: 'boolean' },
      allocator: { type: 'string' },
      options: { type: 'string' },
    },
  });
  const o = JSON.parse(values.options ?? '{}') as SuiteOptions;
  const name = values.allocator as AllocatorName;
  if (!(ALL_ALLOCATORS as readonly string[]).includes(name)) throw new Error(`unknown allocator ${values.allocator}`);
  warmUp(name);
  const results: SuiteResult[] = [];
  for (const w of o.workloads) {
    results.push(benchWorkload(name, w, o));
    process.stderr.write(`${PROGRESS_TAG}${w} ${name}\n`);
  }
  const metadata: MetadataSeries[] = [];
  if (o.metadata) {
    for (const w of METADATA_WORKLOADS) {
      metadata.push(sampleMetadata(name, w, o.quick ? QUICK_N : FULL_N));
      process.stderr.write(`${PROGRESS_TAG}metadata ${w} ${name}\n`);
    }
  }
  process.stdout.write(JSON.stringify({ results, metadata }) + '\n');
}

// ---------------------------------------------------------------------------
// Parent: every allocator, one after another

export interface SuiteProgress {
  total: number;
  step(done: number, label: string): void;
}

function runChild(name: AllocatorName, o: SuiteOptions, onStep: (label: string) => void, onLog: (line: string) => void): Promise<{ results: SuiteResult[]; metadata: MetadataSeries[] }> {
  const script = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, [script, '--child', '--allocator', name, '--options', JSON.stringify(o)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let errTail = '';
  let pending = '';
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => {
    pending += b.toString('utf8');
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (line.startsWith(PROGRESS_TAG)) onStep(line.slice(PROGRESS_TAG.length));
      else {
        errTail = (errTail + line + '\n').slice(-4000);
        onLog(line);
      }
    }
  });
  return new Promise((resolvePromise, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code !== 0) {
        reject(new Error(`the ${name} bench process failed (${code ?? signal})${errTail ? `:\n${errTail + pending}` : ''}`));
        return;
      }
      try {
        resolvePromise(JSON.parse(Buffer.concat(out).toString('utf8')) as { results: SuiteResult[]; metadata: MetadataSeries[] });
      } catch (e) {
        reject(e as Error);
      }
    });
  });
}

export function suiteSteps(o: SuiteOptions): number {
  return o.allocators.length * (o.workloads.length + (o.metadata ? METADATA_WORKLOADS.length : 0));
}

/** Run every allocator of `o` in its own child process, one after another. */
export async function runSuite(o: SuiteOptions, progress?: (done: number, total: number, label: string) => void, log?: (line: string) => void): Promise<SuiteFile> {
  const total = suiteSteps(o);
  const started = Date.now();
  const loadBefore = loadavg();
  let done = 0;
  const results: SuiteResult[] = [];
  const metadata: MetadataSeries[] = [];
  for (const name of o.allocators) {
    progress?.(done, total, `${name} …`);
    const r = await runChild(
      name,
      o,
      (label) => progress?.(++done, total, label),
      (line) => log?.(line),
    );
    results.push(...r.results);
    metadata.push(...r.metadata);
  }
  const order = (r: { workload: string; kernel: string }) => ALL_WORKLOADS.indexOf(r.workload) * ALL_ALLOCATORS.length + (ALL_ALLOCATORS as readonly string[]).indexOf(r.kernel);
  results.sort((a, b) => order(a) - order(b));
  return {
    tool: 'percpu bench',
    date: new Date().toISOString(),
    machine: machineFacts(),
    quick: o.quick,
    runs: o.runs,
    geometry: G1,
    caps: { w1xCapS: o.w1xCapS, phaseCapS: o.phaseCapS },
    load: { before: loadBefore, after: loadavg() },
    durationS: (Date.now() - started) / 1000,
    results,
    metadata,
  };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url) && process.argv.includes('--child')) {
  try {
    childMain(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`bench child: ${(e as Error).stack ?? (e as Error).message}\n`);
    process.exitCode = 2;
  }
}
