// SPDX-License-Identifier: GPL-2.0-only
/**
 * Messages between the example server's main thread and its workers. Bodies
 * travel as transferred `ArrayBuffer`s (moved, not copied).
 */
import type { PercpuMetricsHandle, SharedPercpuHandle } from 'percpu/runtime';

export interface WorkerData {
  percpu: SharedPercpuHandle;
  metrics: PercpuMetricsHandle;
  unit: number;
}

export interface RequestMessage {
  id: number;
  method: string;
  url: string;
  body: ArrayBuffer;
  /** Arrival on the main thread: `performance.timeOrigin + performance.now()`, in ms (comparable across threads). */
  arrived: number;
  /** The body was over the server's limit and was dropped: answer 413. */
  tooLarge: boolean;
}

export interface ResponseMessage {
  id: number;
  status: number;
  type: string;
  body: ArrayBuffer;
}
