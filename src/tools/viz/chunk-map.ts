// SPDX-License-Identifier: GPL-2.0-only
/**
 * Chunk maps: an SVG picture of one chunk of a bitmap allocator.
 *
 * Pages are rows; a row's 4-byte bits are drawn as runs — one rectangle per run
 * of allocated, free or hidden bits, never one per bit. Allocations are told
 * apart by alternating shades (their first bits come from the bound map).
 * Unpopulated pages are shaded over (only where population is modelled: a
 * chunk-mode history has none). Each block's contig hint is drawn as a bar
 * under its run, 7.0's scan hint as a second bar. Every run carries a tooltip
 * with its byte offsets and size.
 *
 * Runs of at least three pages that are entirely full, entirely free or
 * entirely hidden are drawn as one labelled band (unless `collapse` is false),
 * so a chunk of identical full stripes takes one row, not hundreds. A row with
 * more runs than `maxRunsPerRow` (a page of tiny, interleaved objects) is drawn
 * instead as buckets of bits shaded by how full they are, so a 1 MiB chunk
 * (262,144 bits) stays a few thousand elements at most.
 *
 * All text goes through `escapeText` (markup.ts), the one escaping function.
 */
import { findNextBit, findNextZeroBit, testBit } from '../../engine/bitmap.js';
import { Hdr, Md, MD_STRIDE, type Chunk } from '../../engine/chunk.js';
import { escapeText } from './markup.js';

/** Options of `renderChunkMap` and the allocator maps. */
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
  /** Collapse runs of full, free or hidden pages into labelled bands (default true). */
  collapse?: boolean;
  /** Whether the chunk's populated bitmap is meaningful (false for chunk-mode histories). Default true. */
  population?: boolean;
}

export type RunKind = 'alloc' | 'alloc2' | 'free' | 'hidden';

const COLORS: Record<RunKind, string> = { alloc: '#3b6fb6', alloc2: '#5b8fd6', free: '#f4f1ea', hidden: '#9a9a9a' };
const CONTIG_COLOR = '#2e9e5b';
const SCAN_COLOR = '#e08a1e';
const DIFF_COLOR = '#e0282e';
const UNPOP_COLOR = '#b9b09c';

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
  const hiddenHead = chunk.startBit;
  const hiddenTail = chunk.endBit;
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

/** What a whole page holds: collapsible when it is uniformly full, free or hidden. */
export type PageClass = 'full' | 'empty' | 'hidden' | 'mixed';

export function classifyPage(chunk: Chunk, page: number, blockBits: number): PageClass {
  const base = page * blockBits;
  const end = base + blockBits;
  const hiddenHead = chunk.startBit;
  const hiddenTail = chunk.endBit;
  if (end <= hiddenHead || base >= hiddenTail) return 'hidden';
  if (base < hiddenHead || end > hiddenTail) return 'mixed';
  const firstSet = findNextBit(chunk.allocMap, end, base);
  if (firstSet >= end) return 'empty';
  if (firstSet === base && findNextZeroBit(chunk.allocMap, end, base) >= end) return 'full';
  return 'mixed';
}

/** Allocations whose first bit lies in [start, end). */
function allocationStarts(chunk: Chunk, start: number, end: number): number {
  let n = 0;
  for (let b = findNextBit(chunk.boundMap, end, start); b < end; b = findNextBit(chunk.boundMap, end, b + 1)) if (testBit(chunk.allocMap, b)) n++;
  return n;
}

/** A drawn row: one page, or a band of consecutive pages of one class. */
interface MapRow {
  first: number;
  last: number;
  cls: PageClass;
  populated: boolean;
}

const MIN_BAND_PAGES = 3;

/**
 * Rows of the map: runs of at least MIN_BAND_PAGES full, empty or hidden pages
 * of one population state become one band; pages in `keep` (e.g. holding a
 * highlighted difference) are always drawn in full.
 */
function mapRows(chunk: Chunk, blockBits: number, collapse: boolean, keep: Set<number>): MapRow[] {
  const rows: MapRow[] = [];
  for (let page = 0; page < chunk.nrPages; ) {
    const cls = classifyPage(chunk, page, blockBits);
    const populated = testBit(chunk.populated, page);
    let last = page;
    if (collapse && cls !== 'mixed' && !keep.has(page)) {
      while (last + 1 < chunk.nrPages && !keep.has(last + 1) && classifyPage(chunk, last + 1, blockBits) === cls && testBit(chunk.populated, last + 1) === populated) last++;
    }
    if (last - page + 1 >= MIN_BAND_PAGES) {
      rows.push({ first: page, last, cls, populated });
      page = last + 1;
    } else {
      rows.push({ first: page, last: page, cls: cls === 'mixed' ? 'mixed' : cls, populated });
      page++;
    }
  }
  return rows;
}

const BAND_COLORS: Record<Exclude<PageClass, 'mixed'>, string> = { full: COLORS.alloc, empty: COLORS.free, hidden: COLORS.hidden };

/** Render one chunk as an SVG document (or fragment when `standalone` is false). */
export function renderChunkMap(chunk: Chunk, blockBits: number, options: ChunkMapOptions = {}, standalone = true): string {
  const width = options.width ?? 1024;
  const rowH = options.rowHeight ?? 6;
  const bandH = Math.max(rowH, 11);
  const gap = 2;
  const labelW = 52;
  const maxRuns = options.maxRunsPerRow ?? 96;
  const bucketBits = options.bucketBits ?? 8;
  const scale = width / blockBits;
  const titleH = options.title ? 18 : 0;
  const population = options.population ?? true;
  const highlightPages = new Set<number>();
  for (const [s, e] of options.highlight ?? []) for (let p = Math.floor(s / blockBits); p <= Math.floor((e - 1) / blockBits); p++) highlightPages.add(p);
  const rows = mapRows(chunk, blockBits, options.collapse ?? true, highlightPages);
  const rowY = new Float64Array(chunk.nrPages);
  let y = titleH;
  const placed = rows.map((r) => {
    const h = r.first === r.last ? rowH : bandH;
    const at = y;
    for (let p = r.first; p <= r.last; p++) rowY[p] = at;
    y += h + gap + 3;
    return { row: r, y: at, h };
  });
  const height = y + 4;
  const totalW = labelW + width + 4;
  const out: string[] = [];
  out.push(`<svg${standalone ? ' xmlns="http://www.w3.org/2000/svg"' : ''} width="${totalW}" height="${height}" viewBox="0 0 ${totalW} ${height}" font-family="monospace" font-size="10" class="chunk-map">`);
  if (options.title) out.push(`<text x="2" y="12" font-size="12">${escapeText(options.title)}</text>`);
  const x = (bit: number) => (labelW + (bit % blockBits) * scale).toFixed(2);
  const w = (bits: number) => Math.max(bits * scale, 0.5).toFixed(2);
  // Label every row when rows are tall enough for text, else every few rows (bands always).
  const labelEvery = Math.max(1, Math.ceil(11 / (rowH + gap + 3)));
  placed.forEach(({ row, y: ry, h }, i) => {
    const band = row.first !== row.last;
    if (band || i % labelEvery === 0) out.push(`<text x="2" y="${ry + Math.min(h, 9)}" fill="#555">${band ? `${row.first}-${row.last}` : row.first}</text>`);
    out.push(`<g class="${band ? 'band' : 'row'}" data-page="${row.first}"${band ? ` data-last-page="${row.last}"` : ''}>`);
    if (band) out.push(bandRect(chunk, blockBits, row, ry, h, labelW, width));
    else {
      const runs = rowRuns(chunk, row.first, blockBits);
      if (runs.length <= maxRuns) {
        for (const r of runs) {
          const what = r.kind === 'free' ? 'free' : r.kind === 'hidden' ? 'hidden (first chunk static/reserved region)' : 'allocated';
          out.push(
            `<rect class="${r.kind === 'alloc2' ? 'alloc' : r.kind}" x="${x(r.start)}" y="${ry}" width="${w(r.end - r.start)}" height="${rowH}" fill="${COLORS[r.kind]}"><title>${what} [${bytes(r.start)}, ${bytes(r.end)}) ${bytes(r.end - r.start)} B${r.kind.startsWith('alloc') && r.allocations === 0 ? ' (continues an allocation from the row above)' : ''}</title></rect>`,
          );
        }
      } else {
        out.push(...bucketRow(chunk, row.first, blockBits, bucketBits, runs.length, ry, rowH, x, w));
      }
      if (options.hints !== false) out.push(...hintBars(chunk, row.first, blockBits, ry + rowH + 1, x, w));
    }
    // Hatch only pages the model says are unpopulated; a chunk-mode history does not model population.
    if (population && !row.populated) {
      const pages = band ? `pages ${row.first}-${row.last}` : `page ${row.first}`;
      out.push(`<rect class="unpopulated" x="${labelW}" y="${ry}" width="${width}" height="${h}" fill="${UNPOP_COLOR}" fill-opacity="0.55"><title>${pages} not populated</title></rect>`);
    }
    out.push('</g>');
  });
  for (const [s, e] of options.highlight ?? []) {
    // Highlights may span rows: split them.
    for (let p = s; p < e; ) {
      const rowEnd = Math.min(e, (Math.floor(p / blockBits) + 1) * blockBits);
      const hy = rowY[Math.floor(p / blockBits)]!;
      out.push(`<rect class="diff" x="${x(p)}" y="${hy - 1}" width="${w(rowEnd - p)}" height="${rowH + 2}" fill="none" stroke="${DIFF_COLOR}" stroke-width="1.5"><title>differs: [${bytes(p)}, ${bytes(rowEnd)})</title></rect>`);
      p = rowEnd;
    }
  }
  out.push('</svg>');
  return out.join('\n');
}

/** One band: a labelled bar for a run of full, empty or hidden pages. */
function bandRect(chunk: Chunk, blockBits: number, row: MapRow, y: number, h: number, labelW: number, width: number): string {
  const n = row.last - row.first + 1;
  const start = row.first * blockBits;
  const end = (row.last + 1) * blockBits;
  const size = bytes(end - start);
  const cls = row.cls as Exclude<PageClass, 'mixed'>;
  const what =
    cls === 'full'
      ? `full: ${size.toLocaleString('en-US')} B in ${allocationStarts(chunk, start, end).toLocaleString('en-US')} allocations starting here`
      : cls === 'empty'
        ? `free: ${size.toLocaleString('en-US')} B`
        : `hidden (first chunk static/reserved region): ${size.toLocaleString('en-US')} B`;
  const label = `pages ${row.first}-${row.last} (${n}) ${what}`;
  const textFill = cls === 'empty' ? '#444' : '#fff';
  return (
    `<rect class="band-${cls}" x="${labelW}" y="${y}" width="${width}" height="${h}" fill="${BAND_COLORS[cls]}" stroke="#888" stroke-width="0.5" stroke-dasharray="3 2"><title>${escapeText(`${label}; bytes [${bytes(start)}, ${bytes(end)})`)}</title></rect>` +
    `<text x="${labelW + 6}" y="${y + h - 2}" fill="${textFill}" font-size="9">${escapeText(label)}</text>`
  );
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

/** Which entries `legendSvg` draws. */
export interface LegendOptions {
  /** Include the "differs" outline (diff maps). */
  diff?: boolean;
  /** Include the unpopulated shading (maps where population is modelled). */
  population?: boolean;
  /** Include the scan hint (7.0 profiles). */
  scanHint?: boolean;
  width?: number;
}

/** The legend of a chunk map, as an SVG fragment (`standalone` adds the namespace). */
export function legendSvg(options: LegendOptions = {}, standalone = true): string {
  const items: [string, string, string?][] = [
    [COLORS.alloc, 'allocated (two shades alternate per allocation)'],
    [COLORS.free, 'free'],
    [COLORS.hidden, 'hidden: first-chunk static / reserved region'],
    ['#fff', 'band: run of full, free or hidden pages (dashed)', '#888'],
    ['rgba(59,111,182,0.6)', 'crowded row: 32-byte buckets, darker = fuller'],
    [CONTIG_COLOR, 'block contig hint (bar under the row)'],
  ];
  if (options.scanHint !== false) items.push([SCAN_COLOR, 'block scan hint (7.0)']);
  if (options.population !== false) items.push([UNPOP_COLOR, 'page not populated (shaded over)']);
  if (options.diff) items.push(['none', 'placed differently by the two profiles', DIFF_COLOR]);
  const colW = Math.floor((options.width ?? 1000) / 3);
  const parts = items.map(
    ([c, label, stroke], i) =>
      `<rect x="${4 + (i % 3) * colW}" y="${4 + Math.floor(i / 3) * 16}" width="12" height="10" fill="${c}" stroke="${stroke ?? '#666'}" stroke-width="${stroke ? 1.5 : 0.5}"${stroke === '#888' ? ' stroke-dasharray="3 2"' : ''}/><text x="${20 + (i % 3) * colW}" y="${13 + Math.floor(i / 3) * 16}">${escapeText(label)}</text>`,
  );
  const w = 3 * colW + 10;
  const h = 8 + Math.ceil(items.length / 3) * 16;
  return `<svg${standalone ? ' xmlns="http://www.w3.org/2000/svg"' : ''} width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="monospace" font-size="10" class="legend">${parts.join('')}</svg>`;
}
