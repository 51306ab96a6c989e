// SPDX-License-Identifier: GPL-2.0-only
/**
 * `percpu/stats`: the debugfs `percpu_stats` file — its parser (4.13 and
 * 4.14+ layouts), its writer for a parsed file and for a live bitmap
 * allocator, the geometry a snapshot implies, and the doctor's checks of the
 * inconsistencies a consistent allocator cannot show.
 */
export { parsePercpuStats, formatPercpuStats, geometryFromStats, statsInconsistencies } from '../trace/stats-parse.js';
export type { PercpuStatsFile, StatsChunk, StatsGlobal, StatsAllocInfo, StatsChunkKind, StatsLayout } from '../trace/stats-parse.js';
export { formatBitmapStats, chunkFragStats } from '../engine/stats.js';
export type { ChunkFragStats } from '../engine/stats.js';
export { readPercpuStatsFile } from '../inputs.js';
export { explainInconsistency } from '../doctor.js';
