// SPDX-License-Identifier: GPL-2.0-only
/**
 * `percpu doctor FILE…`: percpu_stats snapshots (saved or `--live`), golden
 * chunk histories and tracefs traces, each checked for what a consistent
 * allocator cannot show, with explanations (see src/tools/doctor.ts). Each input is
 * read once, as a stream; its first line says which kind it is.
 */
import { GoldenCollector, GoldenParser, parseGolden, type GoldenFile } from '../formats/golden.js';
import { diagnoseHistory, explainInconsistency, formatDiagnosis } from '../tools/doctor.js';
import { parsePercpuStats, statsInconsistencies, geometryFromStats } from '../formats/stats-parse.js';
import { readPercpuStatsFile } from '../formats/files.js';
import { traceDefects, TraceParser, type ParsedTrace } from '../formats/trace.js';
import { verifyParsedTrace, formatChunkGolden } from '../tools/replay/verify-trace.js';
import { readLiveStats } from '../tools/capture/live-stats.js';
import { UsageError } from '../errors.js';
import { displayName, readLinesBy } from '../formats/input.js';
import { EXIT_DIFFERS, EXIT_OK } from './exit.js';
import { toJson } from './json.js';

export interface DoctorOptions {
  live?: boolean;
  mount?: boolean;
  unitSize?: number;
  /** percpu_stats of the traced machine, for a trace's geometry. */
  stats?: string;
  /** Report every chunk of a trace, not only those where something went stale. */
  all?: boolean;
  json?: boolean;
}

type Kind = 'stats' | 'golden' | 'trace';

/** One examined input (the `inputs[]` entries of `--json`, docs/JSON.md). */
export interface DoctorInput {
  name: string;
  kind: Kind;
  /** Inconsistencies, stale hints, or trace defects found. */
  findings: number;
  /** The report as printed, one entry per line. */
  lines: string[];
}

type Loaded = { kind: 'stats'; text: string } | { kind: 'golden'; file: GoldenFile } | { kind: 'trace'; trace: ParsedTrace };

/** Read one input in one pass, as whatever its first line says it is. */
async function load(path: string): Promise<Loaded> {
  const name = displayName(path);
  let golden: { parser: GoldenParser; sink: GoldenCollector } | undefined;
  let trace: TraceParser | undefined;
  const stats: string[] = [];
  let kind = 'trace' as Kind;
  await readLinesBy(path, (first) => {
    if (first.startsWith('Percpu Memory Statistics')) {
      kind = 'stats';
      return (line) => void stats.push(line);
    }
    if (first.startsWith('# percpu-golden')) {
      kind = 'golden';
      const sink = new GoldenCollector();
      golden = { parser: new GoldenParser(name, sink), sink };
      return (line, n) => golden!.parser.line(line, n);
    }
    trace = new TraceParser(name);
    return (line) => trace!.pushLine(line);
  });
  if (kind === 'stats') return { kind, text: stats.join('\n') + '\n' };
  if (golden !== undefined) {
    golden.parser.finish();
    return { kind: 'golden', file: golden.sink.file(name) };
  }
  return { kind: 'trace', trace: (trace ?? new TraceParser(name)).finish() };
}

/** Examine every input; returns what was found, per input. */
export async function examine(paths: string[], options: DoctorOptions): Promise<DoctorInput[]> {
  const out: DoctorInput[] = [];
  if (options.live) {
    const lines: string[] = [];
    const text = readLiveStats({ mount: options.mount ?? false, log: (l) => lines.push(l) });
    out.push(doctorStats('live /sys/kernel/debug/percpu_stats', text, lines));
  }
  for (const p of paths) {
    const name = displayName(p);
    const input = await load(p);
    const lines: string[] = [];
    if (input.kind === 'stats') out.push(doctorStats(name, input.text, lines));
    else if (input.kind === 'golden') {
      const d = diagnoseHistory(input.file);
      out.push({ name, kind: 'golden', findings: d.firstStale ? 1 : 0, lines: formatDiagnosis(d) });
    } else out.push(await doctorTrace(input.trace, options));
  }
  if (out.length === 0) throw new UsageError('nothing to examine: give files (percpu_stats, golden chunk histories, traces) or --live');
  return out;
}

/** Returns the number of findings (inconsistencies, stale hints). */
export async function runDoctor(paths: string[], options: DoctorOptions, write: (l: string) => void): Promise<number> {
  const inputs = await examine(paths, options);
  let findings = 0;
  for (const i of inputs) {
    i.lines.forEach((l) => write(l));
    write('');
    findings += i.findings;
  }
  write(findings ? `${findings} finding${findings === 1 ? '' : 's'}` : 'nothing found that a consistent allocator could not show');
  return findings;
}

/** The `doctor` subcommand: its exit code. */
export async function doctorCommand(paths: string[], options: DoctorOptions, write: (l: string) => void): Promise<number> {
  if (!options.json) return (await runDoctor(paths, options, write)) ? EXIT_DIFFERS : EXIT_OK;
  const inputs = await examine(paths, options);
  const findings = inputs.reduce((a, i) => a + i.findings, 0);
  write(toJson({ command: 'doctor', schema: 1, inputs, findings }));
  return findings ? EXIT_DIFFERS : EXIT_OK;
}

function doctorStats(name: string, text: string, lines: string[]): DoctorInput {
  const s = parsePercpuStats(text, name);
  const problems = statsInconsistencies(s);
  lines.push(`${name}: percpu_stats (${s.layout === '4.13' ? '4.13' : '4.14 and later'} layout), ${s.chunks.length} chunks, ${s.global.nrCurAlloc} live allocations`);
  if (problems.length === 0) lines.push('  consistent');
  for (const p of problems) {
    lines.push(`  IMPOSSIBLE: ${p}`);
    const why = explainInconsistency(p, s.layout);
    if (why) lines.push(`    why: ${why}`);
  }
  return { name, kind: 'stats', findings: problems.length, lines };
}

async function doctorTrace(trace: ParsedTrace, options: DoctorOptions): Promise<DoctorInput> {
  const name = trace.name;
  let unitSize = options.unitSize;
  if (unitSize === undefined && options.stats) unitSize = geometryFromStats(await readPercpuStatsFile(options.stats)).unitSize;
  if (unitSize === undefined) throw new UsageError(`${name}: a trace needs the unit size of its machine`, 'pass --unit-size BYTES, or --stats FILE with a percpu_stats of that machine');
  const lines: string[] = [];
  const defects = traceDefects(trace);
  for (const d of defects) lines.push(`  WARNING: ${d}`);
  const v = verifyParsedTrace(trace, { unitSize, kernel: '7.0' });
  lines.unshift(`${name}: ${v.verified.length} chunks created during the trace`);
  let findings = defects.length;
  let stale = 0;
  for (const c of v.verified) {
    const golden = parseGolden(formatChunkGolden(v, c, { unitSize, kernelLabel: '7.0' }), `${name} chunk #${c.instance.number}`);
    const d = diagnoseHistory(golden);
    if (d.firstStale) stale++;
    if (d.firstStale || options.all) lines.push(...formatDiagnosis(d));
  }
  if (stale === 0) lines.push('  no chunk hint went stale in these histories');
  findings += stale;
  return { name, kind: 'trace', findings, lines };
}
