/**
 * `percpu map FILE`: SVG chunk maps of the allocator state after a golden
 * file's history (or its first N ops), for one profile or two side by side.
 */
import { readInputText } from '../io.js';
import { parseGolden, type GoldenFile } from '../golden/format.js';
import { replayGolden } from '../golden/replay.js';
import { BitmapAllocator } from '../engine/bitmap-allocator.js';
import { UnsupportedError } from '../errors.js';
import { renderAllocatorMap, renderDiffMap } from '../viz/allocator-map.js';

export interface MapOptions {
  at?: number;
  kernel?: string;
  fixed?: boolean;
  chunk?: number;
  /** Two profiles to compare, e.g. "4.14,7.0" or "7.0,7.0-fixed". */
  diff?: string;
  width?: number;
}

export function replayedBitmapAllocator(golden: GoldenFile, kernel: string | undefined, fixed: boolean, at: number | undefined): BitmapAllocator {
  const r = replayGolden(golden, { ...(kernel !== undefined ? { kernel } : {}), ...(at !== undefined ? { limit: at } : {}), fixed });
  if (!(r.allocator instanceof BitmapAllocator)) throw new UnsupportedError(`chunk maps are drawn for the bitmap profiles (4.14, 7.0), not ${r.kernel}`);
  return r.allocator;
}

/** "7.0-fixed" → { kernel: "7.0", fixed: true }. */
export function parseProfileSpec(spec: string): { kernel: string; fixed: boolean } {
  const fixed = spec.endsWith('-fixed');
  return { kernel: fixed ? spec.slice(0, -'-fixed'.length) : spec, fixed };
}

export function mapFromGolden(path: string, options: MapOptions): { svg: string; summary: string } {
  const golden = parseGolden(readInputText(path), path === '-' ? '<stdin>' : path);
  const common = { ...(options.chunk !== undefined ? { chunk: options.chunk } : {}), ...(options.width !== undefined ? { width: options.width } : {}) };
  const where = options.at !== undefined ? `after op ${options.at}` : 'at the end';
  if (options.diff) {
    const specs = options.diff.split(',').map((s) => s.trim());
    if (specs.length !== 2) throw new UnsupportedError(`--diff takes two profiles, e.g. 4.14,7.0 (got "${options.diff}")`);
    const [l, r] = specs.map(parseProfileSpec) as [{ kernel: string; fixed: boolean }, { kernel: string; fixed: boolean }];
    const left = replayedBitmapAllocator(golden, l.kernel, l.fixed, options.at);
    const right = replayedBitmapAllocator(golden, r.kernel, r.fixed, options.at);
    const { svg, differingBits } = renderDiffMap(left, right, [specs[0]!, specs[1]!], common);
    return { svg, summary: `${path} ${where}: ${specs[0]} vs ${specs[1]}: ${differingBits * 4} bytes placed differently` };
  }
  const a = replayedBitmapAllocator(golden, options.kernel, options.fixed ?? false, options.at);
  return { svg: renderAllocatorMap(a, { ...common, label: `${a.profile.kernel}${options.fixed ? ' fixed' : ''} ` }), summary: `${path} ${where}: ${a.liveChunks().length} chunks` };
}
