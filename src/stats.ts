// SPDX-License-Identifier: GPL-2.0-only
/**
 * `percpu/stats`: the debugfs `percpu_stats` file — its format (field
 * names, order, widths, headers of the 4.13 and 4.14+ layouts), its one
 * writer (for a parsed file and for every allocator profile), its parser,
 * the geometry a snapshot implies, and the doctor's checks of the
 * inconsistencies a consistent allocator cannot show.
 */
export { parsePercpuStats, formatPercpuStats, geometryFromStats, statsInconsistencies } from './formats/stats-parse.js';
export { writePercpuStats, formatStatsLine, STATS_LAYOUTS, CHUNK_HEADER, CHUNK_FIELD_KEYS, CHUNK_KEYS_414, FRAG_KEYS, INFO_FIELDS, STATS_TITLE, STATS_SECTIONS, STATS_DASHES } from './formats/stats.js';
export type { PercpuStatsData, PercpuStatsFile, StatsChunk, StatsChunkValues, StatsChunkField, StatsGlobal, StatsAllocInfo, StatsChunkKind, StatsLayout, StatsField, StatsLayoutFormat, StatsLineWidths } from './formats/stats.js';
export { formatBitmapStats, bitmapStatsData, chunkFragStats } from './engine/stats.js';
export type { ChunkFragStats } from './engine/stats.js';
export { readPercpuStatsFile } from './formats/files.js';
export { explainInconsistency } from './tools/doctor.js';
