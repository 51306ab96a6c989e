// SPDX-License-Identifier: GPL-2.0-only
/**
 * Allocator state in SharedArrayBuffers: the same requests give the same
 * placements as private state, and other views — in this thread or in a worker
 * thread — see every chunk and continue from exactly the same state.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { BitmapAllocator } from '../src/engine/bitmap-allocator.js';
import { formatBitmapStats } from '../src/engine/stats.js';
import { checkBitmapAllocator } from '../src/engine/checker.js';
import { ROOT } from '../test-support/fixtures.js';

type Op = ['a', number, number] | ['f', number, number];

/** A deterministic op stream that creates and destroys chunks (small units, big objects). */
function ops(n: number, seed: number): (live: number[]) => Op {
  let x = seed;
  const rnd = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32);
  let i = 0;
  return (live) => {
    i++;
    if (live.length === 0 || (rnd() < 0.58 && i < n * 0.8)) return ['a', 4 + Math.floor(rnd() * 3000), 1 << (2 + Math.floor(rnd() * 8))];
    return ['f', live.splice(Math.floor(rnd() * live.length), 1)[0]!, 0];
  };
}

const OPTIONS = { kernel: '7.0' as const, geometry: { unitSize: 65536, staticSize: 8192 }, backend: 'vm' as const };

function drive(run: (op: Op) => number | undefined, n: number, seed: number): number[] {
  const next = ops(n, seed);
  const live: number[] = [];
  const results: number[] = [];
  for (let k = 0; k < n; k++) {
    const op = next(live);
    const r = run(op);
    if (op[0] === 'a') {
      results.push(r!);
      live.push(r!);
    }
  }
  return results;
}

for (const kernel of ['4.14', '7.0'] as const) {
  test(`${kernel}: shared state places exactly like private state, and two views can take turns`, () => {
    const events: string[][] = [[], []];
    const local = new BitmapAllocator({ ...OPTIONS, kernel, onChunkEvent: (t, c) => events[0]!.push(`${t}${c}`) });
    const shared = new BitmapAllocator({ ...OPTIONS, kernel, shared: true, onChunkEvent: (t, c) => events[1]!.push(`${t}${c}`) });
    const other = BitmapAllocator.attach(shared.handle()!);
    const apply = (a: BitmapAllocator) => (op: Op) => (op[0] === 'a' ? a.alloc(op[1], op[2]) : (a.free(op[1]), undefined));
    const expected = drive(apply(local), 3000, 7);
    let turn = 0;
    const got = drive((op) => apply(turn++ % 3 === 0 ? other : shared)(op), 3000, 7);
    assert.deepEqual(got, expected);
    assert.ok(events[0]!.some((e) => e.startsWith('destroy')), 'the stream creates and destroys chunks');
    assert.equal(formatBitmapStats(shared), formatBitmapStats(local));
    assert.equal(formatBitmapStats(other), formatBitmapStats(local));
    assert.deepEqual(checkBitmapAllocator(other), []);
    assert.equal(other.isShared, true);
    assert.equal(local.handle(), undefined);
  });
}

test('a worker thread attaches through a posted handle and continues the same allocator', async () => {
  const local = new BitmapAllocator(OPTIONS);
  const shared = new BitmapAllocator({ ...OPTIONS, shared: true });
  const worker = new Worker(join(ROOT, 'dist', 'test-support', 'shared-worker.js'), { workerData: shared.handle() });
  try {
    const next = ops(2000, 99);
    const live: number[] = [];
    for (let round = 0; round < 20; round++) {
      const batch: Op[] = [];
      const want: number[] = [];
      for (let k = 0; k < 50; k++) {
        const op = next(live);
        batch.push(op);
        if (op[0] === 'a') {
          const p = local.alloc(op[1], op[2]);
          want.push(p);
          live.push(p);
        } else local.free(op[1]);
      }
      // Odd rounds run in the worker, even rounds here, on the same shared state.
      let got: number[];
      if (round % 2 === 1) {
        worker.postMessage(batch);
        got = await new Promise<number[]>((resolve) => worker.once('message', resolve));
      } else {
        got = [];
        for (const [kind, x, y] of batch) {
          if (kind === 'a') got.push(shared.alloc(x, y));
          else shared.free(x);
        }
      }
      assert.deepEqual(got, want, `round ${round}`);
    }
    assert.equal(formatBitmapStats(shared), formatBitmapStats(local));
  } finally {
    await worker.terminate();
  }
});
