// SPDX-License-Identifier: GPL-2.0-only
/**
 * `percpu/trace`: the kernel's percpu tracepoints as data — the tracefs text
 * parser (streaming; plain, gzip or xz), a replay of a whole trace through a
 * profile with every placement compared, and the per-chunk verification that
 * `percpu verify-trace` prints. Node only (it reads files).
 */
export { TraceEventKind, TRACE_EVENT_NAMES, TRACE_FLAG_RESERVED, TRACE_FLAG_ATOMIC, TraceParser, parseTraceText, parseTraceFile, traceDefects, describeTrace, lostEventWarnings } from './parse.js';
export type { ParsedTrace, TraceEvents, TracePreamble, LostEvents, TraceFormat } from './parse.js';
export { replayTrace, formatTraceReplay } from './replay.js';
export type { TraceReplayOptions, TraceReplayResult, ReplayDisagreement, MismatchKind, ChunkPair, BalancePolicy, BalancePoint } from './replay.js';
export { verifyParsedTrace, formatTraceVerification, workloadName } from './verify-trace.js';
export type { VerifyTraceOptions, TraceVerification, ChunkVerification, TraceFailSummary } from './verify-trace.js';
export { indexChunks, chunkHistory } from './chunks.js';
export type { TraceChunks, ChunkInstance, ChunkHistory, LostFree, LostAlloc } from './chunks.js';
export type { ChunkReplayResult, ChunkReplayOptions, FailExcuse, Reorder, PlacementMismatch, FailCheck, ChunkFailChecks } from './chunk-replay.js';
