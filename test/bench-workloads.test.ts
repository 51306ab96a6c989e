// SPDX-License-Identifier: GPL-2.0-only
/**
 * The bench's op streams are the oracle's workloads (oracle-timings.md §2):
 * counts, sizes, aligns and free orders of W1–W6, W1x; W7/W8 as read from the
 * golden files; and the half-filled variant really leaves the second half of
 * every page filled when replayed on the engine.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildWorkload,
  G1,
  goldenWorkload,
  goldenWorkloadPath,
  halfFilledWorkload,
  OP_ALLOC,
  OP_FREE,
  sequentialFillOffset,
  timedPhases,
  wWorkload,
  type OpStream,
} from '../bench/workloads.js';
import { createAllocator } from '../src/engine/allocator.js';
import { NULL_PTR, ptrChunk } from '../src/engine/pointer.js';

const N = 1_048_576;

function countKind(s: OpStream, kind: number, from = 0, to = s.length): number {
  let n = 0;
  for (let i = from; i < to; i++) if (s.kind[i] === kind) n++;
  return n;
}

/** Allocs [0, n) of one size/align into targets 0..n-1, then n frees. */
function assertUniform(s: OpStream, n: number, size: number, align: number): void {
  assert.equal(s.length, 2 * n);
  assert.equal(s.objects, n);
  assert.equal(s.timedFrom, 0);
  for (let i = 0; i < n; i++) {
    if (s.kind[i] !== OP_ALLOC || s.size[i] !== size || s.align[i] !== align || s.target[i] !== i) {
      assert.fail(`${s.name} op ${i}: expected alloc ${size}/${align} into ${i}, got kind ${s.kind[i]} ${s.size[i]}/${s.align[i]} into ${s.target[i]}`);
    }
  }
  assert.equal(countKind(s, OP_FREE, n), n);
}

function freeTargets(s: OpStream, n: number): Uint32Array {
  return s.target.subarray(n, 2 * n);
}

test('W1–W5 at full size: 2^20 objects of 4/16/64/256/1024 B, align 4 for 4 B else 8, three free orders', () => {
  const sizes = [4, 16, 64, 256, 1024];
  for (let w = 1; w <= 5; w++) {
    const size = sizes[w - 1]!;
    const align = size === 4 ? 4 : 8;
    const a = wWorkload(w, 'a');
    assert.equal(a.name, `W${w}a`);
    assertUniform(a, N, size, align);
    const fa = freeTargets(a, N);
    for (let i = 0; i < N; i++) if (fa[i] !== i) assert.fail(`W${w}a free ${i} targets ${fa[i]}`);

    const b = wWorkload(w, 'b');
    assertUniform(b, N, size, align);
    const fb = freeTargets(b, N);
    for (let i = 0; i < N; i++) if (fb[i] !== N - 1 - i) assert.fail(`W${w}b free ${i} targets ${fb[i]}`);

    const c = wWorkload(w, 'c');
    assertUniform(c, N, size, align);
    const fc = freeTargets(c, N);
    // Objects 0, 2, 4, … first, then 1, 3, 5, ….
    for (let i = 0; i < N / 2; i++) if (fc[i] !== 2 * i || fc[N / 2 + i] !== 2 * i + 1) assert.fail(`W${w}c free order wrong at ${i}`);
  }
});

test('W6a, W6b and W1x', () => {
  const w6a = buildWorkload('W6a');
  assertUniform(w6a, N, 8, 8);
  assert.deepEqual(w6a.target.subarray(N, N + 8), Uint32Array.of(0, 1, 2, 3, 4, 5, 6, 7));
  const w6b = buildWorkload('W6b');
  assertUniform(w6b, 100_000, 64, 8);
  assert.equal(w6b.target[100_000 + 99_999], 99_999);
  const w1x = buildWorkload('W1x');
  assertUniform(w1x, N, 4, 8);
  assert.equal(w1x.target[N + 12345], 12345);
});

test('W7 from the golden file: 200,000 ops, 120,075 allocs, sizes and aligns of the spec, frees of live objects', () => {
  const s = goldenWorkload('W7', goldenWorkloadPath('W7'));
  assert.equal(s.length, 200_000);
  assert.equal(countKind(s, OP_ALLOC), 120_075);
  assert.equal(countKind(s, OP_FREE), 79_925);
  const sizes = new Set([4, 8, 12, 16, 24, 32, 40, 48, 64, 96, 128, 192, 256, 384, 512, 1024, 2048, 4096, 2, 6, 10, 18, 100, 1000, 3000]);
  const aligns = new Set([4, 8, 16, 32, 64, 128, 256, 4096]);
  const live = new Uint8Array(s.objects);
  for (let i = 0; i < s.length; i++) {
    const t = s.target[i]!;
    if (s.kind[i] === OP_ALLOC) {
      const size = s.size[i]!;
      const align = s.align[i]!;
      assert.ok(sizes.has(size), `op ${i}: size ${size}`);
      // A weighted align, capped at the smallest power of two >= size (floor 4).
      let cap = 4;
      while (cap < size) cap *= 2;
      assert.ok(aligns.has(align) || align === cap, `op ${i}: align ${align} for size ${size}`);
      assert.ok(align <= cap, `op ${i}: align ${align} above the cap ${cap} for size ${size}`);
      assert.equal(live[t], 0, `op ${i}: object ${t} allocated twice`);
      live[t] = 1;
    } else {
      assert.equal(live[t], 1, `op ${i}: free of object ${t} that is not live`);
      live[t] = 0;
    }
  }
});

test('W8 from the golden file: the oracle’s fragmentation recipe, 400,000 ops', () => {
  const s = goldenWorkload('W8', goldenWorkloadPath('W8'));
  assert.equal(s.length, 400_000);
  assert.equal(countKind(s, OP_ALLOC), 200_000);
  assert.equal(countKind(s, OP_FREE), 200_000);
  const expectRun = (from: number, n: number, size: number, align: number) => {
    for (let i = from; i < from + n; i++) {
      if (s.kind[i] !== OP_ALLOC || s.size[i] !== size || s.align[i] !== align) assert.fail(`op ${i}: expected alloc ${size}/${align}`);
    }
  };
  expectRun(0, 100_000, 16, 8);
  // Every odd-numbered one of the first 100k, in order.
  for (let k = 0; k < 50_000; k++) {
    const i = 100_000 + k;
    assert.equal(s.kind[i], OP_FREE);
    if (s.target[i] !== s.target[2 * k + 1]) assert.fail(`op ${i} frees ${s.target[i]}, not the odd-numbered object ${2 * k + 1}`);
  }
  expectRun(150_000, 50_000, 24, 8);
  expectRun(200_000, 20_000, 32, 32);
  expectRun(220_000, 20_000, 8, 8);
  expectRun(240_000, 10_000, 64, 64);
  // The remaining 150k live objects are all freed, shuffled (not in allocation order).
  const freed = new Set<number>();
  let inOrder = 0;
  for (let i = 250_000; i < 400_000; i++) {
    assert.equal(s.kind[i], OP_FREE);
    freed.add(s.target[i]!);
    if (i > 250_000 && s.target[i]! > s.target[i - 1]!) inOrder++;
  }
  assert.equal(freed.size, 150_000);
  for (let k = 0; k < 50_000; k++) assert.ok(freed.has(s.target[2 * k]!), `even object ${2 * k} never freed`);
  assert.ok(inOrder > 60_000 && inOrder < 90_000, `shuffled order expected, ${inOrder} ascending steps of 150k`);
});

test('timed phases are the maximal runs of one op kind after the setup', () => {
  const w7 = buildWorkload('W7');
  const p = timedPhases(w7);
  assert.equal(p[0], 0);
  assert.equal(p[p.length - 1], w7.length);
  for (let k = 0; k < p.length; k += 2) {
    const from = p[k]!;
    const to = p[k + 1]!;
    for (let i = from; i < to; i++) assert.equal(w7.kind[i], w7.kind[from]);
    if (k > 0) {
      assert.equal(from, p[k - 1]);
      assert.notEqual(w7.kind[from], w7.kind[from - 1]);
    }
  }
  assert.deepEqual(timedPhases(wWorkload(2, 'c', 10)), Uint32Array.of(0, 10, 10, 20));
});

for (const kernel of ['4.14', '7.0']) {
  test(`${kernel}: sequential fills land where the half-filled generator assumes`, () => {
    for (const size of [4, 16, 64, 256, 1024]) {
      const a = createAllocator({ kernel, geometry: G1, backend: 'km', balance: 'sync' });
      const count = Math.ceil((3 * G1.unitSize) / size / 2) + 40;
      for (let j = 0; j < count; j++) {
        const p = a.alloc(size, size === 4 ? 4 : 8);
        if (a.unitOffset(p) !== sequentialFillOffset(j, size)) {
          assert.fail(`size ${size}, object ${j}: engine put it at ${a.unitOffset(p)}, model says ${sequentialFillOffset(j, size)}`);
        }
      }
    }
  });

  test(`${kernel}: the half-filled variant keeps only second halves filled, then fills the first halves`, () => {
    for (let w = 1; w <= 5; w++) {
      const n = 3000;
      const s = halfFilledWorkload(w, n);
      assert.equal(s.length - s.timedFrom, 2 * n);
      const a = createAllocator({ kernel, geometry: G1, backend: 'km', balance: 'sync' });
      const ptrs = new Float64Array(s.objects).fill(NULL_PTR);
      for (let i = 0; i < s.timedFrom; i++) {
        if (s.kind[i] === OP_ALLOC) ptrs[s.target[i]!] = a.alloc(s.size[i]!, s.align[i]!);
        else {
          a.free(ptrs[s.target[i]!]!);
          ptrs[s.target[i]!] = NULL_PTR;
        }
      }
      const liveChunks = new Set<number>();
      for (let t = 0; t < s.objects; t++) {
        const p = ptrs[t]!;
        if (p === NULL_PTR) continue;
        liveChunks.add(ptrChunk(p));
        assert.ok(a.unitOffset(p) % G1.pageSize >= G1.pageSize / 2, `W${w}h filler ${t} at ${a.unitOffset(p)} is in a first half`);
      }
      for (let i = s.timedFrom; i < s.timedFrom + n; i++) {
        assert.equal(s.kind[i], OP_ALLOC);
        const p = a.alloc(s.size[i]!, s.align[i]!);
        assert.ok(liveChunks.has(ptrChunk(p)), `W${w}h: timed alloc went to a new chunk`);
        assert.ok(a.unitOffset(p) % G1.pageSize < G1.pageSize / 2, `W${w}h timed alloc at ${a.unitOffset(p)} is not in a first half`);
      }
      for (let i = s.timedFrom + n; i < s.length; i++) assert.equal(s.target[i], s.target[i - n]);
    }
  });
}
