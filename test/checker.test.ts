// SPDX-License-Identifier: GPL-2.0-only
/**
 * The hint checker finds hints that the kernel's staleness rules do not allow,
 * and stays quiet on the staleness they do allow.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HintedBitmapAllocator } from '../src/engine/allocator.js';
import { Md, Hdr, type Chunk } from '../src/engine/chunk.js';
import { formatProblem } from '../src/engine/checker.js';
import { listFixtures, loadGolden } from '../test-support/fixtures.js';
import { replayGolden } from '../src/tools/replay/golden.js';

function busyChunk(kernel: '4.14' | '7.0') {
  const a = new HintedBitmapAllocator({ kernel, geometry: { unitSize: 4096 * 8 }, mode: 'chunk' });
  const ptrs = [];
  for (let i = 0; i < 40; i++) ptrs.push(a.alloc(8 + (i % 5) * 12, 8));
  for (let i = 0; i < 40; i += 4) a.free(ptrs[i]!);
  assert.deepEqual(a.check(), []);
  return a;
}

/** Adds `by` to field `field` of block `block`'s metadata record. */
function bumpMd(c: Chunk, block: number, field: number, by: number): void {
  c.setMdField(block, field, c.mdField(block, field) + by);
}

for (const kernel of ['4.14', '7.0'] as const) {
  test(`${kernel}: corrupted hints are reported with the rule they break`, () => {
    const cases: [string, (a: HintedBitmapAllocator) => void, RegExp][] = [
      ['block contig too large', (a) => bumpMd(a.getChunk(0)!, 0, Md.Contig, 5), /block 0: contig_hint/],
      ['left_free wrong', (a) => a.getChunk(0)!.setMdField(0, Md.LeftFree, 3), /block 0: left_free = 3/],
      ['right_free too large', (a) => a.getChunk(0)!.setMdField(0, Md.RightFree, 1024), /block 0: right_free = 1024/],
      ['contig-block summary bit cleared for a block with free runs', (a) => (a.getChunk(0)!.contigBlocks[0] = 0), /block 0: contig_blocks = 0, expected 1/],
      ['contig-block summary bit set for a block with a zero contig hint', (a) => {
        const c = a.getChunk(0)!;
        c.setMdField(3, Md.Contig, 0);
      }, /block 3: contig_blocks = 1, expected 0/],
      ['right_free above a zero contig hint', (a) => {
        const c = a.getChunk(0)!;
        c.setMdField(3, Md.Contig, 0);
        c.contigBlocks[0] = c.contigBlocks[0]! & ~(1 << 3);
      }, /block 3: right_free = \d+, expected <= contig_hint 0/],
      ['first_free past the first free bit', (a) => a.getChunk(0)!.setMdField(0, Md.FirstFree, 1000), /block 0: first_free = 1000/],
      ['free_bytes off by 4', (a) => {
        const c = a.getChunk(0)!;
        c.hdr[Hdr.FreeBytes] = c.freeBytes - 4;
      }, /chunk 0: free_bytes/],
      ['an allocated bit under the contig run', (a) => (a.getChunk(0)!.allocMap[10] = 0xffffffff), /contig/],
    ];
    for (const [what, corrupt, expected] of cases) {
      const a = busyChunk(kernel);
      corrupt(a);
      const problems = a.check().map(formatProblem);
      assert.ok(problems.some((p) => expected.test(p)), `${what}: ${problems.join('; ') || 'nothing reported'}`);
    }
  });
}

test('7.0: the chunk contig hint stuck at 0 by the free-path slip is allowed staleness, not an error', () => {
  // GV-C leaves 7.0's chunk with free bytes but contig 0 (spec §4.2).
  const r = replayGolden(loadGolden(listFixtures('golden', 'spec', '7.0').find((p) => p.includes('GV-C'))!));
  const a = r.allocator as HintedBitmapAllocator;
  const c = a.getChunk(0)!;
  assert.equal(c.mdField(c.nrBlocks, Md.Contig), 0);
  assert.ok(c.freeBytes > 0);
  assert.deepEqual(a.check(), []);
});

test('the checker passes after every op of the real-world-like W7 workload (4.14 and 7.0, sampled)', () => {
  for (const kernel of ['4.14', '7.0']) {
    const file = loadGolden(listFixtures('golden', 'oracle', kernel).find((p) => p.includes('G2/W7'))!);
    let checked = 0;
    replayGolden(file, {
      limit: 20000,
      afterOp: (i, a) => {
        if (i % 50 !== 0) return;
        assert.deepEqual(a.check().map(formatProblem), [], `after op ${i}`);
        checked++;
      },
    });
    assert.equal(checked, 400);
  }
});
