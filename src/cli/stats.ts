// SPDX-License-Identifier: GPL-2.0-only
/**
 * The allocator state at a point of a replay — of a golden file (after N ops)
 * or of a tracefs trace (after N events, simulated with `percpu replay`'s
 * whole-allocator model) — as percpu_stats text or as chunk snapshots for maps.
 * The file is read once, as a stream; its first line says which kind it is.
 */
import { GoldenParser } from '../formats/golden.js';
import { GoldenReplay } from '../tools/replay/golden.js';
import { UnsupportedError, UsageError } from '../errors.js';
import type { PercpuAllocator } from '../engine/allocator.js';
import { traceDefects, TraceParser, type ParsedTrace } from '../formats/trace.js';
import { replayTrace } from '../tools/replay/trace.js';
import { formatPercpuStats, geometryFromStats, parsePercpuStats } from '../formats/stats-parse.js';
import { readPercpuStatsFile } from '../formats/files.js';
import { snapshotChunks, type ChunkSnapshot } from '../tools/viz/allocator-map.js';
import { readLiveStats } from '../tools/capture/live-stats.js';
import { displayName, readLinesBy } from '../formats/input.js';
import { EXIT_DIFFERS, EXIT_OK } from './exit.js';
import { toJson } from './json.js';

export interface StatsOptions {
  at?: number;
  kernel?: string;
  fixed?: boolean;
  /** percpu_stats of the traced machine (a trace's geometry). */
  stats?: string;
}

export interface StateAt {
  statsText: string;
  /** Chunk snapshot (bitmap profiles only). */
  chunks: ChunkSnapshot | undefined;
  kernel: string;
  /** Ops (golden) or events (trace) replayed. */
  replayed: number;
  /** Warnings that make the result vouch for nothing (an empty or reordered trace). */
  warnings: string[];
  /** What the input says it is: a golden file's workload header (empty for a trace). */
  workload: string;
}

function capture(a: PercpuAllocator, kernel: string, replayed: number, workload = ''): StateAt {
  const view = a.bitmapView();
  return { statsText: a.formatStats(), chunks: view ? snapshotChunks(view) : undefined, kernel, replayed, warnings: [], workload };
}

function pastTheEnd(name: string, at: number, total: number, what: string): UsageError {
  return new UsageError(`${name}: --at ${at} is past the end: the file has ${total} ${what}`, `give --at 0..${total}`);
}

export async function stateAt(path: string, options: StatsOptions): Promise<StateAt> {
  const name = displayName(path);
  let replay: GoldenReplay | undefined;
  let golden: GoldenParser | undefined;
  let trace: TraceParser | undefined;
  await readLinesBy(path, (first) => {
    if (first.startsWith('# percpu-golden')) {
      replay = new GoldenReplay(name, {
        ...(options.kernel !== undefined ? { kernel: options.kernel } : {}),
        ...(options.at !== undefined ? { limit: options.at } : {}),
        fixed: options.fixed ?? false,
      });
      golden = new GoldenParser(name, replay);
      return (line, n) => golden!.line(line, n);
    }
    if (!options.stats) throw new UsageError(`${name} is not a golden file, so it is read as a trace: a trace needs the traced machine's percpu_stats`, 'pass --stats FILE (a snapshot of that machine) for its geometry');
    trace = new TraceParser(name);
    return (line) => trace!.pushLine(line);
  });
  if (golden !== undefined && replay !== undefined) {
    golden.finish();
    const r = replay.finish();
    if (r.skipped || r.allocator === undefined) throw new UnsupportedError(`${name}: kernel ${r.kernel} is not implemented`, 'force a profile with --kernel (4.13, 4.14, 7.0)');
    if (options.at !== undefined && options.at > replay.ops) throw pastTheEnd(name, options.at, replay.ops, 'ops');
    return capture(r.allocator, String(r.kernel), r.opsRun, replay.workload);
  }
  if (trace === undefined) throw new UsageError(`${name}: neither a golden file nor a trace`);
  return traceStateAt(trace.finish(), options);
}

async function traceStateAt(trace: ParsedTrace, options: StatsOptions): Promise<StateAt> {
  const stats = await readPercpuStatsFile(options.stats!);
  const geometry = geometryFromStats(stats, trace.preamble.nrCpus !== undefined ? { nrUnits: trace.preamble.nrCpus } : {});
  const kernel = options.kernel ?? '7.0';
  if (options.at !== undefined && options.at > trace.events.length) throw pastTheEnd(trace.name, options.at, trace.events.length, 'percpu events');
  let seen = 0;
  let state: StateAt | undefined;
  const r = replayTrace(trace, {
    kernel,
    fixed: options.fixed ?? false,
    geometry,
    afterEvent: (_seq, sim) => {
      seen++;
      if (options.at !== undefined && seen === options.at) state = capture(sim, kernel, seen);
    },
  });
  const out = state ?? capture(r.simulation, kernel, options.at === 0 ? 0 : seen);
  out.warnings = traceDefects(trace);
  return out;
}

export async function statsAfterReplay(path: string, options: StatsOptions): Promise<string> {
  return (await stateAt(path, options)).statsText;
}

export interface StatsCommandOptions extends StatsOptions {
  live?: boolean;
  mount?: boolean;
  json?: boolean;
}

/** The `stats` subcommand: its exit code. */
export async function statsCommand(file: string | undefined, opts: StatsCommandOptions, write: (s: string) => void): Promise<number> {
  let text: string;
  let meta: { file: string; kernel: string | null; replayed: number | null };
  let warnings: string[] = [];
  if (opts.live) {
    if (file !== undefined) throw new UsageError('--live reads this machine: give no file with it');
    const path = '/sys/kernel/debug/percpu_stats';
    // Through the parser: what is printed is what the tests check.
    text = formatPercpuStats(parsePercpuStats(readLiveStats({ mount: opts.mount ?? false, log: (l) => process.stderr.write(l + '\n') }), path));
    meta = { file: path, kernel: null, replayed: null };
  } else {
    if (file === undefined) throw new UsageError('give a golden file or trace, or --live', 'percpu stats --help shows the options');
    const s = await stateAt(file, opts);
    text = s.statsText;
    warnings = s.warnings;
    meta = { file: displayName(file), kernel: s.kernel, replayed: s.replayed };
  }
  for (const w of warnings) process.stderr.write(`percpu: warning: ${w}\n`);
  if (opts.json) write(toJson({ command: 'stats', schema: 1, ...meta, warnings, stats: parsePercpuStats(text, '<stats>') }) + '\n');
  else write(text);
  return warnings.length ? EXIT_DIFFERS : EXIT_OK;
}
