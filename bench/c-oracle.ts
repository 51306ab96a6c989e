// SPDX-License-Identifier: GPL-2.0-only
/**
 * `percpu bench --c-oracle <dir>`: the engine timed against the kernel's own
 * `mm/percpu.c` (compiled in user space, `<dir>/c-bench`) in the same run, on
 * the same machine, interleaved: for every round, workload and version, one C
 * process, then one process of ours, so a burst of load from elsewhere hits
 * both sides alike. What it reports is ratios (TS / C) of medians over rounds,
 * per phase kind (alloc, free), wall clock and CPU time, with the load average
 * before and after — never absolute claims.
 *
 * The C side: `c-bench --ver V --runs 1 W` prints one line per run,
 *   `<ver> <workload> alloc_ms=… free_ms=… alloc_cpu_ms=… free_cpu_ms=… loop_wall_ms=… loop_cpu_ms=… …`
 * (`-1` for a CPU time it did not take: W7's ~95,000 short phases get only a
 * whole-loop CPU time). `parseCLine` reads it; anything else is an input error.
 *
 * Our side: this module run as a child (`--oracle-child`), one allocator
 * profile and one workload per process, so every process starts as cold as the
 * C one and no profile makes another's call sites polymorphic. It times the
 * phases exactly as `suite.ts` does (wall clock around each maximal run of
 * allocs or frees), adds process CPU time (`process.cpuUsage`: the main thread
 * plus V8's helper threads — Node 20 has no per-thread clock), and counts the
 * garbage collections that start inside each kind of phase
 * (`PerformanceObserver` on `gc`). The engine runs with its `percpu_stats`
 * counters off, as the C is built (PERCPU_STATS off); the output says so.
 *
 * Invariant: the `sequence` of a result lists every process in the order it
 * ran, so the interleaving can be checked after the fact (the tests do).
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { excerpt, InputError, UsageError } from '../src/errors.js';
import { createAllocator, type PercpuAllocator } from '../src/engine/allocator.js';
import { NULL_PTR } from '../src/engine/pointer.js';
import { machineFacts } from './common.js';
import { buildWorkload, G1, OP_ALLOC, runAllocs, runFrees, timedPhases, type OpStream } from './workloads.js';

/** Versions the C oracle builds. */
export const ORACLE_VERSIONS = ['4.14', '7.0'] as const;
export type OracleVersion = (typeof ORACLE_VERSIONS)[number];
/** Workloads `c-bench` knows, in table order. */
export const ORACLE_WORKLOADS: readonly string[] = [
  ...[1, 2, 3, 4, 5].flatMap((i) => ['a', 'b', 'c'].map((o) => `W${i}${o}`)),
  'W6a',
  'W6b',
  'W7',
  'W8',
  'W1x',
];
/** Fewer timed phases than this get per-phase CPU times; more (W7, W8) only the loop's, as the C does. */
const PHASE_CPU_LIMIT = 16;

/** One process's figures (ms; `null` where that time was not taken). */
export interface OracleTimes {
  allocMs: number;
  freeMs: number;
  allocCpuMs: number | null;
  freeCpuMs: number | null;
  loopWallMs: number;
  loopCpuMs: number;
}

/** A parsed `c-bench` line. */
export interface CLine extends OracleTimes {
  ver: string;
  workload: string;
  ops: number;
  chunks: number;
  warns: number;
  failed: number;
}

export interface OracleSample extends OracleTimes {
  side: 'C' | 'TS';
  ver: OracleVersion;
  workload: string;
  round: number;
  /** Garbage collections that started inside alloc / free phases (ours only). */
  gcAlloc?: number;
  gcFree?: number;
}

/** One row of the table: medians over rounds of one phase kind. */
export interface OracleRow {
  ver: OracleVersion;
  workload: string;
  phase: 'alloc' | 'free' | 'loop';
  cWallMs: number;
  tsWallMs: number;
  wallRatio: number;
  cCpuMs: number | null;
  tsCpuMs: number | null;
  cpuRatio: number | null;
  /** Median garbage collections in these phases per process (ours). */
  tsGc: number | null;
}

export interface SteadyGc {
  /** Live objects kept while the pairs run. */
  live: number;
  frees: number;
  allocs: number;
  gcDuringFrees: number;
  gcDuringAllocs: number;
  gcDuringPairs: number;
}

export interface OracleFile {
  tool: 'percpu bench --c-oracle';
  date: string;
  machine: ReturnType<typeof machineFacts>;
  cBench: string;
  rounds: number;
  versions: OracleVersion[];
  workloads: string[];
  /** The engine's percpu_stats counters during our runs (off: the C is built without PERCPU_STATS). */
  tsStats: 'off' | 'on';
  load: { before: number[]; after: number[] };
  durationS: number;
  sequence: string[];
  samples: OracleSample[];
  rows: OracleRow[];
  steadyGc: Record<string, SteadyGc>;
}

export interface OracleOptions {
  dir: string;
  rounds: number;
  versions: readonly OracleVersion[];
  workloads: readonly string[];
  /** Run our side with the engine's statistics on (default off, as the C). */
  tsStats?: boolean;
  /** Objects of the steady-state GC check (default 2^20; 0 skips it). */
  steadyN?: number;
}

// ---------------------------------------------------------------------------
// The C side

const NUM = /^-?\d+(\.\d+)?$/;
const REQUIRED = ['alloc_ms', 'free_ms', 'alloc_cpu_ms', 'free_cpu_ms', 'loop_wall_ms', 'loop_cpu_ms'] as const;

/**
 * One `c-bench` output line, or an `InputError` naming what is wrong with it.
 * A CPU time of -1 (not taken) becomes `null`.
 */
export function parseCLine(line: string, where: string): CLine {
  const words = line.trim().split(/\s+/);
  const [ver, workload, ...kv] = words;
  // One line, no hint: the reason names what the documented format lacks.
  const bad = (why: string) => new InputError(where, `not a c-bench line (${why}): "${excerpt(line.trim(), 60)}"`);
  if (ver === undefined || workload === undefined || !/^\d+\.\d+$/.test(ver) || !/^W\w+$/.test(workload)) throw bad('expected "<ver> <workload> alloc_ms=… free_ms=… …"');
  const f = new Map<string, number>();
  for (const w of kv) {
    const eq = w.indexOf('=');
    if (eq <= 0) throw bad(`"${w.slice(0, 30)}" is not key=value`);
    const v = w.slice(eq + 1);
    if (!NUM.test(v)) throw bad(`${w.slice(0, eq)} is not a number`);
    f.set(w.slice(0, eq), Number(v));
  }
  for (const k of REQUIRED) if (!f.has(k)) throw bad(`no ${k}`);
  const cpu = (k: string) => (f.get(k)! < 0 ? null : f.get(k)!);
  return {
    ver,
    workload,
    allocMs: f.get('alloc_ms')!,
    freeMs: f.get('free_ms')!,
    allocCpuMs: cpu('alloc_cpu_ms'),
    freeCpuMs: cpu('free_cpu_ms'),
    loopWallMs: f.get('loop_wall_ms')!,
    loopCpuMs: f.get('loop_cpu_ms')!,
    ops: f.get('ops') ?? 0,
    chunks: f.get('chunks') ?? 0,
    warns: f.get('warns') ?? 0,
    failed: f.get('failed') ?? 0,
  };
}

/** `<dir>/c-bench`, checked to be an executable file. */
export function cBenchPath(dir: string): string {
  const p = join(resolve(dir), 'c-bench');
  try {
    if (!statSync(p).isFile()) throw new Error('not a file');
    accessSync(p, fsConstants.X_OK);
  } catch {
    throw new UsageError(`--c-oracle ${dir}: no executable c-bench in that folder`, 'point --c-oracle at the folder of the kernel C oracle (../shared/oracle)');
  }
  return p;
}

function runC(cBench: string, ver: OracleVersion, workload: string): CLine {
  const r = spawnSync(cBench, ['--ver', ver, '--runs', '1', workload], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.error) throw new InputError(cBench, `cannot run: ${r.error.message}`);
  if (r.status !== 0) throw new InputError(cBench, `exited with ${r.status ?? r.signal} for ${ver} ${workload}${r.stderr ? `: ${r.stderr.trim().split('\n').pop()!.slice(0, 120)}` : ''}`);
  const lines = r.stdout.split('\n').filter((l) => l.trim() !== '');
  if (lines.length !== 1) throw new InputError(cBench, `printed ${lines.length} lines for ${ver} ${workload} --runs 1, expected 1`);
  const c = parseCLine(lines[0]!, `${cBench} (${ver} ${workload})`);
  if (c.ver !== ver || c.workload !== workload) throw new InputError(cBench, `answered "${c.ver} ${c.workload}" for ${ver} ${workload}`);
  if (c.failed !== 0) throw new InputError(cBench, `${ver} ${workload}: ${c.failed} allocations failed in the C`);
  return c;
}

// ---------------------------------------------------------------------------
// Our side (child process)

// The timed loops are `runAllocs`/`runFrees` of workloads.ts, shared with `percpu bench`.

function fillAll(a: PercpuAllocator, ptrs: Float64Array, from: number, step: number): void {
  for (let i = from; i < ptrs.length; i += step) ptrs[i] = a.alloc(16, 8);
}

function freeAll(a: PercpuAllocator, ptrs: Float64Array, from: number, step: number): void {
  for (let i = from; i < ptrs.length; i += step) a.free(ptrs[i]!);
}

function freeAllocPairs(a: PercpuAllocator, ptrs: Float64Array): void {
  for (let i = 0; i < ptrs.length; i++) {
    a.free(ptrs[i]!);
    ptrs[i] = a.alloc(16, 8);
  }
}

/** Wall and process CPU around every timed phase of one run, and the collections that started inside each kind. */
async function timeOurs(a: PercpuAllocator, s: OpStream): Promise<OracleTimes & { gcAlloc: number; gcFree: number }> {
  const phases = timedPhases(s);
  const nPhases = phases.length / 2;
  const perPhaseCpu = nPhases < PHASE_CPU_LIMIT;
  const ptrs = new Float64Array(s.objects).fill(NULL_PTR);
  const { kind, size, align, target } = s;
  let failed = 0;
  for (let i = 0; i < s.timedFrom; i++) {
    if (kind[i] === OP_ALLOC) ptrs[target[i]!] = a.alloc(size[i]!, align[i]!);
    else a.free(ptrs[target[i]!]!);
  }
  // Phase windows on the performance clock, to attribute collections afterwards (observers report late).
  const windows = new Float64Array(2 * nPhases);
  const gcStarts: number[] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcStarts.push(e.startTime);
  });
  obs.observe({ entryTypes: ['gc'] });
  let allocNs = 0n;
  let freeNs = 0n;
  let allocCpu = 0;
  let freeCpu = 0;
  const loopCpu0 = process.cpuUsage();
  const loop0 = process.hrtime.bigint();
  for (let p = 0; p < phases.length; p += 2) {
    const from = phases[p]!;
    const to = phases[p + 1]!;
    const isAlloc = kind[from] === OP_ALLOC;
    const c0 = perPhaseCpu ? process.cpuUsage() : undefined;
    windows[p] = performance.now();
    const t0 = process.hrtime.bigint();
    if (isAlloc) failed += runAllocs(a, s, from, to, ptrs);
    else runFrees(a, s, from, to, ptrs);
    const dt = process.hrtime.bigint() - t0;
    windows[p + 1] = performance.now();
    if (c0) {
      const c = process.cpuUsage(c0);
      if (isAlloc) allocCpu += (c.user + c.system) / 1000;
      else freeCpu += (c.user + c.system) / 1000;
    }
    if (isAlloc) allocNs += dt;
    else freeNs += dt;
  }
  const loopNs = process.hrtime.bigint() - loop0;
  const lc = process.cpuUsage(loopCpu0);
  if (failed !== 0) throw new Error(`${s.name}: ${failed} allocations returned NULL`);
  // Let the observer deliver what is pending.
  await new Promise((r) => setTimeout(r, 20));
  obs.disconnect();
  let gcAlloc = 0;
  let gcFree = 0;
  for (const t of gcStarts) {
    for (let p = 0; p < windows.length; p += 2) {
      if (t >= windows[p]! && t < windows[p + 1]!) {
        if (kind[phases[p]!] === OP_ALLOC) gcAlloc++;
        else gcFree++;
        break;
      }
    }
  }
  return {
    allocMs: Number(allocNs) / 1e6,
    freeMs: Number(freeNs) / 1e6,
    allocCpuMs: perPhaseCpu ? allocCpu : null,
    freeCpuMs: perPhaseCpu ? freeCpu : null,
    loopWallMs: Number(loopNs) / 1e6,
    loopCpuMs: (lc.user + lc.system) / 1000,
    gcAlloc,
    gcFree,
  };
}

/** The allocator of our side of the comparison (also bench/profile-phase.ts's). */
export function oracleAllocator(ver: OracleVersion, stats: boolean): PercpuAllocator {
  return createAllocator({ kernel: ver, geometry: G1, mode: 'allocator', backend: 'km', balance: 'sync', stats });
}

/**
 * Steady state: `live` objects of 16 B allocated (untimed); then, counted,
 * `live` frees (every other object, then the rest), `live` allocations back,
 * and `live` free+alloc pairs. Beyond the chunk the balance work destroys
 * and the allocations recreate, nothing is made per op but what the ops make.
 */
async function steadyGc(ver: OracleVersion, stats: boolean, live: number): Promise<SteadyGc> {
  const a = oracleAllocator(ver, stats);
  const ptrs = new Float64Array(live);
  fillAll(a, ptrs, 0, 1);
  let gcs = 0;
  const obs = new PerformanceObserver((list) => {
    gcs += list.getEntries().length;
  });
  obs.observe({ entryTypes: ['gc'] });
  const settle = () => new Promise((r) => setTimeout(r, 20));
  // The whole cycle twice: the first pass lets the JIT see every path (a
  // path first met in optimised code deoptimises it, and unoptimised code
  // boxes numbers); the second pass is counted.
  const counts: number[] = [];
  for (let pass = 0; pass < 2; pass++) {
    await settle();
    const base = gcs;
    freeAll(a, ptrs, 0, 2);
    freeAll(a, ptrs, 1, 2);
    await settle();
    const afterFrees = gcs;
    fillAll(a, ptrs, 0, 1);
    await settle();
    const afterAllocs = gcs;
    freeAllocPairs(a, ptrs);
    await settle();
    counts.splice(0, 3, afterFrees - base, afterAllocs - afterFrees, gcs - afterAllocs);
  }
  obs.disconnect();
  return { live, frees: live, allocs: live, gcDuringFrees: counts[0]!, gcDuringAllocs: counts[1]!, gcDuringPairs: counts[2]! };
}

/** Warm-up runs of our side before its timed run (each a fresh allocator). */
export const WARM_UPS = 3;

/**
 * The stream our side warms up on: a quarter-size stream of the same workload,
 * enough to create and destroy chunks as the full one does (W7 and W8, short,
 * run whole; W1x, whose allocations grow quadratically, and W6b small).
 */
export function warmUpStream(s: OpStream): OpStream {
  if (/^W[78]$/.test(s.name)) return s;
  const n = s.name === 'W1x' ? 1 << 14 : s.name === 'W6b' ? 25_000 : 1 << 18;
  return buildWorkload(s.name, { n });
}

async function childMain(argv: string[]): Promise<void> {
  const get = (k: string) => {
    const i = argv.indexOf(k);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const ver = get('--ver') as OracleVersion;
  const stats = get('--stats') === 'on';
  if (!(ORACLE_VERSIONS as readonly string[]).includes(ver)) throw new Error(`unknown version ${ver}`);
  const steady = get('--steady');
  if (steady !== undefined) {
    process.stdout.write(JSON.stringify(await steadyGc(ver, stats, Number(steady))) + '\n');
    return;
  }
  const workload = get('--workload')!;
  const s = buildWorkload(workload);
  // Let the JIT reach steady state first (the C is compiled ahead of time):
  // WARM_UPS runs of `warmUpStream`. One run left the timed run partly in
  // unoptimised code (measured: W1a frees 3.4x the C after one, 2.35x after
  // three; docs/BENCHMARKS.md).
  const warm = warmUpStream(s);
  for (let i = 0; i < WARM_UPS; i++) await timeOurs(oracleAllocator(ver, stats), warm);
  const t = await timeOurs(oracleAllocator(ver, stats), s);
  process.stdout.write(JSON.stringify(t) + '\n');
}

function runOurs(ver: OracleVersion, workload: string, stats: boolean): OracleTimes & { gcAlloc: number; gcFree: number } {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--oracle-child', '--ver', ver, '--workload', workload, '--stats', stats ? 'on' : 'off'], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  if (r.status !== 0) throw new Error(`our ${ver} ${workload} bench process failed (${r.status ?? r.signal}): ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout) as OracleTimes & { gcAlloc: number; gcFree: number };
}

function runSteady(ver: OracleVersion, live: number, stats: boolean): SteadyGc {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--oracle-child', '--ver', ver, '--steady', String(live), '--stats', stats ? 'on' : 'off'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`our ${ver} steady-state GC check failed (${r.status ?? r.signal}): ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout) as SteadyGc;
}

// ---------------------------------------------------------------------------
// Parent: interleave, then medians and ratios

export function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function medianOrNull(xs: (number | null | undefined)[]): number | null {
  if (xs.some((x) => x === null || x === undefined)) return null;
  return median(xs as number[]);
}

/** The table rows of a finished run's samples. */
export function oracleRows(samples: readonly OracleSample[], versions: readonly OracleVersion[], workloads: readonly string[]): OracleRow[] {
  const rows: OracleRow[] = [];
  for (const workload of workloads) {
    for (const ver of versions) {
      const c = samples.filter((x) => x.side === 'C' && x.ver === ver && x.workload === workload);
      const t = samples.filter((x) => x.side === 'TS' && x.ver === ver && x.workload === workload);
      if (c.length === 0 || t.length === 0) continue;
      const phases: ['alloc' | 'free' | 'loop', keyof OracleTimes, keyof OracleTimes | 'loopCpuMs', 'gcAlloc' | 'gcFree' | null][] = [
        ['alloc', 'allocMs', 'allocCpuMs', 'gcAlloc'],
        ['free', 'freeMs', 'freeCpuMs', 'gcFree'],
        ['loop', 'loopWallMs', 'loopCpuMs', null],
      ];
      for (const [phase, wall, cpu, gc] of phases) {
        const cWallMs = median(c.map((x) => x[wall] as number));
        const tsWallMs = median(t.map((x) => x[wall] as number));
        const cCpuMs = medianOrNull(c.map((x) => x[cpu]));
        const tsCpuMs = medianOrNull(t.map((x) => x[cpu]));
        rows.push({
          ver,
          workload,
          phase,
          cWallMs,
          tsWallMs,
          wallRatio: tsWallMs / cWallMs,
          cCpuMs,
          tsCpuMs,
          cpuRatio: cCpuMs !== null && tsCpuMs !== null && cCpuMs > 0 ? tsCpuMs / cCpuMs : null,
          tsGc: gc === null ? null : medianOrNull(t.map((x) => x[gc])),
        });
      }
    }
  }
  return rows;
}

/** Every round, workload and version: the C process, then ours. */
export function runOracle(o: OracleOptions, progress?: (done: number, total: number, label: string) => void): OracleFile {
  const cBench = cBenchPath(o.dir);
  const tsStats = o.tsStats ?? false;
  const started = Date.now();
  const before = loadavg();
  const samples: OracleSample[] = [];
  const sequence: string[] = [];
  const total = o.rounds * o.workloads.length * o.versions.length * 2;
  let done = 0;
  for (let round = 1; round <= o.rounds; round++) {
    for (const workload of o.workloads) {
      for (const ver of o.versions) {
        progress?.(done, total, `C ${ver} ${workload} (round ${round})`);
        const c = runC(cBench, ver, workload);
        sequence.push(`C ${ver} ${workload} ${round}`);
        const { ver: _v, workload: _w, ops: _o, chunks: _c, warns: _x, failed: _f, ...cTimes } = c;
        samples.push({ side: 'C', ver, workload, round, ...cTimes });
        progress?.(++done, total, `ours ${ver} ${workload} (round ${round})`);
        const t = runOurs(ver, workload, tsStats);
        sequence.push(`TS ${ver} ${workload} ${round}`);
        samples.push({ side: 'TS', ver, workload, round, ...t });
        progress?.(++done, total, `${ver} ${workload} (round ${round})`);
      }
    }
  }
  const steadyGc: Record<string, SteadyGc> = {};
  const steadyN = o.steadyN ?? 1 << 20;
  if (steadyN > 0) for (const ver of o.versions) steadyGc[ver] = runSteady(ver, steadyN, tsStats);
  return {
    tool: 'percpu bench --c-oracle',
    date: new Date().toISOString(),
    machine: machineFacts(),
    cBench,
    rounds: o.rounds,
    versions: [...o.versions],
    workloads: [...o.workloads],
    tsStats: tsStats ? 'on' : 'off',
    load: { before, after: loadavg() },
    durationS: (Date.now() - started) / 1000,
    sequence,
    samples,
    rows: oracleRows(samples, o.versions, o.workloads),
    steadyGc,
  };
}

// ---------------------------------------------------------------------------
// The table

function ms(x: number | null): string {
  if (x === null) return '—';
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

function ratio(x: number | null): string {
  return x === null || !Number.isFinite(x) ? '—' : `${x.toFixed(2)}×`;
}

/** The same-run table (plain text, or Markdown), then the GC check and the verdict against 1.5×. */
export function formatOracle(f: OracleFile, markdown = false): string {
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  const out: string[] = [];
  out.push(`percpu bench --c-oracle: the engine against the kernel's own C (${f.cBench}), same run, interleaved (C process, then ours, per workload, version and round)`);
  out.push(`${f.rounds} round(s), medians; ${f.machine.cpu}, ${f.machine.cores} cores, node ${f.machine.node}; load average before ${load(f.load.before)}, after ${load(f.load.after)}; ${f.durationS.toFixed(0)} s`);
  out.push(`engine statistics (percpu_stats counters) ${f.tsStats}${f.tsStats === 'off' ? ', as the C is built (PERCPU_STATS off)' : ' (the C has PERCPU_STATS off)'}; C CPU = thread CPU time, ours = process CPU time (main thread + V8 helper threads)`);
  out.push('');
  const head = ['workload', 'ver', 'phase', 'C wall ms', 'TS wall ms', 'TS/C wall', 'C CPU ms', 'TS CPU ms', 'TS/C CPU', 'TS GCs'];
  const body = f.rows.map((r) => [r.workload, r.ver, r.phase, ms(r.cWallMs), ms(r.tsWallMs), ratio(r.wallRatio), ms(r.cCpuMs), ms(r.tsCpuMs), ratio(r.cpuRatio), r.tsGc === null ? '' : String(r.tsGc)]);
  if (markdown) {
    out.push(`| ${head.join(' | ')} |`);
    out.push(`|${head.map((_, i) => (i < 3 ? '---' : '---:')).join('|')}|`);
    for (const b of body) out.push(`| ${b.join(' | ')} |`);
  } else {
    const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
    const line = (cells: string[]) => cells.map((c, i) => (i < 3 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ').trimEnd();
    out.push(line(head));
    out.push(w.map((n) => '-'.repeat(n)).join('  '));
    for (const b of body) out.push(line(b));
  }
  const phases = f.rows.filter((r) => r.phase !== 'loop');
  const within = phases.filter((r) => r.wallRatio <= 1.5).length;
  const faster = phases.filter((r) => r.wallRatio <= 1).length;
  out.push('');
  out.push(`Target (each alloc and free phase within 1.5× of the C, median wall): ${within} of ${phases.length} phases within 1.5×, ${faster} at or below 1.0×.`);
  const withCpu = phases.filter((r) => r.cpuRatio !== null);
  if (withCpu.length) out.push(`By CPU time (where both sides took one): ${withCpu.filter((r) => r.cpuRatio! <= 1.5).length} of ${withCpu.length} phases within 1.5×, ${withCpu.filter((r) => r.cpuRatio! <= 1).length} at or below 1.0×.`);
  const misses = phases.filter((r) => r.wallRatio > 1.5).map((r) => `${r.workload} ${r.ver} ${r.phase} ${ratio(r.wallRatio)}`);
  if (misses.length) out.push(`Misses: ${misses.join(', ')}`);
  const vers = Object.keys(f.steadyGc);
  if (vers.length) {
    out.push('');
    for (const v of vers) {
      const g = f.steadyGc[v]!;
      out.push(`Garbage per op, ${v} (PerformanceObserver 'gc', ${g.live} live 16 B objects in existing chunks): ${g.gcDuringFrees} collections during ${g.frees} frees, ${g.gcDuringAllocs} during ${g.allocs} allocs, ${g.gcDuringPairs} during ${g.live} free+alloc pairs`);
    }
  }
  return out.join('\n') + '\n';
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url) && process.argv.includes('--oracle-child')) {
  childMain(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`c-oracle child: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 2;
  });
}
