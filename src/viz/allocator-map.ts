/**
 * Maps of a whole allocator: every chunk stacked, or two allocators (two
 * profiles replaying the same history) side by side with their differences
 * outlined. Composes the per-chunk maps of `chunk-map.ts`.
 */
import { BitmapAllocator } from '../engine/bitmap-allocator.js';
import { Chunk } from '../engine/chunk.js';
import { UnsupportedError } from '../errors.js';
import { diffRanges, renderChunkMap, type ChunkMapOptions } from './chunk-map.js';

function describe(c: Chunk, label: string): string {
  const id = c.id === -1 ? 'reserved chunk' : c.id === 0 ? 'chunk 0 (first chunk)' : `chunk ${c.id}`;
  return `${label}${id}: ${c.nrPages} pages, ${c.hdr[3]} B free, ${c.hdr[6]} allocations`;
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
}

export function snapshotChunks(a: BitmapAllocator): ChunkSnapshot {
  const chunks = a.liveChunks().map((c) => {
    const bytes = c.metadataBytes;
    const copy = new ArrayBuffer(bytes);
    new Uint8Array(copy).set(new Uint8Array(c.buffer, c.hdr.byteOffset, bytes));
    return new Chunk(copy, 0, c.loc, a.geometry.blockBits);
  });
  return { blockBits: a.geometry.blockBits, chunks };
}

function asSnapshot(a: BitmapAllocator | ChunkSnapshot): ChunkSnapshot {
  return a instanceof BitmapAllocator ? { blockBits: a.geometry.blockBits, chunks: a.liveChunks() } : a;
}

export function chunksOf(source: BitmapAllocator | ChunkSnapshot, only?: number): Chunk[] {
  const all = asSnapshot(source).chunks;
  if (only === undefined) return all;
  const c = all.find((x) => x.id === only);
  if (!c) throw new UnsupportedError(`no live chunk ${only} (live: ${all.map((x) => x.id).join(', ')})`);
  return [c];
}

/** Every chunk (or one) of an allocator, stacked. */
export function renderAllocatorMap(a: BitmapAllocator | ChunkSnapshot, options: ChunkMapOptions & { chunk?: number; label?: string } = {}): string {
  const blockBits = asSnapshot(a).blockBits;
  const rows = chunksOf(a, options.chunk).map((c) => [renderChunkMap(c, blockBits, { ...options, title: describe(c, options.label ?? '') }, false)]);
  return stack(rows);
}

/** Two allocators side by side, chunk by chunk (matched by id), differences outlined in both. */
export function renderDiffMap(
  leftSource: BitmapAllocator | ChunkSnapshot,
  rightSource: BitmapAllocator | ChunkSnapshot,
  labels: [string, string],
  options: ChunkMapOptions & { chunk?: number } = {},
): { svg: string; differingBits: number } {
  const left = asSnapshot(leftSource);
  const right = asSnapshot(rightSource);
  const blockBits = left.blockBits;
  const ids = new Set<number>();
  for (const c of [...chunksOf(left, undefined), ...chunksOf(right, undefined)]) if (options.chunk === undefined || c.id === options.chunk) ids.add(c.id);
  let differingBits = 0;
  const rows: string[][] = [];
  for (const id of [...ids].sort((x, y) => x - y)) {
    const l = left.chunks.find((c) => c.id === id);
    const r = right.chunks.find((c) => c.id === id);
    const ranges = l && r ? diffRanges(l, r) : [];
    for (const [s, e] of ranges) differingBits += e - s;
    const half = { ...options, width: options.width ?? 512, highlight: ranges };
    const col = (c: Chunk | undefined, label: string) =>
      c ? renderChunkMap(c, blockBits, { ...half, title: describe(c, `${label}: `) }, false) : `<svg width="560" height="24"><text x="2" y="14" font-family="monospace" font-size="12">${label}: chunk ${id} does not exist</text></svg>`;
    rows.push([col(l, labels[0]), col(r, labels[1])]);
  }
  return { svg: stack(rows), differingBits };
}
