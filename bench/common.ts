// SPDX-License-Identifier: GPL-2.0-only
/**
 * Small pieces the benchmark programs share: the machine's description for
 * reports, and the power-law extrapolation used where a capped phase must be
 * projected to full size.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/**
 * Power-law extrapolation: a least-squares line through (log N, log t) of the
 * given points, evaluated at `n`. Fitting several points keeps one noisy short
 * run from setting the growth rate alone.
 */
export function extrapolate(points: [number, number][], n: number): number {
  const xs = points.map(([x]) => Math.log2(x));
  const ys = points.map(([, t]) => Math.log2(Math.max(t, 1e-3)));
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < xs.length; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  const slope = sxx === 0 ? 1 : sxy / sxx;
  return 2 ** (my + slope * (Math.log2(n) - mx));
}

export function machineFacts(): { node: string; cpu: string; cores: number } {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpu = m[1]!.trim();
  } catch {
    // Not Linux: os.cpus() is all there is.
  }
  return { node: process.version, cpu, cores: cpus().length };
}
