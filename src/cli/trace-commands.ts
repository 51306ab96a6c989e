// SPDX-License-Identifier: GPL-2.0-only
/**
 * The real-kernel trace commands of the `percpu` CLI:
 *
 *   verify-trace TRACE…   per-chunk replay of every chunk created in the traces
 *   replay TRACE          whole-allocator simulation driven by one trace
 *   capture -- COMMAND…   record a trace (root, tracefs) around a command
 *
 * This module only turns flags into options and results into output and exit
 * codes; the work is in `src/tools/replay/` and `src/formats/`.
 */
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { PercpuError } from '../errors.js';
import { makeOutputDir, writeOutput } from '../formats/input.js';
import type { ParsedTrace } from '../formats/trace.js';
import type { PercpuStatsFile } from '../formats/stats-parse.js';
import { kernelOption } from './exit.js';
import type { BalancePolicy } from '../tools/replay/trace.js';
import type { TraceVerification } from '../tools/replay/verify-trace.js';
import type { GeometryInput } from '../engine/geometry.js';
import type * as TraceTools from './trace-tools.js';

// The trace code loads when a trace command runs, not with the CLI (main.ts registers these commands at start).
let tools: typeof TraceTools;
const loadTools = async (): Promise<typeof TraceTools> => (tools ??= await import('./trace-tools.js'));

const out = (l: string) => process.stdout.write(l + '\n');

function intArg(flag: string, min = 0): (v: string) => number {
  return (v: string) => {
    if (!/^\d+$/.test(v) || Number(v) < min) throw new PercpuError('EPARSE', `${flag} takes an integer >= ${min}, got "${v}"`);
    return Number(v);
  };
}

/** `--outside-empty-pages`: a page count, or `auto` (from the snapshots, see `outsideCounts`). */
function outsideArg(v: string): number | 'auto' {
  if (v === 'auto') return 'auto';
  return intArg('--outside-empty-pages')(v);
}

const OUTSIDE_HELP =
  'empty populated pages of the chunks that existed before tracing, counted in the simulation\'s global count: N throughout, or auto (default): ' +
  'the before-snapshot\'s global empty_pop_pages when tracing began, moving linearly in trace time to what the after-snapshot shows for those chunks';

/** Given (`--outside-empty-pages N`), or from the snapshots (`auto`, see `outsideFromSnapshots`). */
function outsideCounts(given: number | 'auto' | undefined, v: TraceVerification, before: PercpuStatsFile | undefined, after: PercpuStatsFile | undefined): { outsideEmptyPages: number; outsideEmptyPagesEnd: number } {
  if (typeof given === 'number') return { outsideEmptyPages: given, outsideEmptyPagesEnd: given };
  return tools.outsideFromSnapshots(v, before, after);
}

function readStats(path: string): Promise<PercpuStatsFile> {
  return tools.readPercpuStatsFile(path);
}

/** Empty or reordered traces vouch for nothing: warn (on stderr) and make the exit code 1. */
function warnDefects(trace: ParsedTrace): boolean {
  const d = tools.traceDefects(trace);
  for (const w of d) process.stderr.write(`percpu: warning: ${w}\n`);
  return d.length > 0;
}

interface GeometryFlags {
  unitSize?: number;
  pageSize?: number;
  nrUnits?: number;
  stats?: string;
}

async function unitSizeOf(opts: GeometryFlags): Promise<number> {
  if (opts.unitSize !== undefined) return opts.unitSize;
  if (opts.stats !== undefined) return (await readStats(opts.stats)).allocInfo.unitSize;
  throw new PercpuError('EPARSE', 'the unit size is needed: pass --unit-size BYTES or --stats FILE (a percpu_stats snapshot of the traced machine)');
}

/** What percpu_stats counted between two snapshots vs. what the trace holds. */
export function eventCountCheck(trace: ParsedTrace, before: PercpuStatsFile, after: PercpuStatsFile, provenLostFrees = 0, provenLostAllocs = 0): string[] {
  const allocs = after.global.nrAlloc - before.global.nrAlloc;
  const frees = after.global.nrDealloc - before.global.nrDealloc;
  const ta = trace.counts[tools.TraceEventKind.Alloc]!;
  const tf = trace.counts[tools.TraceEventKind.Free]!;
  const lines = [`percpu_stats between the snapshots: nr_alloc +${allocs} (trace: ${ta} alloc events), nr_dealloc +${frees} (trace: ${tf} free events)`];
  if (allocs > ta) {
    lines.push(
      `  ${allocs - ta} alloc event(s) are missing from the trace (or happened outside it); ${provenLostAllocs} lost alloc(s) were proven by frees of empty offsets in chunks created during the trace`,
    );
  }
  if (frees > tf) {
    lines.push(
      `  ${frees - tf} free event(s) are missing from the trace (or happened outside it); ${provenLostFrees} lost free(s) were proven by reused bytes in chunks created during the trace`,
    );
  }
  if (allocs < ta || frees < tf) lines.push('  the trace holds more events than the snapshots counted: they were not taken around this trace');
  return lines;
}

/** Registers verify-trace, replay and capture. */
export function registerTraceCommands(program: Command): void {
  registerVerifyTrace(program);
  registerReplay(program);
  registerCapture(program);
}

/** `verify-trace` flags. */
type VerifyTraceFlags = GeometryFlags & {
  json?: boolean;
  statsBefore?: string;
  outsideEmptyPages?: number | 'auto';
  kernel: string;
  correct: boolean;
  windowUs: number;
  writeGolden?: string;
  label?: string;
  quiet?: boolean;
};

function registerVerifyTrace(program: Command): void {
  program
    .command('verify-trace')
    .description(
      'replay the history of every chunk created in real-kernel traces (tracefs text; plain, gzip or xz) and compare each placement ' +
        'and each failed allocation; a proven lost event cuts its chunk\'s history (exit 0: all comparable decisions matched, 1: some differ)',
    )
    .argument('<traces...>', 'trace files (- for stdin)')
    .option('--unit-size <bytes>', 'unit size of the traced machine', intArg('--unit-size', 4096))
    .option('--stats <file>', 'percpu_stats taken after the trace (gives the unit size): each replayed chunk alive at the end is compared with it, field by field')
    .option('--stats-before <file>', 'percpu_stats taken before the trace: cross-check the event counts (lost events)')
    .option('--outside-empty-pages <n|auto>', OUTSIDE_HELP, outsideArg)
    .option('--page-size <bytes>', 'page size', intArg('--page-size', 4096), 4096)
    .option('--nr-units <n>', 'units per chunk (default: the trace header #P)', intArg('--nr-units', 1))
    .addOption(new Option('--kernel <version>', 'profile to replay with').default('7.0').argParser(kernelOption))
    .option('--no-correct', 'do not look for trace-order corrections')
    .option('--window-us <us>', 'largest time gap a trace-order correction may swap', intArg('--window-us'), 10)
    .option('--write-golden <dir>', 'write each chunk history as a golden file (<workload>.c<N>.golden)')
    .option('--label <text>', 'text before "trace" in the golden files\' workload line (e.g. "Linux 6.18")')
    .option('-q, --quiet', 'print only failing chunks and the summaries')
    .option('--json', 'print the results as JSON (docs/JSON.md)')
    .action(runVerifyTrace);
}

/** Totals over the traces verify-trace was given. */
interface VerifyTotals {
  placements: number;
  matched: number;
  failMismatches: number;
  failChecks: number;
  statsDiffering: number;
  defective: boolean;
}

async function runVerifyTrace(traces: string[], opts: VerifyTraceFlags): Promise<void> {
  const { toJson } = await loadTools();
  const unitSize = await unitSizeOf(opts);
  const print = opts.json ? () => {} : out;
  const docs: Record<string, unknown>[] = [];
  if (opts.statsBefore && !opts.stats) throw new PercpuError('EPARSE', '--stats-before needs --stats (the snapshot taken after the trace)');
  if (opts.statsBefore && traces.length !== 1) throw new PercpuError('EPARSE', '--stats-before and --stats describe one trace: give exactly one');
  if (opts.writeGolden) makeOutputDir(opts.writeGolden, '--write-golden');
  const t: VerifyTotals = { placements: 0, matched: 0, failMismatches: 0, failChecks: 0, statsDiffering: 0, defective: false };
  for (const path of traces) docs.push(await verifyOneTrace(path, traces.length, unitSize, opts, print, t));
  const { placements, matched, failChecks, failMismatches, statsDiffering } = t;
  print(`placements: matched ${matched}/${placements}` + (failChecks > 0 ? `; failed allocations: ${failMismatches} mismatch(es) in ${failChecks} check(s)` : ''));
  process.exitCode = matched === placements && failMismatches === 0 && statsDiffering === 0 && !t.defective ? 0 : 1;
  if (opts.json) out(toJson({ command: 'verify-trace', schema: 1, traces: docs, placements, matched, failChecks, failMismatches, statsDiffering, exitCode: process.exitCode }));
}

/** Verifies one trace: its report, its stats comparison and event-count check, its golden files; returns its JSON document and adds to the totals. */
async function verifyOneTrace(path: string, nTraces: number, unitSize: number, opts: VerifyTraceFlags, print: (l: string) => void, t: VerifyTotals): Promise<Record<string, unknown>> {
  const { describeTrace, parseTraceFile, verifyTraceJson, formatTraceVerification, verifyParsedTrace } = await loadTools();
  const trace = await parseTraceFile(path);
  describeTrace(trace).forEach(print);
  if (warnDefects(trace)) t.defective = true;
  const nrUnits = opts.nrUnits ?? trace.preamble.nrCpus ?? 1;
  const v = verifyParsedTrace(trace, { unitSize, pageSize: opts.pageSize, nrUnits, kernel: opts.kernel, correct: opts.correct, windowUs: opts.windowUs });
  formatTraceVerification(v, { quiet: opts.quiet ?? false }).forEach(print);
  if (v.verified.length === 0) print(`${v.workload}: no chunk was created during this trace, so no placement could be checked`);
  const doc = verifyTraceJson(v);
  if (opts.stats && nTraces === 1) {
    if (await compareStatsAfter(trace, v, nrUnits, opts, print)) t.statsDiffering++;
  } else if (opts.stats) {
    print(`${v.workload}: percpu_stats not compared: --stats is one snapshot, taken after one trace; give a single trace to compare its chunk sections`);
  }
  if (opts.statsBefore && opts.stats) {
    const provenFrees = v.verified.reduce((a, c) => a + c.instance.lostFrees.length + c.instance.liveAtDestroy.length, 0);
    const provenAllocs = v.verified.reduce((a, c) => a + c.instance.lostAllocs.length, 0);
    const check = eventCountCheck(trace, await readStats(opts.statsBefore), await readStats(opts.stats), provenFrees, provenAllocs);
    check.forEach(print);
    doc.eventCountCheck = check;
  }
  if (opts.writeGolden) await writeChunkGoldens(v, opts.writeGolden, unitSize, nrUnits, opts, print);
  t.placements += v.placements;
  t.matched += v.matched;
  t.failMismatches += v.fails.mismatched;
  t.failChecks += v.fails.checks;
  return doc;
}

/** verify-trace --stats: the whole-trace replay's chunk sections against the after-snapshot; whether any differ. */
async function compareStatsAfter(trace: ParsedTrace, v: TraceVerification, nrUnits: number, opts: VerifyTraceFlags, print: (l: string) => void): Promise<boolean> {
  const { replayTrace, geometryFromStats, compareWithSnapshot, formatStatsComparison, statsDiffer } = await loadTools();
  const after = await readStats(opts.stats!);
  const geometry = geometryFromStats(after, { pageSize: opts.pageSize, nrUnits });
  const before = opts.statsBefore ? await readStats(opts.statsBefore) : undefined;
  const r = replayTrace(trace, { geometry, kernel: opts.kernel, verification: v, ...outsideCounts(opts.outsideEmptyPages, v, before, after) });
  const cmp = compareWithSnapshot(r, after, opts.stats!);
  formatStatsComparison(cmp, v.workload).forEach(print);
  return statsDiffer(cmp);
}

/** verify-trace --write-golden: each chunk history as a golden file. */
async function writeChunkGoldens(v: TraceVerification, dir: string, unitSize: number, nrUnits: number, opts: VerifyTraceFlags, print: (l: string) => void): Promise<void> {
  const { formatChunkGolden } = await loadTools();
  for (const c of v.verified) {
    const file = join(dir, `${v.workload}.c${c.instance.number}.golden`);
    writeOutput(file, formatChunkGolden(v, c, { unitSize, pageSize: opts.pageSize, nrUnits, kernelLabel: opts.kernel, ...(opts.label ? { label: opts.label } : {}) }), '--write-golden');
  }
  print(`wrote ${v.verified.length} golden file(s) to ${dir}`);
}

/** `replay` flags. */
type ReplayFlags = GeometryFlags & {
  json?: boolean;
  statsAfter?: string;
  outsideEmptyPages?: number | 'auto';
  staticSize?: number;
  reservedSize?: number;
  dynSize?: number;
  kernel: string;
  balance: BalancePolicy;
  balanceDelayUs?: number;
};

function registerReplay(program: Command): void {
  program
    .command('replay')
    .description('drive a simulated allocator (vm backend) with every event of a trace and report where it and the kernel disagree')
    .argument('<trace>', 'trace file (plain, gzip or xz; - for stdin)')
    .option('--stats <file>', 'percpu_stats snapshot of the traced machine taken before the trace (gives the whole geometry, and the pre-existing chunks\' empty pages when tracing began)')
    .option('--stats-after <file>', 'percpu_stats taken after the trace: compare each replayed chunk section with it, field by field')
    .option('--outside-empty-pages <n|auto>', OUTSIDE_HELP, outsideArg)
    .option('--unit-size <bytes>', 'unit size (without --stats)', intArg('--unit-size', 4096))
    .option('--static-size <bytes>', 'static region of the first chunk (without --stats)', intArg('--static-size'))
    .option('--reserved-size <bytes>', 'reserved region (without --stats)', intArg('--reserved-size'))
    .option('--dyn-size <bytes>', 'dynamic region of the first chunk (without --stats)', intArg('--dyn-size', 4))
    .option('--page-size <bytes>', 'page size', intArg('--page-size', 4096), 4096)
    .option('--nr-units <n>', 'units per chunk (default: the trace header #P)', intArg('--nr-units', 1))
    .addOption(new Option('--kernel <version>', 'profile to simulate').default('7.0').argParser(kernelOption))
    .addOption(new Option('--balance <mode>', 'when the simulation runs its balance work: at the moments the trace implies and at its end (deferred), right after every op that schedules it (sync), or never').choices(['deferred', 'sync', 'none']).default('deferred'))
    .option('--balance-delay-us <us>', 'deferred: a scheduled balance work has run once the trace clock moved on this long (0: only at the implied moments)', intArg('--balance-delay-us'))
    .option('--json', 'print the results as JSON (docs/JSON.md)')
    .action(runReplay);
}

async function runReplay(path: string, opts: ReplayFlags): Promise<void> {
  const { describeTrace, parseTraceFile, formatTraceReplay, replayTrace, verifyParsedTrace, replayJson, toJson, compareWithSnapshot, formatStatsComparison, statsDiffer } = await loadTools();
  const print = opts.json ? () => {} : out;
  const trace = await parseTraceFile(path);
  describeTrace(trace).forEach(print);
  const defective = warnDefects(trace);
  const nrUnits = opts.nrUnits ?? trace.preamble.nrCpus ?? 1;
  const before = opts.stats ? await readStats(opts.stats) : undefined;
  const after = opts.statsAfter ? await readStats(opts.statsAfter) : undefined;
  const geometry = await replayGeometry(opts, before, nrUnits);
  const verification = verifyParsedTrace(trace, { unitSize: geometry.unitSize, pageSize: geometry.pageSize ?? 4096, nrUnits, kernel: opts.kernel });
  const r = replayTrace(trace, {
    geometry,
    kernel: opts.kernel,
    balance: opts.balance,
    verification,
    ...outsideCounts(opts.outsideEmptyPages, verification, before, after),
    ...(opts.balanceDelayUs !== undefined ? { balanceDelayUs: opts.balanceDelayUs } : {}),
  });
  const g = geometry;
  const text =
    `kernel ${opts.kernel}, vm backend, balance ${opts.balance}; unit_size=${g.unitSize} static_size=${g.staticSize ?? 0} ` +
    `reserved_size=${g.reservedSize ?? 0} dyn_size=${g.dynSize ?? 'default'} page_size=${g.pageSize ?? 4096}`;
  formatTraceReplay(r, text).forEach(print);
  let statsDiffering = false;
  if (opts.statsAfter) {
    const cmp = compareWithSnapshot(r, after!, opts.statsAfter);
    formatStatsComparison(cmp, r.verification.workload).forEach(print);
    statsDiffering = statsDiffer(cmp);
  }
  const disagreements = r.mismatched.chunk + r.mismatched.offset + r.mismatched.refused + r.mismatched.failed;
  process.exitCode = disagreements === 0 && !statsDiffering && !defective ? 0 : 1;
  if (opts.json) out(toJson({ ...replayJson(r, opts.kernel, { ...g }), statsDiffering, exitCode: process.exitCode }));
}

/** The replay's geometry: the before-snapshot's (a --unit-size given too must agree), or the flags'. */
async function replayGeometry(opts: ReplayFlags, before: PercpuStatsFile | undefined, nrUnits: number): Promise<GeometryInput> {
  const { geometryFromStats } = await loadTools();
  if (before) {
    const geometry: GeometryInput = { ...geometryFromStats(before, { pageSize: opts.pageSize, nrUnits }) };
    if (opts.unitSize !== undefined && opts.unitSize !== geometry.unitSize) {
      throw new PercpuError('EPARSE', `--unit-size ${opts.unitSize} contradicts the unit size ${geometry.unitSize} of ${opts.stats}`);
    }
    return geometry;
  }
  return {
    unitSize: await unitSizeOf(opts),
    pageSize: opts.pageSize,
    nrUnits,
    ...(opts.staticSize !== undefined ? { staticSize: opts.staticSize } : {}),
    ...(opts.reservedSize !== undefined ? { reservedSize: opts.reservedSize } : {}),
    ...(opts.dynSize !== undefined ? { dynSize: opts.dynSize } : {}),
  };
}

function registerCapture(program: Command): void {
  program
    .command('capture')
    .description('record the five percpu tracepoints while COMMAND runs (root; tracefs), plus percpu_stats before and after (the after snapshot is taken before the trace is copied)')
    .argument('<command...>', 'the command to run, after --')
    .option('-o, --out <file>', 'trace output (stats go to FILE.before.percpu_stats and FILE.percpu_stats)', 'percpu.trace')
    .option('--buffer-kb <kib>', 'ring buffer size per CPU (default: 128 MiB, less if memory is short)', intArg('--buffer-kb', 64))
    .option('--settle-ms <ms>', 'after the command, wait until no event arrived for this long (deferred frees)', intArg('--settle-ms'), 1000)
    .option('--max-wait-ms <ms>', 'but never longer than this', intArg('--max-wait-ms'), 15000)
    .option('--tracefs <dir>', 'tracing directory (default: /sys/kernel/tracing, then /sys/kernel/debug/tracing)')
    .option('--mount', 'mount tracefs (and debugfs, for percpu_stats) if not mounted, and unmount them afterwards')
    .option('--no-instance', 'use the top-level trace buffer instead of a private tracing instance')
    .action(async (command: string[], opts: { out: string; bufferKb?: number; settleMs: number; maxWaitMs: number; tracefs?: string; mount?: boolean; instance: boolean }) => {
      const { capture, describeTrace, parseTraceFile } = await loadTools();
      const r = await capture({
        out: opts.out,
        command,
        settleMs: opts.settleMs,
        maxWaitMs: opts.maxWaitMs,
        useInstance: opts.instance,
        ...(opts.bufferKb !== undefined ? { bufferKb: opts.bufferKb } : {}),
        ...(opts.tracefs ? { tracefs: [opts.tracefs] } : {}),
        ...(opts.mount ? { mount: true } : {}),
        log: (l) => process.stderr.write(`percpu capture: ${l}\n`),
      });
      const trace = await parseTraceFile(r.out);
      const wrote = [r.out, r.statsBefore, r.statsAfter].filter((x) => x !== undefined).join(', ');
      out(`wrote ${wrote} (${r.bytes} bytes of trace, copied in ${r.copyMs.toFixed(0)} ms after the "after" percpu_stats snapshot)`);
      describeTrace(trace).forEach(out);
      if (r.restoreFailures.length > 0) out(`WARNING: ${r.restoreFailures.length} tracing setting(s) could not be restored (see above)`);
      process.exitCode = r.interrupted ? 130 : r.restoreFailures.length > 0 ? 1 : r.exitCode;
    });
}
