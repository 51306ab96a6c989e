// SPDX-License-Identifier: GPL-2.0-only
/**
 * Running `percpu top` and `percpu leaks`: on a recorded trace or on the live
 * kernel, with the same ledger, the same analysis and the same views.
 *
 * Output modes: on a TTY a screen that redraws in place (alternate screen,
 * keys change the sort and the view; a trace shows its end state); with
 * `--once` / `--json` one report at the end (a live session first watches for
 * `--duration` seconds); otherwise, when piped, one frame per interval appended
 * (like `top -b`). `--report` writes the HTML page at the end in any mode.
 *
 * Invariants: the terminal is put back (cursor, screen, raw mode) and tracing
 * restored on every way out — `q`, Ctrl-C, SIGINT/SIGTERM/SIGHUP, the end of
 * `--duration`, an error.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { readPercpuStatsFile } from '../../formats/files.js';
import { SIGNALS } from '../capture/capture.js';
import type { ParsedTrace } from '../../formats/trace.js';
import { BatchReader, readTraceBatch, TraceAccumulator } from './feed.js';
import { analyzeFragmentation, type Fragmentation } from './fragmentation.js';
import { SiteLedger } from './ledger.js';
import { findLeaks, type LeakReport } from './leaks.js';
import { openLiveSource, type LiveSource, type LiveSourceOptions } from './live-source.js';
import { SiteNamer, type SiteGrouping } from './sites.js';
import { renderTopReport } from './report.js';
import {
  colorWanted,
  makeStyle,
  renderFragmentation,
  renderHeader,
  renderLeaks,
  renderSites,
  siteRows,
  SORT_BY_KEY,
  topJson,
  type HeaderInfo,
  type SortKey,
  type Style,
} from './view.js';

export type TopView = 'sites' | 'fragmentation' | 'leaks';
export const TOP_VIEWS: readonly TopView[] = ['sites', 'fragmentation', 'leaks'];

export interface TopOptions {
  /** A recorded trace; live events when undefined. */
  trace?: string;
  command: 'top' | 'leaks';
  live?: LiveSourceOptions;
  /** Screen refresh / batch print interval, seconds. */
  interval: number;
  /** Rates over the last N seconds (live default 5; a trace: the whole observation). */
  window?: number;
  /** Live: stop after N seconds. */
  duration?: number;
  sort: SortKey;
  limit?: number;
  once: boolean;
  json: boolean;
  report?: string;
  group: SiteGrouping;
  kallsyms?: string | false;
  stats?: string;
  unitSize?: number;
  pageSize: number;
  nrUnits?: number;
  sparseBytes?: number;
  /** leaks: age threshold in seconds. */
  olderSec: number;
  out: NodeJS.WriteStream | { write(s: string): boolean; isTTY?: boolean; columns?: number; rows?: number };
  input?: NodeJS.ReadStream;
  env?: NodeJS.ProcessEnv;
  log?: (l: string) => void;
}

interface Geometry {
  unitSize: number | undefined;
  nrUnits: number | undefined;
}

/** `capture` writes FILE.percpu_stats next to FILE: a compressed FILE.xz / FILE.gz finds it too. */
export function siblingStats(trace: string): string | undefined {
  const base = trace.replace(/\.(gz|xz)$/, '');
  const p = base + '.percpu_stats';
  return existsSync(p) ? p : undefined;
}

async function geometryOf(opts: TopOptions, statsPath: string | undefined): Promise<Geometry> {
  const path = opts.stats ?? statsPath;
  const stats = path !== undefined ? await readPercpuStatsFile(path) : undefined;
  const unitSize = opts.unitSize ?? stats?.allocInfo.unitSize;
  const nrUnits = opts.nrUnits ?? (stats ? Math.max(1, Math.round(stats.allocInfo.allocSize / stats.allocInfo.unitSize)) : undefined);
  return { unitSize, nrUnits };
}

/** The state one frame shows. */
class TopState {
  view: TopView;
  sort: SortKey;
  frag: Fragmentation | undefined;
  fragAt = -1;
  constructor(
    readonly opts: TopOptions,
    readonly ledger: SiteLedger,
    readonly info: HeaderInfo,
    private readonly trace: () => { trace: ParsedTrace; version: number },
    private readonly geometry: () => Geometry,
  ) {
    this.view = opts.command === 'leaks' ? 'leaks' : 'sites';
    this.sort = opts.sort;
  }

  fragmentation(): Fragmentation {
    const t = this.trace();
    if (this.frag === undefined || this.fragAt !== t.version) {
      const g = this.geometry();
      this.frag = analyzeFragmentation(t.trace, this.ledger.namer, {
        pageSize: this.opts.pageSize,
        ...(g.unitSize !== undefined ? { unitSize: g.unitSize } : {}),
        ...(g.nrUnits !== undefined ? { nrUnits: g.nrUnits } : {}),
        ...(this.opts.sparseBytes !== undefined ? { sparseBytes: this.opts.sparseBytes } : {}),
      });
      this.fragAt = t.version;
    }
    return this.frag;
  }

  leaks(): LeakReport {
    return findLeaks(this.ledger, this.opts.olderSec);
  }

  rows() {
    return siteRows(this.ledger, this.ledger.rates(this.info.windowSec), this.sort);
  }

  /** The lines of one frame; `height` limits the table rows on a screen. */
  frame(style: Style, width: number, height: number | undefined, interactive: boolean): string[] {
    const head = renderHeader(this.ledger, this.info, style);
    if (interactive) {
      const sortKeys = Object.entries(SORT_BY_KEY)
        .map(([k, v]) => (v === this.sort ? style.inverse(`${k}:${v}`) : k))
        .join(' ');
      head.push(style.dim(`keys: 1 sites · 2 fragmentation · 3 leaks (> ${this.opts.olderSec} s) · sort ${sortKeys} · q quit`));
    }
    head.push('');
    const limit = this.opts.limit ?? (height !== undefined ? Math.max(3, height - head.length - 3) : 25);
    let body: string[];
    if (this.view === 'sites') body = renderSites(this.rows(), this.sort, limit, width, style);
    else if (this.view === 'fragmentation') body = renderFragmentation(this.fragmentation(), limit, style);
    else body = renderLeaks(this.leaks(), limit, style);
    const lines = [...head, ...body];
    return height !== undefined ? lines.slice(0, height) : lines;
  }

  /** What `--once` prints: every view of the command. */
  onceText(style: Style, width: number): string[] {
    const out = renderHeader(this.ledger, this.info, style);
    out.push('');
    const limit = this.opts.limit ?? 25;
    if (this.opts.command === 'top') {
      out.push(...renderSites(this.rows(), this.sort, limit, width, style), '');
      out.push(...renderFragmentation(this.fragmentation(), limit, style));
    } else {
      out.push(...renderLeaks(this.leaks(), limit, style));
    }
    return out;
  }

  json(): unknown {
    if (this.opts.command === 'leaks') return { source: this.info.source, lost: { markers: this.ledger.lostMarkers, kernelOverrun: this.info.overrun ?? null }, ...this.leaks() };
    return topJson(this.ledger, this.rows(), this.info, this.fragmentation());
  }
}

const ALT_ON = '\x1b[?1049h\x1b[?25l';
const ALT_OFF = '\x1b[?25h\x1b[?1049l';

/** Full-screen, in-place redraws and keys; `done` resolves when the user quits. */
class Screen {
  private active = false;
  private onKey?: (k: string) => void;
  private readonly input: NodeJS.ReadStream | undefined;
  constructor(
    private readonly out: TopOptions['out'],
    input: NodeJS.ReadStream | undefined,
  ) {
    this.input = input?.isTTY ? input : undefined;
  }

  start(onKey: (k: string) => void): void {
    this.active = true;
    this.out.write(ALT_ON);
    this.onKey = onKey;
    if (this.input) {
      this.input.setRawMode(true);
      this.input.setEncoding('utf8');
      this.input.on('data', this.keyHandler);
      this.input.resume();
    }
  }

  private readonly keyHandler = (d: string) => {
    for (const ch of d) this.onKey?.(ch);
  };

  draw(lines: string[]): void {
    if (!this.active) return;
    const width = this.out.columns ?? 120;
    this.out.write('\x1b[H' + lines.map((l) => clipVisible(l, width) + '\x1b[K').join('\n') + '\x1b[J');
  }

  stop(): void {
    if (!this.active) return;
    this.active = false;
    if (this.input) {
      this.input.off('data', this.keyHandler);
      this.input.setRawMode(false);
      this.input.pause();
    }
    this.out.write(ALT_OFF);
  }
}

/** Cut a line to `width` visible characters, keeping (and closing) its colour codes. */
export function clipVisible(line: string, width: number): string {
  let visible = 0;
  let out = '';
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\x1b') {
      const end = line.indexOf('m', i);
      if (end < 0) break;
      out += line.slice(i, end + 1);
      i = end;
      continue;
    }
    if (visible >= width) {
      out += '\x1b[0m';
      break;
    }
    out += line[i];
    visible++;
  }
  return out;
}

/** Handle a key on the screen; returns true to quit. */
function applyKey(state: TopState, k: string): boolean {
  if (k === 'q' || k === '\x03' || k === '\x04') return true;
  if (k === '1') state.view = 'sites';
  else if (k === '2') state.view = 'fragmentation';
  else if (k === '3') state.view = 'leaks';
  else if (k === '\t') state.view = TOP_VIEWS[(TOP_VIEWS.indexOf(state.view) + 1) % TOP_VIEWS.length]!;
  else if (SORT_BY_KEY[k]) {
    state.sort = SORT_BY_KEY[k]!;
    if (state.view === 'fragmentation' || state.view === 'leaks') state.view = 'sites';
  }
  return false;
}

function finalOutput(state: TopState, opts: TopOptions, style: Style): void {
  const width = opts.out.columns ?? 120;
  if (opts.json) opts.out.write(JSON.stringify(state.json(), null, 2) + '\n');
  else opts.out.write(state.onceText(style, width).join('\n') + '\n');
}

function writeReport(state: TopState, opts: TopOptions): void {
  if (!opts.report) return;
  writeFileSync(opts.report, renderTopReport(state.ledger, state.fragmentation(), state.leaks(), state.info));
  opts.log?.(`wrote ${opts.report}`);
}

export async function runTop(opts: TopOptions): Promise<number> {
  return opts.trace !== undefined ? runOnTrace(opts, opts.trace) : runLive(opts);
}

async function runOnTrace(opts: TopOptions, path: string): Promise<number> {
  const batch = await readTraceBatch(path);
  const ev = batch.trace.events;
  const first = ev.length > 0 ? ev.time[0]! : 0;
  const last = ev.length > 0 ? ev.time[ev.length - 1]! : 0;
  const ledger = new SiteLedger(new SiteNamer(opts.group, opts.kallsyms), { sampleStep: Math.max(1e-3, (last - first) / 400) });
  ledger.ingest(batch);
  const info: HeaderInfo = { source: path, command: opts.command, ...(opts.window !== undefined ? { windowSec: opts.window } : {}) };
  if (batch.trace.format === 'legacy' && opts.group !== 'task') info.note = 'this trace (Linux 4.13–5.18 format) names no call sites: rows are the allocating tasks';
  const statsPath = opts.stats ?? siblingStats(path);
  const geometry = await geometryOf(opts, statsPath);
  if (geometry.nrUnits === undefined && batch.trace.preamble.nrCpus !== undefined) geometry.nrUnits = batch.trace.preamble.nrCpus;
  const state = new TopState(opts, ledger, info, () => ({ trace: batch.trace, version: 0 }), () => geometry);
  const style = makeStyle(colorWanted(opts.out, opts.env));
  const interactive = opts.out.isTTY === true && !opts.once && !opts.json && opts.input?.isTTY === true;
  if (!interactive) {
    finalOutput(state, opts, style);
    writeReport(state, opts);
    return 0;
  }
  const screen = new Screen(opts.out, opts.input);
  await new Promise<void>((resolve) => {
    const redraw = () => screen.draw(state.frame(style, opts.out.columns ?? 120, opts.out.rows ?? 40, true));
    const quit = () => {
      for (const s of SIGNALS) process.off(s, quit);
      screen.stop();
      resolve();
    };
    for (const s of SIGNALS) process.on(s, quit);
    screen.start((k) => (applyKey(state, k) ? quit() : redraw()));
    redraw();
  });
  writeReport(state, opts);
  return 0;
}

const monoNow = () => Number(process.hrtime.bigint()) / 1e9;

async function runLive(opts: TopOptions): Promise<number> {
  const log = opts.log ?? (() => {});
  const source: LiveSource = openLiveSource({ ...opts.live, log });
  const namer = new SiteNamer(opts.group, opts.kallsyms);
  const ledger = new SiteLedger(namer, { sampleStep: Math.min(1, opts.interval) });
  const acc = new TraceAccumulator('trace_pipe');
  const reader = new BatchReader('trace_pipe');
  const windowSec = opts.window ?? 5;
  const info: HeaderInfo = { source: `live (${source.root})`, command: opts.command, windowSec, overrun: 0 };
  let version = 0;
  // Read now: debugfs may be unmounted again when the session ends.
  let geometry: Geometry = { unitSize: opts.unitSize, nrUnits: opts.nrUnits };
  try {
    geometry = await geometryOf(opts, source.statsPath);
  } catch (e) {
    log(`note: ${(e as Error).message}; chunk counts of the compacted layout are left out`);
  }
  geometry.nrUnits ??= cpus().length;
  const state = new TopState(opts, ledger, info, () => ({ trace: acc.snapshot(), version }), () => geometry);
  const style = makeStyle(colorWanted(opts.out, opts.env));
  const interactive = opts.out.isTTY === true && !opts.once && !opts.json;
  const screen = interactive ? new Screen(opts.out, opts.input) : undefined;
  const cpu0 = process.cpuUsage();
  const wall0 = monoNow();
  // With the mono clock the events' times are this clock; otherwise the ledger runs on event time only.
  if (source.clock === 'mono') ledger.begin(wall0);
  let failures: string[] = [];
  let quit!: () => void;
  const done = new Promise<void>((resolve) => (quit = resolve));

  const ingestText = (text: string) => {
    reader.push(text);
    const batch = reader.take();
    ledger.ingest(batch);
    acc.append(batch.trace);
    version++;
  };
  /** Read what the kernel has, in 1 MiB pieces, for at most `budgetMs` (the screen and keys stay responsive). */
  const drain = (budgetMs: number) => {
    const t0 = Date.now();
    for (;;) {
      const text = source.read(1 << 20);
      if (text === '') return true;
      ingestText(text);
      if (Date.now() - t0 >= budgetMs) return false;
    }
  };
  const pump = () => {
    drain(40);
    if (source.clock === 'mono') ledger.advanceTo(monoNow());
    info.overrun = source.overrun();
    info.dropped = source.dropped();
    const wall = Math.max(monoNow() - wall0, 1e-3);
    const used = process.cpuUsage(cpu0);
    info.self = { cpuPercent: ((used.user + used.system) / 1e6 / wall) * 100, eventsPerSec: ledger.events / wall };
    info.note =
      `percpu top itself: ${info.self.cpuPercent.toFixed(1)} % of one CPU, ${info.self.eventsPerSec.toFixed(0)} events/s read` +
      (acc.truncatedAt >= 0 ? `; chunk analysis stopped at event ${acc.truncatedAt} (memory cap)` : '');
  };
  // An error inside a timer (a malformed line from the pipe) ends the session like a quit, then surfaces.
  let failure: unknown;
  const guarded = (f: () => void) => () => {
    try {
      f();
    } catch (e) {
      failure ??= e;
      quit();
    }
  };
  const onSignal = () => quit();
  for (const s of SIGNALS) process.on(s, onSignal);
  let frameTimer: NodeJS.Timeout | undefined;
  let pumpTimer: NodeJS.Timeout | undefined;
  let stopTimer: NodeJS.Timeout | undefined;
  try {
    const redraw = () => {
      if (screen) screen.draw(state.frame(style, opts.out.columns ?? 120, opts.out.rows ?? 40, true));
      else if (!opts.once && !opts.json) opts.out.write(state.frame(style, opts.out.columns ?? 120, undefined, false).join('\n') + '\n\n');
    };
    screen?.start((k) => guarded(() => (applyKey(state, k) ? quit() : redraw()))());
    // Drained often: a burst must not outgrow the ring buffer between two reads.
    pumpTimer = setInterval(guarded(pump), Math.min(50, opts.interval * 1000));
    frameTimer = setInterval(guarded(redraw), opts.interval * 1000);
    const duration = opts.duration ?? (opts.once || opts.json ? 5 : undefined);
    if (duration !== undefined) stopTimer = setTimeout(quit, duration * 1000);
    redraw();
    await done;
    if (failure === undefined) {
      // Everything the kernel recorded before the end is read, whatever the backlog.
      source.stop();
      const until = Date.now() + 30_000;
      while (!drain(1000) && Date.now() < until);
      pump();
      info.unread = source.unread();
      const tail = reader.take(true);
      ledger.ingest(tail);
      acc.append(tail.trace);
      version++;
    }
  } finally {
    clearInterval(pumpTimer);
    clearInterval(frameTimer);
    clearTimeout(stopTimer);
    for (const s of SIGNALS) process.off(s, onSignal);
    screen?.stop();
    info.overrun = source.overrun();
    info.dropped = source.dropped();
    failures = source.close();
    for (const f of failures) log(`WARNING: ${f}`);
  }
  if (failure !== undefined) throw failure;
  if (opts.once || opts.json) finalOutput(state, opts, style);
  else if (screen) finalOutput(state, { ...opts, limit: opts.limit ?? 15 }, style);
  // Piped frames end with the state at the very end, after the last events were read.
  else opts.out.write(state.frame(style, opts.out.columns ?? 120, undefined, false).join('\n') + '\n');
  writeReport(state, opts);
  // Like capture: tracing not put back as it was is a difference the user must see.
  return failures.length > 0 ? 1 : 0;
}
