/**
 * `/sys/kernel/debug/percpu_stats` text for the bitmap allocator (spec §6),
 * byte for byte as 4.14 and 7.0 print it.
 */
import { findLastBitIn, findNextBit, testBit } from './bitmap.js';
import type { BitmapAllocator } from './bitmap-allocator.js';
import { Hdr, Md, type Chunk } from './chunk.js';
import { MIN_ALLOC_SIZE } from './constants.js';

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

export function chunkFragStats(chunk: Chunk): ChunkFragStats {
  const h = chunk.hdr;
  const map = chunk.allocMap;
  // The kernel's search bound excludes the last usable bit (a quirk kept on purpose),
  // and when nothing is found it tests the bound bit itself.
  const bound = chunk.mapBits - (h[Hdr.EndOffset]! >>> 2) - 1;
  let last = findLastBitIn(map, 0, bound);
  if (last < 0) last = bound;
  const lastAlloc = testBit(map, last) ? last + 1 : 0;
  const pieces: number[] = [];
  let start = h[Hdr.StartOffset]! >>> 2;
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
  const out: ChunkFragStats = { sumFrag: 0, maxFrag: 0, curMinAlloc: 0, curMedAlloc: 0, curMaxAlloc: 0 };
  if (pieces.length === 0) return out;
  pieces.sort((a, b) => a - b);
  let i = 0;
  for (; i < pieces.length && pieces[i]! < 0; i++) {
    out.sumFrag -= pieces[i]!;
    if (-pieces[i]! > out.maxFrag) out.maxFrag = -pieces[i]!;
  }
  const n = pieces.length;
  out.curMinAlloc = pieces[i] ?? 0;
  out.curMedAlloc = pieces[Math.floor((i + n - 1) / 2)]!;
  out.curMaxAlloc = pieces[n - 1]!;
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

/** The whole debugfs file for the allocator's current state. */
export function formatBitmapStats(a: BitmapAllocator): string {
  const g = a.geometry;
  const s = a.stats;
  let out = 'Percpu Memory Statistics\nAllocation Info:\n' + DASHES + '\n';
  out += statLine('unit_size', g.unitSize);
  out += statLine('static_size', g.staticSize);
  out += statLine('reserved_size', g.reservedSize);
  out += statLine('dyn_size', g.dynSize);
  out += statLine('atom_size', g.atomSize);
  out += statLine('alloc_size', g.allocSize);
  out += '\nGlobal Stats:\n' + DASHES + '\n';
  out += statLine('nr_alloc', s.nrAlloc);
  out += statLine('nr_dealloc', s.nrDealloc);
  out += statLine('nr_cur_alloc', s.nrCurAlloc);
  out += statLine('nr_max_alloc', s.nrMaxAlloc);
  out += statLine('nr_chunks', s.nrChunks);
  out += statLine('nr_max_chunks', s.nrMaxChunks);
  out += statLine('min_alloc_size', s.minAllocSize);
  out += statLine('max_alloc_size', s.maxAllocSize);
  out += statLine('empty_pop_pages', a.emptyPopPages);
  out += '\nPer Chunk Stats:\n' + DASHES + '\n';
  const reserved = a.reserved;
  if (reserved) out += 'Chunk: <- Reserved Chunk\n' + chunkSection(reserved);
  for (const { chunk, slot } of a.chunksInSlotOrder()) {
    let header = 'Chunk:';
    if (chunk === a.first) header = 'Chunk: <- First Chunk';
    else if (a.profile.statsIsolationHeaders && slot === a.toDepopulateSlot) header = 'Chunk (to_depopulate)';
    else if (a.profile.statsIsolationHeaders && slot === a.sidelinedSlot) header = 'Chunk (sidelined):';
    out += header + '\n' + chunkSection(chunk);
  }
  return out;
}
