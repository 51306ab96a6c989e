#!/usr/bin/env node
/**
 * The `percpu` command line.
 */
import { Command, Option } from 'commander';
import { verifyFiles } from './verify.js';
import { PercpuError } from '../errors.js';

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
    process.exitCode = sum.failed === 0 && sum.placementsMatched === sum.placements ? 0 : 1;
  });

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof PercpuError) {
    process.stderr.write(`percpu: ${e.message}\n`);
    process.exitCode = 2;
  } else throw e;
}
