// SPDX-License-Identifier: GPL-2.0-only
/**
 * `percpu map FILE`: SVG chunk maps of the allocator state after a golden
 * file's or a trace's history (or its first N ops / events), for one profile or
 * two side by side.
 */
import { UnsupportedError, UsageError } from '../errors.js';
import { renderAllocatorMap, renderDiffMap, type ChunkSnapshot } from '../tools/viz/allocator-map.js';
import { assertWritable, displayName, writeOutput } from '../formats/input.js';
import { stateAt } from './stats.js';
import { EXIT_DIFFERS, EXIT_OK, kernelOption } from './exit.js';
import { toJson } from './json.js';

export interface MapOptions {
  at?: number;
  kernel?: string;
  fixed?: boolean;
  chunk?: number;
  /** Two profiles to compare, e.g. "4.14,7.0" or "7.0,7.0-fixed". */
  diff?: string;
  width?: number;
  /** percpu_stats of the traced machine (a trace's geometry). */
  stats?: string;
  /** Every page drawn as its own row (no bands of full, free or hidden pages). */
  full?: boolean;
}

async function chunksAt(path: string, kernel: string | undefined, fixed: boolean, options: MapOptions): Promise<{ chunks: ChunkSnapshot; kernel: string; workload: string; warnings: string[] }> {
  const s = await stateAt(path, { ...(kernel !== undefined ? { kernel } : {}), fixed, ...(options.at !== undefined ? { at: options.at } : {}), ...(options.stats ? { stats: options.stats } : {}) });
  if (s.chunks === undefined) throw new UnsupportedError(`chunk maps are drawn for the bitmap profiles (4.14, 7.0), not ${s.kernel}: the 4.13 area map has no bitmap`);
  return { chunks: s.chunks, kernel: s.kernel, workload: s.workload, warnings: s.warnings };
}

/** The map's caption: file, moment, profile(s), and the golden file's own description. */
function caption(path: string, where: string, what: string, workload: string): string {
  return `${path} ${where}, ${what}${workload ? ` — ${workload}` : ''}`;
}

/** "7.0-fixed" → { kernel: "7.0", fixed: true }. */
export function parseProfileSpec(spec: string): { kernel: string; fixed: boolean } {
  const fixed = spec.endsWith('-fixed');
  return { kernel: kernelOption(fixed ? spec.slice(0, -'-fixed'.length) : spec), fixed };
}

/** What `map` reports besides the SVG (its `--json` output, docs/JSON.md). */
export interface MapSummary {
  file: string;
  /** Ops or events replayed before the snapshot; null = the whole file. */
  at: number | null;
  profiles: string[];
  chunks: number;
  /** With --diff: bytes whose allocated state differs between the two profiles. */
  differingBytes: number | null;
  warnings: string[];
}

export async function mapFromGolden(path: string, options: MapOptions): Promise<{ svg: string; summary: string; data: MapSummary }> {
  const common = { ...(options.chunk !== undefined ? { chunk: options.chunk } : {}), ...(options.width !== undefined ? { width: options.width } : {}), collapse: !options.full };
  const where = options.at !== undefined ? `after op ${options.at}` : 'at the end';
  const base = { file: displayName(path), at: options.at ?? null };
  if (options.diff) {
    const specs = options.diff.split(',').map((s) => s.trim());
    if (specs.length !== 2) throw new UsageError(`--diff takes two profiles, e.g. 4.14,7.0 (got "${options.diff.slice(0, 40)}")`);
    const [l, r] = specs.map(parseProfileSpec) as [{ kernel: string; fixed: boolean }, { kernel: string; fixed: boolean }];
    const left = await chunksAt(path, l.kernel, l.fixed, options);
    const right = await chunksAt(path, r.kernel, r.fixed, options);
    const what = `${specs[0]} (left) vs ${specs[1]} (right)`;
    const { svg, differingBits } = renderDiffMap(left.chunks, right.chunks, [specs[0]!, specs[1]!], { ...common, caption: caption(path, where, what, left.workload) });
    const data = { ...base, profiles: specs, chunks: Math.max(left.chunks.chunks.length, right.chunks.chunks.length), differingBytes: differingBits * 4, warnings: left.warnings };
    return { svg, summary: `${path} ${where}: ${specs[0]} vs ${specs[1]}: ${differingBits * 4} bytes placed differently`, data };
  }
  const a = await chunksAt(path, options.kernel, options.fixed ?? false, options);
  const label = `${options.kernel ?? ''}${options.fixed ? ' fixed' : ''} `.trimStart();
  const data = { ...base, profiles: [label.trim() || 'file header'], chunks: a.chunks.chunks.length, differingBytes: null, warnings: a.warnings };
  const profile = `${a.kernel}${options.fixed ? ' fixed' : ''}`;
  const n = a.chunks.chunks.length;
  const what = `${profile}, ${options.chunk !== undefined ? `chunk ${options.chunk} of ` : ''}${n} chunk${n === 1 ? '' : 's'}`;
  return { svg: renderAllocatorMap(a.chunks, { ...common, label, caption: caption(path, where, what, a.workload) }), summary: `${path} ${where}: ${a.chunks.chunks.length} chunks`, data };
}

export interface MapCommandOptions extends MapOptions {
  out?: string;
  json?: boolean;
}

/** The `map` subcommand: its exit code. */
export async function mapCommand(path: string, opts: MapCommandOptions): Promise<number> {
  if (opts.json && !opts.out) throw new UsageError('--json prints the summary: give -o FILE.svg for the map itself');
  if (opts.out) assertWritable(opts.out, '-o');
  const { svg, summary, data } = await mapFromGolden(path, opts);
  for (const w of data.warnings) process.stderr.write(`percpu: warning: ${w}\n`);
  if (opts.out) {
    writeOutput(opts.out, svg, '-o');
    if (opts.json) process.stdout.write(toJson({ command: 'map', schema: 1, ...data, out: opts.out }) + '\n');
    else process.stderr.write(`${summary}; wrote ${opts.out}\n`);
  } else process.stdout.write(svg);
  return data.warnings.length ? EXIT_DIFFERS : EXIT_OK;
}
