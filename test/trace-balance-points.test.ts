// SPDX-License-Identifier: GPL-2.0-only
/**
 * When the whole-trace replay runs its balance work (the `deferred` policy): at
 * the moments the trace implies — a chunk destroyed (only the balance work
 * destroys chunks), an atomic allocation into pages the simulation had not
 * populated, an allocation into a chunk the simulation holds isolated — and to
 * a fixed point at the end. Each trace is hand-built (test-support/synthetic-trace.ts)
 * on 8-page chunks of 32 KiB, one unit, and every expected state is computed by
 * hand in the comments (spec §3.8, §4.2, §4.4). Events are 10 µs apart, so the
 * 1 ms delay rule never fires unless a test spaces them out on purpose.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BitmapAllocator } from '../src/engine/bitmap-allocator.js';
import { Hdr } from '../src/engine/chunk.js';
import { parseTraceText } from '../src/formats/trace.js';
import { replayTrace, type BalancePolicy, type TraceReplayResult } from '../src/tools/replay/trace.js';
import { simulatedSections } from '../src/tools/replay/stats-compare.js';
import { alloc, create, destroy, fail618, free, traceText } from '../test-support/synthetic-trace.js';

const GEOMETRY = { unitSize: 32768, pageSize: 4096, nrUnits: 1 };
const A = '00000000aaaa0000';
const B = '00000000bbbb0000';
const T0 = 100;
const at = (k: number) => T0 + k * 0.00001;
/** Created by the allocation path (in the allocating task), not by the balance work's kworker. */
const BY_TASK = { task: 'task' };

function replay(lines: string[], balance: BalancePolicy, extra: { outsideEmptyPages?: number } = {}): TraceReplayResult {
  return replayTrace(parseTraceText(traceText(lines)), { geometry: GEOMETRY, kernel: '7.0', balance, ...extra });
}

/** The simulated chunk standing for kernel chunk `instance` at the end, as percpu_stats prints it. */
function finalSection(r: TraceReplayResult, instance: number) {
  const sc = r.finalPairs.get(instance);
  assert.ok(sc !== undefined, `kernel chunk #${instance} has a simulated partner at the end`);
  return simulatedSections(r.simulation).get(sc)!;
}

test('a chunk destroyed by the kernel runs the deferred balance work there: the simulation destroys its partner at that event, not at the free', () => {
  // After the setup the simulation holds a spare chunk with pages 0-3 populated (the populate step's
  // top-up to 4). A (32 KiB) takes it; B gets a fresh one. Freeing A, then B, leaves both fully
  // free; freeing B schedules the work (another chunk, A, is in the free slot). The free slot lists
  // B (freed last, moved to the head) before A, so balance_free destroys A — at the kernel's destroy.
  const lines = [
    create(at(0), A, BY_TASK),
    alloc(at(1), A, 0, 32768),
    create(at(2), B, BY_TASK),
    alloc(at(3), B, 0, 32768),
    free(at(4), A, 0),
    free(at(5), B, 0),
    destroy(at(6), A),
  ];
  const r = replay(lines, 'deferred');
  assert.equal(r.matched, 2);
  assert.equal(r.compared, 2);
  assert.equal(r.balanceRuns['kernel-balance-event'], 1);
  assert.equal(r.simDestroyed.length, 1);
  assert.equal(r.simDestroyed[0]!.seq, 6, 'destroyed while replaying the kernel\'s destroy event');
  assert.equal(r.lifetimeDifferences, 0);
  // B at the end: empty, all 8 pages populated and empty, in the free slot (a plain section).
  const b = finalSection(r, 1);
  assert.deepEqual([b.kind, b.nrAlloc, b.emptyPopPages, b.freeBytes], ['chunk', 0, 8, 32768]);

  // Run at once instead, the simulation destroys A's partner while replaying the free of B, before the kernel did.
  const s = replay(lines, 'sync');
  assert.equal(s.lifetimeDifferences, 1);
  assert.match(s.lifetimeDisagreements[0]!, /while replaying line 8; the kernel destroyed its chunk #0 later \(line 9\)/);
});

test('an atomic allocation after an atomic failure: the kernel\'s populate step ran meanwhile, in the chunk its placement shows', () => {
  // A takes 32 KiB (the setup's spare chunk, pages 0-3 populated; then 4-7): the global count falls
  // to 0 and the work is scheduled, not run. B (new) takes 4 KiB at 0 (page 0). An atomic 4 KiB
  // request fails: no populated free page anywhere. The kernel's next run (failure flag set:
  // 4 pages) populates B's lowest holes, pages 1-4, and the atomic request lands at 4096. Deferred
  // replay: at that allocation the partner lacks page 1, so the run is due; its 4 pages go where the
  // placement shows (pages 1-4 of B), then the pending work finds the count at 4 and does nothing.
  const lines = [
    create(at(0), A, BY_TASK),
    alloc(at(1), A, 0, 32768),
    create(at(2), B, BY_TASK),
    alloc(at(3), B, 0, 4096),
    fail618(at(4), 4096, { atomic: true }),
    alloc(at(5), B, 4096, 4096, { atomic: true }),
  ];
  const r = replay(lines, 'deferred');
  assert.deepEqual([r.matched, r.compared, r.unverifiableAtomicTiming], [3, 3, 0]);
  assert.equal(r.balanceRuns['atomic-after-failure'], 2, 'the failure\'s populate run, then the pending work');
  assert.deepEqual(r.directedPopulation.map((d) => d.pages), [4]);
  // The end: the count is 3 (pages 2-4 of B), nothing scheduled, so no run.
  assert.equal(r.balanceRuns.end, 0);
  const b = finalSection(r, 1);
  assert.deepEqual([b.nrAlloc, b.emptyPopPages], [2, 3]);
  assert.equal((r.simulation as unknown as BitmapAllocator).emptyPopPages, 3);
  assert.deepEqual([finalSection(r, 0).nrAlloc, finalSection(r, 0).emptyPopPages], [1, 0]);

  // Run at once, the work tops the count up after A (a spare chunk with pages 0-3), B takes that
  // spare, and the failure's run populates B's pages 4-7: 8 pages populated, 6 of them empty.
  const s = replay(lines, 'sync');
  assert.equal(s.matched, 3);
  assert.equal(finalSection(s, 1).emptyPopPages, 6);
});

test('an allocation into a chunk the simulation holds isolated runs the pending reclaim first; at the end a lone isolated chunk is sidelined', () => {
  // 20 empty populated pages are assumed outside the traced chunks, so isolation's test (global
  // > 4 + the chunk's own empty pages, own >= 8/4) passes. A: 4 KiB at 0, 28 KiB at 4096 (pages
  // 1-7). Freeing the 28 KiB leaves 7 empty pages: global 27 > 11, so A is isolated (global back to
  // 20) and the work scheduled. Reclaim depopulates pages 7..1 (global stays >= 4) and, A not being
  // fully free, sidelines it.
  const base = [create(at(0), A, BY_TASK), alloc(at(1), A, 0, 4096), alloc(at(2), A, 4096, 28672), free(at(3), A, 4096)];
  const end = replay(base, 'deferred', { outsideEmptyPages: 20 });
  assert.equal(end.balanceRuns.end, 1);
  const sidelined = finalSection(end, 0);
  assert.deepEqual([sidelined.kind, sidelined.nrAlloc, sidelined.emptyPopPages], ['sidelined', 1, 0]);

  // The kernel then places 4 KiB at 4096 in A (reached in the sidelined slot, which reintegrates it).
  // The simulation, still holding A in to_depopulate (never searched), runs the work first.
  const r = replay([...base, alloc(at(4), A, 4096, 4096)], 'deferred', { outsideEmptyPages: 20 });
  assert.equal(r.balanceRuns['alloc-into-isolated'], 1);
  assert.equal(r.matched, 3);
  const back = finalSection(r, 0);
  // Reintegrated (plain section); page 1 populated again for the allocation, so no empty page.
  assert.deepEqual([back.kind, back.nrAlloc, back.emptyPopPages], ['chunk', 2, 0]);
  const c = (r.simulation as unknown as BitmapAllocator).getChunk(r.finalPairs.get(0)!)!;
  assert.equal(c.hdr[Hdr.NrPopulated], 2);

  // Never running the work leaves A isolated: the allocation goes to a new chunk, a disagreement.
  const none = replay([...base, alloc(at(4), A, 4096, 4096)], 'none', { outsideEmptyPages: 20 });
  assert.equal(none.mismatched.chunk, 1);
});

test('the delay rule: a scheduled work has run once the trace clock moved on 1 ms', () => {
  // As above, but the next event (an allocation into B) comes 5 ms after the free that isolated A:
  // the work runs before it (delay), so A is sidelined by then, not at the end.
  const lines = [
    create(at(0), A, BY_TASK),
    alloc(at(1), A, 0, 4096),
    alloc(at(2), A, 4096, 28672),
    free(at(3), A, 4096),
    create(at(3) + 0.005, B, BY_TASK),
    alloc(at(4) + 0.005, B, 0, 32768),
  ];
  const r = replay(lines, 'deferred', { outsideEmptyPages: 20 });
  assert.equal(r.balanceRuns.delay, 1);
  assert.equal(finalSection(r, 0).kind, 'sidelined');
  const off = replayTrace(parseTraceText(traceText(lines)), { geometry: GEOMETRY, kernel: '7.0', balance: 'deferred', balanceDelayUs: 0, outsideEmptyPages: 20 });
  assert.equal(off.balanceRuns.delay, 0);
  assert.equal(off.balanceRuns.end, 1);
});

test('4.14 in the whole-trace replay: no isolation, no depopulation, the freed pages stay populated', () => {
  // The trace that 7.0 ends with A sidelined and depopulated (above). 4.14 never isolates: the free
  // of 28 KiB spans blocks, so the chunk is refreshed whole and its empty pages recounted (pages
  // 1-7, all populated and free: 7); nothing schedules the work on that free, and at the end the
  // global count (20 assumed + 7) needs no population.
  const lines = [create(at(0), A, BY_TASK), alloc(at(1), A, 0, 4096), alloc(at(2), A, 4096, 28672), free(at(3), A, 4096)];
  const r = replayTrace(parseTraceText(traceText(lines)), { geometry: GEOMETRY, kernel: '4.14', balance: 'deferred', outsideEmptyPages: 20 });
  assert.equal(r.matched, 2);
  const a = finalSection(r, 0);
  assert.deepEqual([a.kind, a.nrAlloc, a.emptyPopPages], ['chunk', 1, 7]);
  assert.equal(r.balanceRuns['alloc-into-isolated'], 0);
});
