/**
 * `percpu map FILE`: SVG chunk maps of the allocator state after a golden
 * file's or a trace's history (or its first N ops / events), for one profile or
 * two side by side.
 */
import { UnsupportedError } from '../errors.js';
import { renderAllocatorMap, renderDiffMap, type ChunkSnapshot } from '../viz/allocator-map.js';
import { stateAt } from './stats.js';

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

function chunksAt(path: string, kernel: string | undefined, fixed: boolean, options: MapOptions): { chunks: ChunkSnapshot; kernel: string; workload: string } {
  const s = stateAt(path, { ...(kernel !== undefined ? { kernel } : {}), fixed, ...(options.at !== undefined ? { at: options.at } : {}), ...(options.stats ? { stats: options.stats } : {}) });
  if (s.chunks === undefined) throw new UnsupportedError(`chunk maps are drawn for the bitmap profiles (4.14, 7.0), not ${s.kernel}: the 4.13 area map has no bitmap`);
  return { chunks: s.chunks, kernel: s.kernel, workload: s.workload };
}

/** The map's caption: file, moment, profile(s), and the golden file's own description. */
function caption(path: string, where: string, what: string, workload: string): string {
  return `${path} ${where}, ${what}${workload ? ` — ${workload}` : ''}`;
}

/** "7.0-fixed" → { kernel: "7.0", fixed: true }. */
export function parseProfileSpec(spec: string): { kernel: string; fixed: boolean } {
  const fixed = spec.endsWith('-fixed');
  return { kernel: fixed ? spec.slice(0, -'-fixed'.length) : spec, fixed };
}

export function mapFromGolden(path: string, options: MapOptions): { svg: string; summary: string } {
  const common = { ...(options.chunk !== undefined ? { chunk: options.chunk } : {}), ...(options.width !== undefined ? { width: options.width } : {}), collapse: !options.full };
  const where = options.at !== undefined ? `after op ${options.at}` : 'at the end';
  if (options.diff) {
    const specs = options.diff.split(',').map((s) => s.trim());
    if (specs.length !== 2) throw new UnsupportedError(`--diff takes two profiles, e.g. 4.14,7.0 (got "${options.diff}")`);
    const [l, r] = specs.map(parseProfileSpec) as [{ kernel: string; fixed: boolean }, { kernel: string; fixed: boolean }];
    const left = chunksAt(path, l.kernel, l.fixed, options);
    const right = chunksAt(path, r.kernel, r.fixed, options);
    const what = `${specs[0]} (left) vs ${specs[1]} (right)`;
    const { svg, differingBits } = renderDiffMap(left.chunks, right.chunks, [specs[0]!, specs[1]!], { ...common, caption: caption(path, where, what, left.workload) });
    return { svg, summary: `${path} ${where}: ${specs[0]} vs ${specs[1]}: ${differingBits * 4} bytes placed differently` };
  }
  const a = chunksAt(path, options.kernel, options.fixed ?? false, options);
  const profile = `${a.kernel}${options.fixed ? ' fixed' : ''}`;
  const svg = renderAllocatorMap(a.chunks, { ...common, label: `${options.kernel ?? ''}${options.fixed ? ' fixed' : ''} `.trimStart(), caption: caption(path, where, `${profile}, ${options.chunk !== undefined ? `chunk ${options.chunk} of ` : ''}${a.chunks.chunks.length} chunk${a.chunks.chunks.length === 1 ? '' : 's'}`, a.workload) });
  return { svg, summary: `${path} ${where}: ${a.chunks.chunks.length} chunks` };
}
