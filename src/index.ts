// SPDX-License-Identifier: GPL-2.0-only
/**
 * percpu — the Linux kernel's percpu memory allocator, placement-exact, in TypeScript.
 *
 * Public entry point: the allocator factory and classes, pointers, geometry,
 * stats, the hint checker, golden-file replay and the typed errors.
 */
export { createAllocator, isImplemented, registerAllocator, HintedBitmapAllocator } from './engine/allocator.js';
export { BitmapAllocator } from './engine/bitmap-allocator.js';
export { PercpuChunkAllocator, GlobalCounters, RETRY_WALK } from './engine/skeleton.js';
export type { SkeletonChunk } from './engine/skeleton.js';
export { Chunk } from './engine/chunk.js';
export { makePtr, ptrChunk, ptrOffset, formatPtr, isNullPtr, NULL_PTR, RESERVED_CHUNK_ID, NULL_CHUNK_ID } from './engine/pointer.js';
// Every engine type, allocation flag, state layout and kernel constant (src/engine/api.ts).
export * from './engine/api.js';
export { sizeToSlotRaw } from './engine/constants.js';
export { resolveGeometry, defaultDynSize, buildAllocInfo } from './engine/geometry.js';
export { parseKernelVersion, bitmapProfile, defineProfile, checkRules, profileRules, RULE_NAMES, RULE_REQUIRES, PROFILE_4_14, PROFILE_7_0, KERNEL_ALIASES } from './engine/profile.js';
export type { DefineProfileOptions } from './engine/profile.js';
export { formatBitmapStats, chunkFragStats, statLine } from './engine/stats.js';
export type { ChunkFragStats } from './engine/stats.js';
export { checkBitmapAllocator, checkChunk, formatProblem } from './engine/checker.js';
export { parseGolden, OpKind } from './formats/golden.js';
export type { GoldenFile, GoldenHeader, GoldenOps } from './formats/golden.js';
export { replayGolden, formatReplayResult } from './tools/replay/golden.js';
export type { ReplayOptions, ReplayResult, Mismatch } from './tools/replay/golden.js';
export * from './errors.js';
export { AreaMapAllocator, AreaChunk, formatAreaMapStats, areaFragStats, checkAreaMapAllocator, checkAreaChunk } from './engine/area-map.js';
export type { AreaMapAllocatorOptions } from './engine/area-map.js';
// The JavaScript-threads runtime (also importable alone, browser-safe, as 'percpu/runtime').
export * from './runtime/index.js';
