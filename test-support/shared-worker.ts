// SPDX-License-Identifier: GPL-2.0-only
/**
 * Worker side of the shared-state test: attach to the allocator posted by the
 * main thread, run the ops it is sent, reply with the pointers.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { BitmapAllocator, type AllocatorHandle } from '../src/engine/bitmap-allocator.js';

const a = BitmapAllocator.attach(workerData as AllocatorHandle);
parentPort!.on('message', (ops: [string, number, number][]) => {
  const out: number[] = [];
  for (const [kind, x, y] of ops) {
    if (kind === 'a') out.push(a.alloc(x, y));
    else a.free(x);
  }
  parentPort!.postMessage(out);
});
