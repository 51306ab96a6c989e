// SPDX-License-Identifier: GPL-2.0-only
/**
 * The `--json` documents of the trace commands (`verify-trace`, `replay`),
 * built from their results in one place so the schemas in docs/JSON.md have
 * one definition each. Every document carries `command` and `schema` (bumped
 * on any incompatible change); counts are plain numbers, absent values null.
 */
import type { ParsedTrace } from '../formats/trace.js';
import { lostEventWarnings, traceDefects, TraceEventKind } from '../formats/trace.js';
import type { TraceVerification } from '../tools/replay/verify-trace.js';
import type { TraceReplayResult } from '../tools/replay/trace.js';

/** What every trace document says about its input. */
export function traceJson(t: ParsedTrace): Record<string, unknown> {
  const c = t.counts;
  return {
    file: t.name,
    lines: t.lines,
    events: t.events.length,
    allocs: c[TraceEventKind.Alloc],
    frees: c[TraceEventKind.Free],
    failedAllocs: c[TraceEventKind.AllocFail],
    chunksCreated: c[TraceEventKind.CreateChunk],
    chunksDestroyed: c[TraceEventKind.DestroyChunk],
    format: t.format,
    warnings: [...traceDefects(t), ...lostEventWarnings(t)],
  };
}

/** One trace's part of `verify-trace --json`. */
export function verifyTraceJson(v: TraceVerification): Record<string, unknown> {
  return {
    ...traceJson(v.trace),
    workload: v.workload,
    unitSize: v.unitSize,
    placements: v.placements,
    matched: v.matched,
    beyondUnit: v.beyondUnit,
    /** Failed allocations (`percpu_alloc_percpu_fail`) and how the per-chunk models judged them. */
    fails: v.fails,
    chunks: v.verified.map((c) => ({
      number: c.instance.number,
      placements: c.result.placements,
      matched: c.result.matched,
      frees: c.result.frees,
      mismatches: c.result.mismatches,
      explainedByReorder: c.result.explained,
      reorders: c.result.reorders.length,
      firstMismatches: c.result.firstMismatches,
      /** Placements not compared from this atomic request on (the per-chunk model has no population), or null. */
      atomicCut: c.result.atomicCut ?? null,
    })),
  };
}

/** `replay --json`. */
export function replayJson(r: TraceReplayResult, kernel: string, geometry: Record<string, unknown>): Record<string, unknown> {
  return {
    command: 'replay',
    schema: 1,
    ...traceJson(r.trace),
    kernel,
    balance: r.balance,
    balanceDelayUs: r.balanceDelayUs,
    balanceRuns: r.balanceRuns,
    directedPopulationPages: r.directedPopulation.reduce((a, d) => a + d.pages, 0),
    atomicFailuresAtEnd: r.atomicFailuresAtEnd,
    outsideEmptyPages: r.outsideEmptyPages,
    outsideEmptyPagesEnd: r.outsideEmptyPagesEnd,
    geometry,
    compared: r.compared,
    matched: r.matched,
    mismatched: r.mismatched,
    unverifiablePreexisting: r.unverifiablePreexisting,
    unverifiableAfterLostFree: r.unverifiableAfterLostFree,
    unverifiableAtomicTiming: r.unverifiableAtomicTiming,
    fails: r.fails,
    failsMatched: r.failsMatched,
    freeReplay: r.frees,
    chunkPairs: r.pairs.length,
    kernelChunksCreated: r.kernelCreated,
    kernelChunksDestroyed: r.kernelDestroyed,
    simChunksCreated: r.simCreated.length,
    simChunksDestroyed: r.simDestroyed.length,
    lifetimeDifferences: r.lifetimeDifferences,
    firstDisagreements: r.firstDisagreements,
  };
}

/** Every `--json` document as printed: indented, and a field a value lacks is `null`, never left out. */
export function toJson(doc: unknown): string {
  return JSON.stringify(doc, (_k, v: unknown) => (v === undefined ? null : v), 1);
}
