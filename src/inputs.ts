// SPDX-License-Identifier: GPL-2.0-only
/**
 * The format parsers over files (on disk, or standard input for `-`): golden
 * files parsed or replayed while they stream in, `percpu_stats` snapshots read
 * whole (they are a few KiB). Node-only — the parsers themselves
 * (`golden/format.ts`, `trace/stats-parse.ts`) stay free of Node APIs — and
 * every byte comes through the one reader, `io.ts`.
 */
import { GoldenCollector, GoldenParser, type GoldenFile, type GoldenSink } from './golden/format.js';
import { GoldenReplay, type ReplayOptions, type ReplayResult } from './golden/replay.js';
import { parsePercpuStats, type PercpuStatsFile } from './trace/stats-parse.js';
import { displayName, readLines, readSmallText } from './io.js';

/** Stream `path` (plain, gzip, xz; `-` = stdin) through a golden parser into `sink`. */
export async function streamGolden(path: string, name: string, sink: GoldenSink): Promise<void> {
  const p = new GoldenParser(name, sink);
  await readLines(path, (line, n) => p.line(line, n));
  p.finish();
}

/** Parse a golden file from disk or stdin, without holding its text. */
export async function parseGoldenFile(path: string, name = displayName(path)): Promise<GoldenFile> {
  const sink = new GoldenCollector();
  await streamGolden(path, name, sink);
  return sink.file(name);
}

/** Replay a golden file while it streams in: memory is the allocator and an id table, not the file. */
export async function replayGoldenFile(path: string, options: ReplayOptions = {}, name = displayName(path)): Promise<{ result: ReplayResult; ops: number }> {
  const r = new GoldenReplay(name, options);
  await streamGolden(path, name, r);
  return { result: r.finish(), ops: r.ops };
}

/** Read and parse a `percpu_stats` snapshot (plain, gzip or xz; `-` = stdin). */
export async function readPercpuStatsFile(path: string): Promise<PercpuStatsFile> {
  return parsePercpuStats(await readSmallText(path), displayName(path));
}
