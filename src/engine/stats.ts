// SPDX-License-Identifier: GPL-2.0-only
/**
 * `/sys/kernel/debug/percpu_stats` text (spec §6), byte for byte: the file's
 * skeleton and the fragment statistics shared by every version, and the 4.14 /
 * 7.0 chunk sections of the bitmap allocator. (The 4.13 area map fills the same
 * skeleton with its own line widths and fields, in `area-map.ts`.)
 */
import { findLastBitIn, findNextBit, testBit } from './bitmap.js';
import type { BitmapAllocator, GlobalStats } from './bitmap-allocator.js';
import type { Geometry } from './geometry.js';
import { Hdr, Md, type Chunk } from './chunk.js';
import { MIN_ALLOC_SIZE } from './constants.js';
import { bytesToBits, offsetToBit } from './units.js';

const DASHES = '-'.repeat(40);

/** One value line: two spaces, the name in 20 columns, ": ", the value in 12. */
export function statLine(name: string, value: number): string {
  return `  ${name.padEnd(20)}: ${String(value).padStart(12)}\n`;
}

/** Fragmentation numbers of one chunk, as `chunk_map_stats` computes them. */
export interface ChunkFragStats {
  sumFrag: number;
  maxFrag: number;
  curMinAlloc: number;
  curMedAlloc: number;
  curMaxAlloc: number;
}

/**
 * The fragment numbers of `chunk_map_stats` from a chunk's pieces in address
 * order — allocations positive, free runs negative, in bytes: sorted, the free
 * pieces summed, the lower median of the allocations. All 0 with no pieces.
 */
export function summarizePieces(pieces: ArrayLike<number>): ChunkFragStats {
  const out: ChunkFragStats = { sumFrag: 0, maxFrag: 0, curMinAlloc: 0, curMedAlloc: 0, curMaxAlloc: 0 };
  const n = pieces.length;
  if (n === 0) return out;
  const sorted = Int32Array.from(pieces).sort();
  let i = 0;
  for (; i < n && sorted[i]! < 0; i++) {
    out.sumFrag -= sorted[i]!;
    if (-sorted[i]! > out.maxFrag) out.maxFrag = -sorted[i]!;
  }
  out.curMinAlloc = sorted[i] ?? 0;
  out.curMedAlloc = sorted[Math.floor((i + n - 1) / 2)]!;
  out.curMaxAlloc = sorted[n - 1]!;
  return out;
}

/** The fragment statistics of one bitmap chunk, as `percpu_stats` prints them for it. */
export function chunkFragStats(chunk: Chunk): ChunkFragStats {
  const h = chunk.hdr;
  const map = chunk.allocMap;
  // The kernel's search bound excludes the last usable bit (a quirk kept on purpose),
  // and when nothing is found it tests the bound bit itself.
  const bound = chunk.mapBits - bytesToBits(h[Hdr.EndOffset]!) - 1;
  let last = findLastBitIn(map, 0, bound);
  if (last < 0) last = bound;
  const lastAlloc = testBit(map, last) ? last + 1 : 0;
  const pieces: number[] = [];
  let start: number = offsetToBit(h[Hdr.StartOffset]!);
  while (start < lastAlloc) {
    let end: number;
    if (testBit(map, start)) {
      end = findNextBit(chunk.boundMap, lastAlloc, start + 1);
      pieces.push((end - start) * MIN_ALLOC_SIZE);
    } else {
      end = findNextBit(map, lastAlloc, start + 1);
      pieces.push(-(end - start) * MIN_ALLOC_SIZE);
    }
    start = end;
  }
  return summarizePieces(pieces);
}

export type StatLineFormat = (name: string, value: number) => string;

/** What fills the debugfs file's skeleton. */
export interface StatsFileParts {
  /** Line format of the allocation-info section, and of the global section. */
  infoLine: StatLineFormat;
  globalLine: StatLineFormat;
  geometry: Geometry;
  stats: GlobalStats;
  /** Global lines after the counters (4.14+: `empty_pop_pages`). */
  extraGlobal: [string, number][];
  /** Chunk sections in print order: a header line and the section's lines (ending with the blank line). */
  chunks: { header: string; body: string }[];
}

/** The whole file: allocation info, global stats, per-chunk stats. */
export function formatStatsFile(p: StatsFileParts): string {
  const g = p.geometry;
  const s = p.stats;
  let out = 'Percpu Memory Statistics\nAllocation Info:\n' + DASHES + '\n';
  for (const [name, v] of [
    ['unit_size', g.unitSize],
    ['static_size', g.staticSize],
    ['reserved_size', g.reservedSize],
    ['dyn_size', g.dynSize],
    ['atom_size', g.atomSize],
    ['alloc_size', g.allocSize],
  ] as const) out += p.infoLine(name, v);
  out += '\nGlobal Stats:\n' + DASHES + '\n';
  for (const [name, v] of [
    ['nr_alloc', s.nrAlloc],
    ['nr_dealloc', s.nrDealloc],
    ['nr_cur_alloc', s.nrCurAlloc],
    ['nr_max_alloc', s.nrMaxAlloc],
    ['nr_chunks', s.nrChunks],
    ['nr_max_chunks', s.nrMaxChunks],
    ['min_alloc_size', s.minAllocSize],
    ['max_alloc_size', s.maxAllocSize],
    ...p.extraGlobal,
  ] as const) out += p.globalLine(name, v);
  out += '\nPer Chunk Stats:\n' + DASHES + '\n';
  for (const c of p.chunks) out += c.header + '\n' + c.body;
  return out;
}

function chunkSection(chunk: Chunk): string {
  const h = chunk.hdr;
  const f = chunkFragStats(chunk);
  return (
    statLine('nr_alloc', h[Hdr.NrAlloc]!) +
    statLine('max_alloc_size', h[Hdr.MaxAllocSize]!) +
    statLine('empty_pop_pages', h[Hdr.NrEmptyPopPages]!) +
    statLine('first_bit', chunk.md[chunk.chunkMd + Md.FirstFree]!) +
    statLine('free_bytes', h[Hdr.FreeBytes]!) +
    statLine('contig_bytes', chunk.md[chunk.chunkMd + Md.Contig]! * MIN_ALLOC_SIZE) +
    statLine('sum_frag', f.sumFrag) +
    statLine('max_frag', f.maxFrag) +
    statLine('cur_min_alloc', f.curMinAlloc) +
    statLine('cur_med_alloc', f.curMedAlloc) +
    statLine('cur_max_alloc', f.curMaxAlloc) +
    '\n'
  );
}

/** The whole debugfs file for the bitmap allocator's current state (4.14 / 7.0). */
export function formatBitmapStats(a: BitmapAllocator): string {
  const chunks: { header: string; body: string }[] = [];
  if (a.reserved) chunks.push({ header: 'Chunk: <- Reserved Chunk', body: chunkSection(a.reserved) });
  for (const { chunk, slot } of a.chunksInSlotOrder()) {
    let header = 'Chunk:';
    if (chunk === a.first) header = 'Chunk: <- First Chunk';
    else if (a.profile.depopulation && slot === a.toDepopulateSlot) header = 'Chunk (to_depopulate)';
    else if (a.profile.depopulation && slot === a.sidelinedSlot) header = 'Chunk (sidelined):';
    chunks.push({ header, body: chunkSection(chunk) });
  }
  return formatStatsFile({
    infoLine: statLine,
    globalLine: statLine,
    geometry: a.geometry,
    stats: a.stats,
    extraGlobal: [['empty_pop_pages', a.emptyPopPages]],
    chunks,
  });
}
