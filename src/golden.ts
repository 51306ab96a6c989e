// SPDX-License-Identifier: GPL-2.0-only
/**
 * `percpu/golden`: golden files — the recorded placements of the kernel's own
 * allocator code (FORMAT.md) — parsed whole or while they stream in, replayed
 * through a profile with every placement compared, and the doctor's diagnosis
 * of a history's stale hints. The file readers are Node only; the parser and
 * the replay of a parsed file are not.
 */
export { parseGolden, GoldenParser, GoldenCollector, OpKind, MAX_HEADER_LINE } from './formats/golden.js';
export type { GoldenFile, GoldenHeader, GoldenOps, GoldenSink } from './formats/golden.js';
export { streamGolden, parseGoldenFile } from './formats/files.js';
export { replayGolden, formatReplayResult, profileOf, GoldenReplay } from './tools/replay/golden.js';
export type { ReplayOptions, ReplayResult, Mismatch } from './tools/replay/golden.js';
export { replayGoldenFile } from './tools/replay/golden-file.js';
export { diagnoseHistory, formatDiagnosis } from './tools/doctor.js';
export type { HistoryDiagnosis, StaleHint, AffectedRequest } from './tools/doctor.js';
