// SPDX-License-Identifier: GPL-2.0-only
/**
 * Maps of a whole allocator: every chunk stacked, or two allocators (two
 * profiles replaying the same history) side by side with their differences
 * outlined. Composes the per-chunk maps of `chunk-map.ts`; a map starts with
 * its caption and legend, so a standalone SVG reads on its own.
 *
 * Chunk titles follow the mode: in allocator mode chunk 0 is the first chunk
 * and -1 the reserved one; a chunk-mode history has one ordinary chunk, and
 * no population to show.
 */
import type { BitmapAllocatorView } from '../../engine/api.js';
import { Chunk } from '../../engine/chunk.js';
import { UnsupportedError } from '../../errors.js';
import { diffRanges, legendSvg, renderChunkMap, type ChunkMapOptions } from './chunk-map.js';
import { escapeText } from './markup.js';

function describe(c: Chunk, label: string, mode: 'allocator' | 'chunk'): string {
  const id = mode === 'chunk' ? `chunk ${c.id} (chunk mode)` : c.id === -1 ? 'reserved chunk' : c.id === 0 ? 'chunk 0 (first chunk)' : `chunk ${c.id}`;
  return `${label}${id}: ${c.nrPages} pages, ${c.hdr[3]} B free, ${c.hdr[6]} allocations`;
}

/** A caption line (wrapped at ~140 characters) as an SVG fragment. */
function captionSvg(text: string, width: number): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + word.length + 1 > 140) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  const h = lines.length * 15 + 4;
  return `<svg width="${width}" height="${h}" viewBox="0 0 ${width} ${h}" font-family="sans-serif" font-size="12" class="caption">${lines.map((l, i) => `<text x="2" y="${13 + i * 15}"${i === 0 ? ' font-weight="bold"' : ''}>${escapeText(l)}</text>`).join('')}</svg>`;
}

function sizeOf(svg: string): { w: number; h: number } {
  const m = /width="([\d.]+)" height="([\d.]+)"/.exec(svg);
  return { w: Number(m?.[1] ?? 0), h: Number(m?.[2] ?? 0) };
}

/** Place SVG fragments in a grid of rows; each row is a list of columns. */
function stack(rows: string[][], gap = 12): string {
  let y = 0;
  let width = 0;
  const parts: string[] = [];
  for (const cols of rows) {
    let x = 0;
    let rowH = 0;
    for (const svg of cols) {
      const { w, h } = sizeOf(svg);
      parts.push(svg.replace('<svg ', `<svg x="${x}" y="${y}" `));
      x += w + gap;
      rowH = Math.max(rowH, h);
    }
    width = Math.max(width, x);
    y += rowH + gap;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}">\n${parts.join('\n')}\n</svg>\n`;
}

/** Chunks frozen at a moment: copies that later operations on the allocator do not change. */
export interface ChunkSnapshot {
  blockBits: number;
  chunks: Chunk[];
  /** `chunk`: a golden chunk-mode history (no first chunk, population not modelled). */
  mode: 'allocator' | 'chunk';
  /** Whether any profile of the snapshot has a scan hint (7.0). */
  scanHint?: boolean;
}

/** A copy of every live chunk of a bitmap allocator (`PercpuAllocator.bitmapView()`), to draw after the allocator has moved on. */
export function snapshotChunks(a: BitmapAllocatorView): ChunkSnapshot {
  const chunks = a.liveChunks().map((c) => {
    const bytes = c.metadataBytes;
    const copy = new ArrayBuffer(bytes);
    new Uint8Array(copy).set(new Uint8Array(c.buffer, c.hdr.byteOffset, bytes));
    return new Chunk(copy, 0, c.loc, a.geometry.blockBits);
  });
  return { blockBits: a.geometry.blockBits, chunks, mode: a.mode, scanHint: a.profile.blockScanHint };
}

/** A live allocator's chunks as views over its own buffers (no copy), or a snapshot as it is; only an allocator view has a profile. */
function asSnapshot(a: BitmapAllocatorView | ChunkSnapshot): ChunkSnapshot {
  if (!('profile' in a)) return a;
  const blockBits = a.geometry.blockBits;
  const chunks = a.liveChunks().map((c) => new Chunk(c.buffer, c.hdr.byteOffset, c.loc, blockBits));
  return { blockBits, chunks, mode: a.mode, scanHint: a.profile.blockScanHint };
}

/** What heads a map: a caption (what, when, from which file) and the legend. */
export interface MapHeading {
  caption?: string;
  /** Omit the legend (a report that shows it once per figure itself). */
  legend?: boolean;
}

function heading(h: MapHeading, width: number, legend: Parameters<typeof legendSvg>[0]): string[][] {
  const rows: string[][] = [];
  if (h.caption) rows.push([captionSvg(h.caption, width)]);
  if (h.legend !== false) rows.push([legendSvg({ ...legend, width: Math.max(600, Math.min(width, 1100)) }, false)]);
  return rows;
}

export function chunksOf(source: BitmapAllocatorView | ChunkSnapshot, only?: number): Chunk[] {
  const all = asSnapshot(source).chunks;
  if (only === undefined) return all;
  const c = all.find((x) => x.id === only);
  if (!c) throw new UnsupportedError(`no live chunk ${only} (live: ${all.map((x) => x.id).join(', ')})`);
  return [c];
}

/** Every chunk (or one) of an allocator, stacked under a caption and legend. */
export function renderAllocatorMap(a: BitmapAllocatorView | ChunkSnapshot, options: ChunkMapOptions & MapHeading & { chunk?: number; label?: string } = {}): string {
  const snap = asSnapshot(a);
  const population = options.population ?? snap.mode === 'allocator';
  const rows = chunksOf(a, options.chunk).map((c) => [renderChunkMap(c, snap.blockBits, { ...options, population, title: describe(c, options.label ?? '', snap.mode) }, false)]);
  return stack([...heading(options, (options.width ?? 1024) + 56, { population, scanHint: snap.scanHint ?? true }), ...rows]);
}

/** Two allocators side by side, chunk by chunk (matched by id), differences outlined in both. */
export function renderDiffMap(
  leftSource: BitmapAllocatorView | ChunkSnapshot,
  rightSource: BitmapAllocatorView | ChunkSnapshot,
  labels: [string, string],
  options: ChunkMapOptions & MapHeading & { chunk?: number } = {},
): { svg: string; differingBits: number } {
  const left = asSnapshot(leftSource);
  const right = asSnapshot(rightSource);
  const blockBits = left.blockBits;
  const population = options.population ?? left.mode === 'allocator';
  const ids = new Set<number>();
  for (const c of [...chunksOf(left, undefined), ...chunksOf(right, undefined)]) if (options.chunk === undefined || c.id === options.chunk) ids.add(c.id);
  let differingBits = 0;
  const rows: string[][] = [];
  for (const id of [...ids].sort((x, y) => x - y)) {
    const l = left.chunks.find((c) => c.id === id);
    const r = right.chunks.find((c) => c.id === id);
    const ranges = l && r ? diffRanges(l, r) : [];
    for (const [s, e] of ranges) differingBits += e - s;
    const half = { ...options, population, width: options.width ?? 512, highlight: ranges };
    const col = (c: Chunk | undefined, label: string) =>
      c
        ? renderChunkMap(c, blockBits, { ...half, title: describe(c, `${label}: `, left.mode) }, false)
        : `<svg width="560" height="24"><text x="2" y="14" font-family="monospace" font-size="12">${escapeText(`${label}: chunk ${id} does not exist`)}</text></svg>`;
    rows.push([col(l, labels[0]), col(r, labels[1])]);
  }
  const w = 2 * ((options.width ?? 512) + 56) + 12;
  return { svg: stack([...heading(options, w, { population, diff: true, scanHint: (left.scanHint ?? true) || (right.scanHint ?? true) }), ...rows]), differingBits };
}
