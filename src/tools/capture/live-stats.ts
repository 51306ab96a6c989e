// SPDX-License-Identifier: GPL-2.0-only
/**
 * Reading the running kernel's `/sys/kernel/debug/percpu_stats`, with clear
 * errors when it cannot be read, optionally mounting debugfs for the read and
 * unmounting it afterwards.
 */
import { existsSync, readFileSync } from 'node:fs';
import { PercpuError } from '../../errors.js';
import { mountDebugfsFor, PERCPU_STATS_PATH, unmountTracefs } from './capture.js';

export function readLiveStats(options: { path?: string; mount?: boolean; log?: (l: string) => void } = {}): string {
  const path = options.path ?? PERCPU_STATS_PATH;
  const log = options.log ?? (() => {});
  const mounted = options.mount ? mountDebugfsFor(path, log) : undefined;
  try {
    if (!existsSync(path)) {
      const why = existsSync('/sys/kernel/debug') && !mounted ? 'debugfs may not be mounted (mount -t debugfs none /sys/kernel/debug, or pass --mount), or the kernel lacks CONFIG_PERCPU_STATS' : 'the kernel lacks CONFIG_PERCPU_STATS or debugfs';
      throw new PercpuError('EUNSUPPORTED', `${path} does not exist: ${why}`);
    }
    try {
      return readFileSync(path, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new PercpuError('EUNSUPPORTED', `cannot read ${path}: ${code === 'EACCES' || code === 'EPERM' ? 'permission denied (debugfs is root-only: run as root)' : (e as Error).message}`);
    }
  } finally {
    if (mounted) {
      const f = unmountTracefs(mounted);
      if (f) log(`warning: ${f}`);
    }
  }
}
