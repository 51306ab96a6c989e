// SPDX-License-Identifier: GPL-2.0-only
/**
 * `percpu top` and `percpu leaks` on the command line: flags → TopOptions, exit
 * codes. The work is in src/tools/top/.
 */
import { Option, type Command } from 'commander';
import { PercpuError } from '../errors.js';
import type { TopOptions } from '../tools/top/run.js';
import { SITE_GROUPINGS, type SiteGrouping } from '../tools/top/sites.js';
import { SORT_KEYS, type SortKey } from '../tools/top/view.js';

function positive(flag: string): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!/^\d+(\.\d+)?$/.test(v) || !(n > 0)) throw new PercpuError('EPARSE', `${flag} takes a positive number, got "${v}"`);
    return n;
  };
}

function integer(flag: string, min: number): (v: string) => number {
  return (v: string) => {
    if (!/^\d+$/.test(v) || Number(v) < min) throw new PercpuError('EPARSE', `${flag} takes an integer >= ${min}, got "${v}"`);
    return Number(v);
  };
}

export interface TopFlags {
  mount?: boolean;
  tracefs?: string;
  bufferKb?: number;
  interval: number;
  window?: number;
  duration?: number;
  sort: SortKey;
  limit?: number;
  once?: boolean;
  json?: boolean;
  report?: string;
  group: SiteGrouping;
  stats?: string;
  unitSize?: number;
  pageSize: number;
  nrUnits?: number;
  sparse?: number;
  older?: number;
}

/** The flags `top` and `leaks` share. */
export function addSourceOptions(cmd: Command): Command {
  return cmd
    .argument('[trace]', 'a recorded trace (tracefs text; plain, gzip or xz; - for stdin); without it, live events (root, tracefs)')
    .option('--mount', 'live: mount tracefs (and debugfs, for percpu_stats) if needed, and unmount them on exit')
    .option('--tracefs <dir>', 'live: tracing directory (default /sys/kernel/tracing, then /sys/kernel/debug/tracing)')
    .option('--buffer-kb <kib>', 'live: ring buffer per CPU of the private instance', integer('--buffer-kb', 64), 4096)
    .option('--interval <s>', 'seconds between screen refreshes (or printed frames when piped)', positive('--interval'), 1)
    .option('--duration <s>', 'live: stop after this many seconds (default with --once/--json: 5)', positive('--duration'))
    .addOption(new Option('--group <by>', 'rows: function (call sites of one function merged), site (function+offset), task').choices([...SITE_GROUPINGS]).default('function'))
    .option('--limit <n>', 'rows to show (default: what fits the screen, 25 when printed)', integer('--limit', 1))
    .option('--once', 'print one report and exit (a trace: its end state; live: after --duration)')
    .option('--json', 'like --once, as JSON')
    .option('--report <file.html>', 'also write the HTML report page at the end');
}

export function topOptions(trace: string | undefined, f: TopFlags, command: 'top' | 'leaks'): TopOptions {
  return {
    ...(trace !== undefined ? { trace } : {}),
    command,
    live: {
      ...(f.mount ? { mount: true } : {}),
      ...(f.tracefs ? { tracefs: [f.tracefs] } : {}),
      ...(f.bufferKb !== undefined ? { bufferKb: f.bufferKb } : {}),
    },
    interval: f.interval,
    ...(f.window !== undefined ? { window: f.window } : {}),
    ...(f.duration !== undefined ? { duration: f.duration } : {}),
    sort: f.sort ?? 'bytes',
    ...(f.limit !== undefined ? { limit: f.limit } : {}),
    once: f.once ?? false,
    json: f.json ?? false,
    ...(f.report ? { report: f.report } : {}),
    group: f.group,
    ...(f.stats ? { stats: f.stats } : {}),
    ...(f.unitSize !== undefined ? { unitSize: f.unitSize } : {}),
    pageSize: f.pageSize ?? 4096,
    ...(f.nrUnits !== undefined ? { nrUnits: f.nrUnits } : {}),
    ...(f.sparse !== undefined ? { sparseBytes: f.sparse } : {}),
    olderSec: f.older ?? 0.5,
    out: process.stdout,
    input: process.stdin,
    log: (l) => process.stderr.write(`percpu ${command}: ${l}\n`),
  };
}

export function registerTopCommand(program: Command): void {
  addSourceOptions(
    program
      .command('top')
      .description('live percpu memory per call site (growth, allocs/frees per second, failed and atomic allocations) and what fragmentation costs, live or from a trace'),
  )
    .addOption(new Option('--sort <key>', 'sort the call sites by').choices([...SORT_KEYS]).default('bytes'))
    .option('--window <s>', 'rates over the last N seconds (live default 5; a trace: the whole observation)', positive('--window'))
    .option('--stats <file>', 'percpu_stats of the traced machine (unit size, units per chunk; default: TRACE.percpu_stats if present, live: debugfs)')
    .option('--unit-size <bytes>', 'unit size, for chunk counts of the compacted layout', integer('--unit-size', 4096))
    .option('--page-size <bytes>', 'page size', integer('--page-size', 4096), 4096)
    .option('--nr-units <n>', 'units (CPUs) per chunk: a page costs page-size × this', integer('--nr-units', 1))
    .option('--sparse <bytes>', 'a page with at most this many live bytes is pinned by a few small objects (default page-size / 4)', integer('--sparse', 4))
    .option('--older <s>', 'the leaks view: age threshold in seconds', positive('--older'), 0.5)
    .action(async (trace: string | undefined, f: TopFlags) => {
      const { runTop } = await import('../tools/top/run.js');
      process.exitCode = await runTop(topOptions(trace, f, 'top'));
    });
}
