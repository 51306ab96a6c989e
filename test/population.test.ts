// SPDX-License-Identifier: GPL-2.0-only
/**
 * Populated-page accounting of the vm backend, recounted from the bitmaps
 * after every op: per chunk, `nr_populated` is the populated bitmap's weight
 * and (7.0) `nr_empty_pop_pages` the populated pages holding no allocated bit;
 * globally, `pcpu_nr_populated` is the sum of the chunks' populated pages and
 * `pcpu_nr_empty_pop_pages` the sum of the empty ones over the chunks that are
 * neither reserved nor isolated. Atomic requests land in populated pages only.
 * Random sequences mix normal and atomic requests, frees, and — with the
 * balance work deferred — explicit runs of it, as a workqueue would, and the
 * hooks a trace replay drives (an atomic failure noted, pages populated as the
 * balance work's populate step does).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HintedBitmapAllocator } from '../src/engine/allocator.js';
import { ALLOC_ATOMIC } from '../src/engine/bitmap-allocator.js';
import { testBit } from '../src/engine/bitmap.js';
import { Hdr, type Chunk } from '../src/engine/chunk.js';
import { NULL_PTR, ptrChunk, ptrOffset } from '../src/engine/pointer.js';

type Op =
  | { kind: 'a'; size: number; align: number; atomic: boolean }
  | { kind: 'f'; pick: number }
  | { kind: 'b' }
  /** A trace replay's hooks: the kernel's atomic failure noted, pages populated as the populate step does. */
  | { kind: 'n' }
  | { kind: 'p'; pick: number; page: number; pages: number; max: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('a' as const),
      size: fc.oneof(fc.integer({ min: 1, max: 256 }), fc.integer({ min: 257, max: 4096 }), fc.integer({ min: 4097, max: 12000 })),
      align: fc.constantFrom(4, 8, 64, 4096),
      atomic: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
    }),
  },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('f' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'b' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'n' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('p' as const), pick: fc.nat(), page: fc.nat({ max: 8 }), pages: fc.integer({ min: 1, max: 8 }), max: fc.integer({ min: 1, max: 8 }) }),
  },
);

function pageIsEmpty(c: Chunk, page: number, pageBits: number): boolean {
  for (let b = page * pageBits; b < (page + 1) * pageBits; b++) if (testBit(c.allocMap, b)) return false;
  return true;
}

/** Recount every populated-page counter from the bitmaps and compare; `where` names the op. */
function recount(a: HintedBitmapAllocator, kernel: '4.14' | '7.0', where: string): void {
  // The kernel's pcpu_nr_populated also counts the first region's pages below the first chunk's base page (the static area).
  const first = a.first;
  const belowBase = first ? Math.floor(first.hdr[Hdr.BaseOffset]! / a.geometry.pageSize) : 0;
  const pageBits = a.geometry.pageSize >>> 2;
  let populated = 0;
  let empty = 0;
  for (const c of a.liveChunks()) {
    let pop = 0;
    let emptyPop = 0;
    for (let p = 0; p < c.nrPages; p++) {
      if (!testBit(c.populated, p)) continue;
      pop++;
      if (pageIsEmpty(c, p, pageBits)) emptyPop++;
    }
    assert.equal(c.hdr[Hdr.NrPopulated], pop, `${where}: chunk ${c.hdr[Hdr.Id]} nr_populated vs its populated bitmap`);
    populated += pop;
    // 4.14 recounts its empty pages only on full chunk refreshes (spec §3.8), so only 7.0 is exact after every op.
    if (kernel === '7.0') {
      assert.equal(c.hdr[Hdr.NrEmptyPopPages], emptyPop, `${where}: chunk ${c.hdr[Hdr.Id]} nr_empty_pop_pages vs a recount`);
      if (c !== a.reserved && !c.hdr[Hdr.Isolated]) empty += emptyPop;
    }
  }
  assert.equal(a.populatedPages, populated + belowBase, `${where}: pcpu_nr_populated vs the chunks' populated bitmaps`);
  if (kernel === '7.0') assert.equal(a.emptyPopPages, empty, `${where}: pcpu_nr_empty_pop_pages vs a recount over non-isolated chunks`);
}

function run(kernel: '4.14' | '7.0', balance: 'sync' | 'none', ops: Op[]): void {
  const a = new HintedBitmapAllocator({ kernel, geometry: { unitSize: 32768, staticSize: 4104, dynSize: 24568 }, backend: 'vm', balance });
  const pageBits = a.geometry.pageSize >>> 2;
  const live: number[] = [];
  recount(a, kernel, 'setup');
  ops.forEach((op, i) => {
    if (op.kind === 'a') {
      const p = a.alloc(op.size, op.align, op.atomic ? ALLOC_ATOMIC : 0);
      if (p !== NULL_PTR) {
        live.push(p);
        if (op.atomic) {
          // An atomic request never populates: every page it touches was populated already.
          const c = a.getChunk(ptrChunk(p))!;
          const off = ptrOffset(p);
          const size = (op.size + 3) & ~3;
          for (let pg = Math.floor(off / 4 / pageBits); pg < Math.ceil((off + size) / 4 / pageBits); pg++) {
            assert.ok(testBit(c.populated, pg), `op ${i}: atomic allocation at ${off} touches unpopulated page ${pg}`);
          }
        }
      }
    } else if (op.kind === 'f') {
      if (live.length > 0) {
        const k = op.pick % live.length;
        a.free(live[k]!);
        live[k] = live[live.length - 1]!;
        live.pop();
      }
    } else if (op.kind === 'n') {
      a.noteAtomicAllocFailure();
      assert.ok(balance === 'sync' || a.balanceScheduled, `op ${i}: a noted atomic failure schedules the balance work`);
    } else if (op.kind === 'p') {
      const chunks = a.liveChunks().filter((c) => c !== a.reserved);
      const c = chunks[op.pick % chunks.length]!;
      const before = c.hdr[Hdr.NrPopulated]!;
      const got = a.populatePagesAsBalance(c.hdr[Hdr.Id]!, op.page, op.page + op.pages, op.max);
      assert.ok(got <= op.max && got <= op.pages, `op ${i}: populated ${got} pages, at most ${Math.min(op.max, op.pages)}`);
      assert.equal(c.hdr[Hdr.NrPopulated], before + got);
    } else if (a.balanceScheduled) {
      a.runBalanceWork();
    }
    recount(a, kernel, `after op ${i} (${op.kind})`);
  });
  if (balance === 'none' && a.balanceScheduled) {
    a.runBalanceWork();
    recount(a, kernel, 'after the final balance work');
  }
}

for (const kernel of ['7.0', '4.14'] as const) {
  for (const balance of ['sync', 'none'] as const) {
    test(`${kernel} vm, balance ${balance}: populated-page counters equal a recount from the bitmaps after every op`, () => {
      fc.assert(fc.property(fc.array(opArb, { minLength: 40, maxLength: 250 }), (ops) => run(kernel, balance, ops)), { numRuns: 120, endOnFailure: true });
    });
  }
}

test('the recount notices a wrong counter (the check can fail)', () => {
  const a = new HintedBitmapAllocator({ kernel: '7.0', geometry: { unitSize: 32768, staticSize: 4104, dynSize: 24568 }, backend: 'vm' });
  a.alloc(4096, 4096);
  recount(a, '7.0', 'baseline');
  const c = a.liveChunks().find((x) => x.hdr[Hdr.NrPopulated]! > 0)!;
  c.hdr[Hdr.NrEmptyPopPages] = c.hdr[Hdr.NrEmptyPopPages]! + 1;
  assert.throws(() => recount(a, '7.0', 'tampered'), /nr_empty_pop_pages vs a recount/);
});
