#!/usr/bin/env node
// SPDX-License-Identifier: GPL-2.0-only
/**
 * The `percpu` command line. Each subcommand's action returns (or sets) its
 * exit code; every error of every subcommand ends in `reportError` (exit.ts),
 * the one place that turns it into one or two lines and exit code 2.
 *
 * A subcommand's code loads only when that subcommand runs (each action
 * imports its module), so `--help` or one command never loads the others'
 * code — nor `bench`'s `@thi.ng/malloc` (test/import-cycles.test.ts checks).
 */
import { Command, Option } from 'commander';
import { registerTraceCommands } from './trace-commands.js';
import { registerTopCommand } from './top.js';
import { registerLeaksCommand } from './leaks.js';
import { EXIT_CODES_HELP, intOption, kernelOption, reportError } from './exit.js';
import { assertWritable } from '../formats/input.js';
import { UsageError } from '../errors.js';

// A reader that stops early (`| head`) is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  process.exit(reportError(e));
});

const program = new Command();
program
  .name('percpu')
  .description('The Linux percpu allocator (4.13 area map, 4.14 hinted bitmap, 7.0 newest), placement-exact')
  .version('0.1.0')
  .addHelpText('after', EXIT_CODES_HELP)
  // Commander's own usage errors exit 2 too, through the catch below.
  .exitOverride();

const kernelFlag = (what: string) => new Option('--kernel <version>', what).argParser(kernelOption);

program
  .command('verify')
  .description('replay golden files (plain, gzip or xz; - for stdin) and compare every placement and chunk event with the kernel')
  .argument('<files...>', 'golden files, or directories of them')
  .addOption(kernelFlag('force a profile instead of the file header (4.13, 4.14, 7.0, 6.x)'))
  .option('--fixed', 'correct the upstream free-path slip (placements will then differ where the kernel slips)')
  .option('-q, --quiet', 'print only failures and the summary')
  .option('--json', 'print the results as JSON (docs/JSON.md)')
  .option('-j, --jobs <n>', 'files replayed at once, in worker threads (default: one per CPU)', intOption('--jobs', 1, 256))
  .action(async (files: string[], opts: { kernel?: string; fixed?: boolean; quiet?: boolean; json?: boolean; jobs?: number }) => {
    const { verifyCommand } = await import('./verify.js');
    process.exitCode = await verifyCommand(files, opts, (l) => process.stdout.write(l + '\n'));
  });

program
  .command('stats')
  .description('print percpu_stats (the debugfs text, byte for byte) after replaying a golden file or trace, or read the running kernel\'s')
  .argument('[file]', 'golden file or tracefs trace (plain, gzip or xz; - for stdin)')
  .option('--at <n>', 'stop after the first N ops (golden) or events (trace)', intOption('--at'))
  .addOption(kernelFlag('force a profile instead of the file header'))
  .option('--fixed', 'correct the upstream free-path slip')
  .option('--stats <file>', 'percpu_stats of the traced machine (a trace\'s geometry)')
  .option('--live', 'read /sys/kernel/debug/percpu_stats of this machine (root), through the same parser the tests use')
  .option('--mount', 'with --live: mount debugfs if needed, and unmount it afterwards')
  .option('--json', 'print the parsed statistics as JSON (docs/JSON.md)')
  .action(async (file: string | undefined, opts: { at?: number; kernel?: string; fixed?: boolean; stats?: string; live?: boolean; mount?: boolean; json?: boolean }) => {
    const { statsCommand } = await import('./stats.js');
    process.exitCode = await statsCommand(file, opts, (s) => process.stdout.write(s));
  });

program
  .command('map')
  .description('draw SVG chunk maps of the allocator after a golden file or trace (pages as rows, runs of 4-byte bits, hints overlaid)')
  .argument('<file>', 'golden file or tracefs trace (plain, gzip or xz; - for stdin)')
  .option('--at <n>', 'the state after the first N ops', intOption('--at'))
  .addOption(kernelFlag('force a profile instead of the file header'))
  .option('--fixed', 'correct the upstream free-path slip')
  .option('--chunk <id>', 'only this chunk', intOption('--chunk'))
  .option('--diff <a,b>', 'two profiles side by side, differences outlined (e.g. 4.14,7.0 or 7.0,7.0-fixed)')
  .option('--stats <file>', 'percpu_stats of the traced machine (when FILE is a trace)')
  .option('-o, --out <file.svg>', 'write the SVG here (default: standard output)')
  .option('--json', 'print the summary as JSON (needs -o for the SVG; docs/JSON.md)')
  .option('--full', 'draw every page as its own row (default: runs of full, free or hidden pages as one band)')
  .action(async (file: string, opts: { at?: number; kernel?: string; fixed?: boolean; chunk?: number; diff?: string; out?: string; stats?: string; json?: boolean; full?: boolean }) => {
    const { mapCommand } = await import('./map.js');
    process.exitCode = await mapCommand(file, opts);
  });

program
  .command('doctor')
  .description('flag what a consistent allocator cannot show: in percpu_stats (saved or --live), golden chunk histories and traces')
  .argument('[files...]', 'percpu_stats snapshots, golden chunk histories, tracefs traces (plain, gzip or xz)')
  .option('--live', 'examine /sys/kernel/debug/percpu_stats of this machine (root)')
  .option('--mount', 'with --live: mount debugfs if needed, and unmount it afterwards')
  .option('--unit-size <bytes>', 'unit size of a traced machine', intOption('--unit-size', 4096))
  .option('--stats <file>', 'percpu_stats of the traced machine (a trace\'s geometry)')
  .option('--all', 'report every chunk of a trace, not only those whose hint went stale')
  .option('--json', 'print the findings as JSON (docs/JSON.md)')
  .action(async (files: string[], opts: { live?: boolean; mount?: boolean; unitSize?: number; stats?: string; all?: boolean; json?: boolean }) => {
    const { doctorCommand } = await import('./doctor.js');
    process.exitCode = await doctorCommand(files, opts, (l) => process.stdout.write(l + '\n'));
  });

program
  .command('demo')
  .description('the main job: replay a real trace of Linux creating and destroying a BPF per-CPU hash map through every profile; write an HTML report')
  .option('--trace <file>', 'another trace (tracefs text; plain, gzip or xz)')
  .option('--stats <file>', 'percpu_stats of the traced machine (geometry)')
  .option('--report <file.html>', 'where to write the report', 'percpu-report.html')
  .option('--full', 'the report draws every page of every chunk of each bitmap profile; time every 4.13 free (slower)')
  .option('--verbose', 'also print the pairwise placement table and every profile\'s percpu_stats')
  .action(async (opts: { trace?: string; stats?: string; report?: string; full?: boolean; verbose?: boolean }) => {
    if (opts.report !== undefined) assertWritable(opts.report, '--report');
    const { runDemo } = await import('./demo.js');
    if (!(await runDemo({ ...opts, write: (s) => process.stdout.write(s) }))) process.exitCode = 1;
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
  .option('--c-oracle <dir>', 'time the 4.14 and 7.0 profiles against the kernel\'s own C (<dir>/c-bench) in the same run, interleaved; prints TS/C per phase')
  .option('--gc-check <n>', 'with --c-oracle: live objects of the steady-state garbage check (default 1048576, 0 skips it)')
  .action(async (opts: Record<string, unknown>) => {
    const { runBenchCommand } = await import('./bench.js').catch((e: NodeJS.ErrnoException) => {
      // The comparison allocator is a devDependency: a clone has it, an npm install does not.
      if (e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('@thi.ng/malloc')) {
        throw new UsageError('percpu bench compares against @thi.ng/malloc, which is not installed (a devDependency)', 'run it from a clone after npm ci, or npm install @thi.ng/malloc');
      }
      throw e;
    });
    await runBenchCommand(opts, (s) => process.stdout.write(s));
  });

registerTraceCommands(program);
registerTopCommand(program);
registerLeaksCommand(program);
for (const c of program.commands) c.addHelpText('after', EXIT_CODES_HELP);

// `--debug` may stand anywhere on the line; it only shows stack traces (exit.ts).
const argv = process.argv.filter((a) => a !== '--debug');
try {
  await program.parseAsync(argv);
} catch (e) {
  process.exitCode = reportError(e);
}
