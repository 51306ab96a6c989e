// SPDX-License-Identifier: GPL-2.0-only
/**
 * A complete snapshot of a bitmap allocator's state — every chunk buffer byte,
 * slot order, counters and the stats text — for "nothing changed" assertions.
 */
import type { BitmapAllocator } from '../src/engine/bitmap-allocator.js';
import { formatBitmapStats } from '../src/engine/stats.js';

export interface Snapshot {
  buffers: string[];
  slots: string;
  counters: string;
  stats: string;
}

export function snapshot(a: BitmapAllocator): Snapshot {
  return {
    buffers: a.liveChunks().map((c) => Buffer.from(new Uint8Array(c.buffer as ArrayBuffer)).toString('base64')),
    slots: a.chunksInSlotOrder().map(({ chunk, slot }) => `${chunk.id}@${slot}`).join(','),
    counters: JSON.stringify({ stats: a.stats, empty: a.emptyPopPages, populated: a.populatedPages, pending: a.balanceScheduled }),
    stats: formatBitmapStats(a),
  };
}
