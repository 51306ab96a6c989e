// SPDX-License-Identifier: GPL-2.0-only
/**
 * A profiling driver for one workload, one kernel version and its phases, run
 * as `bench --c-oracle`'s child runs them (same allocator options, same timed
 * loops `runAllocs` / `runFrees`, same warm-ups), so that `node --prof`,
 * `node --cpu-prof` and `valgrind --tool=callgrind` see what the bench times.
 *
 *   node dist/bench/profile-phase.js --workload W1a --ver 4.14 [--reps 8] [--skip none|free|all] [--windows FILE]
 *   node dist/bench/profile-phase.js --summarize FILE.cpuprofile --windows FILE [--lines freeArea,chunkRefreshHint]
 *
 * Run mode: the oracle child's warm-ups (three quarter-size runs, W7/W8 whole,
 * every phase run), then `--reps` runs of the full stream, each on a fresh
 * allocator. `--skip free` leaves out the free phases of those runs, `--skip
 * all` every phase (only the allocator is made): the warm-ups are the same
 * whatever is skipped, so the JIT's state is too, and the difference between
 * two runs' instruction counts is the skipped phases' cost (frees =
 * `none` − `free`; allocations = `free` − `all`). Skipping frees is refused for
 * a stream with allocations after a free (W7, W8): its later phases would not
 * be the bench's. Prints one JSON line: ops run, wall and CPU ms per kind.
 * `--windows FILE` writes the measured phases' [start, end) on the
 * monotonic clock (µs, as `--cpu-prof` stamps its samples).
 *
 * Summarize mode: reads a `--cpu-prof` profile and the windows, and prints,
 * per phase kind, every sample's leaf function (self time, GC and V8's
 * `(program)` included, since a sample is placed by its time, not its stack),
 * the inlined-callee attribution V8 keeps in the profile, and the line ticks
 * (`positionTicks`) of the functions named by `--lines` — lines of the compiled
 * JS in dist/, where a callee V8 inlined can show its own file's lines under
 * the caller's name.
 *
 * Join mode: reads a `valgrind --tool=callgrind --dump-instr=yes` output and
 * V8's `--print-opt-code` listing of the same process, and prints for each
 * named function its optimised code's executed instructions: per call (the
 * count of its first instruction is the number of calls), how many are V8's
 * checks — a conditional jump to a deoptimisation exit and the compare or test
 * before it, grouped by the exit's reason — and a rough class of the rest.
 *
 *   node dist/bench/profile-phase.js --join-callgrind CG.OUT --code LISTING.TXT --fn freeArea,runFrees [--per N]
 *
 * Invariant: nothing here is timed against anything; the numbers are for
 * shares within one run and for instruction counts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NULL_PTR } from '../src/engine/pointer.js';
import { buildWorkload, OP_ALLOC, runAllocs, runFrees, timedPhases, type OpStream } from './workloads.js';
import { oracleAllocator, WARM_UPS, warmUpStream } from './c-oracle.js';

export type Skip = 'none' | 'free' | 'all';
const VERSIONS = ['4.14', '7.0'] as const;
type Version = (typeof VERSIONS)[number];

export interface ProfileRun {
  workload: string;
  ver: Version;
  reps: number;
  skip: Skip;
  /** Ops run in the measured repetitions (all of them). */
  allocs: number;
  frees: number;
  allocMs: number;
  freeMs: number;
  cpuMs: number;
  load: number[];
}

/** True when no allocation follows a free (the uniform workloads): their frees can be left out. */
export function freesAreLast(s: OpStream): boolean {
  let seenFree = false;
  for (let i = s.timedFrom; i < s.length; i++) {
    if (s.kind[i] === OP_ALLOC) {
      if (seenFree) return false;
    } else seenFree = true;
  }
  return true;
}

interface RunTotals {
  allocs: number;
  frees: number;
  allocNs: bigint;
  freeNs: bigint;
}

/** One run of a stream on a fresh allocator; the skipped kinds are not run; `windows` gets each run phase's µs bounds and kind. */
function runOnce(ver: Version, s: OpStream, skip: Skip, t: RunTotals, windows?: number[]): void {
  const a = oracleAllocator(ver, false);
  if (skip === 'all') return;
  const ptrs = new Float64Array(s.objects).fill(NULL_PTR);
  const { kind, size, align, target } = s;
  for (let i = 0; i < s.timedFrom; i++) {
    if (kind[i] === OP_ALLOC) ptrs[target[i]!] = a.alloc(size[i]!, align[i]!);
    else a.free(ptrs[target[i]!]!);
  }
  const phases = timedPhases(s);
  for (let p = 0; p < phases.length; p += 2) {
    const from = phases[p]!;
    const to = phases[p + 1]!;
    const isAlloc = kind[from] === OP_ALLOC;
    if (!isAlloc && skip === 'free') continue;
    const t0 = process.hrtime.bigint();
    if (isAlloc) {
      if (runAllocs(a, s, from, to, ptrs) !== 0) throw new Error(`${s.name}: an allocation returned NULL`);
    } else runFrees(a, s, from, to, ptrs);
    const t1 = process.hrtime.bigint();
    if (isAlloc) {
      t.allocs += to - from;
      t.allocNs += t1 - t0;
    } else {
      t.frees += to - from;
      t.freeNs += t1 - t0;
    }
    windows?.push(Number(t0 / 1000n), Number(t1 / 1000n), isAlloc ? 0 : 1);
  }
}

/** Warm-ups (every phase), then `reps` measured runs with `skip` left out. */
export function profileRun(workload: string, ver: Version, reps: number, skip: Skip, windows?: number[]): ProfileRun {
  const s = buildWorkload(workload);
  if (skip === 'free' && !freesAreLast(s)) throw new Error(`${workload}: allocations follow frees, so its frees cannot be left out (use --skip none)`);
  const warm = warmUpStream(s);
  const scratch: RunTotals = { allocs: 0, frees: 0, allocNs: 0n, freeNs: 0n };
  for (let i = 0; i < WARM_UPS; i++) runOnce(ver, warm, 'none', scratch);
  const t: RunTotals = { allocs: 0, frees: 0, allocNs: 0n, freeNs: 0n };
  const c0 = process.cpuUsage();
  for (let r = 0; r < reps; r++) runOnce(ver, s, skip, t, windows);
  const c = process.cpuUsage(c0);
  return {
    workload,
    ver,
    reps,
    skip,
    allocs: t.allocs,
    frees: t.frees,
    allocMs: Number(t.allocNs) / 1e6,
    freeMs: Number(t.freeNs) / 1e6,
    cpuMs: (c.user + c.system) / 1000,
    load: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

// ---------------------------------------------------------------------------
// Summarize a --cpu-prof profile by phase kind

interface CpuNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
  positionTicks?: { line: number; ticks: number }[];
}

interface CpuProfile {
  nodes: CpuNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface PhaseSummary {
  kind: 'alloc' | 'free' | 'outside';
  samples: number;
  /** Leaf function → samples (self time). */
  self: Map<string, number>;
  /** Function → samples with it anywhere on the stack (inclusive; counted once per sample). */
  inclusive: Map<string, number>;
  /** `fn:line` → samples, for the functions asked for (self ticks only). */
  lines: Map<string, number>;
}

function nodeName(n: CpuNode): string {
  const f = n.callFrame.functionName || '(anonymous)';
  const file = n.callFrame.url.split('/').pop() ?? '';
  return file ? `${f} ${file}` : f;
}

/** Which window (0 alloc, 1 free, -1 none) holds time `t`; windows are sorted, flattened [start, end, kind]. */
function windowKind(w: number[], t: number, hint: { i: number }): number {
  while (hint.i < w.length && w[hint.i + 1]! <= t) hint.i += 3;
  if (hint.i < w.length && w[hint.i]! <= t) return w[hint.i + 2]!;
  return -1;
}

/** Samples of a profile split by the phase window they fall in. */
export function summarize(profile: CpuProfile, windows: number[], lineFns: readonly string[]): PhaseSummary[] {
  const byId = new Map<number, CpuNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const out: PhaseSummary[] = (['alloc', 'free', 'outside'] as const).map((kind) => ({ kind, samples: 0, self: new Map(), inclusive: new Map(), lines: new Map() }));
  const bump = (m: Map<string, number>, k: string, by = 1) => m.set(k, (m.get(k) ?? 0) + by);
  let t = profile.startTime;
  const hint = { i: 0 };
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i]!;
    const k = windowKind(windows, t, hint);
    const sum = out[k < 0 ? 2 : k]!;
    const leaf = byId.get(profile.samples[i]!)!;
    sum.samples++;
    bump(sum.self, nodeName(leaf));
    const seen = new Set<string>();
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) seen.add(nodeName(byId.get(id)!));
    for (const name of seen) bump(sum.inclusive, name);
  }
  // Line ticks are per node, not per sample: attribute a node's to the kind most of its samples fell in.
  const nodeKind = new Map<number, number[]>();
  t = profile.startTime;
  hint.i = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i]!;
    const k = windowKind(windows, t, hint);
    const id = profile.samples[i]!;
    const v = nodeKind.get(id) ?? [0, 0, 0];
    v[k < 0 ? 2 : k]!++;
    nodeKind.set(id, v);
  }
  for (const n of profile.nodes) {
    if (!lineFns.includes(n.callFrame.functionName) || !n.positionTicks) continue;
    const v = nodeKind.get(n.id) ?? [0, 0, 0];
    const k = v.indexOf(Math.max(...v));
    for (const p of n.positionTicks) bump(out[k]!.lines, `${n.callFrame.functionName}:${p.line}`, p.ticks);
  }
  return out;
}

function top(m: Map<string, number>, total: number, min: number): string[] {
  return [...m.entries()]
    .sort((a, b) => b[1] - a[1])
    .filter(([, v]) => v / total >= min)
    .map(([k, v]) => `  ${((100 * v) / total).toFixed(1).padStart(5)} %  ${String(v).padStart(6)}  ${k}`);
}

function printSummary(sums: PhaseSummary[]): void {
  for (const s of sums) {
    if (s.samples === 0) continue;
    console.log(`== ${s.kind}: ${s.samples} samples`);
    console.log(' self (leaf function; V8 keeps inlined callees as their own frames):');
    for (const l of top(s.self, s.samples, 0.005)) console.log(l);
    console.log(' inclusive (on the stack):');
    for (const l of top(s.inclusive, s.samples, 0.02)) console.log(l);
    if (s.lines.size) {
      console.log(' line ticks of the named functions (share of the phase):');
      for (const l of top(s.lines, s.samples, 0.004)) console.log(l);
    }
  }
}


// ---------------------------------------------------------------------------
// Join callgrind's per-instruction counts with V8's optimised-code listing

/** Self Ir per instruction address of a `--dump-instr=yes` callgrind file (inclusive call costs skipped). */
export function parseCallgrindInstr(text: string): Map<number, number> {
  const ir = new Map<number, number>();
  let addr = 0;
  let skipNext = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('calls=')) {
      skipNext = true;
      continue;
    }
    const m = /^(0x[0-9a-f]+|[+-]\d+|\*)\s+\S+\s+(\d+)/.exec(line);
    if (!m) continue;
    const p = m[1]!;
    addr = p.startsWith('0x') ? parseInt(p, 16) : p === '*' ? addr : addr + Number(p);
    if (skipNext) {
      skipNext = false;
      continue;
    }
    ir.set(addr, (ir.get(addr) ?? 0) + Number(m[2]));
  }
  return ir;
}

export interface OptCode {
  name: string;
  id: string;
  /** Address and text of each instruction, in order. */
  ins: { addr: number; text: string }[];
  /** Deoptimisation exit address → reason. */
  exits: Map<number, string>;
}

/** The optimised-code objects of a `--print-opt-code` listing. */
export function parseOptCode(text: string): OptCode[] {
  const out: OptCode[] = [];
  let name = '';
  let id = '';
  let cur: OptCode | undefined;
  let reason: string | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('name = ')) name = line.slice(7).trim();
    else if (line.startsWith('optimization_id = ')) id = line.slice(18).trim();
    else if (line.startsWith('Instructions (size')) {
      cur = { name, id, ins: [], exits: new Map() };
      out.push(cur);
      reason = undefined;
    } else if (cur) {
      const r = /deopt reason '([^']*)'/.exec(line);
      if (r) {
        reason = r[1];
        continue;
      }
      const m = /^0x([0-9a-f]+)\s+[0-9a-f]+\s+[0-9a-f]+\s+(.*)$/.exec(line);
      if (m) {
        const addr = parseInt(m[1]!, 16);
        cur.ins.push({ addr, text: m[2]! });
        if (reason !== undefined) cur.exits.set(addr, reason);
        reason = undefined;
      } else if (/^(Inlined functions|Safepoints|Source positions|--- End)/.test(line)) cur = undefined;
    }
  }
  return out;
}

/** A rough class of one x64 instruction of V8's code (for the instructions that are not checks). */
function insClass(t: string): string {
  if (/\[rbp[-+]0x[0-9a-f]+\]/.test(t) && /^(REX\.W )?mov/.test(t)) return 'stack spill/reload';
  if (/\[r\w+\+0x(37|3f|47)\]/.test(t)) return 'typed-array length/base/external load (heuristic)';
  if (/sar[lq] r\w+, 32|shlq r\w+, 32/.test(t)) return 'Smi tag/untag';
  if (/root \(/.test(t)) return 'root-table compare (undefined, hole, booleans)';
  if (/^j[a-z]+ /.test(t)) return 'branch (program logic)';
  if (/^(REX\.W )?(push|pop|ret|call|leave)/.test(t)) return 'call/frame';
  if (/\[/.test(t)) return 'other load/store';
  return 'arithmetic/logic/move';
}

export interface JoinedFunction {
  name: string;
  id: string;
  calls: number;
  ir: number;
  checks: Map<string, number>;
  other: Map<string, number>;
}

/** The most executed optimised version of `fn`, its checks by reason and the rest by class. */
export function joinFunction(ir: Map<number, number>, codes: OptCode[], fn: string): JoinedFunction | undefined {
  const cost = (c: OptCode) => c.ins.reduce((s, i) => s + (ir.get(i.addr) ?? 0), 0);
  const versions = codes.filter((c) => c.name === fn && c.ins.length > 0);
  if (versions.length === 0) return undefined;
  const best = versions.reduce((a, b) => (cost(b) > cost(a) ? b : a));
  const checks = new Map<string, number>();
  const other = new Map<string, number>();
  const bump = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  const inCheck = new Set<number>();
  best.ins.forEach((x, i) => {
    const j = /^j[a-z]+ 0x([0-9a-f]+)/.exec(x.text);
    if (!j || x.text.startsWith('jmp')) return;
    const reason = best.exits.get(parseInt(j[1]!, 16));
    if (reason === undefined) return;
    inCheck.add(i);
    const prev = best.ins[i - 1];
    if (prev && /^(REX\.W )?(cmp|test)/.test(prev.text)) inCheck.add(i - 1);
    const n = (ir.get(x.addr) ?? 0) + (prev && inCheck.has(i - 1) ? ir.get(prev.addr) ?? 0 : 0);
    bump(checks, reason || '(no reason)', n);
  });
  best.ins.forEach((x, i) => {
    if (!inCheck.has(i)) bump(other, insClass(x.text), ir.get(x.addr) ?? 0);
  });
  return { name: fn, id: best.id, calls: ir.get(best.ins[0]!.addr) ?? 0, ir: cost(best), checks, other };
}

function printJoined(j: JoinedFunction, per: number | undefined): void {
  const d = per ?? j.calls;
  const unit = per === undefined ? 'call' : 'op';
  const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  console.log(`== ${j.name} (optimisation ${j.id}): ${j.calls} calls, ${j.ir} Ir, ${(j.ir / d).toFixed(1)} Ir per ${unit}`);
  console.log(`  checks (conditional jump to a deopt exit + its compare): ${(sum(j.checks) / d).toFixed(1)} per ${unit}`);
  for (const [k, v] of [...j.checks].sort((a, b) => b[1] - a[1])) if (v / d >= 0.5) console.log(`    ${(v / d).toFixed(1).padStart(8)}  ${k}`);
  console.log(`  the other instructions: ${(sum(j.other) / d).toFixed(1)} per ${unit}`);
  for (const [k, v] of [...j.other].sort((a, b) => b[1] - a[1])) if (v / d >= 0.5) console.log(`    ${(v / d).toFixed(1).padStart(8)}  ${k}`);
}

// ---------------------------------------------------------------------------
// Command line

function arg(argv: string[], k: string): string | undefined {
  const i = argv.indexOf(k);
  return i >= 0 ? argv[i + 1] : undefined;
}

function main(argv: string[]): void {
  const cg = arg(argv, '--join-callgrind');
  if (cg !== undefined) {
    const code = arg(argv, '--code');
    if (code === undefined) throw new Error('--join-callgrind needs --code LISTING (node --print-opt-code output of the same process)');
    const ir = parseCallgrindInstr(readFileSync(cg, 'utf8'));
    const codes = parseOptCode(readFileSync(code, 'utf8'));
    const per = arg(argv, '--per');
    for (const fn of (arg(argv, '--fn') ?? 'freeArea').split(',')) {
      const j = joinFunction(ir, codes, fn);
      if (j === undefined) console.log(`== ${fn}: no optimised code in the listing`);
      else printJoined(j, per === undefined ? undefined : Number(per));
    }
    return;
  }
  const prof = arg(argv, '--summarize');
  const win = arg(argv, '--windows');
  if (prof !== undefined) {
    if (win === undefined) throw new Error('--summarize needs --windows FILE (written by the run)');
    const lines = (arg(argv, '--lines') ?? 'freeArea,chunkRefreshHint,allocOffset,allocArea').split(',');
    printSummary(summarize(JSON.parse(readFileSync(prof, 'utf8')) as CpuProfile, JSON.parse(readFileSync(win, 'utf8')) as number[], lines));
    return;
  }
  const ver = arg(argv, '--ver') as Version;
  if (!(VERSIONS as readonly string[]).includes(ver)) throw new Error(`--ver: one of ${VERSIONS.join(', ')}`);
  const skip = (arg(argv, '--skip') ?? 'none') as Skip;
  if (!['none', 'free', 'all'].includes(skip)) throw new Error('--skip: none, free or all');
  const reps = Number(arg(argv, '--reps') ?? 8);
  if (!Number.isInteger(reps) || reps < 0) throw new Error('--reps: a whole number');
  const windows: number[] | undefined = win === undefined ? undefined : [];
  const r = profileRun(arg(argv, '--workload') ?? 'W1a', ver, reps, skip, windows);
  if (win !== undefined) writeFileSync(win, JSON.stringify(windows));
  process.stdout.write(JSON.stringify(r) + '\n');
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`profile-phase: ${(e as Error).message}\n`);
    process.exit(2);
  }
}
