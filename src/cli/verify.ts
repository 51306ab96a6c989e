/**
 * `percpu verify FILE…`: replay golden files and report, per file and in total,
 * how many placements and chunk events matched the kernel's.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readInputText } from '../io.js';
import { parseGolden } from '../golden/format.js';
import { formatReplayResult, replayGolden } from '../golden/replay.js';
import { progress } from './progress.js';

export interface VerifyOptions {
  kernel?: string;
  fixed?: boolean;
  /** Print only failures and the summary. */
  quiet?: boolean;
}

export interface VerifySummary {
  files: number;
  failed: number;
  skipped: number;
  placements: number;
  placementsMatched: number;
}

/** Directories stand for every file below them (sorted); `-` and files stand for themselves. */
export function expandPaths(paths: string[]): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    let isDir = false;
    try {
      isDir = p !== '-' && statSync(p).isDirectory();
    } catch {
      // A missing path is reported when it is read.
    }
    if (!isDir) {
      out.push(p);
      return;
    }
    for (const name of readdirSync(p).sort()) {
      if (name.endsWith('.md') || name.endsWith('.tsv')) continue;
      walk(join(p, name));
    }
  };
  paths.forEach(walk);
  return out;
}

export function verifyFiles(paths: string[], options: VerifyOptions, write: (line: string) => void): VerifySummary {
  const sum: VerifySummary = { files: 0, failed: 0, skipped: 0, placements: 0, placementsMatched: 0 };
  const files = expandPaths(paths);
  const bar = progress(files.length, 'verify');
  for (const path of files) {
    bar.update(sum.files, path);
    sum.files++;
    let line: string;
    try {
      const golden = parseGolden(readInputText(path), path === '-' ? '<stdin>' : path);
      const r = replayGolden(golden, { ...(options.kernel ? { kernel: options.kernel } : {}), fixed: options.fixed ?? false });
      line = formatReplayResult(r);
      if (r.skipped) sum.skipped++;
      else {
        sum.placements += r.placements;
        sum.placementsMatched += r.placementsMatched;
        if (r.firstMismatch !== undefined) sum.failed++;
      }
      if (options.quiet && !line.startsWith('FAIL')) continue;
    } catch (e) {
      sum.failed++;
      line = `FAIL ${path}: ${(e as Error).message}`;
    }
    bar.done();
    write(line);
  }
  bar.done();
  const skipped = sum.skipped ? ` (${sum.skipped} file${sum.skipped === 1 ? '' : 's'} skipped: kernel not implemented)` : '';
  if (sum.failed) write(`${sum.failed} of ${sum.files} files failed${skipped}`);
  else if (skipped) write(`all checked files matched${skipped}`);
  write(`placements: matched ${sum.placementsMatched}/${sum.placements}`);
  return sum;
}
