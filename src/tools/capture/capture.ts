// SPDX-License-Identifier: GPL-2.0-only
/**
 * `percpu capture`: record the kernel's five `percpu` tracepoints while a
 * command runs, with the `percpu_stats` snapshots around it.
 *
 * What this module owns: finding tracefs, every setting it changes and the
 * guarantee that each one is put back — after success, after a failure, and
 * on SIGINT / SIGTERM / SIGHUP (the command gets the signal, the capture then
 * finishes and restores). When the kernel offers tracing instances the capture
 * runs in a private one (`instances/percpu-capture-<pid>`), which leaves the
 * global tracing state untouched and is removed at the end; otherwise it uses
 * the top-level buffer, clearing it (which cannot be undone, and is said so).
 *
 * Invariants: a setting is recorded in the journal (path + original value)
 * before it is first written, and the journal is replayed in reverse exactly
 * once; all tracefs I/O is synchronous, so the restore also works from an
 * `exit` handler. The "after" `percpu_stats` snapshot is taken right after the
 * events are disabled and before the trace is copied: copying a large trace
 * does percpu work of its own (file writes, page cache), which must not show
 * up in the snapshots' counts as events the tracer lost. Tests drive
 * everything against a fake tracefs directory.
 */
import { accessSync, closeSync, constants as fsConstants, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmdirSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { constants as osConstants, freemem } from 'node:os';
import { dirname, join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { PercpuError } from '../../errors.js';
import { TRACE_EVENT_NAMES } from '../../formats/trace.js';

/** The environment cannot capture: not root, no tracefs, no percpu tracepoints, a setting refused. */
export class CaptureError extends PercpuError {
  constructor(message: string) {
    super('EUNSUPPORTED', message);
  }
}

export const TRACEFS_CANDIDATES = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];
export const PERCPU_STATS_PATH = '/sys/kernel/debug/percpu_stats';

// ---------------------------------------------------------------------------
// Settings journal

interface JournalEntry {
  path: string;
  /** Value to write back. */
  original: string;
}

/** How a tracefs file reads vs. how it is written back. */
export function restorableValue(file: string, content: string): string {
  const text = content.trim();
  if (file.endsWith('trace_clock')) {
    // "[local] global counter …": the bracketed word is the clock in use.
    const m = /\[([^\]]+)\]/.exec(text);
    return m ? m[1]! : text;
  }
  if (file.endsWith('buffer_size_kb')) {
    // "7 (expanded: 1408)": not yet used, the buffer grows to 1408 KiB on first use. Tracing
    // uses it, so 1408 is the size it would have had anyway; writing 7 would shrink it.
    const m = /^(\d+)(?:\s*\(expanded:\s*(\d+)\))?/.exec(text);
    return m ? (m[2] ?? m[1]!) : text;
  }
  if (file.endsWith('current_tracer')) return text.split(/\s+/)[0] ?? text;
  return text;
}

/**
 * Writes tracefs settings, remembering each file's first original value; `restore`
 * writes them back in reverse order and reports what it could not restore.
 */
export class SettingsJournal {
  private readonly entries: JournalEntry[] = [];
  private readonly seen = new Set<string>();
  private restored = false;

  constructor(readonly root: string) {}

  read(rel: string): string {
    return readFileSync(join(this.root, rel), 'utf8');
  }

  /** Change a setting (recording its original value the first time). */
  set(rel: string, value: string): void {
    const path = join(this.root, rel);
    if (!this.seen.has(path)) {
      let current: string;
      try {
        current = readFileSync(path, 'utf8');
      } catch (e) {
        throw new CaptureError(`cannot read ${path}: ${(e as Error).message}`);
      }
      const original = restorableValue(rel, current);
      // buffer_size_kb reads "X" when the CPUs' buffers differ: remember each CPU's.
      if (rel === 'buffer_size_kb' && original === 'X') this.rememberPerCpuBuffers();
      else this.entries.push({ path, original });
      this.seen.add(path);
    }
    try {
      writeFileSync(path, value + '\n');
    } catch (e) {
      throw new CaptureError(`cannot write "${value}" to ${path}: ${(e as Error).message}`);
    }
  }

  private rememberPerCpuBuffers(): void {
    const dir = join(this.root, 'per_cpu');
    for (const cpu of existsSync(dir) ? readdirSync(dir) : []) {
      const path = join(dir, cpu, 'buffer_size_kb');
      if (existsSync(path)) this.entries.push({ path, original: restorableValue(path, readFileSync(path, 'utf8')) });
    }
  }

  /** Settings changed so far (path, original value), oldest first. */
  get changes(): readonly JournalEntry[] {
    return this.entries;
  }

  /** Put every setting back; returns the failures (empty when all were restored). Runs once. */
  restore(): string[] {
    if (this.restored) return [];
    this.restored = true;
    const failures: string[] = [];
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i]!;
      try {
        writeFileSync(e.path, e.original + '\n');
      } catch (err) {
        failures.push(`${e.path}: could not restore "${e.original}": ${(err as Error).message}`);
      }
    }
    return failures;
  }
}

// ---------------------------------------------------------------------------
// Finding tracefs

export interface TracefsLocation {
  root: string;
  /** We mounted it and must unmount it. */
  mounted: boolean;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Missing percpu event directories under a tracing root (empty when all five exist). */
export function missingPercpuEvents(root: string): string[] {
  return TRACE_EVENT_NAMES.filter((e) => !existsSync(join(root, 'events', 'percpu', e, 'enable')));
}

export function findTracefs(candidates: readonly string[], options: { mount?: boolean; mountCommand?: (dir: string) => void } = {}): TracefsLocation {
  for (const c of candidates) if (existsSync(join(c, 'trace')) && isDir(join(c, 'events'))) return { root: c, mounted: false };
  const target = candidates.find((c) => isDir(c));
  if (options.mount && target !== undefined) {
    (options.mountCommand ?? mountTracefs)(target);
    if (existsSync(join(target, 'trace'))) return { root: target, mounted: true };
    throw new CaptureError(`mounted tracefs at ${target}, but it has no "trace" file`);
  }
  throw new CaptureError(
    `tracefs not found at ${candidates.join(' or ')}. Mount it (as root): mount -t tracefs nodev ${candidates[0]} ` +
      `— or pass --mount to let percpu capture mount it and unmount it afterwards`,
  );
}

/**
 * The tracing root a percpu tool reads from (mounted when `mount` is set and
 * it is not), refusing a kernel without all five percpu tracepoints. The
 * caller undoes the mount when `mounted` says it made one.
 */
export function findPercpuTracefs(options: { tracefs?: readonly string[]; mount?: boolean; mountCommand?: (dir: string) => void }): TracefsLocation {
  const loc = findTracefs(options.tracefs ?? TRACEFS_CANDIDATES, {
    ...(options.mount !== undefined ? { mount: options.mount } : {}),
    ...(options.mountCommand ? { mountCommand: options.mountCommand } : {}),
  });
  const missing = missingPercpuEvents(loc.root);
  if (missing.length > 0) {
    if (loc.mounted) unmountTracefs(loc.root);
    throw new CaptureError(`the kernel has no ${missing.join(', ')} tracepoint(s) under ${join(loc.root, 'events', 'percpu')}`);
  }
  return loc;
}

function mountTracefs(dir: string, type = 'tracefs'): void {
  const r = spawnSync('mount', ['-t', type, 'nodev', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new CaptureError(`mount -t ${type} nodev ${dir} failed: ${(r.stderr || r.error?.message || '').trim()}`);
}

/** With --mount, debugfs too (for percpu_stats) when it is not mounted; returns the mount point to undo. */
export function mountDebugfsFor(statsPath: string, log: (l: string) => void): string | undefined {
  const debugfs = '/sys/kernel/debug';
  if (existsSync(statsPath) || !statsPath.startsWith(debugfs + '/') || !isDir(debugfs) || readdirSync(debugfs).length > 0) return undefined;
  try {
    mountTracefs(debugfs, 'debugfs');
    return debugfs;
  } catch (e) {
    log(`note: ${(e as Error).message}`);
    return undefined;
  }
}

export function unmountTracefs(dir: string): string | undefined {
  const r = spawnSync('umount', [dir], { encoding: 'utf8' });
  return r.status === 0 ? undefined : `umount ${dir} failed: ${(r.stderr || r.error?.message || '').trim()}`;
}

// ---------------------------------------------------------------------------
// The capture

export interface CaptureOptions {
  /** Trace output file; the stats snapshots go next to it (`.before.percpu_stats`, `.percpu_stats`). */
  out: string;
  command: string[];
  /** Tracing roots to try (default /sys/kernel/tracing, /sys/kernel/debug/tracing). */
  tracefs?: readonly string[];
  statsPath?: string;
  /** Per-CPU ring buffer size; default: 128 MiB, less if memory is short. */
  bufferKb?: number;
  /** Stop waiting for deferred frees once no event arrived for this long (default 1000 ms). */
  settleMs?: number;
  /** …or after this long in any case (default 15000 ms). */
  maxWaitMs?: number;
  /** Use a private tracing instance when the kernel offers them (default true). */
  useInstance?: boolean;
  /** Mount tracefs (and debugfs, for percpu_stats) if not mounted, and unmount them afterwards. */
  mount?: boolean;
  isRoot?: () => boolean;
  log?: (line: string) => void;
  /** For tests: how to mount. */
  mountCommand?: (dir: string) => void;
  /** Called as each phase begins (progress reports; tests check the order). */
  onPhase?: (phase: CapturePhase) => void;
}

/** The phases of a capture, in order. */
export type CapturePhase = 'stats-before' | 'command' | 'settle' | 'stats-after' | 'copy-trace' | 'restore';

export interface CaptureResult {
  out: string;
  statsBefore: string | undefined;
  statsAfter: string | undefined;
  /** Exit code of the command (128 + signal number if it was killed). */
  exitCode: number;
  interrupted: boolean;
  /** Events the ring buffer dropped (per_cpu/cpuN/stats "overrun"); -1 if unknown. */
  overrun: number;
  bytes: number;
  /** Milliseconds the copy of the trace took (after the "after" snapshot). */
  copyMs: number;
  restoreFailures: string[];
  usedInstance: boolean;
}

export const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function defaultBufferKb(): number {
  const cpus = Math.max(1, countCpus());
  const byMemory = Math.floor(freemem() / 1024 / 8 / cpus);
  return Math.max(4096, Math.min(128 * 1024, byMemory));
}

function countCpus(): number {
  try {
    return readFileSync('/sys/devices/system/cpu/online', 'utf8')
      .trim()
      .split(',')
      .reduce((n, r) => {
        const [a, b] = r.split('-').map(Number);
        return n + (b === undefined ? 1 : b - a! + 1);
      }, 0);
  } catch {
    return 1;
  }
}

/** Copy a (pseudo-)file by reading until EOF; tracefs files report size 0, so no size-based copy works. */
function copySync(from: string, to: string): number {
  // An open tracefs file keeps its instance busy: every descriptor is closed, whatever fails.
  let src: number | undefined;
  let dst: number | undefined;
  let total = 0;
  try {
    src = openSync(from, 'r');
    dst = openSync(to, 'w');
    const buf = Buffer.alloc(1 << 20);
    for (;;) {
      const n = readSync(src, buf, 0, buf.length, null);
      if (n <= 0) break;
      writeSync(dst, buf, 0, n);
      total += n;
    }
  } catch (e) {
    throw new CaptureError(`cannot copy ${from} to ${to}: ${(e as Error).message}`);
  } finally {
    if (src !== undefined) closeSync(src);
    if (dst !== undefined) closeSync(dst);
  }
  return total;
}

/** Fail before touching anything if the outputs cannot be written (without creating them). */
function checkWritable(paths: string[]): void {
  for (const p of paths) {
    const dir = dirname(p);
    if (!isDir(dir)) throw new CaptureError(`cannot write ${p}: directory ${dir} does not exist`);
    try {
      accessSync(existsSync(p) ? p : dir, fsConstants.W_OK);
    } catch (e) {
      throw new CaptureError(`cannot write ${p}: ${(e as Error).message}`);
    }
  }
}

/** Sum of one field ("entries", "overrun") over per_cpu/cpu*\/stats; -1 if unavailable. */
export function perCpuStat(root: string, field: string): number {
  const dir = join(root, 'per_cpu');
  if (!isDir(dir)) return -1;
  let sum = 0;
  let found = false;
  for (const cpu of readdirSync(dir)) {
    const p = join(dir, cpu, 'stats');
    if (!existsSync(p)) continue;
    const m = new RegExp(`^${field}:\\s*(\\d+)`, 'm').exec(readFileSync(p, 'utf8'));
    if (m) {
      sum += Number(m[1]);
      found = true;
    }
  }
  return found ? sum : -1;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wait until the buffers stop growing (deferred frees are done) or the time is up. */
async function settle(root: string, settleMs: number, maxWaitMs: number, stop: () => boolean): Promise<void> {
  const start = Date.now();
  let last = perCpuStat(root, 'entries');
  let quietSince = Date.now();
  const tick = Math.max(10, Math.min(100, settleMs));
  while (Date.now() - start < maxWaitMs && !stop()) {
    await sleep(tick);
    const now = perCpuStat(root, 'entries');
    if (now !== last) {
      last = now;
      quietSince = Date.now();
    } else if (Date.now() - quietSince >= settleMs) {
      return;
    }
  }
}

/** Make a private tracing instance (`instances/<prefix>-<pid>`) if the kernel offers them; undefined otherwise. */
export function makeInstance(top: string, log: (l: string) => void, prefix = 'percpu-capture'): string | undefined {
  const dir = join(top, 'instances');
  if (!isDir(dir)) return undefined;
  const inst = join(dir, `${prefix}-${process.pid}`);
  try {
    mkdirSync(inst);
  } catch (e) {
    log(`note: cannot create a tracing instance (${(e as Error).message}); using the top-level buffer`);
    return undefined;
  }
  if (existsSync(join(inst, 'trace')) && missingPercpuEvents(inst).length === 0) return inst;
  // Not a real instance (the directory stayed empty): undo and use the top level.
  try {
    rmdirSync(inst);
  } catch {
    /* nothing more to undo */
  }
  return undefined;
}

function runCommand(command: string[], onSignal: (handler: (sig: NodeJS.Signals) => void) => () => void): Promise<{ code: number; interrupted: boolean }> {
  return new Promise((resolve, reject) => {
    let interrupted = false;
    let signals = 0;
    const child = spawn(command[0]!, command.slice(1), { stdio: 'inherit' });
    let pending: NodeJS.Timeout | undefined;
    const off = onSignal((sig) => {
      interrupted = true;
      signals++;
      if (signals > 1) child.kill('SIGKILL');
      else if (sig !== 'SIGINT') child.kill(sig);
      // Ctrl-C reaches the command from the terminal too; forward it only if the command is still running a moment later.
      else pending = setTimeout(() => child.exitCode === null && child.signalCode === null && child.kill('SIGINT'), 300);
    });
    const stop = () => {
      if (pending) clearTimeout(pending);
      off();
    };
    child.on('error', (e: NodeJS.ErrnoException) => {
      stop();
      reject(new CaptureError(`cannot run ${command[0]}: ${e.code === 'ENOENT' ? 'command not found' : e.message}`));
    });
    child.on('exit', (code, sig) => {
      stop();
      const n = sig ? 128 + (osConstants.signals[sig] ?? 9) : (code ?? 1);
      resolve({ code: n, interrupted });
    });
  });
}

/** What a capture changed outside its own files, so that one cleanup can undo exactly that. */
export interface CaptureState {
  mountedTracefs: string | undefined;
  mountedDebugfs: string | undefined;
  instance: string | undefined;
  journal: SettingsJournal | undefined;
  cleaned: boolean;
  failures: string[];
}

/** Undo everything in reverse: settings, the instance, the mounts. Runs once; failures are collected, not thrown. */
export function cleanupCapture(st: CaptureState): void {
  if (st.cleaned) return;
  st.cleaned = true;
  if (st.journal) st.failures.push(...st.journal.restore());
  if (st.instance) {
    try {
      rmdirSync(st.instance);
    } catch (e) {
      st.failures.push(`${st.instance}: could not remove the tracing instance: ${(e as Error).message}`);
    }
  }
  for (const dir of [st.mountedTracefs, st.mountedDebugfs]) {
    const f = dir === undefined ? undefined : unmountTracefs(dir);
    if (f) st.failures.push(f);
  }
}

/** Records the percpu events while a command runs (see the header): snapshots, settings, the copy, and the cleanup whatever happens. */
export async function capture(options: CaptureOptions): Promise<CaptureResult> {
  const log = options.log ?? (() => {});
  checkCaptureRequest(options);
  // From here on something may change: the cleanup and the signal handlers come first.
  const st: CaptureState = { mountedTracefs: undefined, mountedDebugfs: undefined, instance: undefined, journal: undefined, cleaned: false, failures: [] };
  const cleanup = () => cleanupCapture(st);
  // Last resort if the process ends while capturing (uncaught error, process.exit elsewhere).
  process.once('exit', cleanup);
  const signals = new CaptureSignals();
  for (const s of SIGNALS) process.on(s, signals.onSignal);
  try {
    return await captureSteps(options, st, signals, log, cleanup);
  } catch (e) {
    throw e instanceof PercpuError ? e : new CaptureError(`capture failed: ${(e as Error).message}`);
  } finally {
    cleanup();
    for (const s of SIGNALS) process.off(s, signals.onSignal);
    process.off('exit', cleanup);
    for (const f of st.failures) log(`WARNING: ${f}`);
  }
}

/** What must hold before anything changes: a command, root, writable output paths. */
function checkCaptureRequest(options: CaptureOptions): void {
  if (options.command.length === 0) throw new CaptureError('no command given: percpu capture [--out FILE] -- COMMAND [ARGS…]');
  const isRoot = options.isRoot ?? (() => process.getuid?.() === 0);
  if (!isRoot()) throw new CaptureError('percpu capture needs root: tracefs and debugfs (percpu_stats) are readable and writable by root only');
  checkWritable([options.out, options.out + '.before.percpu_stats', options.out + '.percpu_stats']);
}

/** The signals that arrive during a capture: the last one, and the handlers the running command installs. */
class CaptureSignals {
  signalled: NodeJS.Signals | undefined;
  private readonly handlers = new Set<(sig: NodeJS.Signals) => void>();
  readonly onSignal = (sig: NodeJS.Signals): void => {
    this.signalled = sig;
    for (const h of this.handlers) h(sig);
  };
  /** Adds a handler; returns its removal. */
  add(h: (sig: NodeJS.Signals) => void): () => void {
    this.handlers.add(h);
    return () => this.handlers.delete(h);
  }
}

/** The capture's steps in order, each phase announced; every change is recorded in `st` for the cleanup. */
async function captureSteps(options: CaptureOptions, st: CaptureState, signals: CaptureSignals, log: (l: string) => void, cleanup: () => void): Promise<CaptureResult> {
  const { root, statsPath, journal } = openTracing(options, st, log);
  const phase = options.onPhase ?? (() => {});
  phase('stats-before');
  const statsBefore = snapshotStats(statsPath, options.out + '.before.percpu_stats', log);
  const bufferKb = startRecording(root, journal, options);
  if (signals.signalled) throw new CaptureError(`interrupted by ${signals.signalled} before the command started`);
  log(`recording percpu events (${bufferKb} KiB per CPU), running: ${options.command.join(' ')}`);
  phase('command');
  const run = await runCommand(options.command, (h) => signals.add(h));
  log(`command exited with ${run.code}${run.interrupted ? ' (interrupted)' : ''}; waiting for deferred frees`);
  phase('settle');
  if (!run.interrupted) await settle(root, options.settleMs ?? 1000, options.maxWaitMs ?? 15000, () => signals.signalled !== undefined);
  for (const e of TRACE_EVENT_NAMES) journal.set(`events/percpu/${e}/enable`, '0');
  // The snapshot first: the copy below allocates and frees percpu memory that no event records.
  phase('stats-after');
  const statsAfter = snapshotStats(statsPath, options.out + '.percpu_stats', log);
  const overrun = perCpuStat(root, 'overrun');
  phase('copy-trace');
  const copyStart = performance.now();
  const bytes = copySync(join(root, 'trace'), options.out);
  const copyMs = performance.now() - copyStart;
  log(`copied ${bytes} bytes of trace to ${options.out} in ${formatMs(copyMs)} (after the percpu_stats snapshot, so the copy's own percpu activity is in neither)`);
  if (overrun > 0) log(`WARNING: the ring buffer dropped ${overrun} event(s); capture again with a larger --buffer-kb`);
  phase('restore');
  cleanup();
  return {
    out: options.out,
    statsBefore,
    statsAfter,
    exitCode: run.code,
    interrupted: run.interrupted,
    overrun,
    bytes,
    copyMs,
    restoreFailures: st.failures,
    usedInstance: st.instance !== undefined,
  };
}

/** Finds (or mounts) tracefs and debugfs, and makes the private instance the capture traces in. */
function openTracing(options: CaptureOptions, st: CaptureState, log: (l: string) => void): { root: string; statsPath: string; journal: SettingsJournal } {
  const loc = findPercpuTracefs(options);
  if (loc.mounted) st.mountedTracefs = loc.root;
  const statsPath = options.statsPath ?? PERCPU_STATS_PATH;
  if (options.mount) st.mountedDebugfs = mountDebugfsFor(statsPath, log);
  st.instance = options.useInstance === false ? undefined : makeInstance(loc.root, log);
  const root = st.instance ?? loc.root;
  const journal = (st.journal = new SettingsJournal(root));
  log(`tracing in ${st.instance ? `private instance ${st.instance}` : `${root} (top-level buffer; it is cleared first)`}`);
  return { root, statsPath, journal };
}

/** The ring buffer sized, cleared and the percpu events enabled (each setting journalled); returns the buffer size per CPU. */
function startRecording(root: string, journal: SettingsJournal, options: CaptureOptions): number {
  const bufferKb = options.bufferKb ?? defaultBufferKb();
  journal.set('tracing_on', '0');
  journal.set('buffer_size_kb', String(bufferKb));
  if (existsSync(join(root, 'trace_clock'))) journal.set('trace_clock', 'global');
  if (existsSync(join(root, 'current_tracer'))) journal.set('current_tracer', 'nop');
  clearBuffer(root);
  for (const e of TRACE_EVENT_NAMES) journal.set(`events/percpu/${e}/enable`, '1');
  journal.set('tracing_on', '1');
  return bufferKb;
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms >= 10 ? 0 : 1)} ms`;
}

/** Empty the ring buffer (opening `trace` for writing with truncation does that). */
function clearBuffer(root: string): void {
  try {
    writeFileSync(join(root, 'trace'), '');
  } catch (e) {
    throw new CaptureError(`cannot clear ${join(root, 'trace')}: ${(e as Error).message}`);
  }
}

function snapshotStats(from: string, to: string, log: (l: string) => void): string | undefined {
  if (!existsSync(from)) {
    log(`note: ${from} not found (debugfs not mounted or CONFIG_PERCPU_STATS off); no stats snapshot written`);
    return undefined;
  }
  try {
    copySync(from, to);
    return to;
  } catch (e) {
    log(`note: cannot copy ${from}: ${(e as Error).message}`);
    return undefined;
  }
}
