// SPDX-License-Identifier: GPL-2.0-only
/**
 * `percpu/trace`: the kernel's percpu tracepoints as data — the tracefs text
 * parser (streaming; plain, gzip or xz), a replay of a whole trace through a
 * profile with every placement compared, and the per-chunk verification that
 * `percpu verify-trace` prints. Node only (it reads files).
 */
export { TraceEventKind, TRACE_EVENT_NAMES, TRACE_FLAG_RESERVED, TRACE_FLAG_ATOMIC, TraceParser, parseTraceText, parseTraceFile, traceDefects, describeTrace, lostEventWarnings } from './formats/trace.js';
export type { ParsedTrace, TraceEvents, TracePreamble, LostEvents, TraceFormat } from './formats/trace.js';
export { replayTrace, formatTraceReplay } from './tools/replay/trace.js';
export type { TraceReplayOptions, TraceReplayResult, ReplayDisagreement, MismatchKind, ChunkPair, BalancePolicy, BalancePoint } from './tools/replay/trace.js';
export { verifyParsedTrace, formatTraceVerification, workloadName } from './tools/replay/verify-trace.js';
export type { VerifyTraceOptions, TraceVerification, ChunkVerification, TraceFailSummary } from './tools/replay/verify-trace.js';
export { indexChunks, chunkHistory } from './tools/replay/chunks.js';
export type { TraceChunks, ChunkInstance, ChunkHistory, LostFree, LostAlloc } from './tools/replay/chunks.js';
export type { ChunkReplayResult, ChunkReplayOptions, FailExcuse, Reorder, PlacementMismatch, FailCheck, ChunkFailChecks } from './tools/replay/chunk-replay.js';
