// SPDX-License-Identifier: GPL-2.0-only
/**
 * `percpu verify FILE…`: replay golden files while they stream in and report,
 * per file and in total, how many placements and chunk events matched the
 * kernel's. One bad file does not stop the others: it is reported (exit 2)
 * and the rest are still checked.
 */
import { readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { PercpuError } from '../errors.js';
import { displayName } from '../formats/input.js';
import { formatReplayResult, type Mismatch } from '../tools/replay/golden.js';
import { replayGoldenFile } from '../tools/replay/golden-file.js';
import { progress } from './progress.js';
import { describeError, EXIT_BAD_INPUT, EXIT_DIFFERS, EXIT_OK, formatErrorLines, worst } from './exit.js';
import { toJson } from './json.js';

export interface VerifyOptions {
  kernel?: string;
  fixed?: boolean;
  /** Print only failures and the summary. */
  quiet?: boolean;
  json?: boolean;
  /** Files replayed at once, in worker threads (default: one per CPU; 1 = in this thread). */
  jobs?: number;
}

/** One file's outcome (also the `files[]` entries of `--json`, docs/JSON.md). */
export interface VerifyFileResult {
  file: string;
  /** ok: all matched; fail: a mismatch; skip: no profile for its kernel; empty: nothing to check; error: unreadable or malformed. */
  status: 'ok' | 'fail' | 'skip' | 'empty' | 'error';
  kernel: string | null;
  placements: number;
  placementsMatched: number;
  events: number;
  eventsMatched: number;
  firstMismatch: Mismatch | null;
  error: string | null;
}

export interface VerifySummary {
  files: number;
  failed: number;
  skipped: number;
  empty: number;
  errors: number;
  placements: number;
  placementsMatched: number;
  exitCode: number;
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

export async function verifyOne(path: string, options: VerifyOptions): Promise<{ r: VerifyFileResult; text: string }> {
  const file = displayName(path);
  const base: VerifyFileResult = { file, status: 'error', kernel: null, placements: 0, placementsMatched: 0, events: 0, eventsMatched: 0, firstMismatch: null, error: null };
  try {
    const { result: r } = await replayGoldenFile(path, { ...(options.kernel ? { kernel: options.kernel } : {}), fixed: options.fixed ?? false });
    const status = r.skipped ? 'skip' : r.placements + r.events === 0 ? 'empty' : r.firstMismatch !== undefined ? 'fail' : 'ok';
    const out: VerifyFileResult = { ...base, status, kernel: String(r.kernel), placements: r.placements, placementsMatched: r.placementsMatched, events: r.events, eventsMatched: r.eventsMatched, firstMismatch: r.firstMismatch ?? null };
    return { r: out, text: formatReplayResult(r) };
  } catch (e) {
    if (!(e instanceof PercpuError)) throw e;
    if (e.code === 'EEMPTY') return { r: { ...base, status: 'empty' }, text: '' };
    return { r: { ...base, error: describeError(e).lines.join('\n') }, text: '' };
  }
}

type Done = { r: VerifyFileResult; text: string };

/**
 * Verify `files`, handing each result to `onResult` in file order. With
 * several files and `jobs` > 1 they are replayed in worker threads (files are
 * independent: each has its own allocator); standard input stays in this thread.
 */
async function verifyEach(files: string[], options: VerifyOptions, onResult: (done: Done) => void): Promise<void> {
  const jobs = Math.min(options.jobs ?? availableParallelism(), files.length);
  if (jobs <= 1 || files.includes('-')) {
    for (const f of files) onResult(await verifyOne(f, options));
    return;
  }
  const results: (Done | undefined)[] = new Array(files.length);
  let next = 0;
  let emitted = 0;
  const flush = () => {
    while (emitted < files.length && results[emitted] !== undefined) {
      onResult(results[emitted]!);
      results[emitted++] = undefined;
    }
  };
  const { jobs: _jobs, ...shared } = options;
  const work = (w: Worker) =>
    new Promise<void>((resolve, reject) => {
      let index = -1;
      const feed = () => {
        if (next >= files.length) return resolve();
        index = next++;
        w.postMessage({ path: files[index], options: shared });
      };
      w.on('message', (m: { done?: Done; internal?: string }) => {
        if (m.internal !== undefined) return reject(new Error(`${files[index]}: ${m.internal}`));
        results[index] = m.done;
        flush();
        feed();
      });
      w.on('error', reject);
      feed();
    });
  const workers = Array.from({ length: jobs }, () => new Worker(new URL('./verify-worker.js', import.meta.url)));
  try {
    await Promise.all(workers.map(work));
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

export async function verifyFiles(paths: string[], options: VerifyOptions, write: (line: string) => void): Promise<{ files: VerifyFileResult[]; summary: VerifySummary }> {
  const sum: VerifySummary = { files: 0, failed: 0, skipped: 0, empty: 0, errors: 0, placements: 0, placementsMatched: 0, exitCode: EXIT_OK };
  const files = expandPaths(paths);
  const results: VerifyFileResult[] = [];
  const bar = progress(files.length, 'verify');
  await verifyEach(files, options, ({ r, text }) => {
    sum.files++;
    bar.update(sum.files, r.file);
    results.push(r);
    if (r.status === 'error') sum.errors++;
    else if (r.status === 'skip') sum.skipped++;
    else if (r.status === 'empty') sum.empty++;
    else {
      sum.placements += r.placements;
      sum.placementsMatched += r.placementsMatched;
      if (r.status === 'fail') sum.failed++;
    }
    if (options.json) return;
    bar.done();
    if (r.status === 'error') process.stderr.write(formatErrorLines(r.error!.split('\n')));
    else if (r.status === 'empty') process.stderr.write(`percpu: warning: ${r.file}: empty: no op to check\n`);
    else if (!options.quiet || r.status === 'fail' || r.status === 'skip') write(text);
  });
  bar.done();
  sum.exitCode = worst(sum.errors ? EXIT_BAD_INPUT : EXIT_OK, sum.failed || sum.skipped || sum.empty || sum.placementsMatched !== sum.placements ? EXIT_DIFFERS : EXIT_OK);
  if (sum.files > 0 && sum.errors + sum.skipped + sum.empty === sum.files) sum.exitCode = worst(sum.exitCode, EXIT_DIFFERS);
  if (!options.json) {
    const notes = [
      sum.skipped ? `${sum.skipped} skipped: kernel not implemented` : '',
      sum.empty ? `${sum.empty} empty` : '',
      sum.errors ? `${sum.errors} unreadable or malformed` : '',
    ].filter((x) => x !== '');
    const tail = notes.length ? ` (${notes.join('; ')})` : '';
    if (sum.failed) write(`${sum.failed} of ${sum.files} files failed${tail}`);
    else if (tail) {
      const checked = sum.files - sum.skipped - sum.empty - sum.errors;
      write(checked === 0 ? `no file was checked${tail}` : `${checked} of ${sum.files} files checked, all matched${tail}`);
    }
    write(`placements: matched ${sum.placementsMatched}/${sum.placements}`);
  }
  return { files: results, summary: sum };
}

/** The `verify` subcommand: its exit code. */
export async function verifyCommand(paths: string[], options: VerifyOptions, write: (line: string) => void): Promise<number> {
  const { files, summary } = await verifyFiles(paths, options, write);
  if (options.json) write(toJson({ command: 'verify', schema: 1, files, summary }));
  return summary.exitCode;
}
