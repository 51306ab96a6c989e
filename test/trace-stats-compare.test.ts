// SPDX-License-Identifier: GPL-2.0-only
/**
 * The replayed percpu_stats against the kernel's after-snapshot, on every
 * bundled whole real trace (the captures and the demo; the excerpts are cut
 * from longer traces, so no snapshot was taken at their end): each chunk
 * created in the trace and alive at its end is either compared — every field
 * equal, or a difference reported as timing with its reason, or the
 * population fields named not comparable with the reason — or listed as not
 * compared with the reason. Global fields are never counted as matches. And
 * the comparison can fail: a doctored snapshot is caught field by field.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseTraceFile } from '../src/trace/parse.js';
import { replayTrace } from '../src/trace/replay.js';
import { compareWithSnapshot, statsDiffer, type StatsComparison } from '../src/trace/stats-compare.js';
import { formatPercpuStats, geometryFromStats, parsePercpuStats, type PercpuStatsFile } from '../src/trace/stats-parse.js';
import { fixturePath } from '../test-support/fixtures.js';

const TRACES: { name: string; trace: string[]; after: string[]; alive: number }[] = [
  { name: 'capture-bpf-nopre-fail', trace: ['traces', 'raw', 'capture-bpf-nopre-fail.trace.gz'], after: ['traces', 'stats', 'capture-bpf-nopre-fail.after.percpu_stats.txt'], alive: 0 },
  { name: 'capture-bpf-phash-3000x1024', trace: ['traces', 'raw', 'capture-bpf-phash-3000x1024.trace.gz'], after: ['traces', 'stats', 'capture-bpf-phash-3000x1024.after.percpu_stats.txt'], alive: 2 },
  { name: 'capture-lost-allocs', trace: ['traces', 'raw', 'capture-lost-allocs.trace.gz'], after: ['traces', 'stats', 'capture-lost-allocs.after.percpu_stats.txt'], alive: 1 },
  { name: 'capture-populate-phases', trace: ['traces', 'raw', 'capture-populate-phases.trace.gz'], after: ['traces', 'stats', 'capture-populate-phases.after.percpu_stats.txt'], alive: 4 },
  { name: 'demo', trace: ['demo', 'bpf-percpu-hash-1M-x-8B.trace.gz'], after: ['demo', 'after.percpu_stats'], alive: 1 },
];

const readStats = (parts: string[]) => parsePercpuStats(readFileSync(fixturePath(...parts), 'utf8'), parts.at(-1));

async function compare(t: (typeof TRACES)[number], after?: PercpuStatsFile): Promise<StatsComparison> {
  const trace = await parseTraceFile(fixturePath(...t.trace));
  const snap = after ?? readStats(t.after);
  const r = replayTrace(trace, { geometry: geometryFromStats(snap, { nrUnits: trace.preamble.nrCpus ?? 1 }), kernel: '7.0' });
  return compareWithSnapshot(r, snap, t.name);
}

for (const t of TRACES) {
  test(`${t.name}: every chunk alive at the end is equal, or its differences are timing or not comparable, with reasons`, async () => {
    const c = await compare(t);
    assert.equal(c.compared.length + c.notCompared.length, t.alive, 'every chunk created in the trace and alive at its end is accounted for');
    assert.equal(statsDiffer(c), false, JSON.stringify(c.compared.filter((x) => x.differences.some((d) => d.verdict === 'differs'))));
    for (const x of c.compared) {
      assert.ok(x.kernelLine > 0, `chunk ${x.chunk} found in the snapshot by its allocation map`);
      for (const d of x.differences) {
        assert.ok(['header', 'empty_pop_pages'].includes(d.field), `only population fields may be excused (${d.field})`);
        assert.ok((d.reason ?? '').length > 20, `chunk ${x.chunk} ${d.field}: a reason is given`);
      }
    }
    for (const n of c.notCompared) assert.ok(n.reason.length > 20);
    // Global fields depend on the chunks that existed before tracing: listed, never matched.
    assert.deepEqual(
      c.globalNotComparable.map((g) => g.field),
      ['nr_alloc', 'nr_dealloc', 'nr_cur_alloc', 'nr_max_alloc', 'nr_chunks', 'nr_max_chunks', 'min_alloc_size', 'max_alloc_size', 'empty_pop_pages'],
    );
  });
}

test('capture-populate-phases: the two chunks the simulation followed equal the kernel in all 12 fields, header included', async () => {
  const c = await compare(TRACES[3]!);
  const full = c.compared.filter((x) => x.differences.length === 0).map((x) => x.chunk);
  assert.deepEqual(full, [4, 7]);
  // The other two: the simulation put some of the atomic refill in the other chunk, so their population is not comparable.
  for (const x of c.compared.filter((y) => y.differences.length > 0)) {
    assert.deepEqual(x.differences.map((d) => [d.field, d.verdict]), [['header', 'not comparable'], ['empty_pop_pages', 'not comparable']]);
    assert.match(x.balanceUnknown ?? '', /another chunk/);
  }
});

test('replay: atomic allocations the kernel placed where the simulation had not populated or had sidelined are timing, with reasons, not disagreements', async () => {
  const t = TRACES[3]!;
  const trace = await parseTraceFile(fixturePath(...t.trace));
  const before = readStats(['traces', 'stats', 'capture-populate-phases.before.percpu_stats.txt']);
  const r = replayTrace(trace, { geometry: geometryFromStats(before, { nrUnits: trace.preamble.nrCpus ?? 1 }), kernel: '7.0' });
  assert.equal(r.unverifiableAtomicTiming, 10);
  for (const n of r.atomicTimingNotes) {
    assert.equal(trace.events.flags[n.seq]! & 2, 2, 'only atomic requests are excused');
    assert.match(n.detail, /sidelined|isolated|not populated/);
  }
  assert.deepEqual(r.mismatched, { chunk: 0, offset: 0, refused: 0, failed: 0 });
  assert.equal(r.matched, r.compared);
  assert.equal(r.compared + r.unverifiableAtomicTiming + r.unverifiablePreexisting + r.unverifiableAfterLostFree + r.unverifiableAfterLostAlloc, r.allocs);
});

test('a doctored snapshot is caught, field by field, and a changed header counts as timing with its reason', async () => {
  const t = TRACES[3]!;
  const snap = readStats(t.after);
  const base = await compare(t, snap);
  const target = base.compared.find((x) => x.differences.length === 0)!;
  const key = (k: { nrAlloc: number; freeBytes: number; firstBit: number | undefined }) => `${k.nrAlloc}/${k.freeBytes}/${k.firstBit}`;
  const targetKey = key(snap.chunks.find((k) => k.line === target.kernelLine)!);
  // Doctor every section that looks like the target's (several sidelined chunks are alike), so none is left to match it.
  const doctored = (change: (k: PercpuStatsFile['chunks'][number]) => void) => {
    const copy = parsePercpuStats(formatPercpuStats(snap));
    for (const k of copy.chunks) if (key(k) === targetKey) change(k);
    return copy;
  };
  // An allocation-map field: a real difference (no section holds the map any more; the nearest is shown).
  const c1 = await compare(t, doctored((k) => (k.contigBytes += 4)));
  const x1 = c1.compared.find((x) => x.chunk === target.chunk)!;
  assert.deepEqual(x1.differences.map((d) => [d.field, d.verdict]), [['contig_bytes', 'differs']]);
  assert.equal(statsDiffer(c1), true);
  // The header and the empty pages: the balance work's decision, which the trace cannot show.
  const c2 = await compare(t, doctored((k) => {
    k.kind = 'chunk';
    k.emptyPopPages = 3;
  }));
  const x2 = c2.compared.find((x) => x.chunk === target.chunk)!;
  assert.deepEqual(x2.differences.map((d) => [d.field, d.verdict, d.kernel]), [
    ['header', 'timing', 'Chunk:'],
    ['empty_pop_pages', 'timing', 3],
  ]);
  assert.match(x2.differences[0]!.reason!, /simulation isolated the chunk.*existed before tracing/);
  assert.equal(statsDiffer(c2), false);
});
