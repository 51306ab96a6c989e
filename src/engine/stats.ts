// SPDX-License-Identifier: GPL-2.0-only
/**
 * The numbers of `/sys/kernel/debug/percpu_stats` (spec §6) for the engine's
 * allocators: the fragment statistics shared by every version, the 4.14 / 7.0
 * chunk sections of the bitmap allocator, and the allocation-info / global
 * sections every profile shares. The text itself is written by the one writer,
 * `writePercpuStats` (`src/formats/stats.ts`); the 4.13 area map hands it its own
 * chunk numbers from `area-map.ts`.
 */
import { findLastBitIn, findNextBit, testBit } from './bitmap.js';
import type { BitmapAllocator, GlobalStats } from './bitmap-allocator.js';
import type { Geometry } from './geometry.js';
import { Hdr, Md, type Chunk } from './chunk.js';
import { MIN_ALLOC_SIZE } from './constants.js';
import { formatStatsLine, STATS_LAYOUTS, writePercpuStats, type PercpuStatsData, type StatsAllocInfo, type StatsChunkKind, type StatsChunkValues, type StatsLayout } from '../formats/stats.js';
import { bytesToBits, offsetToBit } from './units.js';

/** One value line of the 4.14+ layout: two spaces, the name in 20 columns, ": ", the value in 12. */
export function statLine(name: string, value: number): string {
  return formatStatsLine(STATS_LAYOUTS['4.14'].chunk, name, value);
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

/** The allocation-info section of a geometry. */
function allocInfoOf(g: Geometry): StatsAllocInfo {
  return { unitSize: g.unitSize, staticSize: g.staticSize, reservedSize: g.reservedSize, dynSize: g.dynSize, atomSize: g.atomSize, allocSize: g.allocSize };
}

/** A whole snapshot of an allocator's numbers: its geometry, its global counters (plus `empty_pop_pages` from 4.14 on) and its chunk sections in print order. */
export function statsSnapshot(layout: StatsLayout, geometry: Geometry, stats: GlobalStats, emptyPopPages: number | undefined, chunks: StatsChunkValues[]): PercpuStatsData {
  // Field by field: the counters may be getters over a shared buffer (`GlobalCounters`), which a spread would not copy.
  const s = stats;
  const global = { nrAlloc: s.nrAlloc, nrDealloc: s.nrDealloc, nrCurAlloc: s.nrCurAlloc, nrMaxAlloc: s.nrMaxAlloc, nrChunks: s.nrChunks, nrMaxChunks: s.nrMaxChunks, minAllocSize: s.minAllocSize, maxAllocSize: s.maxAllocSize, emptyPopPages };
  return { layout, allocInfo: allocInfoOf(geometry), global, chunks };
}

/** One bitmap chunk's section (4.14 layout). */
function chunkValues(chunk: Chunk, kind: StatsChunkKind): StatsChunkValues {
  const h = chunk.hdr;
  return {
    kind,
    nrAlloc: h[Hdr.NrAlloc]!,
    maxAllocSize: h[Hdr.MaxAllocSize]!,
    emptyPopPages: h[Hdr.NrEmptyPopPages]!,
    firstBit: chunk.md[chunk.chunkMd + Md.FirstFree]!,
    freeBytes: h[Hdr.FreeBytes]!,
    contigBytes: chunk.md[chunk.chunkMd + Md.Contig]! * MIN_ALLOC_SIZE,
    memcgAware: undefined,
    ...chunkFragStats(chunk),
  };
}

/** The bitmap allocator's current numbers (4.14 / 7.0), chunks in print order with their headers. */
export function bitmapStatsData(a: BitmapAllocator): PercpuStatsData {
  const chunks: StatsChunkValues[] = [];
  if (a.reserved) chunks.push(chunkValues(a.reserved, 'reserved'));
  for (const { chunk, slot } of a.chunksInSlotOrder()) {
    let kind: StatsChunkKind = 'chunk';
    if (chunk === a.first) kind = 'first';
    else if (a.profile.depopulation && slot === a.toDepopulateSlot) kind = 'to_depopulate';
    else if (a.profile.depopulation && slot === a.sidelinedSlot) kind = 'sidelined';
    chunks.push(chunkValues(chunk, kind));
  }
  return statsSnapshot('4.14', a.geometry, a.stats, a.emptyPopPages, chunks);
}

/** The whole debugfs file for the bitmap allocator's current state (4.14 / 7.0). */
export function formatBitmapStats(a: BitmapAllocator): string {
  return writePercpuStats(bitmapStatsData(a));
}
