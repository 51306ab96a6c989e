// SPDX-License-Identifier: GPL-2.0-only
/**
 * `percpu leaks`: percpu allocations outstanding longer than a threshold,
 * grouped by call site with age histograms (like bcc's `memleak --percpu`),
 * from live events or a recorded trace.
 */
import { type Command } from 'commander';
import { PercpuError } from '../errors.js';
import { addSourceOptions, topOptions, type TopFlags } from './top.js';

export function registerLeaksCommand(program: Command): void {
  addSourceOptions(
    program
      .command('leaks')
      .description('percpu allocations outstanding longer than --older, by call site, with age histograms (like memleak --percpu), live or from a trace'),
  )
    .option('--older <s>', 'report allocations at least this old, in seconds (memleak\'s default: 0.5)', (v: string) => {
      const n = Number(v);
      if (!/^\d+(\.\d+)?$/.test(v)) throw new PercpuError('EPARSE', `--older takes a number of seconds, got "${v}"`);
      return n;
    }, 0.5)
    .action(async (trace: string | undefined, f: TopFlags) => {
      const { runTop } = await import('../tools/top/run.js');
      process.exitCode = await runTop(topOptions(trace, { ...f, sort: 'bytes' }, 'leaks'));
    });
}
