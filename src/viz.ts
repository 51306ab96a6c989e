// SPDX-License-Identifier: GPL-2.0-only
/**
 * `percpu/viz`: SVG maps of a bitmap allocator's chunks (pages as rows, runs
 * of 4-byte bits, hints overlaid), two profiles side by side with their
 * differences outlined, and the legend. Strings in, strings out: browser-safe.
 */
export { snapshotChunks, renderAllocatorMap, renderDiffMap } from './tools/viz/allocator-map.js';
export type { ChunkSnapshot, MapHeading } from './tools/viz/allocator-map.js';
export { renderChunkMap, legendSvg } from './tools/viz/chunk-map.js';
export type { ChunkMapOptions, LegendOptions } from './tools/viz/chunk-map.js';
