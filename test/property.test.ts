// SPDX-License-Identifier: GPL-2.0-only
/**
 * Random alloc/free sequences against a simple model of live allocations: every
 * placement is aligned, inside the usable region, overlaps nothing live; frees
 * give the space back; the stats agree with the model; and the hint checker is
 * clean after every op.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HintedBitmapAllocator } from '../src/engine/allocator.js';
import { ALLOC_ATOMIC } from '../src/engine/bitmap-allocator.js';
import { formatProblem } from '../src/engine/checker.js';
import { Hdr } from '../src/engine/chunk.js';
import { NULL_PTR, ptrChunk, ptrOffset } from '../src/engine/pointer.js';

type Op = { kind: 'a'; size: number; align: number; atomic: boolean } | { kind: 'f'; pick: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('a' as const),
      size: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 65, max: 4096 }), fc.integer({ min: 4097, max: 9000 })),
      align: fc.constantFrom(1, 2, 4, 8, 16, 32, 64, 256, 1024, 4096),
      atomic: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('f' as const), pick: fc.nat() }) },
);

interface Live {
  ptr: number;
  chunk: number;
  start: number;
  end: number;
}

function runModel(kernel: '4.14' | '7.0', mode: 'allocator' | 'chunk', fixed: boolean, ops: Op[], backend: 'vm' | 'km', pages = 4) {
  const geometry = mode === 'chunk' ? { unitSize: 4096 * pages } : { unitSize: 32768, staticSize: 4104, dynSize: 24568 };
  const a = new HintedBitmapAllocator({ kernel, geometry, mode, fixed, backend });
  const live: Live[] = [];
  let liveBytes = 0;
  for (const op of ops) {
    if (op.kind === 'a') {
      const ptr = a.alloc(op.size, op.align, op.atomic ? ALLOC_ATOMIC : 0);
      if (ptr === NULL_PTR) {
        assert.ok(mode === 'chunk' || op.atomic, 'a non-atomic allocation in allocator mode always succeeds');
        continue;
      }
      const size = (op.size + 3) & ~3;
      const align = Math.max(op.align, 4);
      const chunk = ptrChunk(ptr);
      const start = ptrOffset(ptr);
      const c = a.getChunk(chunk)!;
      assert.equal(start % align, 0, 'aligned');
      assert.ok(start >= c.startOffset && start + size <= c.mapBits * 4 - c.endOffset, 'inside the usable region');
      for (const l of live) assert.ok(l.chunk !== chunk || l.end <= start || start + size <= l.start, 'no overlap');
      assert.equal(a.allocationSize(ptr), size);
      live.push({ ptr, chunk, start, end: start + size });
      liveBytes += size;
    } else if (live.length > 0) {
      const k = op.pick % live.length;
      const l = live[k]!;
      a.free(l.ptr);
      live[k] = live[live.length - 1]!;
      live.pop();
      liveBytes -= l.end - l.start;
    }
    const problems = a.check();
    assert.deepEqual(problems.map(formatProblem), []);
    assert.equal(a.stats.nrCurAlloc, live.length);
  }
  // Nothing lost: the free bytes of all chunks plus the live bytes equal the usable bytes.
  let usable = 0;
  let free = 0;
  for (const c of a.liveChunks()) {
    usable += c.mapBits * 4 - c.startOffset - c.endOffset;
    free += c.freeBytes;
  }
  assert.equal(free + liveBytes, usable);
  // And everything can be freed again, leaving no allocation behind.
  for (const l of live) a.free(l.ptr);
  assert.equal(a.stats.nrCurAlloc, 0);
  assert.deepEqual(a.check().map(formatProblem), []);
}

for (const kernel of ['4.14', '7.0'] as const) {
  for (const fixed of [false, true]) {
    test(`${kernel}${fixed ? ' fixed' : ''}: random sequences in chunk mode keep every invariant`, () => {
      fc.assert(
        fc.property(fc.constantFrom(1, 2, 4, 16), fc.array(opArb, { minLength: 30, maxLength: 300 }), (pages, ops) => runModel(kernel, 'chunk', fixed, ops, 'km', pages)),
        { numRuns: 300 },
      );
    });
  }
  for (const backend of ['vm', 'km'] as const) {
    test(`${kernel} ${backend}: random sequences through the whole allocator keep every invariant`, () => {
      fc.assert(fc.property(fc.array(opArb, { minLength: 50, maxLength: 250 }), (ops) => runModel(kernel, 'allocator', false, ops, backend)), { numRuns: 150 });
    });
  }
}

// `freeArea` computes the chunk's slot only when the free may have moved it
// (free bytes or contig off 0, or their fls changed); the kernel recomputes it
// on every free. Whatever the free, the chunk must end up where the kernel's
// relocation puts it: moved to the new slot when `pcpu_chunk_slot` changed,
// left where it was listed (a 7.0 relegation included) when it did not.
for (const kernel of ['4.14', '7.0'] as const) {
  for (const backend of ['vm', 'km'] as const) {
    test(`${kernel} ${backend}: a free moves its chunk exactly when pcpu_chunk_slot changes`, () => {
      fc.assert(
        fc.property(fc.array(opArb, { minLength: 50, maxLength: 300 }), (ops) => {
          // No balance work: nothing but the free itself may move the chunk.
          const a = new HintedBitmapAllocator({ kernel, geometry: { unitSize: 32768, staticSize: 4104, dynSize: 24568 }, backend, balance: 'none' });
          const live: number[] = [];
          for (const op of ops) {
            if (op.kind === 'a') {
              const ptr = a.alloc(op.size, op.align, op.atomic ? ALLOC_ATOMIC : 0);
              if (ptr !== NULL_PTR) live.push(ptr);
              continue;
            }
            if (live.length === 0) continue;
            const k = op.pick % live.length;
            const ptr = live[k]!;
            live[k] = live[live.length - 1]!;
            live.pop();
            const c = a.getChunk(ptrChunk(ptr))!;
            const before = a.computedSlot(c);
            const listed = c.hdr[Hdr.Slot]!;
            const wasIsolated = c.hdr[Hdr.Isolated] !== 0;
            a.free(ptr);
            if (c === a.reserved || wasIsolated || c.hdr[Hdr.Isolated] !== 0) continue;
            const after = a.computedSlot(c);
            assert.equal(c.hdr[Hdr.Slot], before !== after ? after : listed, `slot ${before} -> ${after}, listed ${listed}`);
          }
        }),
        { numRuns: 150 },
      );
    });
  }
}
