// SPDX-License-Identifier: GPL-2.0-only
/**
 * `percpu bench`: the command around `bench/suite.ts` — every allocator side
 * by side on the oracle workloads, a progress bar on a terminal, the table with
 * its ratios (or `--json`, or Markdown), and on request the SVG charts of
 * docs/BENCHMARKS.md. Loaded only when the command runs (main.ts imports it
 * lazily), so the other commands never load the benchmark code.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { InputError, UsageError } from '../errors.js';
import { assertWritable, makeOutputDir, readSmallText, writeOutput } from '../formats/input.js';
import { progress } from './progress.js';
import { defaultOptions, runSuite, suiteSteps, type SuiteFile, type SuiteOptions } from '../../bench/suite.js';
import { formatSuite } from '../../bench/suite-format.js';
import { ALL_ALLOCATORS, type AllocatorName } from '../../bench/allocators.js';
import { ALL_WORKLOADS, goldenWorkloadPath } from '../../bench/workloads.js';
import { benchSvgFiles } from '../tools/viz/bench-charts.js';
import { formatOracle, ORACLE_VERSIONS, ORACLE_WORKLOADS, runOracle, type OracleFile, type OracleOptions } from '../../bench/c-oracle.js';

export interface BenchCommandOptions {
  quick?: boolean;
  json?: boolean;
  markdown?: boolean;
  runs?: string;
  only?: string;
  allocators?: string;
  cap?: string;
  phaseCap?: string;
  metadata?: boolean;
  from?: string;
  out?: string;
  svg?: string;
  cOracle?: string;
  gcCheck?: string;
}

function list(v: string | undefined): string[] | undefined {
  return v === undefined ? undefined : v.split(',').map((x) => x.trim()).filter((x) => x !== '');
}

function positive(v: string, flag: string, integer: boolean): number {
  const x = Number(v);
  if (!(x > 0) || (integer && !Number.isInteger(x))) throw new UsageError(`${flag} takes a positive ${integer ? 'integer' : 'number'}, got "${v}"`);
  return x;
}

/** Command-line options to suite options; every check happens before anything runs. */
export function suiteOptions(o: BenchCommandOptions): SuiteOptions {
  const s = defaultOptions(o.quick ?? false);
  if (o.runs !== undefined) s.runs = positive(o.runs, '--runs', true);
  if (o.cap !== undefined) s.w1xCapS = positive(o.cap, '--cap', false);
  if (o.phaseCap !== undefined) s.phaseCapS = positive(o.phaseCap, '--phase-cap', false);
  if (o.metadata === false) s.metadata = false;
  const only = list(o.only);
  if (only) {
    for (const w of only) if (!ALL_WORKLOADS.includes(w)) throw new UsageError(`unknown workload "${w}" (known: ${ALL_WORKLOADS.join(', ')})`);
    s.workloads = ALL_WORKLOADS.filter((w) => only.includes(w));
  }
  const allocs = list(o.allocators);
  if (allocs) {
    for (const a of allocs) if (!(ALL_ALLOCATORS as readonly string[]).includes(a)) throw new UsageError(`unknown allocator "${a}" (known: ${ALL_ALLOCATORS.join(', ')})`);
    s.allocators = ALL_ALLOCATORS.filter((a) => allocs.includes(a)) as AllocatorName[];
  }
  return s;
}

/** `--c-oracle` options to oracle options (checked before anything runs). */
export function oracleOptions(o: BenchCommandOptions): OracleOptions {
  for (const [flag, v] of [['--from', o.from], ['--svg', o.svg], ['--quick', o.quick], ['--cap', o.cap], ['--phase-cap', o.phaseCap]] as const) {
    if (v !== undefined) throw new UsageError(`${flag} does not go with --c-oracle (the C runs full size, every phase measured)`);
  }
  const rounds = o.runs !== undefined ? positive(o.runs, '--runs', true) : 3;
  const only = list(o.only);
  if (only) for (const w of only) if (!ORACLE_WORKLOADS.includes(w)) throw new UsageError(`unknown workload "${w}" for --c-oracle (the C knows: ${ORACLE_WORKLOADS.join(', ')})`);
  const allocs = list(o.allocators);
  if (allocs) for (const a of allocs) if (!(ORACLE_VERSIONS as readonly string[]).includes(a)) throw new UsageError(`--c-oracle times ${ORACLE_VERSIONS.join(' and ')} only, not "${a}"`);
  let steadyN: number | undefined;
  if (o.gcCheck !== undefined) {
    steadyN = Number(o.gcCheck);
    if (!Number.isInteger(steadyN) || steadyN < 0) throw new UsageError(`--gc-check takes a whole number of objects (0 skips the check), got "${o.gcCheck}"`);
  }
  return {
    dir: o.cOracle!,
    rounds,
    versions: allocs ? ORACLE_VERSIONS.filter((v) => allocs.includes(v)) : [...ORACLE_VERSIONS],
    workloads: only ? ORACLE_WORKLOADS.filter((w) => only.includes(w)) : ORACLE_WORKLOADS,
    ...(steadyN !== undefined ? { steadyN } : {}),
  };
}

/** `percpu bench --c-oracle <dir>`: the same-run table against the kernel's C. */
export function runOracleCommand(o: BenchCommandOptions, write: (s: string) => void): OracleFile {
  if (o.out !== undefined) assertWritable(o.out, '--out');
  const opts = oracleOptions(o);
  const bar = progress(opts.rounds * opts.workloads.length * opts.versions.length * 2, 'bench --c-oracle');
  const file = runOracle(opts, (done, _total, label) => bar.update(done, label));
  bar.done();
  if (o.out !== undefined) writeOutput(o.out, JSON.stringify(file, null, 1) + '\n', '--out');
  write(o.json ? JSON.stringify(file, null, 1) + '\n' : formatOracle(file, o.markdown ?? false));
  return file;
}

export async function runBenchCommand(o: BenchCommandOptions, write: (s: string) => void): Promise<SuiteFile | OracleFile> {
  if (o.cOracle !== undefined) return runOracleCommand(o, write);
  if (o.gcCheck !== undefined) throw new UsageError('--gc-check goes with --c-oracle');
  let file: SuiteFile;
  if (o.out !== undefined) assertWritable(o.out, '--out');
  if (o.from !== undefined) {
    file = await readSavedSuite(o.from);
  } else {
    const s = suiteOptions(o);
    // W7/W8 replay two golden files (2.7 MB) that the npm package leaves out (kept under 1 MB).
    const missing = s.workloads.filter((w) => (w === 'W7' || w === 'W8') && !existsSync(goldenWorkloadPath(w)));
    if (missing.length > 0) throw new InputError(goldenWorkloadPath(missing[0] as 'W7' | 'W8'), `not found: ${missing.join(' and ')} replay golden files that ship with the repository, not the npm package`, 'run the bench from a clone, or leave them out with --only');
    const bar = progress(suiteSteps(s), 'bench');
    file = await runSuite(
      s,
      (done, _total, label) => bar.update(done, label),
      (line) => process.stderr.write(line + '\n'),
    );
    bar.done();
  }
  if (o.out !== undefined) writeOutput(o.out, JSON.stringify(file, null, 1) + '\n', '--out');
  if (o.svg !== undefined) {
    makeOutputDir(o.svg, '--svg');
    for (const [name, svg] of benchSvgFiles(file)) writeOutput(join(o.svg, name), svg + '\n', '--svg');
  }
  write(o.json ? JSON.stringify(file, null, 1) + '\n' : formatSuite(file, o.markdown ?? false));
  return file;
}

/** The `--json` output of an earlier run, or an `InputError` saying why it is not one. */
async function readSavedSuite(path: string): Promise<SuiteFile> {
  const text = await readSmallText(path);
  let file: SuiteFile;
  try {
    file = JSON.parse(text) as SuiteFile;
  } catch (e) {
    throw new InputError(path, `not JSON: ${String((e as Error).message).slice(0, 80)}`, 'give a file written by percpu bench --json or --out');
  }
  if (file === null || typeof file !== 'object' || !Array.isArray(file.results)) {
    throw new InputError(path, 'not the --json output of percpu bench (no "results" list)', 'give a file written by percpu bench --json or --out');
  }
  file.metadata ??= [];
  return file;
}
