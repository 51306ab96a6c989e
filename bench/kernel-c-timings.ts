// SPDX-License-Identifier: GPL-2.0-only
/**
 * The kernel's own C timings of the oracle workloads (shared spec
 * `oracle-timings.md` §3, G1 table): mm/percpu.c of each version, gcc -O2, run in
 * user space with the km backend, allocator logic only, medians of 3 on a 2-vCPU
 * VM, wall clock around each contiguous run of allocs or frees. These are data
 * for the bench's "ours / C" column, not something the bench measures.
 *
 * `null` means the C run has no number: W1x on 4.13 hit the 125 s cap with the
 * allocation phase unfinished (its smaller-N measurements are kept separately).
 */

export interface PhaseMs {
  alloc: number | null;
  free: number | null;
}

export type CKernel = '4.13' | '4.14' | '7.0';

type Row = [allocMs413: number | null, freeMs413: number | null, allocMs414: number, freeMs414: number, allocMs70: number, freeMs70: number];

const G1_ROWS: Record<string, Row> = {
  W1a: [34.6, 10798.1, 149.3, 17.8, 132.7, 20.0],
  W1b: [75.0, 43.8, 142.4, 17.8, 133.8, 20.8],
  W1c: [50.1, 5957.1, 145.9, 19.6, 133.6, 22.4],
  W2a: [33.3, 2844.4, 143.7, 19.0, 136.1, 21.4],
  W2b: [31.9, 21.1, 144.2, 18.7, 136.2, 21.8],
  W2c: [32.9, 1304.0, 144.3, 27.6, 136.8, 27.6],
  W3a: [41.7, 485.6, 149.4, 21.2, 142.1, 22.2],
  W3b: [33.4, 20.6, 148.7, 19.7, 141.6, 22.3],
  W3c: [29.5, 250.7, 152.5, 50.2, 140.4, 46.7],
  W4a: [29.7, 64.1, 158.7, 31.3, 148.6, 33.8],
  W4b: [29.9, 18.6, 155.3, 23.2, 158.0, 28.4],
  W4c: [30.6, 55.4, 153.5, 143.5, 148.0, 126.5],
  W5a: [30.7, 27.5, 187.9, 69.6, 193.4, 75.1],
  W5b: [48.7, 17.2, 192.8, 43.5, 191.0, 44.0],
  W5c: [30.4, 24.1, 197.2, 505.2, 194.7, 454.7],
  W6a: [36.2, 5464.4, 143.1, 17.3, 143.6, 21.6],
  W6b: [2.8, 54.0, 14.3, 1.9, 15.3, 2.3],
  W7: [617.4, 19.8, 52.3, 6.5, 38.8, 7.7],
  W8: [625.6, 128.1, 49.8, 11.3, 34.3, 14.9],
  W1x: [null, null, 10674.7, 33.3, 4102.5, 35.8],
};

/** Kernel C ms of a workload's alloc and free phases in G1, or undefined when the oracle has no such row. */
export function kernelCTiming(kernel: CKernel, workload: string): PhaseMs | undefined {
  const row = G1_ROWS[workload];
  if (row === undefined) return undefined;
  const col = kernel === '4.13' ? 0 : kernel === '4.14' ? 2 : 4;
  return { alloc: row[col]!, free: row[col + 1]! };
}

/** W1x on 4.13 at smaller N (the oracle's extrapolation basis): [N, alloc ms, free ms]. */
export const W1X_413_SMALL_N: readonly (readonly [number, number, number])[] = [
  [16 << 10, 276, 15],
  [32 << 10, 894, 103],
  [64 << 10, 3639, 265],
  [128 << 10, 12137, 1622],
];

/** Workloads the oracle timed (the half-filled variants come from the cover letter and have no C row). */
export const TIMED_WORKLOADS: readonly string[] = Object.keys(G1_ROWS);
