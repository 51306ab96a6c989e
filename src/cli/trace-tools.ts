// SPDX-License-Identifier: GPL-2.0-only
/**
 * What the trace commands (trace-commands.ts) run, gathered so that they load
 * it in one lazy `import()` when one of them runs — `percpu verify`, `--help`
 * and the other commands never load the trace pipeline.
 */
export { capture } from '../trace/capture.js';
export { describeTrace, parseTraceFile, traceDefects, TraceEventKind } from '../trace/parse.js';
export { formatTraceReplay, replayTrace } from '../trace/replay.js';
export { geometryFromStats } from '../trace/stats-parse.js';
export { readPercpuStatsFile } from '../inputs.js';
export { replayJson, toJson, verifyTraceJson } from './json.js';
export { formatChunkGolden, formatTraceVerification, verifyParsedTrace } from '../trace/verify-trace.js';
export { compareWithSnapshot, formatStatsComparison, outsideFromSnapshots, statsDiffer } from '../trace/stats-compare.js';
