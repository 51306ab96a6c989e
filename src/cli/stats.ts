/**
 * The allocator state at a point of a replay — of a golden file (after N ops)
 * or of a tracefs trace (after N events, simulated with `percpu replay`'s
 * whole-allocator model) — as percpu_stats text or as chunk snapshots for maps.
 */
import { readInputText } from '../io.js';
import { parseGolden } from '../golden/format.js';
import { replayGolden } from '../golden/replay.js';
import { UnsupportedError } from '../errors.js';
import { BitmapAllocator } from '../engine/bitmap-allocator.js';
import type { PercpuAllocator } from '../allocator.js';
import { parseTraceText } from '../trace/parse.js';
import { replayTrace } from '../trace/replay.js';
import { geometryFromStats, parsePercpuStats } from '../trace/stats-parse.js';
import { snapshotChunks, type ChunkSnapshot } from '../viz/allocator-map.js';

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
  /** What the input says it is: a golden file's workload header (empty for a trace). */
  workload: string;
}

function capture(a: PercpuAllocator, kernel: string, replayed: number, workload = ''): StateAt {
  return { statsText: a.formatStats(), chunks: a instanceof BitmapAllocator ? snapshotChunks(a) : undefined, kernel, replayed, workload };
}

export function stateAt(path: string, options: StatsOptions): StateAt {
  const name = path === '-' ? '<stdin>' : path;
  const text = readInputText(path);
  if (text.startsWith('# percpu-golden')) {
    const golden = parseGolden(text, name);
    const r = replayGolden(golden, {
      ...(options.kernel !== undefined ? { kernel: options.kernel } : {}),
      ...(options.at !== undefined ? { limit: options.at } : {}),
      fixed: options.fixed ?? false,
    });
    if (r.skipped || r.allocator === undefined) throw new UnsupportedError(`${path}: kernel ${r.kernel} is not implemented`);
    return capture(r.allocator, String(r.kernel), r.opsRun, golden.header.workload);
  }
  if (!options.stats) throw new UnsupportedError(`${path} is a trace: give the traced machine's percpu_stats with --stats (for its geometry)`);
  const trace = parseTraceText(text, name);
  const geometry = geometryFromStats(parsePercpuStats(readInputText(options.stats), options.stats), trace.preamble.nrCpus !== undefined ? { nrUnits: trace.preamble.nrCpus } : {});
  const kernel = options.kernel ?? '7.0';
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
  return state ?? capture(r.simulation, kernel, seen);
}

export function statsAfterReplay(path: string, options: StatsOptions): string {
  return stateAt(path, options).statsText;
}
