/**
 * Chunk maps: an SVG picture of one chunk of a bitmap allocator.
 *
 * Pages are rows; a row's 4-byte bits are drawn as runs — one rectangle per run
 * of allocated, free or hidden bits, never one per bit. Allocations are told
 * apart by alternating shades (their first bits come from the bound map).
 * Unpopulated pages are hatched. Each block's contig hint is drawn as a bar under
 * its run, 7.0's scan hint as a second bar. Every run carries a tooltip with its
 * byte offsets and size.
 *
 * A row with more runs than `maxRunsPerRow` (a page of tiny, interleaved
 * objects) is drawn instead as buckets of bits shaded by how full they are, so a
 * 1 MiB chunk (262,144 bits) stays a few thousand elements at most.
 */
import { findNextBit, findNextZeroBit, testBit } from '../engine/bitmap.js';
import { Hdr, Md, MD_STRIDE, type Chunk } from '../engine/chunk.js';

export interface ChunkMapOptions {
  /** Pixels per bit horizontally (default: fit 1024 bits into `width`). */
  width?: number;
  rowHeight?: number;
  maxRunsPerRow?: number;
  /** Bits per bucket in rows drawn as buckets. */
  bucketBits?: number;
  title?: string;
  /** Bits to highlight (e.g. where two profiles differ), as [start, end) pairs in chunk bits. */
  highlight?: readonly (readonly [number, number])[];
  /** Draw the hint overlays (default true). */
  hints?: boolean;
}

export type RunKind = 'alloc' | 'alloc2' | 'free' | 'hidden';

const COLORS: Record<RunKind, string> = { alloc: '#3b6fb6', alloc2: '#5b8fd6', free: '#f4f1ea', hidden: '#9a9a9a' };
const CONTIG_COLOR = '#2e9e5b';
const SCAN_COLOR = '#e08a1e';
const DIFF_COLOR = '#e0282e';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function bytes(bits: number): number {
  return bits * 4;
}

/** A run of bits of one kind inside one row. */
export interface MapRun {
  kind: RunKind;
  start: number;
  end: number;
  /** Allocations starting in the run (alloc runs). */
  allocations: number;
}

/**
 * The runs of row `page`: hidden head/tail, then maximal free runs and
 * allocated runs split at allocation boundaries (alternating shade).
 */
export function rowRuns(chunk: Chunk, page: number, blockBits: number): MapRun[] {
  const base = page * blockBits;
  const end = base + blockBits;
  const hiddenHead = chunk.hdr[Hdr.StartOffset]! >>> 2;
  const hiddenTail = chunk.mapBits - (chunk.hdr[Hdr.EndOffset]! >>> 2);
  const runs: MapRun[] = [];
  let shade = 0;
  let pos = base;
  while (pos < end) {
    if (pos < hiddenHead || pos >= hiddenTail) {
      const stop = pos < hiddenHead ? Math.min(hiddenHead, end) : end;
      runs.push({ kind: 'hidden', start: pos, end: stop, allocations: 0 });
      pos = stop;
      continue;
    }
    const limit = Math.min(end, hiddenTail);
    if (!testBit(chunk.allocMap, pos)) {
      const stop = Math.min(findNextBit(chunk.allocMap, limit, pos), limit);
      runs.push({ kind: 'free', start: pos, end: stop, allocations: 0 });
      pos = stop;
      continue;
    }
    // One allocation (or the part of it in this row): up to the next bound bit or free bit.
    const allocEnd = Math.min(findNextBit(chunk.boundMap, limit, pos + 1), findNextZeroBit(chunk.allocMap, limit, pos));
    const starts = testBit(chunk.boundMap, pos) ? 1 : 0;
    if (starts) shade ^= 1;
    runs.push({ kind: shade ? 'alloc' : 'alloc2', start: pos, end: allocEnd, allocations: starts });
    pos = allocEnd;
  }
  return runs;
}

/** Render one chunk as an SVG document (or fragment when `standalone` is false). */
export function renderChunkMap(chunk: Chunk, blockBits: number, options: ChunkMapOptions = {}, standalone = true): string {
  const width = options.width ?? 1024;
  const rowH = options.rowHeight ?? 6;
  const gap = 2;
  const labelW = 44;
  const maxRuns = options.maxRunsPerRow ?? 96;
  const bucketBits = options.bucketBits ?? 8;
  const scale = width / blockBits;
  const titleH = options.title ? 18 : 0;
  const rowStride = rowH + gap + 3;
  const height = titleH + chunk.nrPages * rowStride + 4;
  const out: string[] = [];
  if (standalone) out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${labelW + width + 4}" height="${height}" viewBox="0 0 ${labelW + width + 4} ${height}" font-family="monospace" font-size="10">`);
  else out.push(`<svg width="${labelW + width + 4}" height="${height}" viewBox="0 0 ${labelW + width + 4} ${height}" font-family="monospace" font-size="10" class="chunk-map">`);
  out.push(`<defs><pattern id="unpop" width="4" height="4" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="2" height="4" fill="#c9c2b4"/></pattern></defs>`);
  if (options.title) out.push(`<text x="2" y="12" font-size="12">${esc(options.title)}</text>`);
  const x = (bit: number) => (labelW + (bit % blockBits) * scale).toFixed(2);
  const w = (bits: number) => Math.max(bits * scale, 0.5).toFixed(2);
  // Label every page when rows are tall enough for text, else every few pages.
  const labelEvery = Math.max(1, Math.ceil(11 / rowStride));
  for (let page = 0; page < chunk.nrPages; page++) {
    const y = titleH + page * rowStride;
    const populated = testBit(chunk.populated, page);
    if (page % labelEvery === 0) out.push(`<text x="2" y="${y + Math.min(rowH, 9)}" fill="#555">${page}</text>`);
    const runs = rowRuns(chunk, page, blockBits);
    out.push(`<g class="row" data-page="${page}">`);
    if (runs.length <= maxRuns) {
      for (const r of runs) {
        const what = r.kind === 'free' ? 'free' : r.kind === 'hidden' ? 'hidden (first chunk static/reserved region)' : 'allocated';
        out.push(
          `<rect class="${r.kind === 'alloc2' ? 'alloc' : r.kind}" x="${x(r.start)}" y="${y}" width="${w(r.end - r.start)}" height="${rowH}" fill="${COLORS[r.kind]}"><title>${what} [${bytes(r.start)}, ${bytes(r.end)}) ${bytes(r.end - r.start)} B${r.kind.startsWith('alloc') && r.allocations === 0 ? ' (continues an allocation from the row above)' : ''}</title></rect>`,
        );
      }
    } else {
      out.push(...bucketRow(chunk, page, blockBits, bucketBits, runs.length, y, rowH, x, w));
    }
    if (!populated) out.push(`<rect class="unpopulated" x="${labelW}" y="${y}" width="${width}" height="${rowH}" fill="url(#unpop)" opacity="0.8"><title>page ${page} not populated</title></rect>`);
    if (options.hints !== false) out.push(...hintBars(chunk, page, blockBits, y + rowH + 1, x, w));
    out.push('</g>');
  }
  for (const [s, e] of options.highlight ?? []) {
    // Highlights may span rows: split them.
    for (let p = s; p < e; ) {
      const rowEnd = Math.min(e, (Math.floor(p / blockBits) + 1) * blockBits);
      const y = titleH + Math.floor(p / blockBits) * rowStride;
      out.push(`<rect class="diff" x="${x(p)}" y="${y - 1}" width="${w(rowEnd - p)}" height="${rowH + 2}" fill="none" stroke="${DIFF_COLOR}" stroke-width="1.5"><title>differs: [${bytes(p)}, ${bytes(rowEnd)})</title></rect>`);
      p = rowEnd;
    }
  }
  out.push('</svg>');
  return out.join('\n');
}

/** A crowded row: buckets of `bucketBits` bits, shaded by the fraction allocated, equal neighbours merged. */
function bucketRow(
  chunk: Chunk,
  page: number,
  blockBits: number,
  bucketBits: number,
  nrRuns: number,
  y: number,
  rowH: number,
  x: (b: number) => string,
  w: (b: number) => string,
): string[] {
  const out: string[] = [];
  const base = page * blockBits;
  let runStart = base;
  let runLevel = -1;
  const flush = (end: number) => {
    if (runLevel < 0) return;
    const color = runLevel === 0 ? COLORS.free : `rgba(59,111,182,${(0.25 + 0.75 * (runLevel / bucketBits)).toFixed(2)})`;
    out.push(
      `<rect class="bucket" x="${x(runStart)}" y="${y}" width="${w(end - runStart)}" height="${rowH}" fill="${color}"><title>[${bytes(runStart)}, ${bytes(end)}): ${Math.round((100 * runLevel) / bucketBits)}% allocated (row of ${nrRuns} runs, drawn in ${bucketBits * 4}-byte buckets)</title></rect>`,
    );
  };
  for (let b = base; b < base + blockBits; b += bucketBits) {
    let level = 0;
    for (let i = b; i < b + bucketBits; i++) if (testBit(chunk.allocMap, i)) level++;
    if (level !== runLevel) {
      flush(b);
      runStart = b;
      runLevel = level;
    }
  }
  flush(base + blockBits);
  return out;
}

/** The block's contig hint and (7.0) scan hint, as bars under the row. */
function hintBars(chunk: Chunk, page: number, blockBits: number, y: number, x: (b: number) => string, w: (b: number) => string): string[] {
  const at = page * MD_STRIDE;
  const md = chunk.md;
  const base = page * blockBits;
  const out: string[] = [];
  const contig = md[at + Md.Contig]!;
  if (contig > 0) {
    const s = md[at + Md.ContigStart]!;
    out.push(`<rect class="contig-hint" x="${x(base + s)}" y="${y}" width="${w(contig)}" height="2" fill="${CONTIG_COLOR}"><title>block ${page} contig hint: ${contig} bits (${bytes(contig)} B) at block bit ${s} (byte ${bytes(base + s)})</title></rect>`);
  }
  const scan = md[at + Md.ScanHint]!;
  if (scan > 0) {
    const s = md[at + Md.ScanHintStart]!;
    out.push(`<rect class="scan-hint" x="${x(base + s)}" y="${y}" width="${w(scan)}" height="2" fill="${SCAN_COLOR}"><title>block ${page} scan hint: ${scan} bits (${bytes(scan)} B) at block bit ${s} (byte ${bytes(base + s)})</title></rect>`);
  }
  return out;
}

/** Bit ranges where two chunks of the same size differ in their allocation map. */
export function diffRanges(a: Chunk, b: Chunk): [number, number][] {
  const out: [number, number][] = [];
  const n = Math.min(a.allocMap.length, b.allocMap.length);
  const bits = Math.min(a.mapBits, b.mapBits);
  let open = -1;
  for (let w = 0; w < n; w++) {
    const x = (a.allocMap[w]! ^ b.allocMap[w]!) | ((a.boundMap[w]! ^ b.boundMap[w]!) & (a.allocMap[w]! | b.allocMap[w]!));
    if (x === 0 && open < 0) continue;
    for (let i = 0; i < 32; i++) {
      const bit = w * 32 + i;
      if (bit >= bits) break;
      const d = ((x >>> i) & 1) !== 0;
      if (d && open < 0) open = bit;
      else if (!d && open >= 0) {
        out.push([open, bit]);
        open = -1;
      }
    }
  }
  if (open >= 0) out.push([open, bits]);
  return out;
}

/** Legend shared by standalone maps and the HTML report. */
export function legendSvg(): string {
  const items: [string, string][] = [
    [COLORS.alloc, 'allocated (shades alternate per allocation)'],
    [COLORS.free, 'free'],
    [COLORS.hidden, 'hidden: first-chunk static / reserved region'],
    ['url(#unpop)', 'page not populated'],
    [CONTIG_COLOR, 'block contig hint'],
    [SCAN_COLOR, 'block scan hint (7.0)'],
    [DIFF_COLOR, 'differs between the two maps'],
  ];
  const colW = 330;
  const parts = items.map(([c, label], i) => `<rect x="${4 + (i % 3) * colW}" y="${4 + Math.floor(i / 3) * 16}" width="12" height="10" fill="${c}" stroke="#666" stroke-width="0.5"/><text x="${20 + (i % 3) * colW}" y="${13 + Math.floor(i / 3) * 16}">${esc(label)}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${3 * colW + 10}" height="${8 + Math.ceil(items.length / 3) * 16}" font-family="monospace" font-size="10"><defs><pattern id="unpop" width="4" height="4" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="2" height="4" fill="#c9c2b4"/></pattern></defs>${parts.join('')}</svg>`;
}
