#!/usr/bin/env node
/**
 * The `percpu` command line.
 */
import { Command, Option } from 'commander';
import { verifyFiles } from './verify.js';
import { statsAfterReplay } from './stats.js';
import { runDemo } from './demo.js';
import { mapFromGolden } from './map.js';
import { writeFileSync } from 'node:fs';
import { PercpuError } from '../errors.js';
import { registerTraceCommands } from './trace-commands.js';

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
  .description('print percpu_stats (the debugfs text, byte for byte) after replaying a golden file')
  .argument('<file>', 'golden file (plain, gzip or xz; - for stdin)')
  .option('--at <n>', 'stop after the first N ops', (v) => parseNonNegative(v, '--at'))
  .addOption(new Option('--kernel <version>', 'force a profile instead of the file header'))
  .option('--fixed', 'correct the upstream free-path slip')
  .action((file: string, opts: { at?: number; kernel?: string; fixed?: boolean }) => {
    process.stdout.write(statsAfterReplay(file, opts));
  });

program
  .command('map')
  .description('draw SVG chunk maps of the allocator after a golden file (pages as rows, runs of 4-byte bits, hints overlaid)')
  .argument('<file>', 'golden file (plain, gzip or xz; - for stdin)')
  .option('--at <n>', 'the state after the first N ops', (v) => parseNonNegative(v, '--at'))
  .addOption(new Option('--kernel <version>', 'force a profile instead of the file header'))
  .option('--fixed', 'correct the upstream free-path slip')
  .option('--chunk <id>', 'only this chunk', (v) => parseNonNegative(v, '--chunk'))
  .option('--diff <a,b>', 'two profiles side by side, differences outlined (e.g. 4.14,7.0 or 7.0,7.0-fixed)')
  .option('-o, --out <file.svg>', 'write the SVG here (default: standard output)')
  .action((file: string, opts: { at?: number; kernel?: string; fixed?: boolean; chunk?: number; diff?: string; out?: string }) => {
    const { svg, summary } = mapFromGolden(file, opts);
    if (opts.out) {
      writeFileSync(opts.out, svg);
      process.stderr.write(`${summary}; wrote ${opts.out}\n`);
    } else process.stdout.write(svg);
  });

program
  .command('demo')
  .description('the main job: replay a real trace of Linux creating and destroying a BPF per-CPU hash map through every profile; write an HTML report')
  .option('--trace <file>', 'another trace (tracefs text; plain, gzip or xz)')
  .option('--stats <file>', 'percpu_stats of the traced machine (geometry)')
  .option('--report <file.html>', 'where to write the report', 'percpu-report.html')
  .action((opts: { trace?: string; stats?: string; report?: string }) => {
    if (!runDemo({ ...opts, write: (s) => process.stdout.write(s) })) process.exitCode = 1;
  });

function parseNonNegative(v: string, flag: string): number {
  if (!/^\d+$/.test(v)) throw new PercpuError('EPARSE', `${flag} takes a non-negative integer, got "${v}"`);
  return Number(v);
}

registerTraceCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof PercpuError) {
    process.stderr.write(`percpu: ${e.message}\n`);
    process.exitCode = 2;
  } else throw e;
}
