// SPDX-License-Identifier: GPL-2.0-only
/**
 * What the trace commands (trace-commands.ts) run, gathered so that they load
 * it in one lazy `import()` when one of them runs — `percpu verify`, `--help`
 * and the other commands never load the trace pipeline.
 */
export { capture } from '../tools/capture/capture.js';
export { describeTrace, parseTraceFile, traceDefects, TraceEventKind } from '../formats/trace.js';
export { formatTraceReplay, replayTrace } from '../tools/replay/trace.js';
export { geometryFromStats } from '../formats/stats-parse.js';
export { readPercpuStatsFile } from '../formats/files.js';
export { replayJson, toJson, verifyTraceJson } from './json.js';
export { formatChunkGolden, formatTraceVerification, verifyParsedTrace } from '../tools/replay/verify-trace.js';
export { compareWithSnapshot, formatStatsComparison, outsideFromSnapshots, statsDiffer } from '../tools/replay/stats-compare.js';
