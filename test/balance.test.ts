// SPDX-License-Identifier: GPL-2.0-only
/**
 * Population, atomic requests and the balance work, as deterministic scenarios:
 * vm backend (pages populated on demand), 7.0's isolate → depopulate → sideline
 * path, and the `sync` / `none` policies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HintedBitmapAllocator } from '../src/engine/allocator.js';
import { ALLOC_ATOMIC } from '../src/engine/bitmap-allocator.js';
import { Hdr } from '../src/engine/chunk.js';
import { NULL_PTR, ptrChunk } from '../src/engine/pointer.js';

const SMALL = { unitSize: 65536, staticSize: 8192 };

function layout(a: HintedBitmapAllocator): string {
  return a
    .chunksInSlotOrder()
    .map(({ chunk, slot }) => `${chunk.id}@${slot}${chunk.hdr[Hdr.Isolated] ? '!' : ''}/p${chunk.hdr[Hdr.NrPopulated]}/e${chunk.hdr[Hdr.NrEmptyPopPages]}`)
    .join(' ');
}

test('7.0 vm: a chunk that empties out is isolated, depopulated and sidelined; allocation prefers other slots', () => {
  const events: string[] = [];
  const a = new HintedBitmapAllocator({ kernel: '7.0', geometry: SMALL, backend: 'vm', onChunkEvent: (t, c, bal) => events.push(`${t} ${c}${bal ? ' (balance)' : ''}`) });
  const pages: number[] = [];
  for (let i = 0; i < 40; i++) pages.push(a.alloc(4096, 4096));
  // The first chunk is announced at boot, as the kernel's tracepoint does; then the balance work pre-creates
  // chunks whenever fewer than 2 empty populated pages remain.
  assert.deepEqual(events, ['create 0', 'create 1 (balance)', 'create 2 (balance)', 'create 3 (balance)']);
  const inChunk = (id: number) => pages.filter((p) => ptrChunk(p) === id);
  for (const p of inChunk(2).slice(0, -1)) a.free(p);
  assert.equal(a.emptyPopPages, 18);
  // Freeing chunk 1 page by page: at 4 empty pages (nr_pages / 4) with more than 4 others elsewhere it is isolated.
  const c1 = inChunk(1);
  for (const p of c1.slice(0, 3)) a.free(p);
  assert.equal(layout(a), '0@0/p7/e0 1@11/p16/e3 2@13/p16/e15 3@13/p4/e3');
  a.free(c1[3]!);
  // Isolated: its empty pages leave the global count, the balance work depopulates them and sidelines it (slot 15).
  assert.equal(layout(a), '0@0/p7/e0 2@13/p16/e15 3@13/p4/e3 1@15!/p12/e0');
  assert.equal(a.emptyPopPages, 18);
  assert.match(a.formatStats(), /Chunk \(sidelined\):\n/);
  assert.deepEqual(a.check(), []);
  // A new request is served from a normal slot before the sidelined chunk.
  assert.equal(ptrChunk(a.alloc(4096, 4096)), 2);
});

test('4.14 vm: pages are populated on demand and never depopulated while in use', () => {
  const a = new HintedBitmapAllocator({ kernel: '4.14', geometry: SMALL, backend: 'vm', balance: 'none' });
  const p = a.alloc(4096, 4096);
  // The first chunk is fully populated (immutable); nothing else exists yet.
  assert.equal(ptrChunk(p), 0);
  const q: number[] = [];
  for (let i = 0; i < 8; i++) q.push(a.alloc(4096, 4096));
  const c1 = a.getChunk(1)!;
  assert.ok(c1);
  // Chunk 1 was created on demand (balance off) with nothing populated; each 4 KiB allocation populated one page.
  const inC1 = q.filter((x) => ptrChunk(x) === 1).length;
  assert.equal(c1.hdr[Hdr.NrPopulated], inC1);
  assert.deepEqual(a.check(), []);
});

for (const kernel of ['4.14', '7.0'] as const) {
  test(`${kernel}: atomic requests use populated pages only and never create a chunk; a failure asks the balance work for pages`, () => {
    const a = new HintedBitmapAllocator({ kernel, geometry: SMALL, backend: 'vm', balance: 'none' });
    // Fill the first chunk so that only a new, unpopulated chunk could serve.
    while (a.liveChunks().length === 1) a.alloc(4096, 4096);
    const fresh = a.getChunk(1)!;
    const populatedBefore = fresh.hdr[Hdr.NrPopulated]!;
    let served = 0;
    for (let i = 0; i < 64; i++) {
      const p = a.alloc(4096, 4096, ALLOC_ATOMIC);
      if (p === NULL_PTR) break;
      served++;
    }
    // Atomic allocations fit only into pages already populated and never populate more.
    assert.equal(fresh.hdr[Hdr.NrPopulated], populatedBefore);
    assert.ok(served <= populatedBefore);
    assert.equal(a.liveChunks().length, 2);
    assert.equal(a.balanceScheduled, true);
    a.runBalanceWork();
    assert.ok(fresh.hdr[Hdr.NrPopulated]! > populatedBefore, 'the failed atomic request made the balance work populate pages');
    assert.notEqual(a.alloc(4096, 4096, ALLOC_ATOMIC), NULL_PTR);
    assert.deepEqual(a.check(), []);
  });

  test(`${kernel}: balance 'sync' destroys surplus free chunks, 'none' keeps them until run by hand`, () => {
    for (const policy of ['sync', 'none'] as const) {
      const events: string[] = [];
      const a = new HintedBitmapAllocator({ kernel, geometry: SMALL, backend: 'km', balance: policy, onChunkEvent: (t, c) => events.push(`${t[0]}${c}`) });
      const ptrs: number[] = [];
      for (let i = 0; i < 60; i++) ptrs.push(a.alloc(4096, 4096));
      for (const p of ptrs) a.free(p);
      const destroyed = events.filter((e) => e.startsWith('d')).length;
      if (policy === 'sync') {
        assert.ok(destroyed > 0);
        // At most one fully free chunk is kept.
        const free = a.liveChunks().filter((c) => c !== a.first && c.hdr[Hdr.FreeBytes] === SMALL.unitSize).length;
        assert.ok(free <= 1, `${free} free chunks kept`);
      } else {
        assert.equal(destroyed, 0);
        assert.equal(a.balanceScheduled, true);
        a.runBalanceWork();
        assert.ok(events.some((e) => e.startsWith('d')));
      }
      assert.deepEqual(a.check(), []);
    }
  });
}
