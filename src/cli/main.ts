#!/usr/bin/env node
/**
 * The `percpu` command line.
 */
import { Command, Option } from 'commander';
import { verifyFiles } from './verify.js';
import { statsAfterReplay } from './stats.js';
import { runDemo } from './demo.js';
import { runDoctor } from './doctor.js';
import { readLiveStats } from '../trace/live.js';
import { formatPercpuStats, parsePercpuStats } from '../trace/stats-parse.js';
import { mapFromGolden } from './map.js';
import { writeFileSync } from 'node:fs';
import { PercpuError } from '../errors.js';
import { registerTraceCommands } from './trace-commands.js';
import { registerTopCommand } from './top.js';
import { registerLeaksCommand } from './leaks.js';

// A reader that stops early (`| head`) is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

const program = new Command();
program.name('percpu').description('The Linux percpu allocator (4.13 area map, 4.14 hinted bitmap, 7.0 newest), placement-exact').version('0.1.0');

program
  .command('verify')
  .description('replay golden files (plain, gzip or xz; - for stdin) and compare every placement and chunk event with the kernel')
  .argument('<files...>', 'golden files')
  .addOption(new Option('--kernel <version>', 'force a profile instead of the file header (4.13, 4.14, 7.0, 6.x)'))
  .option('--fixed', 'correct the upstream free-path slip (placements will then differ where the kernel slips)')
  .option('-q, --quiet', 'print only failures and the summary')
  .action((files: string[], opts: { kernel?: string; fixed?: boolean; quiet?: boolean }) => {
    const sum = verifyFiles(files, opts, (l) => process.stdout.write(l + '\n'));
    // Skipped files were not matched, so they do not count as success either.
    process.exitCode = sum.failed === 0 && sum.skipped === 0 && sum.placementsMatched === sum.placements ? 0 : 1;
  });

program
  .command('stats')
  .description('print percpu_stats (the debugfs text, byte for byte) after replaying a golden file or trace, or read the running kernel\'s')
  .argument('[file]', 'golden file or tracefs trace (plain, gzip or xz; - for stdin)')
  .option('--at <n>', 'stop after the first N ops (golden) or events (trace)', (v) => parseNonNegative(v, '--at'))
  .addOption(new Option('--kernel <version>', 'force a profile instead of the file header'))
  .option('--fixed', 'correct the upstream free-path slip')
  .option('--stats <file>', 'percpu_stats of the traced machine (a trace\'s geometry)')
  .option('--live', 'read /sys/kernel/debug/percpu_stats of this machine (root), through the same parser the tests use')
  .option('--mount', 'with --live: mount debugfs if needed, and unmount it afterwards')
  .action((file: string | undefined, opts: { at?: number; kernel?: string; fixed?: boolean; stats?: string; live?: boolean; mount?: boolean }) => {
    if (opts.live) {
      const text = readLiveStats({ mount: opts.mount ?? false, log: (l) => process.stderr.write(l + '\n') });
      const parsed = parsePercpuStats(text, '/sys/kernel/debug/percpu_stats');
      process.stdout.write(formatPercpuStats(parsed));
      return;
    }
    if (file === undefined) throw new PercpuError('EUNSUPPORTED', 'give a golden file or trace, or --live');
    process.stdout.write(statsAfterReplay(file, opts));
  });

program
  .command('map')
  .description('draw SVG chunk maps of the allocator after a golden file or trace (pages as rows, runs of 4-byte bits, hints overlaid)')
  .argument('<file>', 'golden file or tracefs trace (plain, gzip or xz; - for stdin)')
  .option('--at <n>', 'the state after the first N ops', (v) => parseNonNegative(v, '--at'))
  .addOption(new Option('--kernel <version>', 'force a profile instead of the file header'))
  .option('--fixed', 'correct the upstream free-path slip')
  .option('--chunk <id>', 'only this chunk', (v) => parseNonNegative(v, '--chunk'))
  .option('--diff <a,b>', 'two profiles side by side, differences outlined (e.g. 4.14,7.0 or 7.0,7.0-fixed)')
  .option('--stats <file>', 'percpu_stats of the traced machine (when FILE is a trace)')
  .option('-o, --out <file.svg>', 'write the SVG here (default: standard output)')
  .option('--full', 'draw every page as its own row (default: runs of full, free or hidden pages as one band)')
  .action((file: string, opts: { at?: number; kernel?: string; fixed?: boolean; chunk?: number; diff?: string; out?: string; stats?: string; full?: boolean }) => {
    const { svg, summary } = mapFromGolden(file, opts);
    if (opts.out) {
      writeFileSync(opts.out, svg);
      process.stderr.write(`${summary}; wrote ${opts.out}\n`);
    } else process.stdout.write(svg);
  });

program
  .command('doctor')
  .description('flag what a consistent allocator cannot show: in percpu_stats (saved or --live), golden chunk histories and traces')
  .argument('[files...]', 'percpu_stats snapshots, golden chunk histories, tracefs traces (plain, gzip or xz)')
  .option('--live', 'examine /sys/kernel/debug/percpu_stats of this machine (root)')
  .option('--mount', 'with --live: mount debugfs if needed, and unmount it afterwards')
  .option('--unit-size <bytes>', 'unit size of a traced machine', (v) => parseNonNegative(v, '--unit-size'))
  .option('--stats <file>', 'percpu_stats of the traced machine (a trace\'s geometry)')
  .option('--all', 'report every chunk of a trace, not only those whose hint went stale')
  .action((files: string[], opts: { live?: boolean; mount?: boolean; unitSize?: number; stats?: string; all?: boolean }) => {
    const findings = runDoctor(files, opts, (l) => process.stdout.write(l + '\n'));
    process.exitCode = findings ? 1 : 0;
  });

program
  .command('demo')
  .description('the main job: replay a real trace of Linux creating and destroying a BPF per-CPU hash map through every profile; write an HTML report')
  .option('--trace <file>', 'another trace (tracefs text; plain, gzip or xz)')
  .option('--stats <file>', 'percpu_stats of the traced machine (geometry)')
  .option('--report <file.html>', 'where to write the report', 'percpu-report.html')
  .option('--full', 'the report draws every page of every chunk of each bitmap profile; time every 4.13 free (slower)')
  .option('--verbose', 'also print the pairwise placement table and every profile\'s percpu_stats')
  .action((opts: { trace?: string; stats?: string; report?: string; full?: boolean; verbose?: boolean }) => {
    if (!runDemo({ ...opts, write: (s) => process.stdout.write(s) })) process.exitCode = 1;
  });

program
  .command('bench')
  .description('the cover letter\'s experiment: every allocator (4.13, 4.14, 7.0, @thi.ng/malloc, a bump floor) on the oracle workloads, with kernel C ratios and metadata bytes')
  .option('--quick', 'small N (16384; W7/W8 in full), one run: a smoke test in seconds')
  .option('--json', 'print the results as JSON')
  .option('--markdown', 'print the tables as Markdown')
  .option('--runs <n>', 'runs per workload, the median is kept (default 3, quick 1)')
  .option('--only <workloads>', 'comma-separated workloads (W1a..W5c, W6a, W6b, W7, W8, W1x, W1h..W5h)')
  .option('--allocators <names>', 'comma-separated: 4.13, 4.14, 7.0, @thi.ng/malloc, bump')
  .option('--cap <seconds>', 'W1x on a kernel profile: past this per phase, extrapolate from a ladder of smaller N (default 20)')
  .option('--phase-cap <seconds>', '@thi.ng/malloc on W1-W6a, W1x: past this per run, time whole units and scale linearly (default 3)')
  .option('--no-metadata', 'skip the metadata samples')
  .option('--from <saved.json>', 'render the --json output of an earlier run instead of running')
  .option('--out <file.json>', 'also write the JSON results here')
  .option('--svg <dir>', 'also write the SVG charts (bench-*.svg) into this directory')
  .action(async (opts: Record<string, unknown>) => {
    const { runBenchCommand } = await import('./bench.js');
    await runBenchCommand(opts, (s) => process.stdout.write(s));
  });

function parseNonNegative(v: string, flag: string): number {
  if (!/^\d+$/.test(v)) throw new PercpuError('EPARSE', `${flag} takes a non-negative integer, got "${v}"`);
  return Number(v);
}

registerTraceCommands(program);
registerTopCommand(program);
registerLeaksCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof PercpuError) {
    process.stderr.write(`percpu: ${e.message}\n`);
    process.exitCode = 2;
  } else throw e;
}
