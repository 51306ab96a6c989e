/**
 * `percpu stats FILE`: the percpu_stats text of the allocator state after
 * replaying a golden file (all of it, or its first N ops with `--at N`).
 */
import { readInputText } from '../io.js';
import { parseGolden } from '../golden/format.js';
import { replayGolden } from '../golden/replay.js';
import { UnsupportedError } from '../errors.js';

export interface StatsOptions {
  at?: number;
  kernel?: string;
  fixed?: boolean;
}

export function statsAfterReplay(path: string, options: StatsOptions): string {
  const golden = parseGolden(readInputText(path), path === '-' ? '<stdin>' : path);
  const r = replayGolden(golden, {
    ...(options.kernel !== undefined ? { kernel: options.kernel } : {}),
    ...(options.at !== undefined ? { limit: options.at } : {}),
    fixed: options.fixed ?? false,
  });
  if (r.skipped || r.allocator === undefined) throw new UnsupportedError(`${path}: kernel ${r.kernel} is not implemented`);
  return r.allocator.formatStats();
}
