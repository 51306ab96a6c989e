// SPDX-License-Identifier: GPL-2.0-only
/**
 * The `/sys/kernel/debug/percpu_stats` format (spec §6.1), in one place: the
 * typed view of one snapshot, the sections with their field names in print
 * order, the line widths, the chunk headers, the differences between the two
 * layouts the kernel has used — and the one writer. Every allocator profile
 * hands `writePercpuStats` its numbers (the area map and the bitmap
 * allocators supply data, not text), and the parser (`stats-parse.ts`)
 * reads with the same tables, so writer and parser cannot drift apart.
 *
 *   4.14 … 7.0   every line `"  %-20s: %12lld"`; chunks print empty_pop_pages,
 *                first_bit, free_bytes, contig_bytes (and 5.9–5.13
 *                memcg_aware); the global section ends with empty_pop_pages;
 *                7.0 adds the `Chunk (to_depopulate)` and `Chunk (sidelined):`
 *                headers (which chunk gets them is the allocator's business).
 *   4.13         `"  %-24s: %8lld"` (info, chunks) and `"  %-18s: %14llu"`
 *                (global); chunks print free_size and contig_hint instead, no
 *                empty_pop_pages / first_bit, and the global section has no
 *                empty_pop_pages.
 *
 * Invariants: `parsePercpuStats(writePercpuStats(s))` gives `s` back (chunk
 * header lines aside); the writer prints exactly the fields of `s.layout`, an
 * optional one (memcg_aware) only when its value is present. Imports no
 * run-time code: the engine and the tools both depend on it.
 */
import type { GlobalStats } from '../engine/api.js';

/** The two layouts of the file: 4.13 (area map) and 4.14 onwards (bitmap). */
export type StatsLayout = '4.13' | '4.14';

/** The `Allocation Info` section: the first chunk's layout. */
export interface StatsAllocInfo {
  unitSize: number;
  staticSize: number;
  reservedSize: number;
  dynSize: number;
  atomSize: number;
  allocSize: number;
}

/** The global section: the engine's counters, plus what the file adds. */
export interface StatsGlobal extends GlobalStats {
  /** `pcpu_nr_empty_pop_pages`; absent in the 4.13 layout. */
  emptyPopPages: number | undefined;
}

/** Which list a chunk was printed from, by its header line. */
export type StatsChunkKind = 'reserved' | 'first' | 'chunk' | 'to_depopulate' | 'sidelined';

/** The numbers of one chunk section, as a writer is given them. */
export interface StatsChunkValues {
  kind: StatsChunkKind;
  nrAlloc: number;
  maxAllocSize: number;
  /** Absent in the 4.13 layout. */
  emptyPopPages: number | undefined;
  /** Absent in the 4.13 layout. */
  firstBit: number | undefined;
  /** `free_bytes` (4.14+) or `free_size` (4.13). */
  freeBytes: number;
  /** `contig_bytes` (4.14+) or `contig_hint` (4.13), in bytes either way. */
  contigBytes: number;
  /** 5.9–5.13 with memcg kmem accounting only. */
  memcgAware: number | undefined;
  sumFrag: number;
  maxFrag: number;
  curMinAlloc: number;
  curMedAlloc: number;
  curMaxAlloc: number;
}

/** One chunk section of a parsed file. */
export interface StatsChunk extends StatsChunkValues {
  /** 1-based line of the chunk's header. */
  line: number;
}

/** What the writer prints: one snapshot's numbers (a parsed file is one). */
export interface PercpuStatsData {
  layout: StatsLayout;
  allocInfo: StatsAllocInfo;
  global: StatsGlobal;
  chunks: readonly StatsChunkValues[];
}

/** A parsed `percpu_stats` file. */
export interface PercpuStatsFile extends PercpuStatsData {
  chunks: StatsChunk[];
}

/** A value line's printf widths: `"  %-<name>s: %<value>lld"`. */
export interface StatsLineWidths {
  readonly name: number;
  readonly value: number;
}

/** One value line of a section: its name in the file, the property holding its value, whether it may be absent. */
export interface StatsField<T> {
  readonly name: string;
  readonly key: keyof T & string;
  /** Printed only when the value is present, and read only when the next line names it. */
  readonly optional?: boolean;
}

/** Everything that differs between the two layouts. */
export interface StatsLayoutFormat {
  readonly info: StatsLineWidths;
  readonly global: StatsLineWidths;
  readonly chunk: StatsLineWidths;
  readonly globalFields: readonly StatsField<StatsGlobal>[];
  readonly chunkFields: readonly StatsField<StatsChunkValues>[];
  /** The chunk headers this layout prints. */
  readonly kinds: readonly StatsChunkKind[];
}

/** The file's first line. */
export const STATS_TITLE = 'Percpu Memory Statistics';
/** The rule under each section heading. */
export const STATS_DASHES = '-'.repeat(40);
/** The section headings, in file order. */
export const STATS_SECTIONS = { info: 'Allocation Info:', global: 'Global Stats:', chunks: 'Per Chunk Stats:' } as const;

/** Each chunk kind's header line. */
export const CHUNK_HEADER: Readonly<Record<StatsChunkKind, string>> = {
  reserved: 'Chunk: <- Reserved Chunk',
  first: 'Chunk: <- First Chunk',
  chunk: 'Chunk:',
  to_depopulate: 'Chunk (to_depopulate)',
  sidelined: 'Chunk (sidelined):',
};

/** The allocation-info section's fields, in print order (the same in both layouts; the widths differ). */
export const INFO_FIELDS: readonly StatsField<StatsAllocInfo>[] = [
  { name: 'unit_size', key: 'unitSize' },
  { name: 'static_size', key: 'staticSize' },
  { name: 'reserved_size', key: 'reservedSize' },
  { name: 'dyn_size', key: 'dynSize' },
  { name: 'atom_size', key: 'atomSize' },
  { name: 'alloc_size', key: 'allocSize' },
];

/** The global section's counters, in print order (4.14+ adds `empty_pop_pages` after them). */
const GLOBAL_COUNTERS: readonly StatsField<StatsGlobal>[] = [
  { name: 'nr_alloc', key: 'nrAlloc' },
  { name: 'nr_dealloc', key: 'nrDealloc' },
  { name: 'nr_cur_alloc', key: 'nrCurAlloc' },
  { name: 'nr_max_alloc', key: 'nrMaxAlloc' },
  { name: 'nr_chunks', key: 'nrChunks' },
  { name: 'nr_max_chunks', key: 'nrMaxChunks' },
  { name: 'min_alloc_size', key: 'minAllocSize' },
  { name: 'max_alloc_size', key: 'maxAllocSize' },
];

/** 4.14+: every line `"  %-20s: %12lld"`. */
const WIDE: StatsLineWidths = { name: 20, value: 12 };

/** The 4.14+ chunk section before the fragment numbers: file name → property, in print order. */
export const CHUNK_KEYS_414 = {
  nr_alloc: 'nrAlloc',
  max_alloc_size: 'maxAllocSize',
  empty_pop_pages: 'emptyPopPages',
  first_bit: 'firstBit',
  free_bytes: 'freeBytes',
  contig_bytes: 'contigBytes',
} as const satisfies Record<string, keyof StatsChunkValues>;

/** The fragment numbers: file name → property, in print order. */
export const FRAG_KEYS = {
  sum_frag: 'sumFrag',
  max_frag: 'maxFrag',
  cur_min_alloc: 'curMinAlloc',
  cur_med_alloc: 'curMedAlloc',
  cur_max_alloc: 'curMaxAlloc',
} as const satisfies Record<string, keyof StatsChunkValues>;

/** A field every 4.14+ chunk section prints (all but the 5.9–5.13 `memcg_aware`). */
export type StatsChunkField = keyof typeof CHUNK_KEYS_414 | keyof typeof FRAG_KEYS;

/** The property of a parsed chunk that holds each always-printed 4.14+ field, in print order. */
export const CHUNK_FIELD_KEYS: Readonly<Record<StatsChunkField, keyof StatsChunkValues>> = { ...CHUNK_KEYS_414, ...FRAG_KEYS };

const fieldsOf = (keys: Readonly<Record<string, keyof StatsChunkValues>>): StatsField<StatsChunkValues>[] => Object.entries(keys).map(([name, key]) => ({ name, key }));

/** `chunk_map_stats`' fragment numbers, the last lines of every chunk section in both layouts. */
const FRAG_FIELDS: readonly StatsField<StatsChunkValues>[] = fieldsOf(FRAG_KEYS);

/** The two layouts, field by field. */
export const STATS_LAYOUTS: Readonly<Record<StatsLayout, StatsLayoutFormat>> = {
  '4.14': {
    info: WIDE,
    global: WIDE,
    chunk: WIDE,
    globalFields: [...GLOBAL_COUNTERS, { name: 'empty_pop_pages', key: 'emptyPopPages' }],
    chunkFields: [...fieldsOf(CHUNK_KEYS_414), { name: 'memcg_aware', key: 'memcgAware', optional: true }, ...FRAG_FIELDS],
    kinds: ['reserved', 'first', 'chunk', 'to_depopulate', 'sidelined'],
  },
  '4.13': {
    info: { name: 24, value: 8 },
    global: { name: 18, value: 14 },
    chunk: { name: 24, value: 8 },
    globalFields: GLOBAL_COUNTERS,
    chunkFields: [
      { name: 'nr_alloc', key: 'nrAlloc' },
      { name: 'max_alloc_size', key: 'maxAllocSize' },
      { name: 'free_size', key: 'freeBytes' },
      { name: 'contig_hint', key: 'contigBytes' },
      ...FRAG_FIELDS,
    ],
    kinds: ['reserved', 'first', 'chunk'],
  },
};

/** One value line, ending with its newline. */
export function formatStatsLine(w: StatsLineWidths, name: string, value: number): string {
  return `  ${name.padEnd(w.name)}: ${String(value).padStart(w.value)}\n`;
}

/** The lines of one section's fields; a required field whose value is absent prints as 0. */
function formatFields<T>(w: StatsLineWidths, fields: readonly StatsField<T>[], values: T): string {
  let out = '';
  for (const f of fields) {
    const v = values[f.key] as number | undefined;
    if (v === undefined && f.optional) continue;
    out += formatStatsLine(w, f.name, v ?? 0);
  }
  return out;
}

/** The whole file, as the kernel prints it for these numbers in `s.layout`. */
export function writePercpuStats(s: PercpuStatsData): string {
  const L = STATS_LAYOUTS[s.layout];
  let out = `${STATS_TITLE}\n${STATS_SECTIONS.info}\n${STATS_DASHES}\n`;
  out += formatFields(L.info, INFO_FIELDS, s.allocInfo);
  out += `\n${STATS_SECTIONS.global}\n${STATS_DASHES}\n`;
  out += formatFields(L.global, L.globalFields, s.global);
  out += `\n${STATS_SECTIONS.chunks}\n${STATS_DASHES}\n`;
  for (const c of s.chunks) out += CHUNK_HEADER[c.kind] + '\n' + formatFields(L.chunk, L.chunkFields, c) + '\n';
  return out;
}
