/**
 * `npm run bench`: the engine benchmark against the kernel's own C (issue 2,
 * item 11). Times the alloc and free phases of the oracle workloads
 * (`workloads.ts`) for every implemented profile in the oracle's setup — G1,
 * km backend, synchronous balance work — the way the oracle timed the C: wall
 * clock around each contiguous run of allocs or frees, the op stream built
 * before timing, the median of several runs, alloc and free phases summed
 * separately. Prints ours next to the C (`kernel-c-timings.ts`) and the ratio.
 *
 * Only the timed loops touch the allocator; stream building and allocator
 * construction happen between them. No garbage collection is forced between
 * runs: a forced full GC (`gc()`) made the next runs 1.5–3× slower here, with
 * no collection inside the timed region, so runs see V8's own GC only.
 *
 * W1x (the cover letter's pathology) climbs a doubling ladder of N and, when
 * one phase would pass `--cap` seconds, extrapolates the full size from the
 * ladder instead, as the oracle did for 4.13. Each kernel runs in a child
 * process of its own.
 *
 *   node dist/bench/engine.js [--runs N] [--quick] [--json | --markdown]
 *                             [--only W1a,W7] [--kernel 4.14,7.0] [--cap SECONDS]
 *                             [--from saved.json]
 */
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { createAllocator, isImplemented, type PercpuAllocator } from '../src/allocator.js';
import { NULL_PTR } from '../src/engine/pointer.js';
import { ALL_WORKLOADS, buildWorkload, FULL_N, G1, OP_ALLOC, QUICK_N, timedPhases, w1x, type OpStream } from './workloads.js';
import { kernelCTiming, type CKernel } from './kernel-c-timings.js';

const KERNELS: readonly CKernel[] = ['4.13', '4.14', '7.0'];
/** Ops between two looks at the clock when a phase has a time cap. */
const CAP_SLICE = 4096;
/** A full-size W1x run longer than this is not repeated for a median. */
const REPEAT_LIMIT_MS = 20_000;

export interface PhaseTimes {
  allocMs: number;
  freeMs: number;
}

export interface BenchResult {
  workload: string;
  kernel: CKernel;
  /** Objects of the stream's timed part (W1–W6, W1x, half-filled) or ops (W7, W8). */
  ops: number;
  allocMs: number;
  freeMs: number;
  runs: PhaseTimes[];
  cAllocMs: number | null;
  cFreeMs: number | null;
  /** True when the numbers are extrapolated from smaller N (W1x over the cap). */
  extrapolated: boolean;
  /** W1x ladder: measured [N, alloc ms, free ms] at smaller N. */
  ladder?: [number, number, number][];
  note?: string;
}

// ---------------------------------------------------------------------------
// Timed loops

/** Allocate ops [from, to); returns how many allocations failed (there should be none). */
function runAllocs(a: PercpuAllocator, s: OpStream, from: number, to: number, ptrs: Float64Array): number {
  const size = s.size;
  const align = s.align;
  const target = s.target;
  let failed = 0;
  for (let i = from; i < to; i++) {
    const p = a.alloc(size[i]!, align[i]!);
    if (p === NULL_PTR) failed++;
    ptrs[target[i]!] = p;
  }
  return failed;
}

function runFrees(a: PercpuAllocator, s: OpStream, from: number, to: number, ptrs: Float64Array): void {
  const target = s.target;
  for (let i = from; i < to; i++) a.free(ptrs[target[i]!]!);
}

class CapExceeded extends Error {}

/**
 * One run of a stream on a fresh allocator: setup untimed, then every phase
 * timed. With a finite `capNs`, a phase is cut into slices so the clock can
 * be read and the run abandoned once the cap is passed.
 */
function runOnce(kernel: CKernel, s: OpStream, phases: Uint32Array, capNs: number): PhaseTimes {
  const a = createAllocator({ kernel, geometry: G1, mode: 'allocator', backend: 'km', balance: 'sync' });
  const ptrs = new Float64Array(s.objects).fill(NULL_PTR);
  let failed = 0;
  for (let i = 0; i < s.timedFrom; i++) {
    if (s.kind[i] === OP_ALLOC) failed += runAllocs(a, s, i, i + 1, ptrs);
    else runFrees(a, s, i, i + 1, ptrs);
  }
  let allocNs = 0n;
  let freeNs = 0n;
  const capped = Number.isFinite(capNs);
  for (let p = 0; p < phases.length; p += 2) {
    const from = phases[p]!;
    const to = phases[p + 1]!;
    const isAlloc = s.kind[from] === OP_ALLOC;
    const t0 = process.hrtime.bigint();
    if (!capped) {
      if (isAlloc) failed += runAllocs(a, s, from, to, ptrs);
      else runFrees(a, s, from, to, ptrs);
    } else {
      for (let i = from; i < to; i += CAP_SLICE) {
        const j = Math.min(i + CAP_SLICE, to);
        if (isAlloc) failed += runAllocs(a, s, i, j, ptrs);
        else runFrees(a, s, i, j, ptrs);
        if (Number(process.hrtime.bigint() - t0) > capNs) throw new CapExceeded();
      }
    }
    const dt = process.hrtime.bigint() - t0;
    if (isAlloc) allocNs += dt;
    else freeNs += dt;
  }
  if (failed !== 0) throw new Error(`${s.name} on ${kernel}: ${failed} allocations returned NULL`);
  return { allocMs: Number(allocNs) / 1e6, freeMs: Number(freeNs) / 1e6 };
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function timedOps(s: OpStream): number {
  return s.length - s.timedFrom;
}

function result(workload: string, kernel: CKernel, ops: number, runs: PhaseTimes[], extra: Partial<BenchResult> = {}): BenchResult {
  const c = kernelCTiming(kernel, workload);
  return {
    workload,
    kernel,
    ops,
    allocMs: median(runs.map((r) => r.allocMs)),
    freeMs: median(runs.map((r) => r.freeMs)),
    runs,
    cAllocMs: c?.alloc ?? null,
    cFreeMs: c?.free ?? null,
    extrapolated: false,
    ...extra,
  };
}

function benchStream(kernel: CKernel, s: OpStream, runs: number): BenchResult {
  const phases = timedPhases(s);
  const times: PhaseTimes[] = [];
  for (let r = 0; r < runs; r++) times.push(runOnce(kernel, s, phases, Infinity));
  return result(s.name, kernel, timedOps(s), times);
}

/**
 * W1x: a doubling ladder from 16k objects. Each step predicts the next from
 * the last growth factor; when the prediction (or a phase of the run itself)
 * passes the cap, the full-size time is extrapolated from the last three
 * steps, as the oracle did for 4.13. The full size, when reached, is repeated
 * for a median unless one run takes over REPEAT_LIMIT_MS.
 */
function benchW1x(kernel: CKernel, fullN: number, runs: number, capMs: number): BenchResult {
  const ladder: [number, number, number][] = [];
  const capNs = capMs * 1e6;
  for (let n = Math.min(16384, fullN); n <= fullN; n *= 2) {
    const prev = ladder[ladder.length - 1];
    const prev2 = ladder[ladder.length - 2];
    if (prev && prev2) {
      const growth = prev[1] / prev2[1];
      if (prev[1] * growth > capMs) break;
    }
    const s = w1x(n);
    const phases = timedPhases(s);
    let t: PhaseTimes;
    try {
      t = runOnce(kernel, s, phases, capNs);
    } catch (e) {
      if (e instanceof CapExceeded) break;
      throw e;
    }
    if (n === fullN) {
      const times = [t];
      while (times.length < runs && t.allocMs + t.freeMs < REPEAT_LIMIT_MS) {
        times.push(runOnce(kernel, s, phases, capNs));
      }
      const note = times.length < runs ? `${times.length} run(s): a run takes over ${REPEAT_LIMIT_MS / 1000} s` : undefined;
      return result('W1x', kernel, 2 * fullN, times, { ladder, ...(note ? { note } : {}) });
    }
    ladder.push([n, t.allocMs, t.freeMs]);
  }
  const last = ladder[ladder.length - 1];
  if (!last || ladder.length < 2) throw new Error(`W1x on ${kernel}: the ${capMs / 1000} s cap leaves fewer than two ladder steps to extrapolate from`);
  const fit = ladder.slice(-3);
  const allocMs = extrapolate(fit.map(([n, t]) => [n, t]), fullN);
  const freeMs = extrapolate(fit.map(([n, , t]) => [n, t]), fullN);
  return result('W1x', kernel, 2 * fullN, [{ allocMs, freeMs }], {
    extrapolated: true,
    ladder,
    note: `extrapolated from N=${last[0]} (cap ${capMs / 1000} s)`,
  });
}

/**
 * Power-law extrapolation: a least-squares line through (log N, log t) of the
 * given points, evaluated at `n`. Fitting several points keeps one noisy short
 * run from setting the growth rate alone.
 */
export function extrapolate(points: [number, number][], n: number): number {
  const xs = points.map(([x]) => Math.log2(x));
  const ys = points.map(([, t]) => Math.log2(Math.max(t, 1e-3)));
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < xs.length; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  const slope = sxx === 0 ? 1 : sxy / sxx;
  return 2 ** (my + slope * (Math.log2(n) - mx));
}

// ---------------------------------------------------------------------------
// Output

function fmtMs(x: number | null): string {
  if (x === null) return '–';
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

function ratio(ours: number, c: number | null): number | null {
  return c === null || c <= 0 ? null : ours / c;
}

function fmtRatio(r: number | null): string {
  return r === null ? '–' : `${r.toFixed(2)}×`;
}

export function machineFacts(): { node: string; cpu: string; cores: number } {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpu = m[1]!.trim();
  } catch {
    // Not Linux: os.cpus() is all there is.
  }
  return { node: process.version, cpu, cores: cpus().length };
}

export function formatTable(results: BenchResult[]): string {
  const head = ['workload', 'kernel', 'ops', 'alloc ms', 'C alloc', 'ratio', 'free ms', 'C free', 'ratio'];
  const rows = results.map((r) => [
    r.workload + (r.extrapolated ? '*' : ''),
    r.kernel,
    String(r.ops),
    fmtMs(r.allocMs),
    fmtMs(r.cAllocMs),
    fmtRatio(ratio(r.allocMs, r.cAllocMs)),
    fmtMs(r.freeMs),
    fmtMs(r.cFreeMs),
    fmtRatio(ratio(r.freeMs, r.cFreeMs)),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** The same table as Markdown (for docs/BENCHMARKS.md). */
export function formatMarkdown(results: BenchResult[]): string {
  const rows = [
    '| workload | kernel | ops | alloc ms | C alloc ms | alloc ratio | free ms | C free ms | free ratio |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    const cells = [
      r.workload + (r.extrapolated ? ' *' : ''),
      r.kernel,
      String(r.ops),
      fmtMs(r.allocMs),
      fmtMs(r.cAllocMs),
      fmtRatio(ratio(r.allocMs, r.cAllocMs)),
      fmtMs(r.freeMs),
      fmtMs(r.cFreeMs),
      fmtRatio(ratio(r.freeMs, r.cFreeMs)),
    ];
    rows.push(`| ${cells.join(' | ')} |`);
  }
  return rows.join('\n');
}

/** Phases where ours is over `limit` times the C. */
export function misses(results: BenchResult[], limit = 1.5): string[] {
  const out: string[] = [];
  for (const r of results) {
    for (const [phase, ours, c] of [
      ['alloc', r.allocMs, r.cAllocMs],
      ['free', r.freeMs, r.cFreeMs],
    ] as const) {
      const q = ratio(ours, c);
      if (q !== null && q > limit) out.push(`${r.workload} ${r.kernel} ${phase}: ${fmtMs(ours)} ms vs C ${fmtMs(c)} ms (${fmtRatio(q)})`);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Command line

function splitList(v: string | undefined): string[] | undefined {
  return v === undefined ? undefined : v.split(',').map((x) => x.trim()).filter((x) => x !== '');
}

interface Options {
  runs: number;
  capMs: number;
  quick: boolean;
  json: boolean;
  markdown: boolean;
  /** Render a saved `--json` output instead of running. */
  from: string | undefined;
  workloads: readonly string[];
  kernels: CKernel[];
}

function parseOptions(argv: string[]): (Options & { child: boolean; rawArgs: string[] }) | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string', default: '3' },
      quick: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      markdown: { type: 'boolean', default: false },
      from: { type: 'string' },
      only: { type: 'string' },
      kernel: { type: 'string' },
      cap: { type: 'string', default: '120' },
      child: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      'usage: node dist/bench/engine.js [--runs N] [--quick] [--json | --markdown] [--only W1a,W7] [--kernel 4.14,7.0] [--cap SECONDS] [--from saved.json]\n' +
        `workloads: ${ALL_WORKLOADS.join(', ')}\n` +
        'kernels: every implemented one of 4.13, 4.14, 7.0; --cap bounds one W1x phase (default 120 s), beyond it W1x is extrapolated;\n' +
        '--from renders the --json output of an earlier run\n',
    );
    return undefined;
  }
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, got ${values.runs}`);
  const capMs = Number(values.cap) * 1000;
  if (!(capMs > 0)) throw new Error(`--cap must be a positive number of seconds, got ${values.cap}`);
  const only = splitList(values.only);
  for (const w of only ?? []) if (!ALL_WORKLOADS.includes(w)) throw new Error(`unknown workload "${w}" (known: ${ALL_WORKLOADS.join(', ')})`);
  const wanted = splitList(values.kernel) ?? KERNELS.filter((k) => isImplemented(k));
  const kernels: CKernel[] = [];
  for (const k of wanted) {
    if (!(KERNELS as readonly string[]).includes(k)) throw new Error(`unknown kernel "${k}" (known: ${KERNELS.join(', ')})`);
    if (!isImplemented(k)) process.stderr.write(`bench: kernel ${k} is not implemented yet, skipped\n`);
    else kernels.push(k as CKernel);
  }
  const rawArgs: string[] = ['--runs', String(runs), '--cap', String(values.cap)];
  if (values.quick) rawArgs.push('--quick');
  if (only) rawArgs.push('--only', only.join(','));
  return { runs, capMs, quick: values.quick, json: values.json, markdown: values.markdown, from: values.from, workloads: only ?? ALL_WORKLOADS, kernels, child: values.child, rawArgs };
}

/** Every workload on one kernel, in this process (the child's job). */
function benchKernel(kernel: CKernel, o: Options, log: (msg: string) => void): BenchResult[] {
  warmUp(kernel);
  const results: BenchResult[] = [];
  for (const name of o.workloads) {
    log(`  ${name} ${kernel} …`);
    const r = name === 'W1x' ? benchW1x(kernel, o.quick ? QUICK_N : FULL_N, o.runs, o.capMs) : benchStream(kernel, buildWorkload(name, { quick: o.quick }), o.runs);
    // Quick mode shrinks everything but W7/W8: the C numbers are for full size.
    if (o.quick && name !== 'W7' && name !== 'W8') r.cAllocMs = r.cFreeMs = null;
    results.push(r);
    log(` ${fmtMs(r.allocMs)} / ${fmtMs(r.freeMs)} ms${r.extrapolated ? ' (extrapolated)' : ''}\n`);
  }
  return results;
}

/**
 * Each kernel runs in a child process of its own, so one profile's classes and
 * type feedback never make another's hot call sites polymorphic, and one
 * kernel's garbage is not swept during another's timing.
 */
function runChild(kernel: CKernel, o: Options & { rawArgs: string[] }): BenchResult[] {
  const script = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, [script, '--child', '--kernel', kernel, ...o.rawArgs], {
    stdio: ['ignore', 'pipe', o.json ? 'ignore' : 'inherit'],
    maxBuffer: 256 << 20,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`the ${kernel} bench process failed (exit ${r.status ?? r.signal})`);
  return (JSON.parse(r.stdout) as { results: BenchResult[] }).results;
}

function main(): void {
  const o = parseOptions(process.argv.slice(2));
  if (o === undefined) return;
  if (o.child) {
    const results = o.kernels.flatMap((k) => benchKernel(k, o, (m) => process.stderr.write(m)));
    process.stdout.write(JSON.stringify({ results }) + '\n');
    return;
  }
  let facts = machineFacts();
  let results: BenchResult[];
  let quick = o.quick;
  let runs = o.runs;
  const loadBefore = loadavg();
  if (o.from !== undefined) {
    const saved = JSON.parse(readFileSync(o.from, 'utf8')) as { machine: typeof facts; quick: boolean; runs: number; results: BenchResult[] };
    ({ machine: facts, quick, results, runs } = saved);
  } else {
    if (!o.json) process.stderr.write(`percpu engine bench: node ${facts.node}, ${facts.cpu} (${facts.cores} cores), runs ${o.runs}${o.quick ? ', quick' : ''}\n`);
    results = o.kernels.flatMap((k) => runChild(k, o));
  }
  const order = (r: BenchResult) => ALL_WORKLOADS.indexOf(r.workload) * KERNELS.length + KERNELS.indexOf(r.kernel);
  results.sort((a, b) => order(a) - order(b));

  if (o.json) {
    const load = { before: loadBefore, after: loadavg() };
    process.stdout.write(JSON.stringify({ machine: facts, runs, quick, geometry: G1, load, results }, null, 2) + '\n');
    return;
  }
  const out = [o.markdown ? formatMarkdown(results) : formatTable(results)];
  if (quick) out.push('(quick: W1–W6a, W1x and the half-filled variants at N = 16384, W6b at 10000; C shown only for W7/W8, the others are not at full size)');
  if (results.some((r) => r.extrapolated)) out.push('* extrapolated from smaller N (time cap)');
  const miss = misses(results);
  if (!quick) out.push(miss.length ? `over 1.5× the C:\n  ${miss.join('\n  ')}` : 'no phase over 1.5× the C');
  process.stdout.write(out.join('\n') + '\n');
}

/** Let the JIT see every path once (small streams, each profile) before anything is timed. */
function warmUp(kernel: CKernel): void {
  const streams = ['W1a', 'W3c', 'W5c', 'W1x', 'W2h'].map((w) => buildWorkload(w, { n: 4096 }));
  streams.push(buildWorkload('W7'));
  for (const s of streams) runOnce(kernel, s, timedPhases(s), Infinity);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    main();
  } catch (e) {
    process.stderr.write(`bench: ${(e as Error).message}\n`);
    process.exitCode = 2;
  }
}
