// SPDX-License-Identifier: GPL-2.0-only
/**
 * The format parsers over files (on disk, or standard input for `-`): golden
 * files parsed while they stream in, `percpu_stats` snapshots read whole (they
 * are a few KiB). Node-only — the parsers themselves (`golden.ts`,
 * `stats-parse.ts`) stay free of Node APIs — and every byte comes through the
 * one reader, `input.ts`.
 */
import { GoldenCollector, GoldenParser, type GoldenFile, type GoldenSink } from './golden.js';
import { parsePercpuStats, type PercpuStatsFile } from './stats-parse.js';
import { displayName, readLines, readSmallText } from './input.js';

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

/** Read and parse a `percpu_stats` snapshot (plain, gzip or xz; `-` = stdin). */
export async function readPercpuStatsFile(path: string): Promise<PercpuStatsFile> {
  return parsePercpuStats(await readSmallText(path), displayName(path));
}
