/**
 * `percpu demo` (what `npm start` runs): replay the bundled golden workload W7 —
 * 200,000 random allocations and frees recorded from the kernel's own code —
 * through each bitmap profile, show that every placement matches the kernel,
 * and print the resulting percpu_stats.
 */
import { performance } from 'node:perf_hooks';
import { readInputText } from '../io.js';
import { parseGolden } from '../golden/format.js';
import { replayGolden, formatReplayResult } from '../golden/replay.js';
import { bundled } from './paths.js';

export function runDemo(write: (s: string) => void): boolean {
  let allOk = true;
  for (const kernel of ['4.14', '7.0']) {
    const path = bundled('golden', 'oracle', kernel, 'G1', 'W7.golden.gz');
    const golden = parseGolden(readInputText(path), `W7 (kernel ${kernel}, geometry G1)`);
    const t0 = performance.now();
    const r = replayGolden(golden);
    const ms = performance.now() - t0;
    allOk &&= r.firstMismatch === undefined;
    write(`== Linux ${kernel}: ${golden.header.workload}\n`);
    write(`${formatReplayResult(r)} (replayed ${golden.ops.length} ops in ${ms.toFixed(0)} ms)\n\n`);
    write(r.allocator!.formatStats());
    write('\n');
  }
  write('Every offset above was compared with the one the kernel\'s own mm/percpu.c chose for the same requests.\n');
  write('Next: `npx percpu verify <golden files>`, `npx percpu stats --at N <file>`, `npm test`.\n');
  return allOk;
}
